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
    """The one Workspace document of a file (or stdin), read in bounded time and memory (core/yamlsafe.py)."""
    import sys

    from kaitoctl.core import yamlsafe
    from kaitoctl.core.errors import InvalidInput

    shown = yamlsafe.clip(filename)
    try:
        if filename == "-":
            data = sys.stdin.buffer.read(yamlsafe.MAX_FILE_BYTES + 1)
        else:
            path = Path(filename)
            if path.is_dir():
                raise InvalidInput("--filename", f"{shown} is a directory", "pass one Workspace YAML file")
            with path.open("rb") as fh:  # a bounded read: -f /dev/zero or a FIFO never fills memory
                data = fh.read(yamlsafe.MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidInput("--filename", f"cannot read {shown}: {exc.strerror}", "check the path") from None
    text = yamlsafe.decode(data, shown)
    docs = yamlsafe.load_documents(text, shown)
    if len(docs) != 1:
        raise InvalidInput(
            "--filename", f"{shown} holds {len(docs)} documents; expected one Workspace", "split the file"
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
