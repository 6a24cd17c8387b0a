"""kaitoctl deploy: serve a preset (vLLM or transformers), optionally with LoRA adapters."""

from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from kaitoctl.cli import complete
from kaitoctl.cli import options as o
from kaitoctl.cli.output import reporting


@dataclass(frozen=True, kw_only=True)
class DeployArgs:
    preset: Annotated[
        str | None,
        typer.Argument(
            metavar="PRESET",
            help="Model preset or alias. Omitted: the base model of the latest successful `kaitoctl tune` "
            "in the namespace, with its adapter.",
            autocompletion=complete.presets,
            show_default=False,
        ),
    ] = None
    runtime: o.Runtime = None
    adapter: Annotated[
        list[str] | None,
        typer.Option(
            "--adapter",
            metavar="[NAME=]IMAGE|[NAME=]pvc:CLAIM",
            help="LoRA adapter to serve (repeatable).",
            rich_help_panel=o.WORKSPACE,
        ),
    ] = None
    from_tuning: Annotated[
        str | None,
        typer.Option(
            "--from-tuning",
            metavar="WORKSPACE",
            help="Serve the adapter of this tuning workspace (with no PRESET).",
            rich_help_panel=o.WORKSPACE,
            autocompletion=complete.workspaces,
        ),
    ] = None
    max_model_len: o.MaxModelLen = None
    config: o.InferenceConfig = None
    revision: o.Revision = None
    name: o.Name = None
    count: o.InferenceCount = None
    ws: o.WorkspaceFlags = field(default_factory=o.WorkspaceFlags)
    conn: o.ClusterFlags = field(default_factory=o.ClusterFlags)
    azure: o.AzureFlags = field(default_factory=o.AzureFlags)
    pool: o.PoolFlags = field(default_factory=o.PoolFlags)
    run: o.RunFlags = field(default_factory=o.RunFlags)


@o.verb
def deploy(args: DeployArgs) -> None:
    """Serve PRESET on GPU nodes and wait until it answers.

    With no PRESET, serves the base model of the most recent successful tuning run in the namespace together
    with its adapter (reading the cluster, also with --dry-run).
    Examples:

      # Serve Phi-3 with vLLM on the smallest GPU that fits, and wait until it answers
      kaitoctl deploy phi-3

      # Serve the adapter of the last successful `kaitoctl tune` in the namespace
      kaitoctl deploy -n team-a

      # A longer context on an A100, printed only (CI lint: exit 2 if a real run would be refused)
      kaitoctl deploy phi-3 --max-model-len 131072 --instance-type Standard_NC24ads_A100_v4 --dry-run

      # In CI: one JSON RunResult document on stdout
      kaitoctl deploy phi-3 -y --no-progress -o json
    """
    from kaitoctl.cli.workspace_run import common_options, execute, new_result, run_options

    result = new_result() if args.run.output == "json" and not args.run.dry_run else None
    with reporting(result):
        from kaitoctl.core.builders import spec_for_deploy
        from kaitoctl.core.catalog import load_catalog

        opts = run_options(args.run, args.conn, ws=args.ws, azure=args.azure, pool=args.pool)
        catalog = load_catalog()
        adapters: list[Any] = list(args.adapter or [])
        preset = args.preset
        if preset is None:
            from kaitoctl.core.catalog import RUNTIMES
            from kaitoctl.core.errors import InvalidInput

            if args.runtime is not None and args.runtime not in RUNTIMES:  # flag errors before the cluster lookup
                raise InvalidInput("--runtime", f"unknown runtime {args.runtime!r}", "use vllm or transformers")
            from kaitoctl.ops.tuned import tuned_base_and_adapter

            preset, tuned_adapter = tuned_base_and_adapter(opts, args.conn.namespace, args.from_tuning)
            adapters.insert(0, tuned_adapter)
        elif args.from_tuning is not None:
            from kaitoctl.core.errors import InvalidInput

            raise InvalidInput("--from-tuning", "is used without PRESET", "drop PRESET, or drop --from-tuning")
        spec = spec_for_deploy(
            catalog,
            preset,
            runtime=args.runtime,
            adapters=adapters,
            config=args.config,
            max_model_len=args.max_model_len,
            revision=args.revision,
            common=common_options(args.ws, args.conn, name=args.name, count=args.count),
        )
        execute(spec, opts, result)
