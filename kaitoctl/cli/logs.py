"""kaitoctl logs: the server's or trainer's log, init containers on request."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kaitoctl.cli import options as o
from kaitoctl.cli.output import reporting


def logs(
    name: Annotated[str, typer.Argument(help="Workspace name.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream new lines.")] = False,
    container: Annotated[str | None, typer.Option("--container", "-c", help="A specific container.")] = None,
    init: Annotated[bool, typer.Option("--init", help="Show the init containers' logs (downloads, pullers).")] = False,
    previous: Annotated[bool, typer.Option("--previous", "-p", help="The previous (crashed) container.")] = False,
    tail: Annotated[int | None, typer.Option("--tail", help="Only the last N lines.")] = None,
    pod: Annotated[str | None, typer.Option("--pod", help="A specific pod of the workspace.")] = None,
    kubeconfig: o.Kubeconfig = None,
    context: o.Context = None,
    namespace: o.Namespace = None,
) -> None:
    """Print a workspace's logs: the inference server (pod 0) or the trainer, by default."""
    with reporting():
        from kaitoctl.ops import cluster
        from kaitoctl.ops.manage import log_lines

        kube = cluster.connect(kubeconfig, context)
        ns = cluster.resolve_namespace(kube, namespace)
        for line in log_lines(
            kube, ns, name, follow=follow, container=container, init=init, previous=previous, tail=tail, pod=pod
        ):
            sys.stdout.write(line + "\n")
            if follow:
                sys.stdout.flush()
