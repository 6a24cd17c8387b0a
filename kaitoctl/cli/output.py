"""What the CLI prints, and how errors become exit codes.

stdout carries data (manifests, tables, the JSON result); everything for people (plans, progress, warnings,
errors) goes to stderr. Messages are written in rich's markup. On a terminal rich prints them (colour, NO_COLOR,
the live view); otherwise (pipes, CI logs, tests) the markup is dropped and the text written as it is, which is
what rich would print there too, without importing rich (a third of a dry run's start-up).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any, TextIO

import typer

from kaitoctl.core.errors import ExitCode, InvalidInput, KaitoctlError

if TYPE_CHECKING:
    from rich.console import Console

    from kaitoctl.core.plan import Plan

OUTPUT_FORMATS = ("yaml", "json")
API_VERSION = (
    "kaitoctl.io/v1"  # every -o json document kaitoctl writes carries it (schema: schema/kaitoctl.schema.json)
)


def document(kind: str, **fields: Any) -> dict[str, Any]:
    """A kaitoctl -o json document: apiVersion and kind first, then its fields."""
    return {"apiVersion": API_VERSION, "kind": kind, **fields}


# A markup tag, with the backslashes before it: `[bold]`, `[/]`, `[dim red]`. Same grammar as rich's.
_TAG = re.compile(r"(\\*)(\[[a-z#/@][^\[]*?\])")
# Control characters that rich drops from printed text (BEL, BS, VT, FF, CR): a message cannot move the cursor.
_CONTROL = dict.fromkeys((7, 8, 11, 12, 13))


class PlainConsole:
    """The part of rich's Console that kaitoctl uses, for a stream that is not a terminal: markup out, text in."""

    is_terminal = False

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def print(self, markup: str = "", *, end: str = "\n") -> None:
        stream = self.stream or sys.stderr
        stream.write(plain(markup) + end)
        stream.flush()


def plain(markup: str) -> str:
    """The text rich would print for `markup`, with no styles: tags go; an escaped tag (odd backslashes) stays."""

    def replace(match: re.Match[str]) -> str:
        backslashes, tag = match.groups()
        kept, escaped = divmod(len(backslashes), 2)
        return "\\" * kept + (tag if escaped else "")

    return _TAG.sub(replace, markup).translate(_CONTROL)


def wants_rich(stream: TextIO) -> bool:
    """rich's own test for styling output: a TTY, or FORCE_COLOR / TTY_COMPATIBLE=1 set."""
    if os.environ.get("FORCE_COLOR") or os.environ.get("TTY_COMPATIBLE") == "1":
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed
        return False


@cache
def stderr() -> Console | PlainConsole:
    if not wants_rich(sys.stderr):
        return PlainConsole()
    return rich_stderr()


