"""Options shared by several verbs, declared once, and the typed arguments each verb receives.

Each verb declares one frozen dataclass of its parameters (fields annotated with typer.Option/Argument, shared
groups such as `ClusterFlags` nested as fields) and is wrapped with `@verb`: the wrapper shows typer the flat list
of parameters and hands the verb one typed object, so a renamed flag is a type error rather than a silent `None`.

Only typer and the standard library are imported here, so building the command tree (and `--help`) stays cheap.
"""

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from kaitoctl.cli import complete

CLUSTER = "Cluster connection"
AZURE = "Azure (node pool)"
WORKSPACE = "Workspace"
RUN = "Run"
LOGGING = "Logging"

F = TypeVar("F", bound=Callable[..., None])


# -- the @verb wrapper -------------------------------------------------------------------------------------------


def _is_group(annotation: Any) -> bool:
    return isinstance(annotation, type) and dataclasses.is_dataclass(annotation)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _flatten(cls: type, seen: set[str]) -> list[inspect.Parameter]:
    hints = _hints(cls)
    params: list[inspect.Parameter] = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if _is_group(hint):
            params.extend(_flatten(hint, seen))
            continue
        if f.name in seen:
            raise TypeError(f"option {f.name!r} is declared twice in {cls.__name__}")
        seen.add(f.name)
        default = f.default if f.default is not dataclasses.MISSING else inspect.Parameter.empty
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hint))
    return params


def _build(cls: type, values: dict[str, Any]) -> Any:
    hints = _hints(cls)
    kwargs = {
        f.name: _build(hints[f.name], values) if _is_group(hints[f.name]) else values[f.name]
        for f in dataclasses.fields(cls)
    }
    return cls(**kwargs)


def verb(func: F) -> F:
    """Let typer see a verb's dataclass parameter(s) as their flat list of options, and the logging flags.

    The verb is called with the dataclass built from what typer parsed; -v/--verbose and --debug are handled
    here, once for every verb, before the verb runs.
    """
    hints = typing.get_type_hints(func, include_extras=True)
    groups = {name: hint for name, hint in hints.items() if name != "return" and _is_group(hint)}
    seen: set[str] = set()
    params: list[inspect.Parameter] = []
    plain: list[str] = []
    for name, param in inspect.signature(func).parameters.items():
        if name in groups:
            params.extend(_flatten(groups[name], seen))
        else:  # a plain typer parameter
            if name in seen:
                raise TypeError(f"option {name!r} is declared twice in {func.__name__}")
            seen.add(name)
            plain.append(name)
            params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints[name]))
    params.extend(_flatten(LogFlags, seen))

    @functools.wraps(func)
    def wrapper(**values: Any) -> None:
        configure_logging(_build(LogFlags, values))
        func(**{name: _build(cls, values) for name, cls in groups.items()}, **{n: values[n] for n in plain})

    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # typer must read the flat signature, not the verb's
    return typing.cast(F, wrapper)


# -- logging (every verb) ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class LogFlags:
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Say more about what happens (API calls, retries).", rich_help_panel=LOGGING
        ),
    ] = False
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Everything, including HTTP requests to the API server and Azure (secrets redacted).",
            rich_help_panel=LOGGING,
        ),
    ] = False


def configure_logging(flags: LogFlags) -> None:
    """Root-logger setup for -v/--debug; without them third-party loggers stay quiet (warnings and up only)."""
    import logging

    from kaitoctl.cli import logsetup

    if flags.debug or flags.verbose:
        logsetup.setup(logging.DEBUG if flags.debug else logging.INFO, debug=flags.debug)
    elif not logging.getLogger().handlers:  # not already set up by `kaitoctl --debug VERB`
        logsetup.quiet()


