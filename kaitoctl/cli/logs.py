"""kaitoctl logs: the server's or trainer's log, init containers on request."""

from __future__ import annotations

import math
import sys
from typing import Annotated

import typer

from kaitoctl.cli import complete
from kaitoctl.cli import options as o
from kaitoctl.cli.output import reporting


@o.verb
def logs(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Workspace name.", autocompletion=complete.workspaces)],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream new lines.")] = False,
    container: Annotated[
        str | None, typer.Option("--container", "-c", metavar="CONTAINER", help="A specific container.")
    ] = None,
    init: Annotated[bool, typer.Option("--init", help="Show the init containers' logs (downloads, pullers).")] = False,
    previous: Annotated[bool, typer.Option("--previous", "-p", help="The previous (crashed) container.")] = False,
    tail: Annotated[int | None, typer.Option("--tail", metavar="N", help="Only the last N lines.")] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="DURATION", help="Only lines newer than this, e.g. 10m, 1h, 90s."),
    ] = None,
    timestamps: Annotated[
        bool, typer.Option("--timestamps", help="Prefix each line with its RFC 3339 timestamp.")
    ] = False,
    pod: Annotated[str | None, typer.Option("--pod", metavar="POD", help="A specific pod of the workspace.")] = None,
    request_timeout: o.RequestTimeout = None,
    conn: o.ClusterFlags = o.ClusterFlags(),  # noqa: B008 - a frozen dataclass, expanded by @verb
) -> None:
    """Print a workspace's logs: the inference server (pod 0) or the trainer, by default.

    Examples:

      # The last hour of the inference server's log, with timestamps
      kaitoctl logs phi-3-mini-128k-instruct --since 1h --timestamps

      # Follow a tuning run
      kaitoctl logs phi-3-mini-128k-instruct-tuning -f

      # Why the model download failed
      kaitoctl logs phi-3-mini-128k-instruct --init
    """
    with reporting():
        from kaitoctl.cli.workspace_run import parse_duration
        from kaitoctl.core.errors import InvalidInput

        since_s = parse_duration(since, "--since")
        timeout_s = parse_duration(request_timeout, "--request-timeout")
        if tail is not None and tail < 0:
            raise InvalidInput("--tail", f"{tail} must be 0 or more", None)
        from kaitoctl.ops import cluster
        from kaitoctl.ops.manage import log_lines

        kube = cluster.connect(conn.kubeconfig, conn.context)
        kube.request_timeout = timeout_s
        ns = cluster.resolve_namespace(kube, conn.namespace)
        for line in log_lines(
            kube,
            ns,
            name,
            follow=follow,
            container=container,
            init=init,
            previous=previous,
            tail=tail,
            pod=pod,
            since_seconds=None if since_s is None else max(1, math.ceil(since_s)),
            timestamps=timestamps,
        ):
            sys.stdout.write(line + "\n")
            if follow:
                sys.stdout.flush()