@cache
def rich_stderr() -> Console:
    """rich's console on stderr, for what only rich can draw (the live progress view)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def check_output_format(value: str | None, allowed: tuple[str, ...] = OUTPUT_FORMATS) -> str | None:
    if value is not None and value not in allowed:
        raise InvalidInput("--output", f"unknown format {value!r}", f"use one of: {', '.join(allowed)}")
    return value


def warn(message: str) -> None:
    stderr().print(f"[yellow]warning:[/] {escape(message)}")


def note(message: str) -> None:
    stderr().print(f"[dim]note:[/] {escape(message)}")


_TERMINAL_UNSAFE = re.compile("[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]")


def clean(text: str) -> str:
    """Text safe for a terminal: no C0/C1 control characters but newline and tab (so no escape sequences that
    move the cursor, retitle the window or hide text), no bidirectional overrides. -o json is never cleaned:
    JSON escapes control characters itself."""
    return _TERMINAL_UNSAFE.sub("", text)


def escape(text: str) -> str:
    """`text` as markup that prints as itself: control characters stripped (clean), and each tag-like `[...]`
    gets a backslash (the backslashes before it doubled), as rich.markup.escape does."""
    text = _TAG.sub(lambda m: m.group(1) * 2 + "\\" + m.group(2), clean(text))
    if text.endswith("\\") and not text.endswith("\\\\"):
        text += "\\"
    return text


def print_error(error: KaitoctlError) -> None:
    console = stderr()
    console.print(f"[bold red]error:[/] {escape(error.message)}")
    for detail in error.details:
        console.print(f"  - {escape(detail)}")
    if error.hint:
        console.print(f"  [bold]fix:[/] {escape(error.hint)}")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


@contextmanager
def reporting(
    json_result: dict[str, Any] | None = None, *, previous: list[dict[str, Any]] | None = None
) -> Iterator[None]:
    """Turn kaitoctl errors into a message on stderr and the documented exit code; no tracebacks.

    With `json_result` (the -o json result being built), the error is also added to it and the document printed,
    so a script always gets exactly one JSON document on stdout: with `previous` results (apply of several
    Workspaces), a List of those and the failed one.
    """

    def emit(error: dict[str, Any]) -> None:
        if json_result is None:
            return
        json_result["error"] = error
        print_json(document("List", items=[*previous, json_result]) if previous else json_result)

    try:
        yield
    except KaitoctlError as error:
        print_error(error)
        emit(error.to_dict())
        raise typer.Exit(int(error.exit_code)) from None
    except KeyboardInterrupt:
        stderr().print("[bold red]interrupted[/]")
        emit({"type": "Interrupted", "exitCode": int(ExitCode.INTERRUPTED), "message": "interrupted"})
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


def print_plan(plan: Plan, objects: list[dict[str, Any]], *, pool_action: str | None = None) -> None:
    """The human-readable plan, on stderr: what runs, on what and at what cost, whether it fits, its data, where."""
    from kaitoctl.core.manifests import object_ref

    rows = [
        *_machine_rows(plan),
        *_fit_rows(plan),
        *_data_rows(plan),
        *_placement_rows(plan, pool_action),
        ("objects", ", ".join(object_ref(o) for o in objects)),
    ]
    console = stderr()
    console.print(
        f"[bold]Plan:[/] {plan.action} workspace [bold]{escape(plan.spec.name)}[/] in namespace "
        f"{escape(plan.namespace)}"
    )
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        console.print(f"  {key:<{width}}  {escape(value)}")
    for message in plan.warnings:
        warn(message)
    for blocker in plan.blockers:
        warn(f"a real run would stop here: {blocker.message}" + (f" — {blocker.hint}" if blocker.hint else ""))
    for message in plan.notes:
        note(message)


def _machine_rows(plan: Plan) -> list[tuple[str, str]]:
    """The model, the method or runtime, the instance type, the node count, Spot, the price and the alternatives."""
    preset, sku = plan.preset, plan.sku
    revision = f" @ {preset.revision[:7]}" if preset.revision and preset.revision != "main" else ""
    rows = [("preset", f"{preset.name} ({preset.hf_repo}{revision}), weights {preset.weights_gib:g} GiB")]
    if plan.spec.tuning is not None:
        rows.append(("method", plan.spec.tuning.method))
    else:
        rows.append(("runtime", plan.runtime or "vllm"))
    rows.append(
        (
            "instance",
            f"{sku.name}: {sku.gpus} × {sku.gpu_model} {sku.gpu_memory_gib:g} GiB, {sku.vcpus} vCPU "
            f"({plan.sku_choice})",
        )
    )
    rows.append(("nodes", str(plan.placement.nodes)))
    if plan.placement.spot:
        rows.append(("priority", "Spot: evictable at any time; evicted nodes are deleted"))
    if plan.market is not None:
        price = plan.usd_per_hour
        kind = "Spot" if plan.market.spot else "pay-as-you-go"
        rows.append(
            (
                "cost",
                f"${price:.2f}/h ({plan.placement.nodes} × {sku.name}, {kind}, {plan.market.region}, "
                f"{plan.market.source})"
                if price is not None
                else f"unknown: no {kind} price for {sku.name} in {plan.market.region} ({plan.market.source})",
            )
        )
    if plan.ranking is not None and plan.market is not None and len(plan.ranking.offers) > 1:
        others = [
            f"{o.sku.name} "
            + (f"${o.usd_per_hour:.2f}/h" if o.usd_per_hour is not None else "no price")
            + (" (quota short)" if o.quota == "short" else "")
            for o in plan.ranking.offers[1:4]
        ]
        rows.append(("next cheapest", "; ".join(others)))
    return rows


def _fit_rows(plan: Plan) -> list[tuple[str, str]]:
    """Why the model fits (inference) or the tuning memory estimate with its assumptions."""
    rows: list[tuple[str, str]] = []
    if plan.inference_fit is not None:
        lines = plan.inference_fit.explain()
        rows.append(("fit", lines[0]))
        rows.extend(("", line) for line in lines[1:])
    if plan.tuning_estimate is not None:
        lines = plan.tuning_estimate.explain()
        rows.append(("fit", lines[0]))
        rows.extend(("", line) for line in lines[1:])
        rows.append(("assumptions", plan.tuning_estimate.assumptions[0]))
        rows.extend(("", line) for line in plan.tuning_estimate.assumptions[1:])
    return rows


def _data_rows(plan: Plan) -> list[tuple[str, str]]:
    """A tuning run's input and output (URLs redacted), or the adapters an inference workload loads."""
    spec = plan.spec
    if spec.tuning is None:
        if spec.inference is not None and spec.inference.adapters:
            return [("adapters", ", ".join(a.name for a in spec.inference.adapters))]
        return []
    rows: list[tuple[str, str]] = []
    src, out = spec.tuning.input, spec.tuning.output
    if src.urls:
        label = " (default: the Phi-3 cookbook dataset)" if src.default_dataset else ""
        from kaitoctl.core.redact import redact_urls

        rows.append(("input", ", ".join(redact_urls(src.urls)) + label))
    elif src.image:
        rows.append(("input", f"image {src.image}"))
    elif src.managed_pvc:
        uploaded = f"--input-file, uploaded into PersistentVolumeClaim {src.managed_pvc} (created by kaitoctl)"
        rows.append(("input", uploaded))
    else:
        rows.append(("input", f"volume {json.dumps(src.volume)}"))
    if out.image:
        rows.append(("output", f"image {out.image} (push secret {out.image_push_secret})"))
    elif out.managed_pvc:
        rows.append(("output", f"PersistentVolumeClaim {out.managed_pvc} (created by kaitoctl)"))
    else:
        rows.append(("output", f"volume {json.dumps(out.volume)}"))
    return rows