# -- workspace shape --------------------------------------------------------------------------------------------
Name = Annotated[
    str | None,
    typer.Option(
        "--name", metavar="NAME", help="Workspace name (default: derived from the preset).", rich_help_panel=WORKSPACE
    ),
]
NameOverride = Annotated[
    str | None,
    typer.Option("--name", metavar="NAME", help="Override the Workspace's metadata.name.", rich_help_panel=WORKSPACE),
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
InstanceType = Annotated[
    str | None,
    typer.Option(
        "--instance-type",
        metavar="SKU",
        help="Azure GPU VM size (default: the cheapest current SKU that fits within the free quota).",
        rich_help_panel=WORKSPACE,
        autocompletion=complete.skus,
    ),
]
InferenceCount = Annotated[
    int | None,
    typer.Option(
        "--count",
        metavar="N",
        help="Number of GPU nodes (transformers; vLLM decides by itself).",
        rich_help_panel=WORKSPACE,
    ),
]
TuningCount = Annotated[
    int | None,
    typer.Option(
        "--count",
        metavar="N",
        help="Number of GPU nodes; tuning runs on one node (as in Kaito), so only 1 is accepted.",
        rich_help_panel=WORKSPACE,
    ),
]
AnyCount = Annotated[
    int | None,
    typer.Option(
        "--count", metavar="N", help="Override resource.count (number of GPU nodes).", rich_help_panel=WORKSPACE
    ),
]
InferenceConfig = Annotated[
    str | None,
    typer.Option(
        "--config",
        metavar="CONFIGMAP",
        help="ConfigMap with the runtime's inference_config.yaml.",
        rich_help_panel=WORKSPACE,
    ),
]
TuningConfig = Annotated[
    str | None,
    typer.Option(
        "--config",
        metavar="CONFIGMAP",
        help="ConfigMap with the trainer's training_config.yaml.",
        rich_help_panel=WORKSPACE,
    ),
]
Runtime = Annotated[
    str | None,
    typer.Option(
        "--runtime",
        metavar="vllm|transformers",
        help="Inference runtime (default vllm).",
        rich_help_panel=WORKSPACE,
        autocompletion=complete.runtimes,
    ),
]
RuntimeOverride = Annotated[
    str | None,
    typer.Option(
        "--runtime",
        metavar="vllm|transformers",
        help="Override kaito.sh/runtime.",
        rich_help_panel=WORKSPACE,
        autocompletion=complete.runtimes,
    ),
]
MaxModelLen = Annotated[
    int | None,
    typer.Option(
        "--max-model-len",
        metavar="TOKENS",
        help="vLLM context length (changes the fit and node count).",
        rich_help_panel=WORKSPACE,
    ),
]
Filename = Annotated[
    list[str],
    typer.Option(
        "--filename",
        "-f",
        metavar="FILE|DIR",
        help="Kaito Workspace YAML: a file (several documents allowed), a directory of them, or '-' for stdin. "
        "Repeatable.",
    ),
]


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkspaceFlags:
    """Where and how the workspace's pods run: shared by tune, deploy, apply and render."""

    instance_type: InstanceType = None
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label", metavar="KEY=VALUE", help="Node label selector entry (repeatable).", rich_help_panel=WORKSPACE
        ),
    ] = None
    node: Annotated[
        list[str] | None,
        typer.Option(
            "--node",
            metavar="NODE",
            help="Use these existing nodes instead of a new pool (repeatable).",
            rich_help_panel=WORKSPACE,
        ),
    ] = None
    image: Annotated[
        str | None,
        typer.Option(
            "--image", metavar="REF", help="Runtime image instead of Kaito's kaito-base.", rich_help_panel=WORKSPACE
        ),
    ] = None
    image_pull_secret: Annotated[
        list[str] | None,
        typer.Option(
            "--image-pull-secret",
            metavar="SECRET",
            help="Secret for pulling private images (repeatable).",
            rich_help_panel=WORKSPACE,
        ),
    ] = None
    model_access_secret: Annotated[
        str | None,
        typer.Option(
            "--model-access-secret",
            metavar="SECRET",
            help="Secret with key HF_TOKEN; required for gated Hugging Face models.",
            rich_help_panel=WORKSPACE,
        ),
    ] = None
    bypass_resource_checks: Annotated[
        bool,
        typer.Option(
            "--bypass-resource-checks",
            help="Turn GPU-fit errors into warnings (Kaito's kaito.sh/bypass-resource-checks).",
            rich_help_panel=WORKSPACE,
        ),
    ] = False


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
    str | None,
    typer.Option(
        "--context",
        metavar="CONTEXT",
        help="Kubeconfig context to use.",
        rich_help_panel=CLUSTER,
        autocompletion=complete.contexts,
    ),
]
Namespace = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        metavar="NAMESPACE",
        help="Namespace (default: the context's, else 'default').",
        rich_help_panel=CLUSTER,
        autocompletion=complete.namespaces,
    ),
]
RequestTimeout = Annotated[
    str | None,
    typer.Option(
        "--request-timeout",
        metavar="DURATION",
        help="Give up on a single server request after this long, e.g. 30s, 2m (default: no limit).",
        rich_help_panel=CLUSTER,
    ),
]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClusterFlags:
    kubeconfig: Kubeconfig = None
    context: Context = None
    namespace: Namespace = None


