from __future__ import annotations

import pytest

from kaitoctl.core.sizing import estimate_inference, estimate_tuning, smallest_inference_sku, smallest_tuning_sku
from tests.unit.helpers import catalog


def preset(name: str):  # type: ignore[no-untyped-def]
    return catalog().resolve_preset(name)


def sku(name: str):  # type: ignore[no-untyped-def]
    found = catalog().sku(name)
    assert found is not None
    return found


def test_phi3_mini_128k_full_context_does_not_fit_an_a10() -> None:
    fit = estimate_inference(preset("phi-3"), sku("Standard_NV36ads_A10_v5"), max_model_len=131072)
    # 131072 tokens × 393216 bytes = 48 GiB of KV cache for one sequence: more than 24 GiB × 0.84.
    assert fit.kv_cache_gib_per_gpu == pytest.approx(48.0)
    assert not fit.fits
    assert "exceeds" in (fit.problem or "")


def test_phi3_mini_128k_full_context_fits_one_a100() -> None:
    fit = estimate_inference(preset("phi-3"), sku("Standard_NC24ads_A100_v4"), max_model_len=131072)
    assert fit.fits and fit.nodes == 1 and fit.min_gpus == 1
    assert fit.usable_per_gpu_gib == pytest.approx(80 * 0.84)
    assert fit.reserve_per_gpu_gib == pytest.approx(2.3 + 48.0)
    assert fit.weights_room_per_gpu_gib == pytest.approx((80 * 0.84 - 50.3) / 1.05)
    assert any("131072-token" in line for line in fit.explain())


def test_default_context_is_kaitos_2048_and_fits_an_a10() -> None:
    fit = estimate_inference(preset("phi-3"), sku("Standard_NV36ads_A10_v5"))
    assert fit.max_model_len == 2048 and fit.fits and fit.nodes == 1
    assert "Kaito's default" in fit.max_model_len_source


def test_smallest_sku_follows_max_model_len() -> None:
    cat = catalog()
    small = smallest_inference_sku(preset("phi-3"), cat.skus.values(), runtime="vllm", max_model_len=None)
    full = smallest_inference_sku(preset("phi-3"), cat.skus.values(), runtime="vllm", max_model_len=131072)
    assert small is not None and small[0].name == "Standard_NV36ads_A10_v5"
    assert full is not None and full[0].name == "Standard_NC24ads_A100_v4"


def test_llama_70b_needs_several_gpus() -> None:
    fit = estimate_inference(preset("llama-3.3-70b-instruct"), sku("Standard_NC24ads_A100_v4"))
    assert fit.fits and fit.min_gpus == 3 and fit.nodes == 3
    multi = estimate_inference(preset("llama-3.3-70b-instruct"), sku("Standard_NC96ads_A100_v4"))
    assert multi.nodes == 1
    best = smallest_inference_sku(
        preset("llama-3.3-70b-instruct"), catalog().skus.values(), runtime="vllm", max_model_len=None
    )
    assert best is not None and best[1].nodes == 1  # one node is preferred over a Ray cluster


def test_qlora_needs_far_less_memory_than_lora() -> None:
    a10 = sku("Standard_NV36ads_A10_v5")
    lora = estimate_tuning(preset("phi-3"), a10, "lora")
    qlora = estimate_tuning(preset("phi-3"), a10, "qlora")
    assert qlora.total_gib < lora.total_gib
    assert lora.parts_gib["weights(bf16)"] == pytest.approx(3.82e9 * 2 / 1024**3)
    assert qlora.parts_gib["weights(4-bit)"] < lora.parts_gib["weights(bf16)"] / 2
    assert qlora.fits and qlora.assumptions


def test_tuning_a_large_model_with_lora_needs_a_bigger_gpu() -> None:
    qwen32 = preset("qwen2.5-coder-32b-instruct")
    assert not estimate_tuning(qwen32, sku("Standard_NV36ads_A10_v5"), "lora").fits
    best = smallest_tuning_sku(qwen32, catalog().skus.values(), "lora")
    assert best is not None and best[0].gpu_memory_gib >= 80
