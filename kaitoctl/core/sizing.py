"""GPU fit and node count: inference the way Kaito v0.12's estimator decides it, and a tuning memory estimate.

Both return the arithmetic, not only a verdict, so the plan can explain itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from kaitoctl.core.catalog import Preset, Sku
from kaitoctl.core.ranking import gpu_memory_key

GIB = 1024**3

# Kaito's node estimator constants (kaito-project/kaito v0.12.0 pkg/workspace/estimator/nodesestimator/estimator.go).
WEIGHTS_OVERHEAD = 1.02
GPU_MEMORY_UTILIZATION = 0.84
FIXED_RESERVE_GIB = 2.3
ACTIVATION_MARGIN = 1.05
DEFAULT_MAX_MODEL_LEN = 2048  # what Kaito assumes when no inference ConfigMap sets vllm.max-model-len


@dataclass(frozen=True)
class InferenceFit:
    sku: str
    gpus_per_node: int
    gpu_memory_gib: float
    max_model_len: int
    max_model_len_source: str
    weights_gib: float  # safetensors size × 1.02
    usable_per_gpu_gib: float  # per-GPU memory × 0.84
    kv_cache_gib_per_gpu: float  # one max-length sequence, spread over the node's GPUs
    reserve_per_gpu_gib: float  # 2.3 GiB + kv cache
    weights_room_per_gpu_gib: float  # (usable − reserve) / 1.05
    min_gpus: int
    nodes: int
    fits: bool
    problem: str | None

    def explain(self) -> list[str]:
        lines = [
            f"weights {self.weights_gib:.1f} GiB (safetensors × {WEIGHTS_OVERHEAD})",
            f"usable per GPU {self.usable_per_gpu_gib:.1f} GiB ({self.gpu_memory_gib:g} GiB × "
            f"{GPU_MEMORY_UTILIZATION} gpu-memory-utilization)",
            f"KV cache for one {self.max_model_len}-token sequence {self.kv_cache_gib_per_gpu:.2f} GiB per GPU "
            f"(max-model-len from {self.max_model_len_source})",
            f"reserve per GPU {self.reserve_per_gpu_gib:.2f} GiB ({FIXED_RESERVE_GIB} GiB runtime + KV cache)",
        ]
        if self.fits:
            lines.append(
                f"room for weights per GPU {self.weights_room_per_gpu_gib:.1f} GiB ⇒ {self.min_gpus} GPU(s) ⇒ "
                f"{self.nodes} node(s) of {self.gpus_per_node} GPU(s)"
            )
        elif self.problem:
            lines.append(self.problem)
        return lines


def kv_bytes_per_token(preset: Preset) -> int | None:
    """KV-cache bytes per token as Kaito computes it: 2 (K and V) × kv_heads × head_dim × layers × 2 bytes."""
    if preset.bytes_per_token:
        return int(preset.bytes_per_token)
    arch = preset.architecture
    if arch.mla and arch.layers:
        return (arch.mla["kv_lora_rank"] + arch.mla["qk_rope_head_dim"]) * arch.layers * 2
    if arch.kv_heads and arch.head_dim and arch.layers:
        return 2 * arch.kv_heads * arch.head_dim * arch.layers * 2
    return None


def estimate_inference(
    preset: Preset, sku: Sku, *, max_model_len: int | None = None, max_model_len_source: str | None = None
) -> InferenceFit:
    length = max_model_len or DEFAULT_MAX_MODEL_LEN
    source = max_model_len_source or ("--max-model-len" if max_model_len else f"Kaito's default {length}")
    weights = preset.weights_gib * WEIGHTS_OVERHEAD
    usable = sku.gpu_memory_gib * GPU_MEMORY_UTILIZATION
    per_token = kv_bytes_per_token(preset) or 0
    kv = length * per_token / sku.gpus / GIB
    reserve = FIXED_RESERVE_GIB + kv

    def result(fits: bool, min_gpus: int, nodes: int, room: float, problem: str | None) -> InferenceFit:
        return InferenceFit(
            sku=sku.name,
            gpus_per_node=sku.gpus,
            gpu_memory_gib=sku.gpu_memory_gib,
            max_model_len=length,
            max_model_len_source=source,
            weights_gib=weights,
            usable_per_gpu_gib=usable,
            kv_cache_gib_per_gpu=kv,
            reserve_per_gpu_gib=reserve,
            weights_room_per_gpu_gib=room,
            min_gpus=min_gpus,
            nodes=nodes,
            fits=fits,
            problem=problem,
        )

    if usable <= reserve:
        return result(
            False,
            0,
            0,
            0.0,
            f"does not fit: the reserve of {reserve:.1f} GiB per GPU (KV cache for {length} tokens + runtime) "
            f"exceeds the {usable:.1f} GiB usable on one {sku.gpu_model}",
        )
    room = (usable - reserve) / ACTIVATION_MARGIN
    min_gpus = int(weights / room) + 1
    nodes = math.ceil(min_gpus / sku.gpus)
    return result(True, min_gpus, nodes, room, None)


def transformers_fit(preset: Preset, sku: Sku, count: int) -> InferenceFit:
    """Transformers runs on one node with the GPUs it has: Kaito's check is count × total GPU memory ≥ weights."""
    weights = preset.weights_gib
    total = sku.total_gpu_memory_gib
    fits = total >= weights
    problem = None
    if not fits:
        problem = (
            f"does not fit: {preset.name} needs {weights:.1f} GiB of GPU memory and one {sku.name} has "
            f"{total:g} GiB; Hugging Face Transformers cannot spread a model over several nodes"
        )
    return InferenceFit(
        sku=sku.name,
        gpus_per_node=sku.gpus,
        gpu_memory_gib=sku.gpu_memory_gib,
        max_model_len=0,
        max_model_len_source="n/a (transformers)",
        weights_gib=weights,
        usable_per_gpu_gib=sku.gpu_memory_gib,
        kv_cache_gib_per_gpu=0.0,
        reserve_per_gpu_gib=0.0,
        weights_room_per_gpu_gib=sku.gpu_memory_gib,
        min_gpus=sku.gpus,
        nodes=max(1, count) if fits else 0,
        fits=fits,
        problem=problem,
    )


