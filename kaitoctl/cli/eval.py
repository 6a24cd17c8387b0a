"""kaitoctl eval: did tuning help? A dataset's prompts to the base model and each adapter, scored side by side."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kaitoctl.cli import complete
from kaitoctl.cli import options as o
from kaitoctl.cli.output import check_output_format, clean, document, escape, print_json, reporting, stderr

if TYPE_CHECKING:
    from kaitoctl.core.evaluation import ModelSummary, Outcome
    from kaitoctl.ops.chat import Session

EVAL = "Evaluation"


Workspace = Annotated[
    str | None,
    typer.Argument(
        metavar="WORKSPACE",
        help="Inference workspace (default: the only ready one).",
        autocompletion=complete.workspaces,
        show_default=False,
    ),
]
Dataset = Annotated[
    Path | None,
    typer.Option(
        "--dataset",
        metavar="FILE.jsonl",
        help='One example per line: {"prompt": "...", "expected": "..."} (optional "id").',
        rich_help_panel=EVAL,
        show_default=False,
    ),
]
Models = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        metavar="MODEL",
        help="Evaluate only these served models (repeatable; default: the base and each adapter).",
        rich_help_panel=EVAL,
    ),
]
System = Annotated[str | None, typer.Option("--system", metavar="TEXT", help="System prompt.", rich_help_panel=EVAL)]
MaxTokens = Annotated[
    int | None, typer.Option("--max-tokens", metavar="N", help="Answer length limit.", rich_help_panel=EVAL)
]
Temperature = Annotated[
    float,
    typer.Option("--temperature", metavar="0..2", help="Sampling temperature.", rich_help_panel=EVAL),
]
Parallel = Annotated[
    int,
    typer.Option("--parallel", metavar="N", help="Requests in flight at once.", rich_help_panel=EVAL),
]


@o.verb
def evaluate(
    workspace: Workspace = None,
    dataset: Dataset = None,
    model: Models = None,
    system: System = None,
    max_tokens: MaxTokens = None,
    temperature: Temperature = 0.0,
    parallel: Parallel = 4,
    output: o.JsonOutput = None,
    request_timeout: o.RequestTimeout = None,
    conn: o.ClusterFlags = o.ClusterFlags(),  # noqa: B008 - a frozen dataclass, expanded by @verb
) -> None:
    """Score a workspace's base model and adapters on a JSONL dataset: accuracy, latency, tokens/s.

    Each line of FILE.jsonl is {"prompt": "...", "expected": "..."}. An answer counts as an exact match when it
    equals the expected text (whitespace normalised), and as containing it when the expected text occurs in it
    (case ignored). Latency is to the whole answer (p50/p90/p99, nearest rank); tokens/s is completion tokens
    over the time spent answering. A bad line exits 2 naming its number and field, before any request.

    Examples:

      # The base model and each adapter of the workspace, in one table
      kaitoctl eval phi-3-mini-128k-instruct --dataset qa.jsonl

      # As JSON, for a CI gate
      kaitoctl eval my-tuned --dataset qa.jsonl -o json | jq '.models[] | {model, exactMatch}'
    """
    with reporting():
        from contextlib import ExitStack

        from kaitoctl.cli.workspace_run import parse_duration

        fmt = check_output_format(output, ("json",))
        timeout_s = parse_duration(request_timeout, "--request-timeout")
        examples = _read_dataset(dataset)
        _check_flags(max_tokens, temperature, parallel)
        from kaitoctl.adapters.chat import ChatRequest
        from kaitoctl.ops.chat import open_session
        from kaitoctl.ops.evaluate import evaluate as run_eval

        with ExitStack() as stack:
            session = open_session(
                stack,
                kubeconfig=conn.kubeconfig,
                context=conn.context,
                namespace=conn.namespace,
                workspace=workspace,
                endpoint=None,
                model=None,
                request_timeout=timeout_s,
            )
            models = _models(session, model or [])
            template = ChatRequest(
                [{"role": "system", "content": system}] if system else [], None, max_tokens, temperature
            )
            console = stderr()
            console.print(f"[dim]{len(examples)} examples × {len(models)} models via {escape(session.via)}[/]")
            summaries, outcomes = run_eval(session.client, examples, models, template, parallel=parallel)
        if fmt == "json":
            print_json(_document(session, str(dataset), summaries, outcomes))
        else:
            _print_table(session, summaries)
        _fail_on_errors(outcomes)


def _fail_on_errors(outcomes: list[Outcome]) -> None:
    """Failed requests were scored as wrong and shown; the exit code says so too."""
    from kaitoctl.core.errors import OperationFailed

    failed = [o for o in outcomes if o.error is not None]
    if failed:
        first = failed[0]
        raise OperationFailed(
            f"{len(failed)} of {len(outcomes)} requests failed (scored as wrong); first: {first.model}, "
            f"{first.example.name}: {first.error}",
            reason="RequestsFailed",
            hint="`kaitoctl logs WORKSPACE` shows the server's log; raise --request-timeout for slow answers",
        )


def _read_dataset(path: Path | None) -> list[Any]:
    from kaitoctl.core.errors import InvalidInput
    from kaitoctl.core.evaluation import parse_dataset

    if path is None:
        raise InvalidInput("--dataset", "is required", "pass --dataset FILE.jsonl")
    try:
        with path.open(encoding="utf-8") as fh:
            return parse_dataset(fh, str(path))
    except UnicodeDecodeError:
        raise InvalidInput("--dataset", f"{path} is not UTF-8 text", "save it as UTF-8 JSON Lines") from None
    except OSError as exc:
        raise InvalidInput("--dataset", f"cannot read {path}: {exc.strerror or exc}", "check the path") from None


def _check_flags(max_tokens: int | None, temperature: float, parallel: int) -> None:
    from kaitoctl.core.errors import InvalidInput

    if max_tokens is not None and max_tokens < 1:
        raise InvalidInput("--max-tokens", f"{max_tokens} must be at least 1", None)
    if not 0.0 <= temperature <= 2.0:
        raise InvalidInput("--temperature", f"{temperature} is outside 0..2", None)
    if not 1 <= parallel <= 64:
        raise InvalidInput("--parallel", f"{parallel} is outside 1..64", None)


def _models(session: Session, wanted: list[str]) -> list[str]:
    """--model (each must be served), else the base model and each adapter."""
    from kaitoctl.core.errors import InvalidInput
    from kaitoctl.ops.chat import compared_models

    if session.models is None:
        raise InvalidInput("WORKSPACE", "the server has the legacy /chat API", "eval needs the OpenAI API (/v1)")
    if not wanted:
        try:
            return compared_models(session)
        except InvalidInput:
            return [session.base] if session.base in session.models else session.models[:1]
    for name in wanted:
        if name not in session.models:
            raise InvalidInput("--model", f"{name!r} is not served", f"served: {', '.join(session.models)}")
    return list(dict.fromkeys(wanted))


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}ms"


def _print_table(session: Session, summaries: list[ModelSummary]) -> None:
    from kaitoctl.cli.table import print_table

    rows = [
        [
            clean(s.model),
            session.role(s.model),
            f"{s.exact_accuracy:.1%} ({s.exact}/{s.examples})",
            f"{s.contains_accuracy:.1%} ({s.contains}/{s.examples})",
            _ms(s.p50_s),
            _ms(s.p90_s),
            _ms(s.p99_s),
            "-" if s.tokens_per_s is None else f"{s.tokens_per_s:.1f}",
            s.errors,
        ]
        for s in summaries
    ]
    print_table(["MODEL", "ROLE", "EXACT", "CONTAINS", "P50", "P90", "P99", "TOKENS/S", "ERRORS"], rows)
    sys.stdout.flush()


def _document(session: Session, dataset: str, summaries: list[ModelSummary], outcomes: list[Outcome]) -> Any:
    def ms(seconds: float | None) -> float | None:
        return None if seconds is None else round(seconds * 1000, 1)

    return document(
        "EvalResult",
        workspace=session.workspace,
        dataset=dataset,
        examples=summaries[0].examples if summaries else 0,
        models=[
            {
                "model": s.model,
                "role": session.role(s.model),
                "exactMatch": {"correct": s.exact, "accuracy": round(s.exact_accuracy, 4)},
                "contains": {"correct": s.contains, "accuracy": round(s.contains_accuracy, 4)},
                "latencyMs": {"p50": ms(s.p50_s), "p90": ms(s.p90_s), "p99": ms(s.p99_s)},
                "tokensPerSecond": None if s.tokens_per_s is None else round(s.tokens_per_s, 2),
                "errors": s.errors,
            }
            for s in summaries
        ],
        results=[
            {
                "model": r.model,
                "example": r.example.name,
                "line": r.example.line,
                "answer": r.answer,
                "exactMatch": r.exact,
                "contains": r.contains,
                "latencyMs": ms(r.latency_s),
                "completionTokens": r.completion_tokens,
                "error": r.error,
            }
            for r in outcomes
        ],
    )
