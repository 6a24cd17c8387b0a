"""GitHub Actions job summary: when GITHUB_STEP_SUMMARY names a file (as on every Actions runner), tune, deploy
and apply append the plan, the cost and the result there as Markdown, also when the run failed.

GitHub documents the variable and its Markdown file: "Adding a job summary", docs.github.com, workflow commands.
"""

from __future__ import annotations

import os
from typing import Any

from kaitoctl.core.errors import KaitoctlError

_ICON = {"Ready": "✅", "Succeeded": "✅", "True": "✅", "False": "❌", "Skipped": "➖"}


def _cell(value: object) -> str:
    """A table cell: no line breaks, pipes escaped (the text may come from the cluster or Azure)."""
    text = " ".join(str(value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def markdown(result: dict[str, Any], error: KaitoctlError | None = None) -> str:
    plan: dict[str, Any] = result.get("plan") or {}
    state = "Failed" if error is not None else str(result.get("state") or "Applied")
    action = result.get("action") or plan.get("action") or "run"
    name = result.get("workspace") or plan.get("workspace") or "?"
    lines = [
        f"### kaitoctl {_cell(action)} `{_cell(name)}` in `{_cell(result.get('namespace') or '?')}`: "
        f"{_cell(state)} {_ICON.get(state, '❌' if error else '')}".rstrip(),
        "",
        "| | |",
        "|---|---|",
    ]
    rows: list[tuple[str, object]] = []
    if plan:
        rows.append(("preset", plan.get("preset")))
        if plan.get("method"):
            rows.append(("method", plan["method"]))
        elif plan.get("runtime"):
            rows.append(("runtime", plan["runtime"]))
        rows.append(
            ("instance", f"{plan.get('nodes')} × {plan.get('instanceType')} ({plan.get('instanceTypeChoice')})")
        )
        fit = plan.get("fit") or {}
        if fit.get("explanation"):
            rows.append(("fit", fit["explanation"][0]))
    pool = result.get("pool") or {}
    if pool:
        rows.append(("node pool", f"{pool.get('name')} ({pool.get('action')})"))
        price = pool.get("usdPerHour")
        rows.append(("cost", "unknown (Azure Retail Prices API unreachable)" if price is None else f"${price:.2f}/h"))
    if result.get("durationSeconds") is not None:
        rows.append(("duration", f"{result['durationSeconds']:.0f} s"))
    endpoint = result.get("endpoint") or {}
    if endpoint:
        rows.append(("endpoint", f"{endpoint.get('url')} (model {endpoint.get('model')})"))
    if result.get("output"):
        output = result["output"]
        rows.append(("adapter", output.get("image") or output.get("volume")))
    if error is not None:
        rows.append(("error", error.message))
        if error.hint:
            rows.append(("fix", error.hint))
    lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in rows]
    phases = result.get("phases") or []
    if phases:
        lines += ["", "| phase | status | reason | seconds |", "|---|---|---|---|"]
        for p in phases:
            seconds = "" if p.get("durationSeconds") is None else f"{p['durationSeconds']:.0f}"
            status = f"{_ICON.get(str(p.get('status')), '')} {p.get('status')}".strip()
            lines.append(f"| {_cell(p.get('name'))} | {_cell(status)} | {_cell(p.get('reason') or '')} | {seconds} |")
    return "\n".join(lines) + "\n\n"


def append(result: dict[str, Any], error: KaitoctlError | None = None) -> None:
    """Append to $GITHUB_STEP_SUMMARY when set; a summary that cannot be written never fails the run."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(markdown(result, error))
    except OSError as exc:
        from kaitoctl.cli.output import warn

        warn(f"cannot write the job summary to {path}: {exc.strerror}")
