"""Build the one WorkspaceSpec from CLI flags or from a Kaito Workspace document (v1alpha1 or v1beta1)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from typing import Any

from kaitoctl.core.catalog import Catalog
from kaitoctl.core.errors import InvalidInput
from kaitoctl.core.spec import (
    ANNOTATION_RUNTIME,
    Adapter,
    DataDestination,
    DataSource,
    Inference,
    Resource,
    Source,
    Tuning,
    WorkspaceSpec,
)
from kaitoctl.core.yamlsafe import clip

KAITO_API_VERSIONS = ("kaito.sh/v1alpha1", "kaito.sh/v1beta1")
# v1alpha1's kubebuilder default for resource.instanceType; v1beta1 has none
# (kaito-project/kaito v0.12.0 api/v1alpha1/workspace_types.go).
V1ALPHA1_DEFAULT_INSTANCE_TYPE = "Standard_NC24ads_A100_v4"
ADAPTER_PVC_SUFFIX = "-adapter"
INPUT_PVC_SUFFIX = "-input"  # the claim --input-file uploads into


@dataclass
class CommonOptions:
    """Flags shared by tune, deploy and apply. None means 'not given' (so YAML values survive on apply)."""

    name: str | None = None
    namespace: str | None = None
    instance_type: str | None = None
    count: int | None = None
    labels: list[str] = field(default_factory=list)  # "k=v"
    nodes: list[str] = field(default_factory=list)
    image: str | None = None
    image_pull_secrets: list[str] = field(default_factory=list)
    model_access_secret: str | None = None


def parse_labels(raw: list[str], field_name: str = "--label") -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(field_name, f"{item!r} is not KEY=VALUE", "write e.g. --label apps=phi-3")
        labels[key] = value
    return labels


def pvc_volume(claim: str) -> dict[str, Any]:
    return {"persistentVolumeClaim": {"claimName": claim}}


def _sanitize_name(text: str) -> str:
    text = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return text[:63].rstrip("-") or "adapter"


def parse_adapter(raw: str) -> Adapter:
    """--adapter IMAGE | NAME=IMAGE | NAME=pvc:CLAIM | pvc:CLAIM."""
    name, sep, ref = raw.partition("=")
    if not sep:
        name, ref = "", raw
    if ref.startswith("pvc:"):
        claim = ref[len("pvc:") :]
        return Adapter(name=name or claim, volume=pvc_volume(claim))
    if not name:
        repo = ref.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]
        name = _sanitize_name(repo)
    return Adapter(name=name, image=ref)


def default_workspace_name(preset: str, mode: str) -> str:
    """A DNS-1123 label from the preset name ('llama-3.3-70b-instruct' -> 'llama-3-3-70b-instruct')."""
    base = _sanitize_name(preset)
    name = base if mode == "inference" else f"{base}-tuning"
    return name[:63].rstrip("-")


def _common_resource(common: CommonOptions) -> Resource:
    return Resource(
        instance_type=common.instance_type,
        count=common.count,
        match_labels=parse_labels(common.labels),
        preferred_nodes=tuple(common.nodes),
    )


def spec_for_tune(
    catalog: Catalog,
    preset: str,
    *,
    method: str,
    input_urls: list[str],
    input_image: str | None,
    input_pvc: str | None,
    output_image: str | None,
    push_secret: str | None,
    output_pvc: str | None,
    config: str | None,
    common: CommonOptions,
    input_files_digest: str | None = None,
) -> WorkspaceSpec:
    """`input_files_digest`: --input-file was given; the sha256 of its upload manifest (ops/upload.py)."""
    resolved = catalog.resolve_preset(preset, field_name="PRESET").name
    name = common.name or default_workspace_name(resolved, "tuning")
    if input_files_digest is not None and (input_urls or input_image or input_pvc):
        raise InvalidInput(
            "--input-file",
            "cannot be combined with --input-url, --input-image or --input-pvc",
            "give one kind of input",
        )
    default_dataset = not (input_urls or input_image or input_pvc or input_files_digest)
    input_claim = f"{name[: 63 - len(INPUT_PVC_SUFFIX)]}{INPUT_PVC_SUFFIX}" if input_files_digest else None
    source = DataSource(
        urls=tuple(input_urls) if input_urls else ((catalog.defaults.tuning_dataset_url,) if default_dataset else ()),
        image=input_image,
        image_pull_secrets=tuple(common.image_pull_secrets) if input_image else (),
        volume=pvc_volume(input_pvc) if input_pvc else (pvc_volume(input_claim) if input_claim else None),
        default_dataset=default_dataset,
        managed_pvc=input_claim,
        upload_digest=input_files_digest,
    )
    if output_image or push_secret:
        destination = DataDestination(image=output_image, image_push_secret=push_secret)
    elif output_pvc:
        destination = DataDestination(volume=pvc_volume(output_pvc))
    else:
        destination = DataDestination(managed_pvc=f"{name[: 63 - len(ADAPTER_PVC_SUFFIX)]}{ADAPTER_PVC_SUFFIX}")
    return WorkspaceSpec(
        name=name,
        namespace=common.namespace,
        resource=_common_resource(common),
        tuning=Tuning(preset=resolved, method=method.lower(), input=source, output=destination, config=config),
        image=common.image,
        image_pull_secrets=tuple(common.image_pull_secrets),
        model_access_secret=common.model_access_secret,
        source="flags",
    )


# A Hugging Face revision: a branch, tag or commit (git ref characters; argv to the server, never shell text).
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")


def check_revision(revision: str | None) -> str | None:
    if revision is not None and not _REVISION.fullmatch(revision):
        raise InvalidInput(
            "--revision",
            f"{revision!r} is not a Hugging Face branch, tag or commit",
            "e.g. --revision main, or a commit sha",
        )
    return revision


def spec_for_deploy(
    catalog: Catalog,
    preset: str,
    *,
    runtime: str | None,
    adapters: list[str] | list[Adapter],
    config: str | None,
    max_model_len: int | None,
    common: CommonOptions,
    revision: str | None = None,
) -> WorkspaceSpec:
    resolved = catalog.resolve_preset(preset, field_name="PRESET").name
    check_revision(revision)
    parsed = tuple(a if isinstance(a, Adapter) else parse_adapter(a) for a in adapters)
    return WorkspaceSpec(
        name=common.name or default_workspace_name(resolved, "inference"),
        namespace=common.namespace,
        resource=_common_resource(common),
        inference=Inference(
            preset=resolved,
            runtime=runtime.lower() if runtime else None,
            adapters=parsed,
            config=config,
            max_model_len=max_model_len,
            revision=revision,
        ),
        image=common.image,
        image_pull_secrets=tuple(common.image_pull_secrets),
        model_access_secret=common.model_access_secret,
        source="flags",
    )


# ---- Kaito Workspace YAML -----------------------------------------------------------------------------------

_TOP_KEYS = {"apiVersion", "kind", "metadata", "resource", "inference", "tuning", "status"}
_RESOURCE_KEYS = {"instanceType", "count", "labelSelector", "preferredNodes", "partition"}
_INFERENCE_KEYS = {"preset", "template", "config", "adapters"}
_TUNING_KEYS = {"preset", "method", "config", "input", "output"}
_PRESET_KEYS = {"name", "accessMode", "presetOptions"}
_PRESET_OPTION_KEYS = {"image", "imagePullSecrets", "modelAccessSecret"}
_ADAPTER_KEYS = {"source", "strength"}
_SOURCE_KEYS = {"name", "urls", "image", "imagePullSecrets", "volumeSource"}
_OUTPUT_KEYS = {"image", "imagePushSecret", "volumeSource"}


def _check_keys(obj: Any, allowed: set[str], path: str) -> dict[str, Any]:
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise InvalidInput(path, f"expected a mapping, got {type(obj).__name__}", "fix the YAML indentation")
    for key in obj:
        if key not in allowed:
            close = difflib.get_close_matches(clip(str(key), 100), sorted(allowed), n=1)
            fix = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(sorted(allowed))}"
            shown = clip(str(key))
            raise InvalidInput(f"{path}.{shown}" if path else shown, "unknown field", fix)
    return obj


def _str_list(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(path, "expected a list of strings", None)
    return tuple(value)


def _str_map(value: Any, path: str) -> dict[str, str]:
    """A mapping of strings to strings (labels, annotations): Kubernetes refuses any other value type."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(path, f"expected a mapping of strings, got {type(value).__name__}", "write KEY: VALUE lines")
    for key, item in value.items():
        if not isinstance(key, str):
            raise InvalidInput(path, f"key {clip(repr(key))} is not a string", "quote the key")
        if item is None:
            raise InvalidInput(f"{path}.{clip(key)}", "the value is null", 'give a value (an empty one is "")')
        if not isinstance(item, str):
            raise InvalidInput(f"{path}.{clip(key)}", f"expected a string, got {clip(repr(item))}", "quote the value")
    return dict(value)


