from __future__ import annotations

import pytest

from kaitoctl.core.errors import ExitCode, InvalidInput
from kaitoctl.core.sizing import kv_bytes_per_token
from tests.unit.helpers import catalog


def test_every_kaito_v012_preset_is_listed() -> None:
    names = set(catalog().presets)
    expected = {
        "phi-3-mini-4k-instruct", "phi-3-mini-128k-instruct", "phi-3-medium-4k-instruct",
        "phi-3-medium-128k-instruct", "phi-3.5-mini-instruct", "phi-4", "phi-4-mini-instruct",
        "llama-3.1-8b-instruct", "llama-3.3-70b-instruct", "deepseek-r1-distill-llama-8b",
        "deepseek-r1-distill-qwen-14b", "deepseek-r1-0528", "deepseek-v3-0324", "qwen2.5-coder-7b-instruct",
        "qwen2.5-coder-32b-instruct", "gpt-oss-20b", "gpt-oss-120b", "gemma-3-4b-instruct", "gemma-3-27b-instruct",
        "mistral-7b", "mistral-7b-instruct", "ministral-3-3b-instruct", "ministral-3-8b-instruct",
        "ministral-3-14b-instruct", "mistral-large-3-675b-instruct", "phi-2", "falcon-7b",
    }  # fmt: skip
    assert expected <= names


@pytest.mark.parametrize("name", sorted(catalog().presets))
def test_preset_facts_are_consistent(name: str) -> None:
    preset = catalog().presets[name]
    if preset.status != "current":
        assert preset.note, "deprecated/dropped presets say why"
        return
    assert preset.hf_repo and "/" in preset.hf_repo
    assert preset.runtimes and set(preset.runtimes) <= {"vllm", "transformers"}
    assert preset.weights_gib > 0
    assert preset.disk_gib == int(preset.weights_gib + 80)  # Kaito's DiskStorageRequirement
    arch = preset.architecture
    assert arch.layers and arch.max_context
    # bytes_per_token must equal Kaito's formula from the architecture numbers.
    if arch.mla:
        assert preset.bytes_per_token == (arch.mla["kv_lora_rank"] + arch.mla["qk_rope_head_dim"]) * arch.layers * 2
    else:
        assert preset.bytes_per_token == 2 * arch.kv_heads * arch.head_dim * arch.layers * 2
    assert kv_bytes_per_token(preset) == preset.bytes_per_token
    if preset.tuning:
        assert preset.tuning.weights_image.startswith("mcr.microsoft.com/aks/kaito/kaito-")


def test_phi3_alias_is_the_cookbook_model() -> None:
    assert catalog().resolve_preset("phi-3").name == "phi-3-mini-128k-instruct"
    assert catalog().resolve_preset("PHI-3").name == "phi-3-mini-128k-instruct"


def test_ambiguous_alias_lists_the_choices() -> None:
    with pytest.raises(InvalidInput) as err:
        catalog().resolve_preset("qwen2.5-coder")
    assert err.value.exit_code == ExitCode.INVALID_INPUT
    assert "ambiguous" in err.value.message
    assert set(err.value.details) == {"qwen2.5-coder-7b-instruct", "qwen2.5-coder-32b-instruct"}


def test_unknown_preset_suggests_close_names() -> None:
    with pytest.raises(InvalidInput) as err:
        catalog().resolve_preset("phi-3-mini-128k-instrct")
    assert "phi-3-mini-128k-instruct" in (err.value.hint or "")


def test_sku_table_has_current_and_retired_sizes() -> None:
    cat = catalog()
    a100 = cat.sku("standard_nc24ads_a100_v4")  # case-insensitive like Kaito
    assert a100 is not None and a100.gpus == 1 and a100.gpu_memory_gib == 80 and a100.current
    v100 = cat.sku("Standard_NC6s_v3")
    assert v100 is not None and v100.status == "retired" and "2025-09-30" in (v100.note or "")
    assert all(s.quota_family for s in cat.current_skus())
