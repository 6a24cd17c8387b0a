"""kaitoctl start: resume a stopped inference workspace with the same plan and wait until it answers."""

from dataclasses import dataclass, field
from typing import Annotated

import typer

from kaitoctl.cli import complete
from kaitoctl.cli import options as o
from kaitoctl.cli.output import reporting


@dataclass(frozen=True, kw_only=True)
class StartArgs:
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME", help="Inference workspace name.", autocompletion=complete.workspaces, show_default=False
        ),
    ]
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Apply and return; do not wait for readiness.", rich_help_panel=o.RUN)
    ] = False
    output: o.JsonOutput = None
    timeout: o.Timeout = None
    no_progress: o.NoProgress = False
    yes: o.Yes = False
    conn: o.ClusterFlags = field(default_factory=o.ClusterFlags)
    azure: o.AzureFlags = field(default_factory=o.AzureFlags)


@o.verb
def start(args: StartArgs) -> None:
    """Resume a stopped workspace: the same plan as its run (pool size, replicas), then wait until it answers.

    The recorded spec is run again as `deploy` would run it (quota and pool checks first; on a terminal it asks
    before scaling the pool up, unless -y). Starting a running workspace changes nothing and reports it ready.

    Examples:

      # Resume, and wait until InferenceReady
      kaitoctl start phi-3-mini-128k-instruct -n team-a -y

      # For scripts: one RunResult document
      kaitoctl start phi-3-mini-128k-instruct -y -o json
    """
    from kaitoctl.cli.workspace_run import new_result

    result = new_result() if args.output == "json" else None
    with reporting(result):
        from dataclasses import replace

        from kaitoctl.cli.output import check_output_format, print_result
        from kaitoctl.cli.progress import make_reporter
        from kaitoctl.cli.workspace_run import run_options, terminal_confirm, wants_consent
        from kaitoctl.core.catalog import load_catalog
        from kaitoctl.ops import cluster
        from kaitoctl.ops.lifecycle import start_workspace

        check_output_format(args.output, ("json",))
        opts = run_options(
            o.RunFlags(timeout=args.timeout, no_progress=args.no_progress, no_wait=args.no_wait, yes=args.yes),
            args.conn,
            ws=o.WorkspaceFlags(),
            azure=args.azure,
        )
        kube = cluster.connect(args.conn.kubeconfig, args.conn.context)
        ns = cluster.resolve_namespace(kube, args.conn.namespace)
        reporter = make_reporter(no_progress=args.no_progress)
        confirm = terminal_confirm(reporter) if wants_consent(opts) else None
        try:
            done = start_workspace(
                kube, ns, args.name, replace(opts, result=result, confirm=confirm), load_catalog(), reporter
            )
        finally:
            reporter.close()
        print_result(done, json_output=args.output == "json")
