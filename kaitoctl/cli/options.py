"""Options shared by several verbs, declared once. Only typer and the standard library are imported here, so
building the command tree (and `--help`) stays cheap."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CLUSTER = "Cluster connection"
AZURE = "Azure (node pool)"
WORKSPACE = "Workspace"
RUN = "Run"

# -- workspace shape --------------------------------------------------------------------------------------------
Name = Annotated[
    str | None,
    typer.Option(
        "--name", metavar="NAME", help="Workspace name (default: derived from the preset).", rich_help_panel=WORKSPACE
    ),
]
InstanceType = Annotated[
    str | None,
    typer.Option(
        "--instance-type",
        metavar="SKU",
        help="Azure GPU VM size (default: the smallest current SKU that fits).",
        rich_help_panel=WORKSPACE,
    ),
]
Count = Annotated[
    int | None,
    typer.Option(
        "--count",
        metavar="N",
        help="Number of GPU nodes (transformers; vLLM decides by itself).",
        rich_help_panel=WORKSPACE,
    ),
]
Labels = Annotated[
    list[str] | None,
    typer.Option(
        "--label", metavar="KEY=VALUE", help="Node label selector entry (repeatable).", rich_help_panel=WORKSPACE
    ),
]
Nodes = Annotated[
    list[str] | None,
    typer.Option(
        "--node",
        metavar="NODE",
        help="Use these existing nodes instead of a new pool (repeatable).",
        rich_help_panel=WORKSPACE,
    ),
]
Image = Annotated[
    str | None,
    typer.Option(
        "--image", metavar="REF", help="Runtime image instead of Kaito's kaito-base.", rich_help_panel=WORKSPACE
    ),
]
ImagePullSecrets = Annotated[
    list[str] | None,
    typer.Option(
        "--image-pull-secret",
        metavar="SECRET",
        help="Secret for pulling private images (repeatable).",
        rich_help_panel=WORKSPACE,
    ),
]
ModelAccessSecret = Annotated[
    str | None,
    typer.Option(
        "--model-access-secret",
        metavar="SECRET",
        help="Secret with key HF_TOKEN for gated Hugging Face models.",
        rich_help_panel=WORKSPACE,
    ),
]
Revision = Annotated[
    str | None,
    typer.Option(
        "--revision",
        metavar="REV",
        help="Hugging Face revision of the weights (default: the preset's pinned commit; main: latest, as Kaito).",
        rich_help_panel=WORKSPACE,
    ),
]
Config = Annotated[
    str | None,
    typer.Option(
        "--config",
        metavar="CONFIGMAP",
        help="ConfigMap with the runtime's config (inference_config.yaml / training_config.yaml).",
        rich_help_panel=WORKSPACE,
    ),
]
BypassChecks = Annotated[
    bool,
    typer.Option(
        "--bypass-resource-checks",
        help="Turn GPU-fit errors into warnings (Kaito's kaito.sh/bypass-resource-checks).",
        rich_help_panel=WORKSPACE,
    ),
]

# -- cluster ----------------------------------------------------------------------------------------------------
Kubeconfig = Annotated[
    Path | None,
    typer.Option(
        "--kubeconfig",
        metavar="FILE",
        envvar="KUBECONFIG",
        help="Path to the kubeconfig file.",
        rich_help_panel=CLUSTER,
        show_envvar=False,
    ),
]
Context = Annotated[
    str | None, typer.Option("--context", metavar="CONTEXT", help="Kubeconfig context to use.", rich_help_panel=CLUSTER)
]
Namespace = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        metavar="NAMESPACE",
        help="Namespace (default: the context's, else 'default').",
        rich_help_panel=CLUSTER,
    ),
]

# -- Azure ------------------------------------------------------------------------------------------------------
Subscription = Annotated[
    str | None,
    typer.Option(
        "--subscription",
        metavar="ID",
        envvar="AZURE_SUBSCRIPTION_ID",
        help="Azure subscription (default: AZURE_SUBSCRIPTION_ID, then az's default).",
        rich_help_panel=AZURE,
        show_envvar=False,
    ),
]
ResourceGroup = Annotated[
    str | None,
    typer.Option(
        "--resource-group",
        "-g",
        metavar="GROUP",
        envvar="AZURE_RESOURCE_GROUP",
        help="Resource group of the AKS cluster.",
        rich_help_panel=AZURE,
        show_envvar=False,
    ),
]
AksCluster = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        metavar="NAME",
        envvar="KAITOCTL_AKS_CLUSTER",
        help="AKS cluster name (default: from the kube context when it is an AKS one).",
        rich_help_panel=AZURE,
        show_envvar=False,
    ),
]
Cloud = Annotated[
    str | None,
    typer.Option(
        "--cloud",
        metavar="CLOUD",
        envvar="KAITOCTL_CLOUD",
        help="AzureCloud (default), AzureChinaCloud or AzureUSGovernment.",
        rich_help_panel=AZURE,
        show_envvar=False,
    ),
]
NoPool = Annotated[
    bool,
    typer.Option(
        "--no-pool",
        help="Never create or scale an AKS pool: use existing nodes that match the labels.",
        rich_help_panel=AZURE,
    ),
]
Adopt = Annotated[
    bool,
    typer.Option("--adopt", help="Allow changing an existing pool kaitoctl did not create.", rich_help_panel=AZURE),
]
NoDevicePlugin = Annotated[
    bool,
    typer.Option(
        "--no-device-plugin",
        help="Do not install the NVIDIA device plugin when GPU nodes lack it.",
        rich_help_panel=AZURE,
    ),
]

# -- run --------------------------------------------------------------------------------------------------------
DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="Print the plan (stderr) and the manifests (stdout); touch nothing.", rich_help_panel=RUN
    ),
]
Output = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FORMAT",
        help="yaml|json. Dry run: the manifests; otherwise one JSON result object.",
        rich_help_panel=RUN,
    ),
]
Timeout = Annotated[
    str | None,
    typer.Option(
        "--timeout",
        metavar="DURATION",
        help="Overall deadline, e.g. 30m, 2h (default: per-phase defaults).",
        rich_help_panel=RUN,
    ),
]
NoProgress = Annotated[
    bool,
    typer.Option("--no-progress", help="Plain timestamped lines instead of the live view.", rich_help_panel=RUN),
]
NoWait = Annotated[
    bool, typer.Option("--no-wait", help="Apply and return; do not wait for readiness.", rich_help_panel=RUN)
]
Recreate = Annotated[
    bool,
    typer.Option("--recreate", help="Delete and recreate when an immutable field changed.", rich_help_panel=RUN),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.", rich_help_panel=RUN)]
