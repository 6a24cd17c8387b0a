"""kaitoctl delete: remove a workspace's objects and the node pool kaitoctl created for it."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kaitoctl.cli import options as o
from kaitoctl.cli.output import print_json, reporting, stderr


def delete(
    names: Annotated[list[str] | None, typer.Argument(help="Workspace name(s).", metavar="NAME...")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every kaitoctl workspace in the namespace.")] = False,
    keep_pool: Annotated[
        bool, typer.Option("--keep-pool", help="Scale the node pool to 0 instead of deleting it.")
    ] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Do not wait until everything is gone.")] = False,
    yes: o.Yes = False,
    force: Annotated[
        bool, typer.Option("--force", help="Delete an adapter volume even if another running workspace mounts it.")
    ] = False,
    output: o.Output = None,
    timeout: o.Timeout = None,
    no_progress: o.NoProgress = False,
    kubeconfig: o.Kubeconfig = None,
    context: o.Context = None,
    namespace: o.Namespace = None,
    subscription: o.Subscription = None,
    resource_group: o.ResourceGroup = None,
    cluster: o.AksCluster = None,
    cloud: o.Cloud = None,
) -> None:
    """Delete workspaces: every object kaitoctl created (found by its labels) and their AKS node pools."""
    params = dict(locals())
    with reporting():
        from kaitoctl.cli.output import check_output_format
        from kaitoctl.cli.progress import make_reporter
        from kaitoctl.cli.workspace_run import options_from
        from kaitoctl.core.errors import InvalidInput
        from kaitoctl.ops import cluster as cl
        from kaitoctl.ops.manage import delete_targets, delete_workspaces
        from kaitoctl.ops.progress import Progress

        check_output_format(output, ("json",))
        if not names and not all_:
            raise InvalidInput("NAME", "name a workspace, or use --all", "`kaitoctl status` lists them")
        if names and all_:
            raise InvalidInput("--all", "give names or --all, not both", None)
        opts = options_from(params, None)
        kube = cl.connect(kubeconfig, context)
        ns = cl.resolve_namespace(kube, namespace)
        targets = delete_targets(kube, ns, names or [], all_)
        if not targets:
            stderr().print(f"No kaitoctl workspaces in namespace {ns}.")
            return
        from kaitoctl.ops.manage import adapter_claims_in_use, delete_preview

        in_use = adapter_claims_in_use(kube, targets)
        if in_use and not force:
            raise InvalidInput(
                "--force",
                f"adapter volume(s) {', '.join(in_use)} are mounted by another running workspace",
                "delete that workspace first, or pass --force to delete the adapter anyway",
            )
        listing = ", ".join(t.name for t in targets)
        if not yes:
            from kaitoctl.cli.output import escape

            if not sys.stdin.isatty():
                raise InvalidInput("--yes", f"refusing to delete {listing} without confirmation", "pass -y")
            stderr().print("kaitoctl delete removes:")  # every object and pool, named, before the question
            for line in delete_preview(kube, targets):
                stderr().print(f"  {escape(line)}")
            if not typer.confirm(f"Delete workspace(s) {listing} in namespace {ns} and their node pools?"):
                raise typer.Exit(1)
        reporter = make_reporter(no_progress=no_progress)
        try:
            summary = delete_workspaces(
                kube, targets, opts, Progress(reporter, []), keep_pool=keep_pool, wait=not no_wait
            )
        finally:
            reporter.close()
        if output == "json":
            print_json({"namespace": ns, "deleted": summary})
