"""presets.yaml as kaitoctl reads it (core/catalog.parse_catalog), field by field: the architecture figures the
sizing uses, a SKU's every column, and what a missing key means. The shipped catalog is parsed once per process, so
these tests parse their own documents."""

from __future__ import annotations

from typing import Any

import pytest

from kaitoctl.core.catalog import Architecture, Sku, parse_catalog

DEFAULTS = {
    "base_image": "mcr/kaito-base:1",
    "preset_registry": "mcr/presets",
    "tuning_dataset_url": "https://example.com/d.parquet",
    "images": {"puller": "p:1"},
}
ARCH = {
    "model_type": "deepseek_v3",
    "layers": 61,
    "hidden_size": 7168,
    "intermediate_size": 18432,
    "attention_heads": 128,
    "kv_heads": 128,
    "head_dim": 192,
    "vocab_size": 129280,
    "max_context": 163840,
    "mla": {"kv_lora_rank": 512, "qk_rope_head_dim": 64},
    "moe": {"experts": 256, "active": 8},
}


def doc(**extra: Any) -> dict[str, Any]:
    return {"defaults": DEFAULTS, "presets": {}, "skus": {}, **extra}


def test_every_architecture_figure_and_a_non_default_status_are_read() -> None:
    cat = parse_catalog(
        doc(presets={"Big-Model": {"status": "deprecated", "weights_gib": 1300, "architecture": dict(ARCH)}})
    )
    preset = cat.presets["big-model"]
    assert preset.architecture == Architecture(
        model_type="deepseek_v3",
        layers=61,
        hidden_size=7168,
        intermediate_size=18432,
        attention_heads=128,
        kv_heads=128,
        head_dim=192,
        vocab_size=129280,
        max_context=163840,
        mla={"kv_lora_rank": 512, "qk_rope_head_dim": 64},
        moe={"experts": 256, "active": 8},
    )
    assert (preset.name, preset.status, preset.usable, preset.max_context) == ("big-model", "deprecated", False, 163840)


def test_a_preset_with_only_a_name_gets_the_documented_defaults() -> None:
    cat = parse_catalog(doc(presets={"tiny": {}}))
    tiny = cat.presets["tiny"]
    assert (tiny.status, tiny.served_name, tiny.weights_gib, tiny.disk_gib) == ("current", "tiny", 0.0, 0)
    assert tiny.architecture == Architecture(None, None, None, None, None, None, None, None, None, None, None)
    assert (tiny.runtimes, tiny.transformers_args, tiny.tuning, tiny.tuning_refusal) == ((), None, None, None)
    assert (tiny.vllm.dtype, tiny.vllm.allow_lora, tiny.vllm.extra_args) == ("auto", True, {})
    assert cat.kaito_version == ""
    assert parse_catalog(doc(kaito_version="v0.12.0")).kaito_version == "v0.12.0"


def test_every_sku_column_is_read_and_lookups_ignore_case() -> None:
    raw = {
        "gpus": 4,
        "gpu_model": "NVIDIA A100",
        "gpu_memory_gib": 80,
        "vcpus": 96,
        "memory_gib": 880,
        "nvme": True,
        "cuda_cc": "8.0",
        "quota_family": "StandardNCADSA100v4Family",
        "gfd_product": "NVIDIA-A100-PCIE-80GB",
        "status": "dropped",
        "note": "gone from eastus",
    }
    minimal = {"gpus": 1, "gpu_model": "AMD MI300X", "gpu_memory_gib": 192, "vcpus": 8, "memory_gib": 64}
    cat = parse_catalog(doc(skus={"Standard_NC96ads_A100_v4": raw, "Standard_X": minimal}))
    assert cat.sku("standard_nc96ads_a100_v4 ") == Sku(
        "Standard_NC96ads_A100_v4",
        4,
        "NVIDIA A100",
        80.0,
        96,
        880.0,
        True,
        "8.0",
        "StandardNCADSA100v4Family",
        "NVIDIA-A100-PCIE-80GB",
        "dropped",
        "gone from eastus",
    )
    assert cat.sku("STANDARD_X") == Sku(
        "Standard_X", 1, "AMD MI300X", 192.0, 8, 64.0, False, None, None, None, "current", None
    )
    assert [s.name for s in cat.current_skus()] == ["Standard_X"]
    assert cat.sku("Standard_Y") is None


def test_an_alias_to_no_preset_is_a_broken_catalog() -> None:
    with pytest.raises(ValueError) as broken:
        parse_catalog(doc(presets={"a": {}}, aliases={"B": "C"}))
    assert str(broken.value) == "presets.yaml: alias 'b' points at unknown preset 'c'"
    cat = parse_catalog(doc(presets={"a": {}}, aliases={"B": "A"}, ambiguous={"X": ["A", "b"]}))
    assert (cat.aliases, cat.ambiguous) == ({"b": "a"}, {"x": ("a", "b")})
