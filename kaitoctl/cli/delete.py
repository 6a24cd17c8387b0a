"""kaitoctl delete: remove a workspace's objects and the node pool kaitoctl created for it."""

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import typer

from kaitoctl.cli import complete
from kaitoctl.cli import options as o
from kaitoctl.cli.output import document, print_json, reporting, stderr

if TYPE_CHECKING:
    from kaitoctl.ops.interfaces import KubeApi
    from kaitoctl.ops.manage import DeleteTarget


@dataclass(frozen=True, kw_only=True)
class DeleteArgs:
    names: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="NAME",
            help="Workspace name(s).",
            autocompletion=complete.workspaces,
            show_default=False,
        ),
    ] = None
    all_: Annotated[bool, typer.Option("--all", help="Every kaitoctl workspace in the namespace.")] = False
    keep_pool: Annotated[bool, typer.Option("--keep-pool", help="Scale the node pool to 0 instead of deleting it.")] = (
        False
    )
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Do not wait until everything is gone.")] = False
    yes: o.Yes = False
    force: Annotated[
        bool, typer.Option("--force", help="Delete an adapter volume even if another running workspace mounts it.")
    ] = False
    output: o.JsonOutput = None
    timeout: o.Timeout = None
    no_progress: o.NoProgress = False
    conn: o.ClusterFlags = field(default_factory=o.ClusterFlags)
    azure: o.AzureFlags = field(default_factory=o.AzureFlags)


@o.verb
def delete(args: DeleteArgs) -> None:
    """Delete workspaces: every object kaitoctl created (found by its labels) and their AKS node pools.

    Examples:

      # One workspace and its node pool, without asking
      kaitoctl delete phi-3-mini-128k-instruct -y

      # Everything kaitoctl created in a namespace, keeping the pools at 0 nodes
      kaitoctl delete --all -n team-a --keep-pool -y
    """
    # -o json: one DeleteResult whatever happens; an error or an interruption adds `error` to what was deleted so far.
    result = (
        document("DeleteResult", namespace=args.conn.namespace or "", deleted={}) if args.output == "json" else None
    )
    with reporting(result):
        from kaitoctl.cli.output import check_output_format
        from kaitoctl.cli.progress import make_reporter
        from kaitoctl.cli.workspace_run import run_options
        from kaitoctl.core.errors import InvalidInput
        from kaitoctl.ops import cluster as cl
        from kaitoctl.ops.manage import delete_targets, delete_workspaces
        from kaitoctl.ops.progress import Progress

        check_output_format(args.output, ("json",))
        if not args.names and not args.all_:
            raise InvalidInput("NAME", "name a workspace, or use --all", "`kaitoctl status` lists them")
        if args.names and args.all_:
            raise InvalidInput("--all", "give names or --all, not both", None)
        opts = run_options(
            o.RunFlags(timeout=args.timeout, no_progress=args.no_progress, yes=args.yes),
            args.conn,
            ws=o.WorkspaceFlags(),
            azure=args.azure,
        )
        kube = cl.connect(args.conn.kubeconfig, args.conn.context)
        ns = cl.resolve_namespace(kube, args.conn.namespace)
        if result is not None:
            result["namespace"] = ns
        from kaitoctl.ops.pool import PoolFinder

        finder = PoolFinder(opts, kube)  # asks Azure only for a name without a record, or --all
        targets = delete_targets(kube, ns, args.names or [], args.all_, finder=finder)
        if not targets:
            stderr().print(f"No kaitoctl workspaces in namespace {ns}.")
            return
        _refuse_shared_adapters(kube, targets, force=args.force)
        if not args.yes:
            _confirm(kube, targets, ns)
        reporter = make_reporter(no_progress=args.no_progress)
        try:
            summary = delete_workspaces(
                kube,
                targets,
                opts,
                Progress(reporter, []),
                keep_pool=args.keep_pool,
                wait=not args.no_wait,
                finder=finder,
                into=result["deleted"] if result is not None else None,
            )
        finally:
            reporter.close()
        if args.output == "json":
            print_json(document("DeleteResult", namespace=ns, deleted=summary))


def _refuse_shared_adapters(kube: "KubeApi", targets: "list[DeleteTarget]", *, force: bool) -> None:
    """An adapter volume another running workspace mounts is deleted only with --force."""
    from kaitoctl.core.errors import InvalidInput
    from kaitoctl.ops.manage import adapter_claims_in_use

    in_use = adapter_claims_in_use(kube, targets)
    if in_use and not force:
        raise InvalidInput(
            "--force",
            f"adapter volume(s) {', '.join(in_use)} are mounted by another running workspace",
            "delete that workspace first, or pass --force to delete the adapter anyway",
        )


def _confirm(kube: "KubeApi", targets: "list[DeleteTarget]", ns: str) -> None:
    """Without -y: name every object and pool, then ask; refuse when there is no terminal to ask on."""
    from kaitoctl.cli.output import escape
    from kaitoctl.core.errors import InvalidInput
    from kaitoctl.ops.manage import delete_preview

    listing = ", ".join(t.name for t in targets)
    if not sys.stdin.isatty():
        raise InvalidInput("--yes", f"refusing to delete {listing} without confirmation", "pass -y")
    stderr().print("kaitoctl delete removes:")  # every object and pool, named, before the question
    for line in delete_preview(kube, targets):
        stderr().print(f"  {escape(line)}")
    if not typer.confirm(f"Delete workspace(s) {listing} in namespace {ns} and their node pools?"):
        raise typer.Exit(1)
