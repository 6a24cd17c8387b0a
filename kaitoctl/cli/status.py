"""kaitoctl status: workspaces like `kubectl get workspace`, computed live from the cluster."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from kaitoctl.cli import complete
from kaitoctl.cli import options as o
from kaitoctl.cli.output import check_output_format, document, print_json, reporting
from kaitoctl.cli.table import format_table

HEADERS = ["NAME", "INSTANCE", "RESOURCEREADY", "INFERENCEREADY", "JOBSTARTED", "WORKSPACESUCCEEDED", "AGE"]
WIDE = ["ENDPOINT", "$/H", "POOL"]  # after AGE, as kubectl's -o wide columns follow the default ones
STATUS_FORMATS = ("yaml", "json", "wide")


def _price(usd: float | None) -> str:
    return "unknown" if usd is None else ("0" if usd == 0 else f"{usd:.2f}")


def _wide(s: Any) -> list[str]:
    return [s.endpoint or "<none>", _price(s.usd_per_hour()), s.pool or "<none>"]


def _rows(statuses: list[Any], all_namespaces: bool, wide: bool = False) -> list[list[str]]:
    from kaitoctl.core import conditions as cond
    from kaitoctl.ops.status import age

    rows = []
    for s in statuses:
        row = [
            s.name,
            s.instance_type,
            s.column(cond.RESOURCE_READY),
            s.column(cond.INFERENCE_READY),
            s.column(cond.JOB_STARTED),
            s.column(cond.WORKSPACE_SUCCEEDED),
            age(s.created),
            *(_wide(s) if wide else []),
        ]
        rows.append([s.namespace, *row] if all_namespaces else row)
    return rows


def _shown(s: Any) -> tuple[Any, ...]:
    """What a row shows except AGE, plus the state (the reason printed for one workspace follows it)."""
    return (*_rows([s], False)[0][:-1], s.state)


def _start_orphan_lookup(kube: Any, conn: o.ClusterFlags, azure: o.AzureFlags) -> Any:
    """Look for kaitoctl's pools (by their Azure tags) in a thread, while the cluster is listed: Azure's token and
    list call cost about as much as the list calls, so they overlap instead of adding up. A Future of the pools
    (None: no AKS cluster configured, and not an AKS kube context)."""
    from concurrent.futures import ThreadPoolExecutor

    from kaitoctl.cli.workspace_run import run_options
    from kaitoctl.ops.pool import PoolFinder

    opts = run_options(o.RunFlags(), conn, ws=o.WorkspaceFlags(), azure=azure)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orphans")
    future = executor.submit(PoolFinder(opts, kube).pools)
    executor.shutdown(wait=False)
    return future


def _orphans(lookup: Any, ns: str | None, statuses: list[Any], broken: list[Any]) -> list[Any] | None:
    """The looked-up pools that no record names; None when not looked for. Azure unreachable or not fully named:
    one dim line, and status goes on."""
    from kaitoctl.cli.output import clean, note
    from kaitoctl.core.errors import KaitoctlError
    from kaitoctl.core.naming import WorkspaceNames
    from kaitoctl.ops.pool import orphaned

    try:
        pools = lookup.result()
    except KaitoctlError as exc:  # Azure unreachable, no credentials, a partly named cluster
        note(clean(f"orphaned agent pools not checked: {exc.message}"))
        return None
    if pools is None:
        return None
    recorded = {(s.namespace, s.name) for s in statuses}
    suffix = WorkspaceNames("").record  # a broken record still names its workspace: its pool is not orphaned
    recorded |= {(b.namespace, b.name.removesuffix(suffix)) for b in broken}
    return orphaned(pools, recorded, ns)


class _View:
    """How `status` prints: a table (plain or -o wide) or yaml/json documents."""

    def __init__(self, name: str | None, all_namespaces: bool, *, wide: bool, fmt: str | None) -> None:
        self.name, self.all_namespaces, self.wide, self.fmt = name, all_namespaces, wide, fmt
        self.headers = [*(["NAMESPACE"] if all_namespaces else []), *HEADERS, *(WIDE if wide else [])]
        self.orphans: list[Any] | None = None  # None: not looked for (no AKS cluster configured, or one workspace)

    def show(self, statuses: list[Any], first: bool) -> None:
        from kaitoctl.cli.output import clean

        if self.fmt is not None:
            docs = [document("WorkspaceStatus", **s.to_dict()) for s in statuses]
            orphans = self.orphans
            extra = {"orphanedPools": [p.to_dict() for p in orphans]} if orphans is not None and first else {}
            data = docs[0] if self.name is not None else document("List", items=docs, **extra)
            if self.fmt == "json":
                print_json(data)
            else:
                import yaml

                sys.stdout.write(yaml.safe_dump(data, sort_keys=False))
            return
        text = clean(format_table(self.headers, _rows(statuses, self.all_namespaces, self.wide)))  # cluster text
        sys.stdout.write(text if first else "".join(text.splitlines(keepends=True)[1:]))
        if self.name is not None and statuses and statuses[0].diagnosis is not None and first:
            d = statuses[0].diagnosis
            line = f"reason: {d.reason}: {d.message}" + (f" (pod {d.pod})" if d.pod else "")
            sys.stderr.write(clean(line) + "\n")
        sys.stdout.flush()


def _warn_orphans(orphans: list[Any]) -> None:
    from kaitoctl.cli.output import clean, warn

    for p in orphans:
        warn(  # tag values come from Azure: cleaned of escape sequences like any cluster text
            clean(
                f"agent pool {p.name} ({p.count} × {p.vm_size}) carries kaitoctl's tags for {p.workspace} but "
                f"no workspace record names it: `kaitoctl delete {p.workspace_name} -n {p.namespace}` releases it"
            )
        )


def _follow(kube: Any, ns: str | None, name: str | None, statuses: list[Any], view: _View) -> None:
    """`-w`: a row is printed again when what it shows changed (AGE aside, like `kubectl get -w`). Statuses the
    watch did not recompute are the same objects: skipped without formatting them."""
    from kaitoctl.ops.status import watch_statuses

    previous = {(s.namespace, s.name): (s, _shown(s)) for s in statuses}
    for current in watch_statuses(kube, ns, name):
        changed, now = [], {}
        for s in current:
            key = (s.namespace, s.name)
            old = previous.get(key)
            if old is not None and old[0] is s:
                now[key] = old
                continue
            now[key] = (s, _shown(s))
            if old is None or old[1] != now[key][1]:
                changed.append(s)
        previous = now
        if changed:
            view.show(changed, False)


@o.verb
def status(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            help="Workspace name (default: all in the namespace).",
            autocompletion=complete.workspaces,
            show_default=False,
        ),
    ] = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A", help="All namespaces.")] = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Print again on every change.")] = False,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="yaml|json|wide",
            help="Print the data as yaml or json; wide adds ENDPOINT, $/H (cached price × nodes) and POOL.",
            rich_help_panel=o.RUN,
        ),
    ] = None,
    request_timeout: o.RequestTimeout = None,
    conn: o.ClusterFlags = o.ClusterFlags(),  # noqa: B008 - a frozen dataclass, expanded by @verb
    azure: o.AzureFlags = o.AzureFlags(),  # noqa: B008 - to list orphaned pools (kaitoctl's tags, no record)
) -> None:
    """Show workspaces with Kaito's columns: RESOURCEREADY, INFERENCEREADY, JOBSTARTED, WORKSPACESUCCEEDED.

    Examples:

      # Every workspace in every namespace
      kaitoctl status -A

      # Follow one workspace until it is ready
      kaitoctl status phi-3-mini-128k-instruct -w

      # For scripts: one WorkspaceStatus document
      kaitoctl status phi-3-mini-128k-instruct -o json

      # Endpoint, cost per hour and node pool of each workspace
      kaitoctl status -o wide
    """
    with reporting():
        from kaitoctl.cli.output import warn
        from kaitoctl.cli.workspace_run import parse_duration
        from kaitoctl.ops import cluster
        from kaitoctl.ops.cluster import BrokenRecord
        from kaitoctl.ops.status import collect

        fmt = check_output_format(output, STATUS_FORMATS)
        view = _View(name, all_namespaces, wide=fmt == "wide", fmt=None if fmt == "wide" else fmt)
        timeout_s = parse_duration(request_timeout, "--request-timeout")
        kube = cluster.connect(conn.kubeconfig, conn.context)
        kube.request_timeout = timeout_s
        ns = None if all_namespaces else cluster.resolve_namespace(kube, conn.namespace)

        broken: list[BrokenRecord] = []
        lookup = _start_orphan_lookup(kube, conn, azure) if name is None else None
        statuses = collect(kube, ns, name, broken)
        for b in broken:
            warn(f"workspace record {b.namespace}/{b.name} is broken: {b.problem}; the others are listed")
        if name is not None and not statuses:
            from kaitoctl.core.errors import NotFound

            raise NotFound(f"no kaitoctl workspace {name!r} in namespace {ns}", hint="`kaitoctl status -A` lists them")
        if lookup is not None:
            view.orphans = _orphans(lookup, ns, statuses, broken)
            _warn_orphans(view.orphans or [])
        if not statuses and view.fmt is None:
            sys.stderr.write(f"No kaitoctl workspaces in {'any namespace' if ns is None else 'namespace ' + ns}.\n")
        else:
            view.show(statuses, True)
        if watch:
            _follow(kube, ns, name, statuses, view)
