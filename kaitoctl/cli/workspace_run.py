"""The common tail of tune, deploy and apply: plan, then either print (dry run) or apply and wait."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kaitoctl.cli import output
from kaitoctl.core.errors import InvalidInput

if TYPE_CHECKING:
    from kaitoctl.core.spec import WorkspaceSpec


@dataclass
class RunOptions:
    dry_run: bool = False
    output: str | None = None
    timeout: str | None = None
    no_progress: bool = False
    no_wait: bool = False
    recreate: bool = False
    yes: bool = False
    bypass_resource_checks: bool = False
    cleanup: str | None = None  # tune only
    # cluster
    kubeconfig: Path | None = None
    context: str | None = None
    namespace_flag: bool = False  # -n given explicitly
    # azure
    subscription: str | None = None
    resource_group: str | None = None
    aks_cluster: str | None = None
    cloud: str | None = None
    no_pool: bool = False
    adopt: bool = False
    no_device_plugin: bool = False
    # The -o json result object being built (None unless -o json on a real run).
    result: dict[str, Any] | None = None


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


def execute(spec: WorkspaceSpec, opts: RunOptions) -> None:
    """Dry run: plan to stderr, manifests to stdout. Otherwise hand over to ops (cluster, Azure, wait)."""
    from kaitoctl.core.catalog import load_catalog
    from kaitoctl.core.plan import build_plan

    fmt = output.check_output_format(opts.output)
    parse_timeout(opts.timeout)
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

    from kaitoctl.ops.run import run_workspace

    run_workspace(spec, opts, catalog)
