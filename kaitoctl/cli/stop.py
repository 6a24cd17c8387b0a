"""kaitoctl stop: scale an inference workspace and the node pool kaitoctl created for it to 0, keeping the rest."""

from dataclasses import dataclass, field
from typing import Annotated

import typer

from kaitoctl.cli import complete
from kaitoctl.cli import options as o
from kaitoctl.cli.output import reporting


@dataclass(frozen=True, kw_only=True)
class StopArgs:
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME", help="Inference workspace name.", autocompletion=complete.workspaces, show_default=False
        ),
    ]
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait", help="Do not wait for the pods to end before scaling the pool.", rich_help_panel=o.RUN
        ),
    ] = False
    output: o.JsonOutput = None
    timeout: o.Timeout = None
    no_progress: o.NoProgress = False
    conn: o.ClusterFlags = field(default_factory=o.ClusterFlags)
    azure: o.AzureFlags = field(default_factory=o.AzureFlags)


@o.verb
def stop(args: StopArgs) -> None:
    """Stop paying for a workspace's GPUs: scale it and its node pool to 0; `kaitoctl start` resumes it.

    The workspace record, its configuration, Services and adapter volumes stay; on existing nodes (--node,
    --no-pool) only the workload is scaled. What ran before (replicas, pool size, its price per hour) is stored
    on the record: `kaitoctl status` shows the workspace as Stopped with what it no longer costs. Stopping a
    stopped workspace changes nothing. Tuning workspaces are refused (exit 2).

    Examples:

      # Stop for the night
      kaitoctl stop phi-3-mini-128k-instruct -n team-a

      # ... and resume in the morning (waits until it answers again)
      kaitoctl start phi-3-mini-128k-instruct -n team-a
    """
    from kaitoctl.cli.output import document

    # -o json: one StopResult whatever happens (an error or SIGTERM/Ctrl-C adds `error`; issue 10 item 7).
    failed = (
        document("StopResult", workspace=args.name, namespace=args.conn.namespace or "")
        if args.output == "json"
        else None
    )
    with reporting(failed):
        from kaitoctl.cli.output import check_output_format, escape, print_json, stderr
        from kaitoctl.cli.progress import make_reporter
        from kaitoctl.cli.workspace_run import run_options
        from kaitoctl.core.catalog import load_catalog
        from kaitoctl.ops import cluster
        from kaitoctl.ops.lifecycle import stop_workspace

        check_output_format(args.output, ("json",))
        opts = run_options(
            o.RunFlags(timeout=args.timeout, no_progress=args.no_progress),
            args.conn,
            ws=o.WorkspaceFlags(),
            azure=args.azure,
        )
        kube = cluster.connect(args.conn.kubeconfig, args.conn.context)
        ns = cluster.resolve_namespace(kube, args.conn.namespace)
        if failed is not None:
            failed["namespace"] = ns
        reporter = make_reporter(no_progress=args.no_progress)
        try:
            result = stop_workspace(kube, ns, args.name, opts, load_catalog(), reporter, wait=not args.no_wait)
        finally:
            reporter.close()
        if args.output == "json":
            print_json(document("StopResult", **result))
            return
        marker = result["stopped"]
        console = stderr()
        if result["alreadyStopped"]:
            console.print(f"{escape(args.name)} is already stopped (since {escape(str(marker.get('at')))})")
            return
        pool = marker.get("pool")
        line = f"[green]✓[/] {escape(args.name)} stopped: {marker['replicas']} replica(s) → 0"
        if pool:
            price = pool.get("usdPerHour")
            saved = f", ${price:.2f}/h no longer spent" if isinstance(price, (int, float)) else ""
            line += f"; agent pool {escape(str(pool['name']))} {pool['count']} → 0 node(s){saved}"
        console.print(line)
        console.print(f"  resume: kaitoctl start {escape(args.name)} -n {escape(ns)}")
