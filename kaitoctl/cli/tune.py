"""kaitoctl tune: fine-tune a preset with LoRA or QLoRA and keep the adapter."""

from __future__ import annotations

from typing import Annotated

import typer

from kaitoctl.cli import options as o
from kaitoctl.cli.output import reporting
from kaitoctl.cli.workspace_run import common_from, execute, json_result, options_from

INPUT = "Training data and adapter"


def tune(
    preset: Annotated[str, typer.Argument(help="Model preset or alias, e.g. phi-3 (see `kaitoctl presets`).")],
    method: Annotated[str, typer.Option("--method", metavar="lora|qlora", help="Fine-tuning method.")],
    input_url: Annotated[
        list[str] | None,
        typer.Option(
            "--input-url",
            metavar="URL",
            help="Dataset URL, http(s) (repeatable). Default: the Phi-3 cookbook dataset.",
            rich_help_panel=INPUT,
        ),
    ] = None,
    input_image: Annotated[
        str | None,
        typer.Option(
            "--input-image", metavar="REF", help="Image whose /data holds the dataset.", rich_help_panel=INPUT
        ),
    ] = None,
    input_pvc: Annotated[
        str | None,
        typer.Option(
            "--input-pvc", metavar="CLAIM", help="PersistentVolumeClaim holding the dataset.", rich_help_panel=INPUT
        ),
    ] = None,
    output_image: Annotated[
        str | None,
        typer.Option("--output-image", metavar="REF", help="Push the adapter to this image.", rich_help_panel=INPUT),
    ] = None,
    push_secret: Annotated[
        str | None,
        typer.Option(
            "--push-secret",
            metavar="SECRET",
            help="kubernetes.io/dockerconfigjson Secret for --output-image.",
            rich_help_panel=INPUT,
        ),
    ] = None,
    output_pvc: Annotated[
        str | None,
        typer.Option(
            "--output-pvc",
            metavar="CLAIM",
            help="Write the adapter to this claim. Default: a claim kaitoctl creates.",
            rich_help_panel=INPUT,
        ),
    ] = None,
    cleanup: Annotated[
        str,
        typer.Option(
            "--cleanup",
            metavar="on-success|always|never",
            help="Remove the tuning Job and its GPU nodes afterwards (the adapter stays).",
            rich_help_panel=o.RUN,
        ),
    ] = "on-success",
    config: o.Config = None,
    name: o.Name = None,
    instance_type: o.InstanceType = None,
    count: o.Count = None,
    label: o.Labels = None,
    node: o.Nodes = None,
    image: o.Image = None,
    image_pull_secret: o.ImagePullSecrets = None,
    model_access_secret: o.ModelAccessSecret = None,
    bypass_resource_checks: o.BypassChecks = False,
    kubeconfig: o.Kubeconfig = None,
    context: o.Context = None,
    namespace: o.Namespace = None,
    subscription: o.Subscription = None,
    resource_group: o.ResourceGroup = None,
    cluster: o.AksCluster = None,
    cloud: o.Cloud = None,
    no_pool: o.NoPool = False,
    adopt: o.Adopt = False,
    no_device_plugin: o.NoDevicePlugin = False,
    dry_run: o.DryRun = False,
    output: o.Output = None,
    timeout: o.Timeout = None,
    no_progress: o.NoProgress = False,
    no_wait: o.NoWait = False,
    recreate: o.Recreate = False,
    yes: o.Yes = False,
) -> None:
    """Fine-tune PRESET (LoRA/QLoRA) as a Kubernetes Job and keep the adapter.

    With no --input-* the Phi-3 cookbook's dataset is used; with no --output-* the adapter goes to a
    PersistentVolumeClaim that a later `kaitoctl deploy` (with no preset) mounts.
    """
    params = dict(locals())
    result = json_result(params)
    with reporting(result):
        from kaitoctl.core.builders import spec_for_tune
        from kaitoctl.core.catalog import load_catalog

        opts = options_from(params, result)
        spec = spec_for_tune(
            load_catalog(),
            preset,
            method=method,
            input_urls=input_url or [],
            input_image=input_image,
            input_pvc=input_pvc,
            output_image=output_image,
            push_secret=push_secret,
            output_pvc=output_pvc,
            config=config,
            common=common_from(params),
        )
        execute(spec, opts)
