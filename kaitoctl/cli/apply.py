"""kaitoctl apply -f: a Kaito Workspace YAML (kaito.sh/v1alpha1 or v1beta1), unchanged, with optional overrides."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kaitoctl.cli import options as o
from kaitoctl.cli.output import reporting
from kaitoctl.cli.workspace_run import common_from, execute, json_result, options_from

if TYPE_CHECKING:
    from kaitoctl.core.builders import CommonOptions
    from kaitoctl.core.spec import WorkspaceSpec

FileArg = Annotated[
    str,
    typer.Option("--filename", "-f", metavar="FILE", help="Kaito Workspace YAML ('-' reads stdin)."),
]
Runtime = Annotated[
    str | None,
    typer.Option(
        "--runtime", metavar="vllm|transformers", help="Override kaito.sh/runtime.", rich_help_panel=o.WORKSPACE
    ),
]
MaxModelLen = Annotated[
    int | None,
    typer.Option("--max-model-len", metavar="TOKENS", help="vLLM context length.", rich_help_panel=o.WORKSPACE),
]


def load_workspace_file(filename: str) -> Any:
    import sys

    import yaml

    from kaitoctl.core.errors import InvalidInput

    try:
        text = sys.stdin.read() if filename == "-" else Path(filename).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput("--filename", f"cannot read {filename}: {exc.strerror}", "check the path") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise InvalidInput("--filename", f"{filename} is not valid YAML{where}", "fix the YAML syntax") from None
    if len(docs) != 1:
        raise InvalidInput(
            "--filename", f"{filename} holds {len(docs)} documents; expected one Workspace", "split the file"
        )
    return docs[0]


def build_spec(
    filename: str,
    common: CommonOptions,
    runtime: str | None,
    max_model_len: int | None,
    revision: str | None = None,
) -> WorkspaceSpec:
    from kaitoctl.core.builders import apply_overrides, spec_from_kaito
    from kaitoctl.core.catalog import load_catalog

    doc = load_workspace_file(filename)
    spec = spec_from_kaito(doc, load_catalog())
    return apply_overrides(spec, common, runtime=runtime, max_model_len=max_model_len, revision=revision)


def apply(
    filename: FileArg,
    runtime: Runtime = None,
    max_model_len: MaxModelLen = None,
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
    cleanup: Annotated[
        str,
        typer.Option(
            "--cleanup",
            metavar="on-success|always|never",
            help="Tuning: remove the Job and its GPU nodes afterwards.",
            rich_help_panel=o.RUN,
        ),
    ] = "on-success",
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
    """Apply a Kaito Workspace YAML as kaitoctl would run it: same spec, flags override the file."""
    params = dict(locals())
    result = json_result(params)
    with reporting(result):
        opts = options_from(params, result)
        spec = build_spec(filename, common_from(params), runtime, max_model_len, revision)
        execute(spec, opts)
