"""VM sizes the emulator knows: vCPUs, quota family, GPUs, and made-up hourly prices.

GPU sizes come from the repo's presets.yaml (through tests/harness/nodes.py, so there is one table). A few CPU
sizes for system pools are listed here; their quota family names follow the Compute usages API naming
(`standardDSv5Family`, ...). A size the emulator does not know is treated as not offered in the region, which
is what Azure answers for a typo in a size name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from tests.harness.nodes import sku_table


@dataclass(frozen=True)
class VmSize:
    name: str
    vcpus: int
    memory_gib: int
    family: str
    gpus: int = 0
    gpu_model: str | None = None
    retired: bool = False


# CPU sizes: vCPU and memory from the Dv5/Ev5/Dasv5/DSv2 size pages; families as the usages API names them.
_CPU_SIZES: tuple[tuple[str, int, int, str], ...] = (
    ("Standard_D2s_v5", 2, 8, "standardDSv5Family"),
    ("Standard_D4s_v5", 4, 16, "standardDSv5Family"),
    ("Standard_D8s_v5", 8, 32, "standardDSv5Family"),
    ("Standard_D16s_v5", 16, 64, "standardDSv5Family"),
    ("Standard_D32s_v5", 32, 128, "standardDSv5Family"),
    ("Standard_D4ds_v5", 4, 16, "standardDDSv5Family"),
    ("Standard_D8ds_v5", 8, 32, "standardDDSv5Family"),
    ("Standard_D4as_v5", 4, 16, "standardDASv5Family"),
    ("Standard_D8as_v5", 8, 32, "standardDASv5Family"),
    ("Standard_E4s_v5", 4, 32, "standardESv5Family"),
    ("Standard_E8s_v5", 8, 64, "standardESv5Family"),
    ("Standard_DS2_v2", 2, 7, "standardDSv2Family"),
)


@cache
def vm_sizes() -> dict[str, VmSize]:
    """All known sizes, keyed by lower-case name (Azure compares size names case-insensitively)."""
    sizes = {
        name.lower(): VmSize(name=name, vcpus=vcpus, memory_gib=mem, family=family)
        for name, vcpus, mem, family in _CPU_SIZES
    }
    for key, facts in sku_table().items():
        sizes[key] = VmSize(
            name=facts["name"],
            vcpus=int(facts["vcpus"]),
            memory_gib=int(facts["memory_gib"]),
            family=str(facts["quota_family"]),
            gpus=int(facts.get("gpus") or 0),
            gpu_model=facts.get("gpu_model"),
            retired=facts.get("status") == "retired",
        )
    return sizes


def lookup(vm_size: str) -> VmSize | None:
    return vm_sizes().get(vm_size.lower())


def gpu_families() -> list[str]:
    return sorted({s.family for s in vm_sizes().values() if s.gpus})


def cpu_families() -> list[str]:
    return sorted({s.family for s in vm_sizes().values() if not s.gpus})


def family_display_name(family: str) -> str:
    """`standardNCADSA100v4Family` -> `Standard NCADSA100v4 Family vCPUs` (usages API localizedValue)."""
    m = re.fullmatch(r"standard(.+)Family", family)
    return f"Standard {m.group(1)} Family vCPUs" if m else family


# Emulator values, NOT real Azure prices: a per-GPU hourly rate by GPU model plus a small per-vCPU part, in
# the
# right order of magnitude so that cost estimates in kaitoctl's output look sensible.
_GPU_RATE_USD = {
    "NVIDIA A10": 3.10,
    "NVIDIA A100": 3.55,
    "NVIDIA H100": 6.90,
    "NVIDIA H200": 12.80,
    "NVIDIA V100": 3.00,
    "NVIDIA T4": 0.48,
    "AMD Radeon PRO V620": 1.30,
}
_VCPU_RATE_USD = 0.048


def linux_hourly_price(size: VmSize) -> float:
    gpu_rate = _GPU_RATE_USD.get(size.gpu_model or "", 2.0) if size.gpus else 0.0
    return round(size.gpus * gpu_rate + size.vcpus * _VCPU_RATE_USD, 4)
