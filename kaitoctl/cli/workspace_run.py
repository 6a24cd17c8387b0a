"""The common tail of tune, deploy and apply: plan, then either print (dry run) or apply and wait."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kaitoctl.cli import output
from kaitoctl.core.errors import InvalidInput
from kaitoctl.ops.options import RunOptions

if TYPE_CHECKING:
    from kaitoctl.core.builders import CommonOptions
    from kaitoctl.core.spec import WorkspaceSpec


def parse_timeout(value: str | None) -> float | None:
    """'90s', '30m', '2h', '1h30m' or plain seconds."""
    if value is None:
        return None
    import re

    text = value.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise InvalidInput("--timeout", f"{value!r} is not a duration", "write e.g. 90s, 30m, 2h or 1h30m")
        seconds = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    if seconds <= 0:
        raise InvalidInput("--timeout", f"{value!r} must be positive", "write e.g. 30m")
    return seconds


def common_from(params: dict[str, Any]) -> CommonOptions:
    """The shared workspace flags of a verb, from its parameters (its `locals()`)."""
    from kaitoctl.core.builders import CommonOptions

    return CommonOptions(
        name=params.get("name"),
        namespace=params.get("namespace"),
        instance_type=params.get("instance_type"),
        count=params.get("count"),
        labels=params.get("label") or [],
        nodes=params.get("node") or [],
        image=params.get("image"),
        image_pull_secrets=params.get("image_pull_secret") or [],
        model_access_secret=params.get("model_access_secret"),
    )


def options_from(params: dict[str, Any], result: dict[str, Any] | None) -> RunOptions:
    """The run flags of a verb, from its parameters (its `locals()`); validates --timeout."""
    return RunOptions(
        dry_run=params.get("dry_run", False),
        output=params.get("output"),
        timeout_s=parse_timeout(params.get("timeout")),
        no_progress=params.get("no_progress", False),
        no_wait=params.get("no_wait", False),
        recreate=params.get("recreate", False),
        yes=params.get("yes", False),
        bypass_resource_checks=params.get("bypass_resource_checks", False),
        cleanup=params.get("cleanup"),
        kubeconfig=params.get("kubeconfig"),
        context=params.get("context"),
        subscription=params.get("subscription"),
        resource_group=params.get("resource_group"),
        aks_cluster=params.get("cluster"),
        cloud=params.get("cloud"),
        no_pool=params.get("no_pool", False),
        adopt=params.get("adopt", False),
        no_device_plugin=params.get("no_device_plugin", False),
        result=result,
    )


def wants_consent(opts: RunOptions) -> bool:
    """Ask `Proceed? [y/N]` only with a person at a terminal: never with -y, in a dry run, or without a TTY (CI
    proceeds, as kubectl and helm do)."""
    return not opts.yes and not opts.dry_run and sys.stdin.isatty() and sys.stderr.isatty()


def terminal_confirm(reporter: Any) -> Callable[[str], bool]:
    """The question on stderr, the answer from stdin; the live progress view pauses meanwhile."""

    def confirm(question: str) -> bool:
        live = getattr(reporter, "live", None)
        if live is not None:
            live.stop()
        try:
            sys.stderr.write(output.clean(question) + "\nProceed? [y/N] ")
            sys.stderr.flush()
            answer = sys.stdin.readline()  # "" at end of input: no
            return answer.strip().lower() in ("y", "yes")
        finally:
            if live is not None:
                live.start()

    return confirm


def json_result(params: dict[str, Any]) -> dict[str, Any] | None:
    """The -o json result object of a real run (None for dry runs and human output)."""
    return {} if params.get("output") == "json" and not params.get("dry_run") else None


def execute(spec: WorkspaceSpec, opts: RunOptions) -> None:
    """Dry run: plan to stderr, manifests to stdout. Otherwise hand over to ops (cluster, Azure, wait)."""
    from kaitoctl.core.catalog import load_catalog
    from kaitoctl.core.plan import build_plan

    fmt = output.check_output_format(opts.output)
    if opts.cleanup is not None and opts.cleanup not in ("on-success", "always", "never"):
        raise InvalidInput("--cleanup", f"unknown value {opts.cleanup!r}", "use on-success, always or never")
    catalog = load_catalog()
    if opts.dry_run:
        from kaitoctl.core import manifests
        from kaitoctl.core.render import render_plan

        plan = build_plan(
            spec,
            catalog,
            placement_mode="selector" if opts.no_pool and not spec.resource.preferred_nodes else None,
            bypass_resource_checks=opts.bypass_resource_checks,
        )
        objects = render_plan(plan, catalog)
        output.print_plan(plan, objects)
        text = manifests.to_json(objects) if fmt == "json" else manifests.to_yaml(objects)
        sys.stdout.write(text)
        sys.stdout.flush()
        return

    from kaitoctl.cli.progress import make_reporter
    from kaitoctl.ops.run import run_workspace

    reporter = make_reporter(no_progress=opts.no_progress)
    if wants_consent(opts):
        opts.confirm = terminal_confirm(reporter)
    try:
        result = run_workspace(spec, opts, catalog, reporter)
    finally:
        reporter.close()
    output.print_result(result, json_output=opts.output == "json")
