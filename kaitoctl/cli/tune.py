"""kaitoctl tune: fine-tune a preset with LoRA or QLoRA and keep the adapter."""

from dataclasses import dataclass, field
from typing import Annotated

import typer

from kaitoctl.cli import complete
from kaitoctl.cli import options as o
from kaitoctl.cli.output import reporting

INPUT = "Training data and adapter"


@dataclass(frozen=True, kw_only=True)
class TuneArgs:
    preset: Annotated[
        str,
        typer.Argument(
            metavar="PRESET",
            help="Model preset or alias, e.g. phi-3 (see `kaitoctl presets`).",
            autocompletion=complete.presets,
            show_default=False,
        ),
    ]
    method: Annotated[
        str,
        typer.Option("--method", metavar="lora|qlora", help="Fine-tuning method.", autocompletion=complete.methods),
    ]
    input_url: Annotated[
        list[str] | None,
        typer.Option(
            "--input-url",
            metavar="URL",
            help="Dataset URL, http(s) (repeatable). Default: the Phi-3 cookbook dataset.",
            rich_help_panel=INPUT,
        ),
    ] = None
    input_image: Annotated[
        str | None,
        typer.Option(
            "--input-image", metavar="REF", help="Image whose /data holds the dataset.", rich_help_panel=INPUT
        ),
    ] = None
    input_pvc: Annotated[
        str | None,
        typer.Option(
            "--input-pvc", metavar="CLAIM", help="PersistentVolumeClaim holding the dataset.", rich_help_panel=INPUT
        ),
    ] = None
    input_file: Annotated[
        list[str] | None,
        typer.Option(
            "--input-file",
            metavar="PATH",
            help="Local dataset file or directory (repeatable; parquet, jsonl, csv, ...), uploaded into a claim "
            "kaitoctl creates before the Job starts. At most 8 GiB.",
            rich_help_panel=INPUT,
        ),
    ] = None
    output_image: Annotated[
        str | None,
        typer.Option("--output-image", metavar="REF", help="Push the adapter to this image.", rich_help_panel=INPUT),
    ] = None
    push_secret: Annotated[
        str | None,
        typer.Option(
            "--push-secret",
            metavar="SECRET",
            help="kubernetes.io/dockerconfigjson Secret for --output-image.",
            rich_help_panel=INPUT,
        ),
    ] = None
    output_pvc: Annotated[
        str | None,
        typer.Option(
            "--output-pvc",
            metavar="CLAIM",
            help="Write the adapter to this claim. Default: a claim kaitoctl creates.",
            rich_help_panel=INPUT,
        ),
    ] = None
    cleanup: Annotated[
        str,
        typer.Option(
            "--cleanup",
            metavar="on-success|always|never",
            help="Remove the tuning Job and its GPU nodes afterwards (the adapter stays).",
            rich_help_panel=o.RUN,
            autocompletion=complete.cleanup,
        ),
    ] = "on-success"
    config: o.TuningConfig = None
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            metavar="NAME",
            help="Workspace name (default: PRESET-tuning).",
            rich_help_panel=o.WORKSPACE,
        ),
    ] = None
    count: o.TuningCount = None
    ws: o.WorkspaceFlags = field(default_factory=o.WorkspaceFlags)
    conn: o.ClusterFlags = field(default_factory=o.ClusterFlags)
    azure: o.AzureFlags = field(default_factory=o.AzureFlags)
    pool: o.PoolFlags = field(default_factory=o.PoolFlags)
    run: o.RunFlags = field(default_factory=o.RunFlags)


@o.verb
def tune(args: TuneArgs) -> None:
    """Fine-tune PRESET (LoRA/QLoRA) as a Kubernetes Job and keep the adapter.

    With no --input-* the Phi-3 cookbook's dataset is used; with no --output-* the adapter goes to a
    PersistentVolumeClaim that a later `kaitoctl deploy` (with no preset) mounts.

    Examples:

      # QLoRA on the Phi-3 cookbook's dataset; the adapter stays in a PVC for `kaitoctl deploy`
      kaitoctl tune phi-3 --method qlora

      # Your data, and the adapter pushed to a registry
      kaitoctl tune phi-3 --method lora --input-url https://example.com/train.parquet \\
        --output-image myacr.azurecr.io/adapters/phi-3:1 --push-secret acr-push

      # Train on files from this machine (uploaded once; a re-run with the same files sends nothing)
      kaitoctl tune phi-3 --method qlora --input-file ./data/train.jsonl --input-file ./more/

      # Print the plan and the Job only
      kaitoctl tune phi-3 --method qlora --dry-run
    """
    from kaitoctl.cli.workspace_run import common_options, execute, new_result, run_options

    result = new_result() if args.run.output == "json" and not args.run.dry_run else None
    with reporting(result):
        from kaitoctl.core.builders import spec_for_tune
        from kaitoctl.core.catalog import load_catalog

        opts = run_options(args.run, args.conn, ws=args.ws, azure=args.azure, pool=args.pool, cleanup=args.cleanup)
        catalog = load_catalog()
        upload = None
        if args.input_file:
            from kaitoctl.ops.upload import collect

            # Checked and hashed before anything connects: the manifest's digest is part of the spec.
            upload = collect(args.input_file, catalog.defaults.images["data_downloader"])
            opts.upload = upload
        spec = spec_for_tune(
            catalog,
            args.preset,
            method=args.method,
            input_urls=args.input_url or [],
            input_image=args.input_image,
            input_pvc=args.input_pvc,
            output_image=args.output_image,
            push_secret=args.push_secret,
            output_pvc=args.output_pvc,
            config=args.config,
            common=common_options(args.ws, args.conn, name=args.name, count=args.count),
            input_files_digest=upload.digest if upload is not None else None,
        )
        execute(spec, opts, result)
