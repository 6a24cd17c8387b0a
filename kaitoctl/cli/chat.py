"""kaitoctl chat: ask the deployed model from a laptop or a CI runner (no kubectl, no in-cluster DNS)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kaitoctl.cli import complete
from kaitoctl.cli import options as o
from kaitoctl.cli.output import (
    check_output_format,
    clean,
    document,
    escape,
    print_error,
    print_json,
    reporting,
    stderr,
)
from kaitoctl.core.errors import KaitoctlError

if TYPE_CHECKING:
    from kaitoctl.ops.chat import Session

CHAT = "Chat"


def _history_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kaitoctl" / "chat_history"


def _chat_result(content: str, finish_reason: str | None, response: dict[str, Any], model: str | None) -> Any:
    return document(
        "ChatResult",
        model=response.get("model") or model,
        content=content,
        finishReason=finish_reason,
        usage=response.get("usage"),
        response=response,
    )


def _ask(session: Session, messages: list[dict[str, str]], opts: dict[str, Any]) -> str:
    """One question: streamed to stdout by default; one ChatResult document with -o json.

    Whatever part of an answer arrived stays on stdout; then a failure (an error event, a stream cut short, a
    malformed chunk, the token limit) is raised, so the exit code never hides it."""
    from kaitoctl.adapters.chat import ChatRequest, StreamResult, check_finish

    if session.model is None:  # legacy POST /chat (Kaito ≤ v0.9 transformers images): prompt in, Result out
        prompt = "\n".join(m["content"] for m in messages if m["role"] == "user")
        reply = session.client.legacy_chat(prompt, max_tokens=opts["max_tokens"], temperature=opts["temperature"])
        content = str(reply.get("Result", ""))
        if opts["json"]:
            print_json(_chat_result(content, None, reply, None))
        else:
            sys.stdout.write(clean(content).rstrip("\n") + "\n")
        return content
    request = ChatRequest(messages, session.model, opts["max_tokens"], opts["temperature"])
    if opts["json"] or opts["no_stream"]:
        reply = session.client.complete(request)
        choice = (reply.get("choices") or [{}])[0]
        content = str((choice.get("message") or {}).get("content") or "")
        if opts["json"]:
            print_json(_chat_result(content, choice.get("finish_reason"), reply, session.model))
        else:
            sys.stdout.write(clean(content).rstrip("\n") + "\n")
        check_finish(choice.get("finish_reason"))
        return content
    result = StreamResult()
    try:
        for delta in session.client.stream(request, result):
            sys.stdout.write(clean(delta))  # the server's text, never its escape sequences
            sys.stdout.flush()
    finally:
        if result.content:
            sys.stdout.write("\n")
            sys.stdout.flush()
    check_finish(result.finish_reason)
    return result.content


def _repl(session: Session, system: str | None, opts: dict[str, Any]) -> None:
    """Interactive chat with line editing and history (readline); /reset forgets, /exit or Ctrl-D leaves."""
    import readline

    history = _history_file()
    try:
        history.parent.mkdir(parents=True, exist_ok=True)
        if history.exists():
            readline.read_history_file(str(history))
    except OSError:
        pass
    messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    console = stderr()
    console.print(
        f"[dim]chatting with {escape(session.model or 'the model (legacy /chat)')} via {escape(session.via)}; "
        "/reset forgets, /exit or Ctrl-D leaves[/]"
    )
    try:
        while True:
            try:
                line = input("> ")
            except EOFError:
                sys.stdout.write("\n")
                return
            text = line.strip()
            if not text:
                continue
            if text in ("/exit", "/quit"):
                return
            if text == "/reset":
                messages = messages[:1] if system else []
                console.print("[dim]conversation cleared[/]")
                continue
            messages.append({"role": "user", "content": text})
            try:
                answer = _ask(session, messages, opts)
            except KaitoctlError as error:  # one failed answer does not end the conversation
                print_error(error)
                messages.pop()
                continue
            except KeyboardInterrupt:
                sys.stdout.write("\n")
                console.print("[dim](answer interrupted)[/]")
                messages.pop()
                continue
            messages.append({"role": "assistant", "content": answer})
    except KeyboardInterrupt:
        sys.stdout.write("\n")
    finally:
        with contextlib.suppress(OSError):
            readline.write_history_file(str(history))


Question = Annotated[
    str | None,
    typer.Argument(
        metavar="QUESTION",
        help="The question; '-' reads it from stdin. None on a terminal: interactive.",
        show_default=False,
    ),
]
WorkspaceOption = Annotated[
    str | None,
    typer.Option(
        "--workspace",
        metavar="NAME",
        help="Inference workspace (default: the only ready one).",
        autocompletion=complete.workspaces,
    ),
]
Endpoint = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        metavar="URL",
        help="Use this base URL (LoadBalancer, ingress; with or without /v1) instead of a port-forward.",
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        metavar="KEY",
        envvar="OPENAI_API_KEY",
        show_envvar=True,
        help="Sent as 'Authorization: Bearer KEY' (an ingress or gateway with auth).",
    ),
]
Header = Annotated[
    list[str] | None,
    typer.Option("--header", "-H", metavar="'NAME: VALUE'", help="Extra HTTP header (repeatable)."),
]
Model = Annotated[
    str | None,
    typer.Option(
        "--model",
        metavar="MODEL",
        help="Served model or adapter (default: the workspace's adapter, else the base).",
        rich_help_panel=CHAT,
    ),
]
System = Annotated[str | None, typer.Option("--system", metavar="TEXT", help="System prompt.", rich_help_panel=CHAT)]
MaxTokens = Annotated[
    int | None, typer.Option("--max-tokens", metavar="N", help="Answer length limit.", rich_help_panel=CHAT)
]
Temperature = Annotated[
    float | None,
    typer.Option("--temperature", metavar="0..2", help="Sampling temperature.", rich_help_panel=CHAT),
]
NoStream = Annotated[bool, typer.Option("--no-stream", help="Print the answer when complete.", rich_help_panel=CHAT)]
ListModels = Annotated[
    bool, typer.Option("--list-models", help="Print the served models and exit.", rich_help_panel=CHAT)
]
Compare = Annotated[
    bool,
    typer.Option(
        "--compare",
        help="Ask the base model and each adapter; answers side by side (a terminal) or one after another.",
        rich_help_panel=CHAT,
    ),
]


@o.verb
def chat(
    question: Question = None,
    workspace: WorkspaceOption = None,
    endpoint: Endpoint = None,
    api_key: ApiKey = None,
    header: Header = None,
    model: Model = None,
    system: System = None,
    max_tokens: MaxTokens = None,
    temperature: Temperature = None,
    no_stream: NoStream = False,
    list_models: ListModels = False,
    compare: Compare = False,
    output: o.JsonOutput = None,
    request_timeout: o.RequestTimeout = None,
    conn: o.ClusterFlags = o.ClusterFlags(),  # noqa: B008 - a frozen dataclass, expanded by @verb
) -> None:
    """Ask a deployed model. Streams the answer; reaches the cluster through the API server (port-forward).

    Exits non-zero when the answer is incomplete (an error mid-stream, a stream cut short, the token limit);
    what arrived stays on stdout. HTTP 429 and 503 are retried with backoff.

    Examples:

      # Ask the only ready inference workspace in the namespace
      kaitoctl chat "What is a Kubernetes operator?"

      # Through an ingress with auth, without a cluster connection
      kaitoctl chat "hello" --endpoint https://llm.example.com/v1 --api-key "$KEY"

      # Interactive, with a system prompt
      kaitoctl chat --workspace phi-3-mini-128k-instruct --system "Be brief."

      # Did tuning help? The base model and the adapter, side by side
      kaitoctl chat --compare "Summarise our refund policy"
    """
    with reporting():
        from contextlib import ExitStack

        from kaitoctl.cli.workspace_run import parse_duration

        fmt = check_output_format(output, ("json",))
        timeout_s = parse_duration(request_timeout, "--request-timeout")
        headers = _headers(header or [], api_key)
        _check_flags(max_tokens, temperature, endpoint, compare=compare, model=model, list_models=list_models)
        question, interactive = _read_question(question, listing=list_models, compare=compare)
        opts = {"max_tokens": max_tokens, "temperature": temperature, "json": fmt == "json", "no_stream": no_stream}
        from kaitoctl.ops.chat import open_session

        with ExitStack() as stack:
            session = open_session(
                stack,
                kubeconfig=conn.kubeconfig,
                context=conn.context,
                namespace=conn.namespace,
                workspace=workspace,
                endpoint=endpoint,
                model=model,
                headers=headers,
                request_timeout=timeout_s,
                on_retry=lambda message: stderr().print(f"[yellow]{escape(message)}[/]"),
            )
            if list_models:
                _print_models(session, json_output=fmt == "json")
                return
            if interactive:
                _repl(session, system, opts)
                return
            assert question is not None
            messages = ([{"role": "system", "content": system}] if system else []) + [
                {"role": "user", "content": question}
            ]
            if compare:
                _compare(session, messages, opts)
                return
            if stderr().is_terminal:
                stderr().print(f"[dim]{escape(session.model or 'legacy /chat')} via {escape(session.via)}[/]")
            _ask(session, messages, opts)


def _check_flags(
    max_tokens: int | None,
    temperature: float | None,
    endpoint: str | None,
    *,
    compare: bool,
    model: str | None,
    list_models: bool,
) -> None:
    """Every flag checked before any connection."""
    from kaitoctl.core.errors import InvalidInput

    if max_tokens is not None and max_tokens < 1:
        raise InvalidInput("--max-tokens", f"{max_tokens} must be at least 1", None)
    if temperature is not None and not 0.0 <= temperature <= 2.0:
        raise InvalidInput("--temperature", f"{temperature} is outside 0..2", None)
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        from kaitoctl.core.redact import redact_url
        from kaitoctl.core.yamlsafe import clip

        raise InvalidInput(
            "--endpoint", f"{clip(redact_url(endpoint))!r} is not an http(s) URL", "e.g. http://20.1.2.3:80"
        )
    if compare and model is not None:
        raise InvalidInput("--compare", "asks the base model and each adapter: --model does not apply", "drop one")
    if compare and list_models:
        raise InvalidInput("--compare", "--list-models asks no question", "drop one")


def _read_question(question: str | None, *, listing: bool, compare: bool) -> tuple[str | None, bool]:
    """(the question, whether to chat interactively): '-' or a pipe reads stdin; none on a terminal is a REPL."""
    from kaitoctl.core.errors import InvalidInput

    if listing:
        return question, False
    if question == "-" or (question is None and not sys.stdin.isatty()):
        question = sys.stdin.read().strip()
        if not question:
            raise InvalidInput("QUESTION", "stdin was empty", "pipe a question in, or pass it as an argument")
    if question is None and compare:
        raise InvalidInput("QUESTION", "--compare needs a question", 'e.g. kaitoctl chat --compare "hello"')
    return question, question is None


def _print_models(session: Session, *, json_output: bool) -> None:
    if json_output:
        print_json(document("ModelList", models=session.models, default=session.model))
        return
    for name in session.models or ["(legacy /chat API: one model)"]:
        sys.stdout.write(clean(name) + ("  (default)" if name == session.model else "") + "\n")


def _compare(session: Session, messages: list[dict[str, str]], opts: dict[str, Any]) -> None:
    """The question to the base model and each adapter at once: live columns on a terminal, else one labelled
    block per model (in the same order) once all have answered; -o json: one ChatComparison document. Any answer
    that failed makes the exit code non-zero, after every answer is shown."""
    from kaitoctl.adapters.chat import ChatRequest
    from kaitoctl.ops.chat import ask_each, compared_models

    models = compared_models(session)
    request = ChatRequest(messages, None, opts["max_tokens"], opts["temperature"])
    if opts["json"]:
        answers = ask_each(session.client, request, models)
        print_json(
            document(
                "ChatComparison",
                answers=[
                    {
                        "model": a.model,
                        "role": session.role(a.model),
                        "content": a.result.content,
                        "finishReason": a.result.finish_reason,
                        "usage": a.result.usage,
                        "seconds": round(a.seconds, 3),
                        "error": None if a.error is None else a.error.to_dict(),
                    }
                    for a in answers
                ],
            )
        )
    elif sys.stdout.isatty():
        answers = _compare_live(session, request, models)
    else:
        answers = ask_each(session.client, request, models)
        for index, answer in enumerate(answers):
            label = f"== {_label(session, answer.model)} =="
            sys.stdout.write(
                ("\n" if index else "") + clean(label) + "\n" + clean(answer.result.content).rstrip("\n") + "\n"
            )
        sys.stdout.flush()
    failed = [a for a in answers if a.error is not None]
    for answer in failed[1:]:
        assert answer.error is not None
        print_error(answer.error)
    if failed:
        error = failed[0].error
        assert error is not None
        error.message = f"{failed[0].model}: {error.message}"
        raise error


def _label(session: Session, model: str) -> str:
    role = session.role(model)
    return model if role == "model" else f"{model} ({role})"  # the role is unknown with --endpoint


def _compare_live(session: Session, request: Any, models: list[str]) -> list[Any]:
    """Side by side on a terminal: one column per model, each filling in as its stream arrives (rich Live)."""
    import threading

    from rich.console import Console
    from rich.live import Live
    from rich.table import Table
    from rich.text import Text

    from kaitoctl.ops.chat import ask_each

    texts = ["" for _ in models]
    lock = threading.Lock()

    def view() -> Table:
        table = Table(expand=True, show_lines=False)
        for model in models:
            table.add_column(_label(session, model), ratio=1, overflow="fold")
        with lock:
            table.add_row(*(Text(clean(t)) for t in texts))
        return table

    def on_delta(index: int, delta: str) -> None:
        with lock:
            texts[index] += delta

    with Live(get_renderable=view, console=Console(), refresh_per_second=10, transient=False):
        return ask_each(session.client, request, models, on_delta)


def _headers(values: list[str], api_key: str | None) -> dict[str, str]:
    """--header 'Name: value' (as curl -H) and --api-key, checked before any connection."""
    from kaitoctl.core.errors import InvalidInput

    headers: dict[str, str] = {}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    for value in values:
        name, sep, content = value.partition(":")
        name = name.strip()
        if not sep or not name or any(c in name for c in " \t\r\n") or any(c in content for c in "\r\n"):
            # the value is not echoed: it may be a secret
            raise InvalidInput("--header", "a value is not of the form 'Name: value'", "e.g. --header 'X-Api-Key: ...'")
        headers[name] = content.strip()
    return headers