def _placement_rows(plan: Plan, pool_action: str | None) -> list[tuple[str, str]]:
    """Where the pods go: the AKS pool to create or scale, named nodes, or nodes found by label."""
    placement = plan.placement
    if placement.mode == "pool":
        action = pool_action or (
            f"create or scale AKS agent pool {placement.pool_name} to {placement.nodes} × {plan.sku.name} "
            "(checked against the cluster when applied)"
        )
        return [("node pool", action)]
    if placement.mode == "nodes":
        return [("nodes", "existing: " + ", ".join(placement.node_names))]
    return [("nodes", "existing nodes matching the label selector (no pool)")]


def print_result(result: dict[str, Any], *, json_output: bool) -> None:
    """The end of a real run: the JSON object on stdout with -o json, else a short summary on stderr."""
    if json_output:
        print_json(result)
        return
    console = stderr()
    state = result.get("state")
    name = result.get("workspace")
    if "endpoint" in result:
        ep = result["endpoint"]
        console.print(
            f"[green]✓[/] {escape(str(name))} is ready: model [bold]{escape(str(ep['model']))}[/]"
            + (f" with adapter(s) {escape(', '.join(ep['adapters']))}" if ep.get("adapters") else "")
        )
        console.print(f"  in-cluster: {escape(ep['url'])}")
        console.print(f"  from here:  {escape(ep['chat'])}")
    elif "output" in result and state == "Succeeded":
        out = result["output"] or {}
        where = out.get("image") or out.get("volume")
        console.print(f"[green]✓[/] {escape(str(name))} succeeded: adapter in {escape(str(where))}")
        console.print(f"  serve it:   kaitoctl deploy -n {escape(str(result.get('namespace')))}")
    elif result.get("objects") is not None:
        console.print(f"applied {len(result['objects'])} object(s) for {escape(str(name))} (not waiting)")
