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


# ---- the arithmetic, pinned term by term ---------------------------------------------------------------------

from dataclasses import replace  # noqa: E402

from kaitoctl.core.sizing import (  # noqa: E402
    GIB,
    candidate_skus,
    kv_bytes_per_token,
    readiness_timeout_s,
    transformers_fit,
)


@pytest.mark.parametrize(
    ("sku_name", "gpus", "kv_per_gpu"),
    [
        ("Standard_NC24ads_A100_v4", 1, 48.0),
        ("Standard_NC48ads_A100_v4", 2, 24.0),
        ("Standard_NC96ads_A100_v4", 4, 12.0),
    ],
)
def test_the_kv_cache_of_one_sequence_is_divided_across_the_nodes_gpus(sku_name: str, gpus: int, kv_per_gpu: float) -> None:
    fit = estimate_inference(preset("phi-3"), sku(sku_name), max_model_len=131072)
    assert fit.gpus_per_node == gpus
    assert fit.kv_cache_gib_per_gpu == pytest.approx(kv_per_gpu)
    assert fit.reserve_per_gpu_gib == pytest.approx(2.3 + kv_per_gpu)
    assert fit.weights_room_per_gpu_gib == pytest.approx((80 * 0.84 - 2.3 - kv_per_gpu) / 1.05)


def test_two_a10s_do_not_fit_the_full_context_but_two_a100s_do() -> None:
    # 48 GiB over 2 GPUs is 24 GiB each: more than an A10's 20.16 usable, well inside an A100's 67.2.
    a10x2 = estimate_inference(preset("phi-3"), sku("Standard_NV72ads_A10_v5"), max_model_len=131072)
    assert not a10x2.fits and (a10x2.min_gpus, a10x2.nodes) == (0, 0)
    assert a10x2.problem == (
        "does not fit: the reserve of 26.3 GiB per GPU (KV cache for 131072 tokens + runtime) exceeds the "
        "20.2 GiB usable on one NVIDIA A10"
    )


def test_min_gpus_is_the_integer_part_plus_one_and_nodes_round_up() -> None:
    llama = preset("llama-3.3-70b-instruct")
    fit = estimate_inference(llama, sku("Standard_NC24ads_A100_v4"))
    weights = llama.weights_gib * 1.02
    kv = 2048 * 327680 / GIB
    room = (80 * 0.84 - 2.3 - kv) / 1.05
    assert fit.weights_gib == pytest.approx(weights)
    assert fit.kv_cache_gib_per_gpu == pytest.approx(kv)
    assert fit.min_gpus == int(weights / room) + 1 == 3
    assert fit.nodes == 3  # one GPU per node
    two_gpu_nodes = estimate_inference(llama, sku("Standard_NC48ads_A100_v4"))
    assert (two_gpu_nodes.min_gpus, two_gpu_nodes.nodes) == (3, 2)  # ceil(3 / 2)


def test_usable_equal_to_the_reserve_does_not_fit() -> None:
    a100 = sku("Standard_NC24ads_A100_v4")
    p = replace(preset("phi-3"), bytes_per_token=None)
    # usable 67.2 GiB; a per-token size that makes the reserve exactly 67.2 GiB at 1024 tokens
    per_token = int((80 * 0.84 - 2.3) * GIB / 1024)
    exact = replace(p, bytes_per_token=per_token)
    fit = estimate_inference(exact, a100, max_model_len=1024)
    assert fit.reserve_per_gpu_gib == pytest.approx(80 * 0.84, abs=1e-6)
    assert fit.fits is (fit.usable_per_gpu_gib > fit.reserve_per_gpu_gib)


def test_kv_bytes_per_token_formulas() -> None:
    base = preset("llama-3.3-70b-instruct")
    assert kv_bytes_per_token(base) == base.bytes_per_token == 327680
    gqa = replace(base, bytes_per_token=None)
    assert kv_bytes_per_token(gqa) == 2 * 8 * 128 * 80 * 2  # K and V × kv heads × head dim × layers × 2 bytes
    mla_arch = replace(base.architecture, mla={"kv_lora_rank": 512, "qk_rope_head_dim": 64}, layers=61)
    assert kv_bytes_per_token(replace(gqa, architecture=mla_arch)) == (512 + 64) * 61 * 2
    unknown = replace(gqa, architecture=replace(base.architecture, kv_heads=None))
    assert kv_bytes_per_token(unknown) is None
    assert kv_bytes_per_token(replace(gqa, architecture=replace(base.architecture, layers=None))) is None


