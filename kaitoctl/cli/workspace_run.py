"""The common tail of tune, deploy, apply and render: plan, then either print (dry run) or apply and wait."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kaitoctl.cli import output
from kaitoctl.cli.options import AzureFlags, ClusterFlags, PoolFlags, RunFlags, WorkspaceFlags
from kaitoctl.core.errors import InvalidInput
from kaitoctl.ops.options import RunOptions

if TYPE_CHECKING:
    from kaitoctl.core.builders import CommonOptions
    from kaitoctl.core.catalog import Catalog
    from kaitoctl.core.plan import PlacementMode
    from kaitoctl.core.spec import WorkspaceSpec

CLEANUP_VALUES = ("on-success", "always", "never")


def parse_duration(value: str | None, flag: str = "--timeout") -> float | None:
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
            raise InvalidInput(flag, f"{value!r} is not a duration", "write e.g. 90s, 30m, 2h or 1h30m")
        seconds = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    if seconds <= 0:
        raise InvalidInput(flag, f"{value!r} must be positive", "write e.g. 30m")
    return seconds


def common_options(
    ws: WorkspaceFlags, conn: ClusterFlags, *, name: str | None = None, count: int | None = None
) -> CommonOptions:
    """The shared workspace flags of a verb."""
    from kaitoctl.core.builders import CommonOptions

    return CommonOptions(
        name=name,
        namespace=conn.namespace,
        instance_type=ws.instance_type,
        count=count,
        labels=list(ws.label or []),
        nodes=list(ws.node or []),
        image=ws.image,
        image_pull_secrets=list(ws.image_pull_secret or []),
        model_access_secret=ws.model_access_secret,
    )


def run_options(
    run: RunFlags,
    conn: ClusterFlags,
    *,
    ws: WorkspaceFlags,
    azure: AzureFlags | None = None,
    pool: PoolFlags | None = None,
    cleanup: str | None = None,
) -> RunOptions:
    """What ops needs to know about the run; validates --timeout, --output and --cleanup (before any I/O)."""
    output.check_output_format(run.output)
    if cleanup is not None and cleanup not in CLEANUP_VALUES:
        raise InvalidInput("--cleanup", f"unknown value {cleanup!r}", "use on-success, always or never")
    azure = azure or AzureFlags()
    pool = pool or PoolFlags()
    return RunOptions(
        dry_run=run.dry_run,
        output=run.output,
        timeout_s=parse_duration(run.timeout),
        no_progress=run.no_progress,
        no_wait=run.no_wait,
        recreate=run.recreate,
        yes=run.yes,
        bypass_resource_checks=ws.bypass_resource_checks,
        cleanup=cleanup,
        kubeconfig=conn.kubeconfig,
        context=conn.context,
        subscription=azure.subscription,
        resource_group=azure.resource_group,
        aks_cluster=azure.cluster,
        cloud=azure.cloud,
        no_pool=pool.no_pool,
        adopt=pool.adopt,
        no_device_plugin=pool.no_device_plugin,
        spot=pool.spot,
        result=None,
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


def new_result() -> dict[str, Any]:
    """An empty -o json RunResult document; ops fills it as the run goes, so an error still prints what is known."""
    return output.document("RunResult")


@dataclass
class DryRun:
    """Manifests of one or more workspaces, and every reason a real run of them would be refused."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    blockers: list[InvalidInput] = field(default_factory=list)

    def add(self, spec: WorkspaceSpec, opts: RunOptions, catalog: Catalog) -> None:
        from kaitoctl.core.plan import build_plan
        from kaitoctl.core.render import render_plan
        from kaitoctl.ops.market import dry_run_market

        placement: PlacementMode | None = "selector" if opts.no_pool and not spec.resource.preferred_nodes else None
        pool = placement is None and not spec.resource.preferred_nodes
        market, no_market = dry_run_market(catalog, spot=opts.spot) if pool else (None, None)
        plan = build_plan(
            spec,
            catalog,
            placement_mode=placement,
            bypass_resource_checks=opts.bypass_resource_checks,
            market=market,
            no_market=no_market,
            spot=opts.spot,
        )
        objects = render_plan(plan, catalog)
        output.print_plan(plan, objects)
        self.objects.extend(objects)
        self.blockers.extend(plan.blockers)

    def finish(self, fmt: str | None) -> None:
        """Manifests to stdout (json: one v1 List, as `kubectl get -o json`); exit 2 if a real run would stop."""
        import json

        from kaitoctl.core import manifests

        if fmt == "json":
            listing = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": self.objects}
            text = json.dumps(listing, indent=2, ensure_ascii=False) + "\n"
        else:
            text = manifests.to_yaml(self.objects)
        sys.stdout.write(text)
        sys.stdout.flush()
        if self.blockers:
            first, *rest = self.blockers
            raise InvalidInput(
                first.field,
                f"a real run would be refused: {first.problem}"
                + (f" (and {len(rest)} more problem{'s' if len(rest) > 1 else ''})" if rest else ""),
                first.hint,
                choices=[b.message for b in rest] or None,
            )


def preflight(spec: WorkspaceSpec, opts: RunOptions, catalog: Catalog) -> None:
    """Everything about a real run that can be checked without the cluster, checked before connecting to it:
    the spec's own rules and, where the run would size a new pool from the catalog, the GPU fit and the SKU."""
    from kaitoctl.core.plan import build_plan
    from kaitoctl.core.validation import validate_spec

    findings = validate_spec(spec, catalog)
    if findings.blockers:
        raise findings.blockers[0]
    res = spec.resource
    if res.preferred_nodes or opts.no_pool or res.match_labels or res.match_expressions:
        return  # existing nodes decide the GPU configuration: only the cluster can tell
    plan = build_plan(
        spec, catalog, placement_mode="pool", bypass_resource_checks=opts.bypass_resource_checks, spot=opts.spot
    )
    if plan.blockers:
        raise plan.blockers[0]


def run(spec: WorkspaceSpec, opts: RunOptions, catalog: Catalog, result: dict[str, Any] | None) -> dict[str, Any]:
    """A real run: hand over to ops (cluster, Azure, wait). `result` (the -o json document) is filled on the way;
    the outcome, failed or not, also goes to the GitHub Actions job summary when there is one."""
    from dataclasses import replace

    from kaitoctl.cli import summary
    from kaitoctl.cli.progress import make_reporter
    from kaitoctl.core.errors import KaitoctlError
    from kaitoctl.ops.run import run_workspace

    document = result if result is not None else new_result()
    reporter = make_reporter(no_progress=opts.no_progress)
    confirm = terminal_confirm(reporter) if wants_consent(opts) else None
    try:
        done = run_workspace(spec, replace(opts, result=document, confirm=confirm), catalog, reporter)
    except KaitoctlError as error:
        summary.append(document, error)
        raise
    finally:
        reporter.close()
    summary.append(done)
    return done


def execute(spec: WorkspaceSpec, opts: RunOptions, result: dict[str, Any] | None) -> None:
    """One workspace: dry run (plan to stderr, manifests to stdout) or a real run with its result."""
    from kaitoctl.core.catalog import load_catalog

    catalog = load_catalog()
    if opts.dry_run:
        dry = DryRun()
        dry.add(spec, opts, catalog)
        dry.finish(opts.output)
        return
    preflight(spec, opts, catalog)
    done = run(spec, opts, catalog, result)
    output.print_result(done, json_output=opts.output == "json")