def readiness_timeout_s(weights_gib: float) -> int:
    """Kaito v0.12's readiness budget for a model server: clamp(15 min + 18 s per GiB of weights, 30, 180 min)."""
    return int(min(max(15 * 60 + 18 * weights_gib, 30 * 60), 180 * 60))


# ---- tuning -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TuningEstimate:
    method: str
    sku: str
    gpu_memory_gib: float
    batch_size: int
    seq_len: int
    lora_rank: int
    parts_gib: dict[str, float]
    assumptions: list[str] = field(default_factory=list)

    @property
    def total_gib(self) -> float:
        return sum(self.parts_gib.values())

    @property
    def usable_gib(self) -> float:
        # Leave headroom for the CUDA caching allocator's fragmentation.
        return self.gpu_memory_gib * 0.95

    @property
    def fits(self) -> bool:
        return self.total_gib <= self.usable_gib

    def explain(self) -> list[str]:
        parts = " + ".join(f"{name} {gib:.2f}" for name, gib in self.parts_gib.items())
        verdict = "fits" if self.fits else "does NOT fit"
        return [
            f"{self.method} needs ≈ {self.total_gib:.1f} GiB per GPU: {parts} (GiB)",
            f"{verdict} in {self.usable_gib:.1f} GiB usable of one {self.gpu_memory_gib:g} GiB GPU",
        ]