def test_max_model_len_source_is_named() -> None:
    p, a100 = preset("phi-3"), sku("Standard_NC24ads_A100_v4")
    assert estimate_inference(p, a100).max_model_len_source == "Kaito's default 2048"
    assert estimate_inference(p, a100, max_model_len=4096).max_model_len_source == "--max-model-len"
    named = estimate_inference(p, a100, max_model_len=4096, max_model_len_source="inference_config.yaml")
    assert named.max_model_len_source == "inference_config.yaml" and named.max_model_len == 4096


def test_explain_lines_of_a_fit_and_of_a_misfit() -> None:
    fit = estimate_inference(preset("phi-3"), sku("Standard_NC48ads_A100_v4"), max_model_len=131072)
    assert fit.explain() == [
        f"weights {fit.weights_gib:.1f} GiB (safetensors × 1.02)",
        "usable per GPU 67.2 GiB (80 GiB × 0.84 gpu-memory-utilization)",
        "KV cache for one 131072-token sequence 24.00 GiB per GPU (max-model-len from --max-model-len)",
        "reserve per GPU 26.30 GiB (2.3 GiB runtime + KV cache)",
        f"room for weights per GPU {fit.weights_room_per_gpu_gib:.1f} GiB ⇒ 1 GPU(s) ⇒ 1 node(s) of 2 GPU(s)",
    ]
    misfit = estimate_inference(preset("phi-3"), sku("Standard_NV36ads_A10_v5"), max_model_len=131072)
    assert misfit.explain()[-1] == misfit.problem


def test_transformers_fit_is_total_memory_against_weights() -> None:
    p = preset("phi-3")
    one = transformers_fit(p, sku("Standard_NV36ads_A10_v5"), 2)
    assert one.fits and one.nodes == 2 and one.min_gpus == 1 and one.problem is None
    assert (one.weights_gib, one.usable_per_gpu_gib, one.max_model_len) == (p.weights_gib, 24.0, 0)
    big = preset("llama-3.3-70b-instruct")
    assert not transformers_fit(big, sku("Standard_NC24ads_A100_v4"), 1).fits
    assert transformers_fit(big, sku("Standard_NC24ads_A100_v4"), 1).nodes == 0
    assert transformers_fit(big, sku("Standard_NC96ads_A100_v4"), 0).nodes == 1  # at least one node
    exact = replace(big, weights_gib=320.0)
    assert transformers_fit(exact, sku("Standard_NC96ads_A100_v4"), 1).fits  # 4 × 80 GiB ≥ 320 GiB


@pytest.mark.parametrize(
    ("weights", "seconds"),
    [(0, 30 * 60), (50, 30 * 60), (50.1, int(15 * 60 + 18 * 50.1)), (200, 15 * 60 + 18 * 200), (1000, 180 * 60)],
)
def test_readiness_budget_is_clamped(weights: float, seconds: int) -> None:
    assert readiness_timeout_s(weights) == seconds


def test_only_current_nvidia_skus_are_candidates() -> None:
    names = {s.name for s in candidate_skus(catalog().skus.values())}
    assert "Standard_NC24ads_A100_v4" in names
    assert not any("V620" in n for n in names)  # AMD
    assert "Standard_NC6s_v3" not in names  # retired


