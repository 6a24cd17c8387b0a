"""kaitoctl deploy: serve a preset (vLLM or transformers), optionally with LoRA adapters."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kaitoctl.cli import options as o
from kaitoctl.cli.output import reporting
from kaitoctl.cli.workspace_run import common_from, execute, json_result, options_from


def deploy(
    preset: Annotated[
        str | None,
        typer.Argument(
            help="Model preset or alias. Omitted: the base model of the latest successful `kaitoctl tune` "
            "in the namespace, with its adapter."
        ),
    ] = None,
    runtime: Annotated[
        str | None,
        typer.Option(
            "--runtime",
            metavar="vllm|transformers",
            help="Inference runtime (default vllm).",
            rich_help_panel=o.WORKSPACE,
        ),
    ] = None,
    adapter: Annotated[
        list[str] | None,
        typer.Option(
            "--adapter",
            metavar="[NAME=]IMAGE|[NAME=]pvc:CLAIM",
            help="LoRA adapter to serve (repeatable).",
            rich_help_panel=o.WORKSPACE,
        ),
    ] = None,
    tuning: Annotated[
        str | None,
        typer.Option(
            "--from-tuning",
            metavar="WORKSPACE",
            help="Serve the adapter of this tuning workspace (with no PRESET).",
            rich_help_panel=o.WORKSPACE,
        ),
    ] = None,
    max_model_len: Annotated[
        int | None,
        typer.Option(
            "--max-model-len",
            metavar="TOKENS",
            help="vLLM context length (changes the fit and node count).",
            rich_help_panel=o.WORKSPACE,
        ),
    ] = None,
    config: o.Config = None,
    revision: o.Revision = None,
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
    """Serve PRESET on GPU nodes and wait until it answers.

    With no PRESET, serves the base model of the most recent successful tuning run in the namespace together
    with its adapter (reading the cluster, also with --dry-run).
    """
    params = dict(locals())
    result = json_result(params)
    with reporting(result):
        from kaitoctl.core.builders import spec_for_deploy
        from kaitoctl.core.catalog import load_catalog

        opts = options_from(params, result)
        catalog = load_catalog()
        adapters: list[Any] = list(adapter or [])
        if preset is None:
            from kaitoctl.ops.tuned import tuned_base_and_adapter

            preset, tuned_adapter = tuned_base_and_adapter(opts, namespace, tuning)
            adapters.insert(0, tuned_adapter)
        elif tuning is not None:
            from kaitoctl.core.errors import InvalidInput

            raise InvalidInput("--from-tuning", "is used without PRESET", "drop PRESET, or drop --from-tuning")
        spec = spec_for_deploy(
            catalog,
            preset,
            runtime=runtime,
            adapters=adapters,
            config=config,
            max_model_len=max_model_len,
            revision=revision,
            common=common_from(params),
        )
        execute(spec, opts)
