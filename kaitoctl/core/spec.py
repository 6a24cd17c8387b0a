"""One Workspace spec: what both CLI flags and a Kaito Workspace YAML become.

The shape follows Kaito's Workspace (resource / inference / tuning) with kaitoctl's additions (max-model-len,
image override, existing nodes). It is immutable and serialises to a versioned JSON record that kaitoctl stores
on the cluster, so later commands (status, deploy with no preset, delete) read back exactly what was applied.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from kaitoctl.core.redact import redact_urls

SPEC_VERSION = 1

Source = Literal["flags", "kaito.sh/v1alpha1", "kaito.sh/v1beta1"]

# Kaito annotations kaitoctl understands (kaito-project/kaito v0.12.0 api/v1beta1/labels.go).
ANNOTATION_RUNTIME = "kaito.sh/runtime"
ANNOTATION_ENABLE_LB = "kaito.sh/enablelb"
ANNOTATION_BYPASS_CHECKS = "kaito.sh/bypass-resource-checks"


@dataclass(frozen=True)
class Adapter:
    name: str
    image: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    volume: dict[str, Any] | None = None  # a Kubernetes VolumeSource, e.g. {"persistentVolumeClaim": {...}}
    strength: str | None = None


@dataclass(frozen=True)
class DataSource:
    name: str | None = None
    urls: tuple[str, ...] = ()
    image: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    volume: dict[str, Any] | None = None
    default_dataset: bool = False  # kaitoctl chose the cookbook dataset because no input was given
    # --input-file: the claim kaitoctl creates and uploads the files into (also in `volume`), and the sha256 of the
    # upload's manifest (other files: another spec, so a re-run trains again; the same files: nothing to do).
    managed_pvc: str | None = None
    upload_digest: str | None = None

    @property
    def kind(self) -> str:
        if self.urls:
            return "urls"
        if self.image:
            return "image"
        if self.volume is not None:
            return "volume"
        return "none"


@dataclass(frozen=True)
class DataDestination:
    image: str | None = None
    image_push_secret: str | None = None
    volume: dict[str, Any] | None = None
    # Name of the PersistentVolumeClaim kaitoctl creates for the adapter when no output was given.
    managed_pvc: str | None = None

    @property
    def kind(self) -> str:
        if self.image:
            return "image"
        if self.volume is not None or self.managed_pvc:
            return "volume"
        return "none"


@dataclass(frozen=True)
class Resource:
    instance_type: str | None = None
    count: int | None = None
    match_labels: dict[str, str] = field(default_factory=dict)
    match_expressions: tuple[dict[str, Any], ...] = ()
    preferred_nodes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inference:
    preset: str
    runtime: str | None = None  # None: decided by the plan (vLLM unless the preset lacks it)
    adapters: tuple[Adapter, ...] = ()
    config: str | None = None  # ConfigMap with inference_config.yaml, in the workspace's namespace
    max_model_len: int | None = None
    # Hugging Face revision of the weights (--revision). None: the preset's pinned commit; "main": no pin (Kaito).
    revision: str | None = None


@dataclass(frozen=True)
class Tuning:
    preset: str
    method: str
    input: DataSource
    output: DataDestination
    config: str | None = None  # ConfigMap with training_config.yaml


@dataclass(frozen=True)
class WorkspaceSpec:
    name: str
    namespace: str | None
    resource: Resource
    inference: Inference | None = None
    tuning: Tuning | None = None
    image: str | None = None  # overrides the runtime image (kaito-base); only --image sets it
    # presetOptions.image of a Workspace YAML: deprecated, and ignored as Kaito v0.12 ignores it (kept to warn).
    ignored_image: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    model_access_secret: str | None = None  # Secret with key HF_TOKEN
    annotations: dict[str, str] = field(default_factory=dict)  # kaito.sh/* annotations from a Workspace YAML
    source: Source = "flags"

    @property
    def mode(self) -> str:
        return "tuning" if self.tuning is not None else "inference"

    @property
    def preset(self) -> str:
        if self.tuning is not None:
            return self.tuning.preset
        assert self.inference is not None
        return self.inference.preset

    def with_namespace(self, namespace: str) -> WorkspaceSpec:
        return replace(self, namespace=namespace)

    def to_record(self) -> dict[str, Any]:
        """Versioned, JSON-able form stored on the cluster. URL secrets (userinfo, query values) are redacted:
        the record is readable by anyone who can read ConfigMaps, and only the container's argv needs them."""
        record = asdict(self)
        tuning = record.get("tuning")
        if tuning is not None:
            tuning["input"]["urls"] = redact_urls(tuning["input"]["urls"])
            for key in ("managed_pvc", "upload_digest"):  # absent unless set: older records read the same
                if tuning["input"][key] is None:
                    del tuning["input"][key]
        return {"version": SPEC_VERSION, "workspace": record}

    def to_json(self) -> str:
        return json.dumps(self.to_record(), sort_keys=True, separators=(",", ":"))


def spec_from_record(record: dict[str, Any]) -> WorkspaceSpec:
    """Inverse of WorkspaceSpec.to_record (for specs kaitoctl itself wrote)."""
    if record.get("version") != SPEC_VERSION:
        raise ValueError(f"unsupported kaitoctl spec record version {record.get('version')!r}")
    ws = dict(record["workspace"])
    res = dict(ws["resource"])
    res["match_expressions"] = tuple(res.get("match_expressions") or ())
    res["preferred_nodes"] = tuple(res.get("preferred_nodes") or ())
    inference = tuning = None
    if ws.get("inference"):
        inf = dict(ws["inference"])
        inf["adapters"] = tuple(
            Adapter(**{**a, "image_pull_secrets": tuple(a.get("image_pull_secrets") or ())})
            for a in inf.get("adapters") or ()
        )
        inference = Inference(**inf)
    if ws.get("tuning"):
        tun = dict(ws["tuning"])
        src = dict(tun["input"])
        src["urls"] = tuple(src.get("urls") or ())
        src["image_pull_secrets"] = tuple(src.get("image_pull_secrets") or ())
        tun["input"] = DataSource(**src)
        tun["output"] = DataDestination(**tun["output"])
        tuning = Tuning(**tun)
    if (inference is None) == (tuning is None) or not isinstance(ws["name"], str):
        raise ValueError("a spec record names exactly one of inference and tuning, and a name")
    return WorkspaceSpec(
        name=ws["name"],
        namespace=ws.get("namespace"),
        resource=Resource(**res),
        inference=inference,
        tuning=tuning,
        image=ws.get("image"),
        ignored_image=ws.get("ignored_image"),
        image_pull_secrets=tuple(ws.get("image_pull_secrets") or ()),
        model_access_secret=ws.get("model_access_secret"),
        annotations=dict(ws.get("annotations") or {}),
        source=ws.get("source", "flags"),
    )