def test_tuning_estimate_parts_and_verdict() -> None:
    a100 = sku("Standard_NC24ads_A100_v4")
    est = estimate_tuning(preset("phi-3"), a100, "qlora")
    assert list(est.parts_gib) == ["weights(4-bit)", "adapter+optimizer", "activations", "logits", "cuda+runtime"]
    assert est.parts_gib["cuda+runtime"] == 1.5
    assert est.total_gib == pytest.approx(sum(est.parts_gib.values()))
    assert est.usable_gib == pytest.approx(80 * 0.95)
    assert est.fits and (est.batch_size, est.seq_len, est.lora_rank) == (1, 1024, 8)
    assert est.explain()[1] == "fits in 76.0 GiB usable of one 80 GiB GPU"
    tight = estimate_tuning(preset("qwen2.5-coder-32b-instruct"), sku("Standard_NV36ads_A10_v5"), "lora")
    assert not tight.fits and tight.explain()[1] == "does NOT fit in 22.8 GiB usable of one 24 GiB GPU"
    longer = estimate_tuning(preset("phi-3"), a100, "qlora", seq_len=2048, batch_size=2, lora_rank=16)
    assert longer.parts_gib["activations"] > est.parts_gib["activations"]
    assert longer.parts_gib["logits"] == pytest.approx(4 * est.parts_gib["logits"])
    assert longer.parts_gib["adapter+optimizer"] == pytest.approx(2 * est.parts_gib["adapter+optimizer"])
    fewer = estimate_tuning(preset("phi-3"), a100, "qlora", target_modules=4)
    assert fewer.parts_gib["adapter+optimizer"] < est.parts_gib["adapter+optimizer"]