# -- Azure ------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class AzureFlags:
    """Which AKS cluster the node pool belongs to (tune, deploy, apply, delete)."""

    subscription: Annotated[
        str | None,
        typer.Option(
            "--subscription",
            metavar="ID",
            envvar="AZURE_SUBSCRIPTION_ID",
            help="Azure subscription (default: AZURE_SUBSCRIPTION_ID, then az's default).",
            rich_help_panel=AZURE,
            show_envvar=False,
        ),
    ] = None
    resource_group: Annotated[
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
    ] = None
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            metavar="NAME",
            envvar="KAITOCTL_AKS_CLUSTER",
            help="AKS cluster name (default: from the kube context when it is an AKS one).",
            rich_help_panel=AZURE,
            show_envvar=False,
        ),
    ] = None
    cloud: Annotated[
        str | None,
        typer.Option(
            "--cloud",
            metavar="CLOUD",
            envvar="KAITOCTL_CLOUD",
            help="AzureCloud (default), AzureChinaCloud or AzureUSGovernment.",
            rich_help_panel=AZURE,
            show_envvar=False,
            autocompletion=complete.clouds,
        ),
    ] = None


NoPool = Annotated[
    bool,
    typer.Option(
        "--no-pool",
        help="Never create or scale an AKS pool: use existing nodes that match the labels.",
        rich_help_panel=AZURE,
    ),
]


@dataclasses.dataclass(frozen=True, kw_only=True)
class PoolFlags:
    """How a run may treat node pools (tune, deploy, apply)."""

    no_pool: NoPool = False
    adopt: Annotated[
        bool,
        typer.Option("--adopt", help="Allow changing an existing pool kaitoctl did not create.", rich_help_panel=AZURE),
    ] = False
    no_device_plugin: Annotated[
        bool,
        typer.Option(
            "--no-device-plugin",
            help="Do not install the NVIDIA device plugin when GPU nodes lack it.",
            rich_help_panel=AZURE,
        ),
    ] = False
    spot: Annotated[
        bool,
        typer.Option(
            "--spot",
            help="Create the node pool with Spot priority (evictable, cheaper; eviction deletes the nodes).",
            rich_help_panel=AZURE,
        ),
    ] = False


# -- run --------------------------------------------------------------------------------------------------------
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
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.", rich_help_panel=RUN)]
JsonOutput = Annotated[
    str | None,
    typer.Option("--output", "-o", metavar="json", help="json: one JSON document on stdout.", rich_help_panel=RUN),
]
DataOutput = Annotated[
    str | None,
    typer.Option("--output", "-o", metavar="yaml|json", help="Print the data as yaml or json.", rich_help_panel=RUN),
]
ManifestOutput = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        metavar="yaml|json",
        help="Manifest format: yaml (documents) or json (a v1 List).",
        rich_help_panel=RUN,
    ),
]


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunFlags:
    """A run of tune, deploy or apply: dry run or real, output, waiting."""

    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the plan (stderr) and the manifests (stdout); touch nothing. Exit 2 if a real run "
            "would be refused.",
            rich_help_panel=RUN,
        ),
    ] = False
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="yaml|json",
            help="Dry run: the manifests (json: a v1 List). Real run: json prints one RunResult document.",
            rich_help_panel=RUN,
        ),
    ] = None
    timeout: Timeout = None
    no_progress: NoProgress = False
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Apply and return; do not wait for readiness.", rich_help_panel=RUN)
    ] = False
    recreate: Annotated[
        bool,
        typer.Option("--recreate", help="Delete and recreate when an immutable field changed.", rich_help_panel=RUN),
    ] = False
    yes: Yes = False
