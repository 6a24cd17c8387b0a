"""The preset catalog and the GPU SKU table, loaded from presets.yaml into typed, immutable values."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml

from kaitoctl.core.data import presets_path
from kaitoctl.core.errors import InvalidInput

RUNTIMES = ("vllm", "transformers")
TUNING_METHODS = ("lora", "qlora")


@dataclass(frozen=True)
class Architecture:
    model_type: str | None
    layers: int | None
    hidden_size: int | None
    intermediate_size: int | None
    attention_heads: int | None
    kv_heads: int | None
    head_dim: int | None
    vocab_size: int | None
    max_context: int | None
    mla: dict[str, int] | None = None
    moe: dict[str, int] | None = None


@dataclass(frozen=True)
class VllmSettings:
    dtype: str = "auto"
    chat_template: str | None = None
    tool_call_parser: str | None = None
    reasoning_parser: str | None = None
    allow_lora: bool = True
    extra_args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TuningSupport:
    methods: tuple[str, ...]
    weights_image: str
    target_modules: tuple[str, ...] | None
    disk_gib: int


@dataclass(frozen=True)
class Preset:
    name: str
    status: str  # current | deprecated | dropped
    note: str | None
    family: str | None
    hf_repo: str | None
    revision: str | None
    served_name: str
    params_b: float | None
    weights_gib: float
    weights_dtype: str | None
    disk_gib: int
    download_auth_required: bool
    architecture: Architecture
    bytes_per_token: int | None
    runtimes: tuple[str, ...]
    vllm: VllmSettings
    transformers_args: dict[str, str] | None
    tuning: TuningSupport | None
    # Why a preset that Kaito lists as tunable cannot be tuned in fact (presets.yaml `tuning_refused`).
    tuning_refusal: str | None = None

    @property
    def usable(self) -> bool:
        return self.status == "current"

    @property
    def max_context(self) -> int | None:
        return self.architecture.max_context


@dataclass(frozen=True)
class Sku:
    name: str
    gpus: int
    gpu_model: str
    gpu_memory_gib: float  # per GPU
    vcpus: int
    memory_gib: float
    nvme: bool
    cuda_cc: str | None
    quota_family: str | None
    gfd_product: str | None
    status: str  # current | dropped | retired
    note: str | None

    @property
    def total_gpu_memory_gib(self) -> float:
        return self.gpus * self.gpu_memory_gib

    @property
    def nvidia(self) -> bool:
        return self.gpu_model.upper().startswith("NVIDIA")

    @property
    def current(self) -> bool:
        return self.status == "current"


@dataclass(frozen=True)
class Defaults:
    base_image: str
    preset_registry: str
    tuning_dataset_url: str
    images: dict[str, str]


@dataclass(frozen=True)
class Catalog:
    kaito_version: str
    defaults: Defaults
    presets: dict[str, Preset]
    aliases: dict[str, str]
    ambiguous: dict[str, tuple[str, ...]]
    skus: dict[str, Sku]  # keyed by lower-cased name; lookups are case-insensitive like Kaito's

    def resolve_preset(self, name: str, *, field_name: str = "preset") -> Preset:
        """A preset by name or alias. Ambiguous and unknown names raise InvalidInput listing the choices."""
        key = name.strip().lower()
        if key in self.presets:
            return self.presets[key]
        if key in self.aliases:
            return self.presets[self.aliases[key]]
        if key in self.ambiguous:
            choices = list(self.ambiguous[key])
            raise InvalidInput(
                field_name,
                f"{name!r} is ambiguous: it could be {', '.join(choices)}",
                "name one of them",
                choices=choices,
            )
        known = sorted([*self.presets, *self.aliases])
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
        fix = f"did you mean {' or '.join(close)}?" if close else "run `kaitoctl presets` for the list"
        if "/" in key:
            fix = (
                "kaitoctl serves Kaito's catalog presets only; arbitrary Hugging Face ids need Kaito's in-cluster "
                "model inspection. Run `kaitoctl presets` for the list"
            )
        raise InvalidInput(field_name, f"unknown preset {name!r}", fix)

    def sku(self, name: str) -> Sku | None:
        return self.skus.get(name.strip().lower())

    def current_skus(self) -> list[Sku]:
        return [s for s in self.skus.values() if s.current]


def _arch(raw: dict[str, Any] | None) -> Architecture:
    raw = raw or {}
    return Architecture(
        model_type=raw.get("model_type"),
        layers=raw.get("layers"),
        hidden_size=raw.get("hidden_size"),
        intermediate_size=raw.get("intermediate_size"),
        attention_heads=raw.get("attention_heads"),
        kv_heads=raw.get("kv_heads"),
        head_dim=raw.get("head_dim"),
        vocab_size=raw.get("vocab_size"),
        max_context=raw.get("max_context"),
        mla=raw.get("mla"),
        moe=raw.get("moe"),
    )


def _str_map(raw: dict[str, Any] | None) -> dict[str, str]:
    return {str(k): "" if v is None else str(v) for k, v in (raw or {}).items()}


def _preset(name: str, raw: dict[str, Any]) -> Preset:
    vllm_raw = raw.get("vllm") or {}
    tuning_raw = raw.get("tuning")
    transformers_raw = raw.get("transformers")
    tuning = None
    if tuning_raw:
        modules = tuning_raw.get("target_modules")
        tuning = TuningSupport(
            methods=tuple(tuning_raw.get("methods") or TUNING_METHODS),
            weights_image=str(tuning_raw["weights_image"]),
            target_modules=tuple(modules) if modules else None,
            disk_gib=int(tuning_raw.get("disk_gib") or 0),
        )
    return Preset(
        name=name,
        status=str(raw.get("status", "current")),
        note=raw.get("note"),
        family=raw.get("family"),
        hf_repo=raw.get("hf_repo"),
        revision=raw.get("revision"),
        served_name=str(raw.get("served_name") or name),
        params_b=raw.get("params_b"),
        weights_gib=float(raw.get("weights_gib") or 0.0),
        weights_dtype=raw.get("weights_dtype"),
        disk_gib=int(raw.get("disk_gib") or 0),
        download_auth_required=bool(raw.get("download_auth_required", False)),
        architecture=_arch(raw.get("architecture")),
        bytes_per_token=raw.get("bytes_per_token"),
        runtimes=tuple(raw.get("runtimes") or ()),
        vllm=VllmSettings(
            dtype=str(vllm_raw.get("dtype") or "auto"),
            chat_template=vllm_raw.get("chat_template"),
            tool_call_parser=vllm_raw.get("tool_call_parser"),
            reasoning_parser=vllm_raw.get("reasoning_parser"),
            allow_lora=bool(vllm_raw.get("allow_lora", True)),
            extra_args=_str_map(vllm_raw.get("extra_args")),
        ),
        transformers_args=_str_map(transformers_raw.get("args")) if transformers_raw else None,
        tuning=tuning,
        tuning_refusal=raw.get("tuning_refused"),
    )


def _sku(name: str, raw: dict[str, Any]) -> Sku:
    return Sku(
        name=name,
        gpus=int(raw["gpus"]),
        gpu_model=str(raw["gpu_model"]),
        gpu_memory_gib=float(raw["gpu_memory_gib"]),
        vcpus=int(raw["vcpus"]),
        memory_gib=float(raw["memory_gib"]),
        nvme=bool(raw.get("nvme", False)),
        cuda_cc=raw.get("cuda_cc"),
        quota_family=raw.get("quota_family"),
        gfd_product=raw.get("gfd_product"),
        status=str(raw.get("status", "current")),
        note=raw.get("note"),
    )


def parse_catalog(doc: dict[str, Any]) -> Catalog:
    defaults_raw = doc["defaults"]
    presets = {name.lower(): _preset(name.lower(), raw) for name, raw in (doc.get("presets") or {}).items()}
    aliases = {str(k).lower(): str(v).lower() for k, v in (doc.get("aliases") or {}).items()}
    for alias, target in aliases.items():
        if target not in presets:
            raise ValueError(f"presets.yaml: alias {alias!r} points at unknown preset {target!r}")
    ambiguous = {str(k).lower(): tuple(str(v).lower() for v in vs) for k, vs in (doc.get("ambiguous") or {}).items()}
    return Catalog(
        kaito_version=str(doc.get("kaito_version", "")),
        defaults=Defaults(
            base_image=str(defaults_raw["base_image"]),
            preset_registry=str(defaults_raw["preset_registry"]),
            tuning_dataset_url=str(defaults_raw["tuning_dataset_url"]),
            images={str(k): str(v) for k, v in defaults_raw["images"].items()},
        ),
        presets=presets,
        aliases=aliases,
        ambiguous=ambiguous,
        skus={name.lower(): _sku(name, raw) for name, raw in doc["skus"].items()},
    )


@cache
def load_catalog() -> Catalog:
    with presets_path().open(encoding="utf-8") as fh:
        doc = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return parse_catalog(doc)