def test_tuning_estimate_of_phi3_term_by_term() -> None:
    # phi-3-mini: 3.82 B parameters, hidden 3072, 32 layers, MLP 8192, 32 KV heads × 96, vocabulary 32064.
    a100 = sku("Standard_NC24ads_A100_v4")
    embed = 2 * 32064 * 3072
    per_layer = (3072 + 3072) + 2 * (3072 + 32 * 96) + (3072 + 3072) + 3 * (3072 + 8192)
    tokens = 1 * 1024
    qlora = estimate_tuning(preset("phi-3"), a100, "qlora").parts_gib
    assert qlora["weights(4-bit)"] == pytest.approx(((3.82e9 - embed) * 0.5 * 1.03 + embed * 2) / GIB)
    assert qlora["adapter+optimizer"] == pytest.approx(8 * per_layer * 32 * 16 / GIB)
    assert qlora["activations"] == pytest.approx((tokens * 3072 * 32 * 2 + tokens * 3072 * 34) / GIB)
    assert qlora["logits"] == pytest.approx(tokens * 32064 * 4 * 2 / GIB)
    lora = estimate_tuning(preset("phi-3"), a100, "lora").parts_gib
    assert lora["weights(bf16)"] == pytest.approx(3.82e9 * 2 / GIB)
    assert lora["activations"] == pytest.approx(tokens * 3072 * 32 * 34 / GIB)
    fewer = estimate_tuning(preset("phi-3"), a100, "qlora", target_modules=4).parts_gib
    assert fewer["adapter+optimizer"] == pytest.approx(8 * (per_layer * 4 // 7) * 32 * 16 / GIB)
    all_seven = estimate_tuning(preset("phi-3"), a100, "qlora", target_modules=7).parts_gib
    assert all_seven["adapter+optimizer"] == qlora["adapter+optimizer"]


def test_a_preset_without_architecture_figures_uses_the_llama_7b_shape_and_says_its_assumptions() -> None:
    from dataclasses import replace

    from kaitoctl.core.catalog import Architecture

    bare = replace(
        preset("phi-3"),
        params_b=None,
        weights_gib=13.0,
        architecture=Architecture(None, None, None, None, None, None, None, None, None),
    )
    a100 = sku("Standard_NC24ads_A100_v4")
    est = estimate_tuning(bare, a100, "qlora", batch_size=2, seq_len=512, lora_rank=4)
    params = 13.0 * GIB / 2  # 16-bit weights: 2 bytes per parameter
    hidden, layers, inter, vocab, kv_dim = 4096, 32, 4 * 4096, 32000, 32 * (4096 // 32)
    embed = 2 * vocab * hidden
    per_layer = (hidden + hidden) + 2 * (hidden + kv_dim) + (hidden + hidden) + 3 * (hidden + inter)
    tokens = 2 * 512
    assert est.parts_gib == pytest.approx(
        {
            "weights(4-bit)": ((params - embed) * 0.5 * 1.03 + embed * 2) / GIB,
            "adapter+optimizer": 4 * per_layer * layers * 16 / GIB,
            "activations": (tokens * hidden * layers * 2 + tokens * hidden * 34) / GIB,
            "logits": tokens * vocab * 4 * 2 / GIB,
            "cuda+runtime": 1.5,
        }
    )
    assert (est.method, est.sku, est.gpu_memory_gib) == ("qlora", "Standard_NC24ads_A100_v4", 80)
    assert est.assumptions == [
        "Kaito's default qlora config: batch size 2, LoRA r=4, bfloat16 compute",
        "sequence length 512 tokens (trl SFTConfig max_length default)",
        "adapter weights, gradients and AdamW moments in fp32 (16 bytes per trainable parameter)",
        "gradient checkpointing on for qlora (peft prepare_model_for_kbit_training), off for lora",
        "one model copy per GPU (accelerate DDP); CUDA context and allocator ≈ 1.5 GiB",
    ]
    # grouped-query attention without a head_dim: the head size is hidden / attention heads
    gqa = replace(bare, architecture=Architecture(None, 2, 1024, 2048, 16, 4, None, 1000, None))
    kv = 4 * (1024 // 16)
    gqa_layer = (1024 + 1024) + 2 * (1024 + kv) + (1024 + 1024) + 3 * (1024 + 2048)
    assert estimate_tuning(gqa, a100, "lora").parts_gib["adapter+optimizer"] == pytest.approx(8 * gqa_layer * 2 * 16 / GIB)
    heads_only = replace(bare, architecture=Architecture(None, 2, 1024, 2048, 16, None, None, 1000, None))
    full = (1024 + 1024) + 2 * (1024 + 1024) + (1024 + 1024) + 3 * (1024 + 2048)
    assert estimate_tuning(heads_only, a100, "lora").parts_gib["adapter+optimizer"] == pytest.approx(
        8 * full * 2 * 16 / GIB
    )


def test_the_explanation_of_a_tuning_estimate_lists_every_part() -> None:
    est = estimate_tuning(preset("phi-3"), sku("Standard_NC24ads_A100_v4"), "lora")
    parts = est.parts_gib
    assert est.explain()[0] == (
        f"lora needs ≈ {est.total_gib:.1f} GiB per GPU: weights(bf16) {parts['weights(bf16)']:.2f} + "
        f"adapter+optimizer {parts['adapter+optimizer']:.2f} + activations {parts['activations']:.2f} + "
        f"logits {parts['logits']:.2f} + cuda+runtime 1.50 (GiB)"
    )


def _twin(base, name: str):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(base, name=name)


def test_the_smallest_sku_for_transformers_uses_the_whole_node_and_keeps_the_count() -> None:
    p = preset("phi-3")
    a10, a100 = sku("Standard_NV36ads_A10_v5"), sku("Standard_NC24ads_A100_v4")
    found = smallest_inference_sku(p, [a100, a10], runtime="transformers", max_model_len=None, count=3)
    assert found is not None
    chosen, fit = found
    assert chosen == a10
    assert (fit.max_model_len_source, fit.nodes, fit.min_gpus, fit.usable_per_gpu_gib) == ("n/a (transformers)", 3, 1, 24.0)


def test_ties_keep_the_first_sku_in_catalog_order() -> None:
    p = preset("phi-3")
    a10 = sku("Standard_NV36ads_A10_v5")
    first, second = _twin(a10, "First"), _twin(a10, "Second")
    found = smallest_inference_sku(p, [first, second], runtime="vllm", max_model_len=None)
    assert found is not None and found[0].name == "First"
    tuned = smallest_tuning_sku(p, [first, second], "qlora")
    assert tuned is not None and tuned[0].name == "First"


def test_the_smallest_tuning_sku_skips_what_does_not_fit_and_keeps_the_method() -> None:
    p = preset("phi-4")
    a10, a100, h100 = sku("Standard_NV36ads_A10_v5"), sku("Standard_NC24ads_A100_v4"), sku("Standard_NC40ads_H100_v5")
    found = smallest_tuning_sku(p, [a10, h100, a100], "lora")
    assert found is not None
    chosen, est = found
    assert (chosen, est.method, est.sku) == (a100, "lora", a100.name)  # 36.7 GiB: not on an A10's 24
    assert smallest_tuning_sku(p, [a10], "lora") is None
    qlora = smallest_tuning_sku(p, [a100, a10], "qlora")
    assert qlora is not None and (qlora[0], qlora[1].method) == (a10, "qlora")
    assert "weights(4-bit)" in qlora[1].parts_gib