def estimate_tuning(
    preset: Preset,
    sku: Sku,
    method: str,
    *,
    batch_size: int = 1,
    seq_len: int = 1024,
    lora_rank: int = 8,
    target_modules: int | None = None,
) -> TuningEstimate:
    """Memory per GPU for LoRA/QLoRA fine-tuning with Kaito's default training config.

    An engineering estimate, not Kaito's: Kaito performs no memory check for tuning at all.
    """
    arch = preset.architecture
    params = (preset.params_b or preset.weights_gib * GIB / 2 / 1e9) * 1e9
    hidden = arch.hidden_size or 4096
    layers = arch.layers or 32
    inter = arch.intermediate_size or 4 * hidden
    vocab = arch.vocab_size or 32000
    kv_dim = (arch.kv_heads or arch.attention_heads or 32) * (arch.head_dim or hidden // (arch.attention_heads or 32))
    embed_params = 2 * vocab * hidden  # input embeddings + LM head, kept in 16-bit by bitsandbytes
    parts: dict[str, float] = {}
    if method == "qlora":
        parts["weights(4-bit)"] = ((params - embed_params) * 0.5 * 1.03 + embed_params * 2) / GIB
    else:
        parts["weights(bf16)"] = params * 2 / GIB
    # LoRA A and B matrices on attention (q,k,v,o) and MLP (gate, up, down) projections of every layer.
    per_layer = (hidden + hidden) + 2 * (hidden + kv_dim) + (hidden + hidden) + 3 * (hidden + inter)
    if target_modules is not None and target_modules < 7:
        per_layer = per_layer * target_modules // 7
    adapter_params = lora_rank * per_layer * layers
    # fp32 adapter weights (4) + gradients (4) + AdamW moments (8) = 16 bytes per trainable parameter.
    parts["adapter+optimizer"] = adapter_params * 16 / GIB
    tokens = batch_size * seq_len
    if method == "qlora":
        # prepare_model_for_kbit_training turns on gradient checkpointing: keep one 16-bit hidden state per layer
        # plus one layer's full activations during recomputation.
        activations = tokens * hidden * layers * 2 + tokens * hidden * 34
    else:
        # No checkpointing: ≈ 34 bytes × hidden per token per layer (Korthikanti et al. 2022, flash attention).
        activations = tokens * hidden * layers * 34
    parts["activations"] = activations / GIB
    parts["logits"] = tokens * vocab * 4 * 2 / GIB  # fp32 logits and their gradient for the loss
    parts["cuda+runtime"] = 1.5
    assumptions = [
        f"Kaito's default {method} config: batch size {batch_size}, LoRA r={lora_rank}, bfloat16 compute",
        f"sequence length {seq_len} tokens (trl SFTConfig max_length default)",
        "adapter weights, gradients and AdamW moments in fp32 (16 bytes per trainable parameter)",
        "gradient checkpointing on for qlora (peft prepare_model_for_kbit_training), off for lora",
        "one model copy per GPU (accelerate DDP); CUDA context and allocator ≈ 1.5 GiB",
    ]
    return TuningEstimate(
        method=method,
        sku=sku.name,
        gpu_memory_gib=sku.gpu_memory_gib,
        batch_size=batch_size,
        seq_len=seq_len,
        lora_rank=lora_rank,
        parts_gib=parts,
        assumptions=assumptions,
    )


# ---- choosing a SKU -----------------------------------------------------------------------------------------


# Prefer one node (no Ray), then the least GPU memory bought, then fewer vCPUs: the order without prices.
_cost_key = gpu_memory_key


def candidate_skus(skus: Iterable[Sku]) -> list[Sku]:
    """Current NVIDIA SKUs: what kaitoctl may pick by itself (kaito-base is a CUDA image)."""
    return [s for s in skus if s.current and s.nvidia]


def smallest_inference_sku(
    preset: Preset, skus: Iterable[Sku], *, runtime: str, max_model_len: int | None, count: int = 1
) -> tuple[Sku, InferenceFit] | None:
    best: tuple[Sku, InferenceFit] | None = None
    for sku in candidate_skus(skus):
        fit = (
            estimate_inference(preset, sku, max_model_len=max_model_len)
            if runtime == "vllm"
            else transformers_fit(preset, sku, count)
        )
        if not fit.fits:
            continue
        if best is None or _cost_key(sku, fit.nodes) < _cost_key(best[0], best[1].nodes):
            best = (sku, fit)
    return best


def smallest_tuning_sku(
    preset: Preset, skus: Iterable[Sku], method: str, **kwargs: int
) -> tuple[Sku, TuningEstimate] | None:
    best: tuple[Sku, TuningEstimate] | None = None
    for sku in candidate_skus(skus):
        est = estimate_tuning(preset, sku, method, **kwargs)
        if est.fits and (best is None or _cost_key(sku, 1) < _cost_key(best[0], 1)):
            best = (sku, est)
    return best