def _match_expressions(value: Any, path: str) -> tuple[dict[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidInput(
            path, f"expected a list, got {type(value).__name__}", "write a list of {key, operator, values}"
        )
    out: list[dict[str, Any]] = []
    for i, raw in enumerate(value):
        item = _check_keys(raw, {"key", "operator", "values"}, f"{path}[{i}]")
        if not isinstance(raw, dict):
            raise InvalidInput(f"{path}[{i}]", "expected a mapping", "write {key, operator, values}")
        key, operator = item.get("key"), item.get("operator")
        if not isinstance(key, str) or not isinstance(operator, str):
            raise InvalidInput(f"{path}[{i}]", "key and operator must be strings", "e.g. key: apps, operator: In")
        values = item.get("values")
        if values is not None and (not isinstance(values, list) or not all(isinstance(v, str) for v in values)):
            raise InvalidInput(
                f"{path}[{i}].values", f"expected a list of strings, got {clip(repr(values))}", "write values: [a, b]"
            )
        out.append({"key": key, "operator": operator, "values": list(values or [])})
    return tuple(out)


def _opt_str(value: Any, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(path, f"expected a string, got {clip(repr(value))}", "quote the value")
    return value


def _volume(value: Any, path: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise InvalidInput(path, "expected a Kubernetes volume source", "e.g. persistentVolumeClaim: {claimName: NAME}")
    return value


def _preset_block(raw: Any, path: str) -> tuple[str, dict[str, Any]]:
    block = _check_keys(raw, _PRESET_KEYS, path)
    name = block.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{path}.name", "a preset name is required", "e.g. phi-3-mini-128k-instruct")
    options = _check_keys(block.get("presetOptions"), _PRESET_OPTION_KEYS, f"{path}.presetOptions")
    return name, options


def spec_from_kaito(doc: Any, catalog: Catalog) -> WorkspaceSpec:
    """A Kaito Workspace (kaito.sh/v1alpha1 or v1beta1) as kaitoctl's spec, unchanged in meaning."""
    api_version = _kaito_api_version(doc)
    _check_keys(doc, _TOP_KEYS, "")
    source: Source = "kaito.sh/v1alpha1" if api_version == "kaito.sh/v1alpha1" else "kaito.sh/v1beta1"
    meta = doc.get("metadata") or {}
    if not isinstance(meta, dict):
        raise InvalidInput("metadata", "expected a mapping", None)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput("metadata.name", "a workspace name is required", "set metadata.name")
    raw_annotations = _str_map(meta.get("annotations"), "metadata.annotations")
    annotations = {k: v for k, v in raw_annotations.items() if k.startswith("kaito.sh/")}
    resource = _kaito_resource(doc.get("resource"), api_version)

    has_inference, has_tuning = doc.get("inference") is not None, doc.get("tuning") is not None
    if has_inference == has_tuning:
        raise InvalidInput(
            "inference/tuning", "a Workspace needs exactly one of inference and tuning", "keep one of the two sections"
        )
    inference = tuning = None
    if has_inference:
        inference, options = _kaito_inference(doc["inference"], catalog, annotations.get(ANNOTATION_RUNTIME))
    else:
        tuning, options = _kaito_tuning(doc["tuning"], catalog)

    namespace = _opt_str(meta.get("namespace"), "metadata.namespace")
    return WorkspaceSpec(
        name=name,
        namespace=namespace or None,
        resource=resource,
        inference=inference,
        tuning=tuning,
        ignored_image=options.ignored_image,
        image_pull_secrets=options.image_pull_secrets,
        model_access_secret=options.model_access_secret,
        annotations=annotations,
        source=source,
    )


def _kaito_api_version(doc: Any) -> str:
    """A mapping of a supported apiVersion and kind Workspace; returns the apiVersion."""
    if not isinstance(doc, dict):
        raise InvalidInput("", "the file is not a Kaito Workspace (expected a YAML mapping)", None)
    api_version = doc.get("apiVersion")
    if api_version not in KAITO_API_VERSIONS:
        raise InvalidInput(
            "apiVersion",
            f"{api_version!r} is not supported",
            "use kaito.sh/v1beta1 (or kaito.sh/v1alpha1) with kind: Workspace",
        )
    if doc.get("kind") != "Workspace":
        raise InvalidInput("kind", f"{doc.get('kind')!r} is not supported", "use kind: Workspace")
    return str(api_version)


def _kaito_resource(raw: Any, api_version: str) -> Resource:
    res_raw = _check_keys(raw, _RESOURCE_KEYS, "resource")
    if res_raw.get("partition"):
        raise InvalidInput(
            "resource.partition", "MIG/accelerator partitions are not supported by kaitoctl", "remove partition"
        )
    selector = _check_keys(res_raw.get("labelSelector"), {"matchLabels", "matchExpressions"}, "resource.labelSelector")
    match_labels = _str_map(selector.get("matchLabels"), "resource.labelSelector.matchLabels")
    expressions = _match_expressions(selector.get("matchExpressions"), "resource.labelSelector.matchExpressions")
    count = res_raw.get("count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
        raise InvalidInput("resource.count", f"expected an integer, got {count!r}", None)
    instance_type = _opt_str(res_raw.get("instanceType"), "resource.instanceType")
    if instance_type is None and api_version == "kaito.sh/v1alpha1":
        instance_type = V1ALPHA1_DEFAULT_INSTANCE_TYPE
    return Resource(
        instance_type=instance_type or None,
        count=count,
        match_labels=match_labels,
        match_expressions=expressions,
        preferred_nodes=_str_list(res_raw.get("preferredNodes"), "resource.preferredNodes"),
    )


@dataclass(frozen=True)
class _PresetOptions:
    """presetOptions of an inference or tuning preset block."""

    ignored_image: str | None
    image_pull_secrets: tuple[str, ...]
    model_access_secret: str | None


def _preset_options(options: dict[str, Any], path: str) -> _PresetOptions:
    return _PresetOptions(
        ignored_image=_opt_str(options.get("image"), f"{path}.image"),
        image_pull_secrets=_str_list(options.get("imagePullSecrets"), f"{path}.imagePullSecrets"),
        model_access_secret=_opt_str(options.get("modelAccessSecret"), f"{path}.modelAccessSecret"),
    )


def _kaito_inference(raw: Any, catalog: Catalog, runtime: str | None) -> tuple[Inference, _PresetOptions]:
    inf = _check_keys(raw, _INFERENCE_KEYS, "inference")
    if inf.get("template") is not None:
        raise InvalidInput(
            "inference.template",
            "custom pod templates are not supported by kaitoctl",
            "use inference.preset with a catalog preset",
        )
    preset_name, options = _preset_block(inf.get("preset"), "inference.preset")
    # Deprecated in v1beta1; Kaito v0.12 always runs kaito-base (pkg/workspace/inference/preset_inferences.go,
    # GetBaseImageName), so an old per-model image here is ignored, with a warning (validation).
    preset_options = _preset_options(options, "inference.preset.presetOptions")
    adapters = _kaito_adapters(inf.get("adapters") or [])
    inference = Inference(
        preset=catalog.resolve_preset(preset_name, field_name="inference.preset.name").name,
        runtime=runtime.lower() if runtime else None,
        adapters=adapters,
        config=_opt_str(inf.get("config"), "inference.config"),
    )
    return inference, preset_options


def _kaito_adapters(raw_adapters: Any) -> tuple[Adapter, ...]:
    if not isinstance(raw_adapters, list):
        raise InvalidInput("inference.adapters", "expected a list", None)
    adapters = []
    for i, raw in enumerate(raw_adapters):
        path = f"inference.adapters[{i}]"
        entry = _check_keys(raw, _ADAPTER_KEYS, path)
        src = _check_keys(entry.get("source"), _SOURCE_KEYS, f"{path}.source")
        if src.get("urls"):
            raise InvalidInput(f"{path}.source.urls", "adapters cannot come from URLs", "use image or volumeSource")
        adapter_name = src.get("name")
        if not isinstance(adapter_name, str) or not adapter_name:
            raise InvalidInput(f"{path}.source.name", "an adapter needs a name", None)
        strength = entry.get("strength")
        adapters.append(
            Adapter(
                name=adapter_name,
                image=_opt_str(src.get("image"), f"{path}.source.image"),
                image_pull_secrets=_str_list(src.get("imagePullSecrets"), f"{path}.source.imagePullSecrets"),
                volume=_volume(src.get("volumeSource"), f"{path}.source.volumeSource"),
                strength=None if strength is None else str(strength),
            )
        )
    return tuple(adapters)


def _kaito_tuning(raw: Any, catalog: Catalog) -> tuple[Tuning, _PresetOptions]:
    tun = _check_keys(raw, _TUNING_KEYS, "tuning")
    preset_name, options = _preset_block(tun.get("preset"), "tuning.preset")
    # Ignored as for inference (pkg/workspace/tuning/preset_tuning.go v0.12.0, GetTuningImageInfo).
    preset_options = _preset_options(options, "tuning.preset.presetOptions")
    method = tun.get("method")
    if not isinstance(method, str) or not method:
        raise InvalidInput("tuning.method", "a tuning method is required", "use lora or qlora")
    src = _check_keys(tun.get("input"), _SOURCE_KEYS, "tuning.input")
    out = _check_keys(tun.get("output"), _OUTPUT_KEYS, "tuning.output")
    tuning = Tuning(
        preset=catalog.resolve_preset(preset_name, field_name="tuning.preset.name").name,
        method=method.lower(),
        input=DataSource(
            name=_opt_str(src.get("name"), "tuning.input.name"),
            urls=_str_list(src.get("urls"), "tuning.input.urls"),
            image=_opt_str(src.get("image"), "tuning.input.image"),
            image_pull_secrets=_str_list(src.get("imagePullSecrets"), "tuning.input.imagePullSecrets"),
            volume=_volume(src.get("volumeSource"), "tuning.input.volumeSource"),
        ),
        output=DataDestination(
            image=_opt_str(out.get("image"), "tuning.output.image"),
            image_push_secret=_opt_str(out.get("imagePushSecret"), "tuning.output.imagePushSecret"),
            volume=_volume(out.get("volumeSource"), "tuning.output.volumeSource"),
        ),
        config=_opt_str(tun.get("config"), "tuning.config"),
    )
    return tuning, preset_options


def apply_overrides(
    spec: WorkspaceSpec,
    common: CommonOptions,
    *,
    runtime: str | None = None,
    max_model_len: int | None = None,
    revision: str | None = None,
) -> WorkspaceSpec:
    """CLI flags given on `apply -f` win over the file."""
    resource = spec.resource
    if common.instance_type is not None:
        resource = replace(resource, instance_type=common.instance_type)
    if common.count is not None:
        resource = replace(resource, count=common.count)
    if common.labels:
        resource = replace(resource, match_labels={**resource.match_labels, **parse_labels(common.labels)})
    if common.nodes:
        resource = replace(resource, preferred_nodes=tuple(common.nodes))
    spec = replace(spec, resource=resource)
    if common.name is not None:
        spec = replace(spec, name=common.name)
    if common.namespace is not None:
        spec = replace(spec, namespace=common.namespace)
    if common.image is not None:
        spec = replace(spec, image=common.image)
    if common.image_pull_secrets:
        spec = replace(spec, image_pull_secrets=tuple(common.image_pull_secrets))
    if common.model_access_secret is not None:
        spec = replace(spec, model_access_secret=common.model_access_secret)
    check_revision(revision)
    if revision is not None and spec.inference is None:
        raise InvalidInput("--revision", "applies to inference workspaces only", "drop it")
    inference_flags = runtime is not None or max_model_len is not None or revision is not None
    if spec.inference is not None and inference_flags:
        spec = replace(
            spec,
            inference=replace(
                spec.inference,
                runtime=runtime.lower() if runtime else spec.inference.runtime,
                max_model_len=max_model_len if max_model_len is not None else spec.inference.max_model_len,
                revision=revision if revision is not None else spec.inference.revision,
            ),
        )
    elif inference_flags:
        raise InvalidInput("--runtime/--max-model-len", "apply to inference workspaces only", "drop them")
    return spec
