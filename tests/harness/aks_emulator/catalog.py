"""VM sizes the emulator knows: vCPUs, quota family, GPUs, and made-up hourly prices.

GPU sizes (vCPUs, memory, GPUs) come from the repo's presets.yaml (through tests/harness/nodes.py). Their quota
FAMILY names do NOT: they come from the table below, copied from public lists of what the Compute usages API
returns, in the spelling found there (casing and spaces vary between API versions and tools). kaitoctl reads its
family names from presets.yaml, so a wrong name there fails the quota tests instead of agreeing with itself.

A few CPU sizes for system pools are listed here too. A size the emulator does not know is treated as not offered
in the region, which is what Azure answers for a typo in a size name.
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


# Usage (quota family) names per GPU size, as the Compute usages API spells them. Sources:
# [OCP]   Red Hat OpenShift 4.22 docs, "Tested instance types for Azure" (family names per series, from
#         openshift/installer docs/user/azure/tested_instance_types_x86_64.md, which lists usage names).
# [INST]  openshift/installer docs/user/azure/tested_instance_types_x86_64.md (older revision).
# [SKYP]  skypilot-org/skypilot's Azure catalog fetcher (FAMILY_NAME_TO_SKYPILOT_GPU_NAME): not an Azure document.
GPU_FAMILIES: dict[str, str] = {
    "Standard_NV36ads_A10_v5": "StandardNVADSA10v5Family",  # [INST]
    "Standard_NV72ads_A10_v5": "StandardNVADSA10v5Family",  # [INST]
    "Standard_NC24ads_A100_v4": "StandardNCADSA100v4Family",  # [INST]
    "Standard_NC48ads_A100_v4": "StandardNCADSA100v4Family",  # [INST]
    "Standard_NC96ads_A100_v4": "StandardNCADSA100v4Family",  # [INST]
    "Standard_ND96asr_v4": "Standard NDASv4_A100 Family",  # [OCP] (spaces as listed there; [SKYP] has none)
    "Standard_ND96amsr_A100_v4": "standardNDAMSv4_A100Family",  # [SKYP] only: unverified by an Azure document
    "Standard_NC40ads_H100_v5": "StandardNCadsH100v5Family",  # [OCP]
    "Standard_NC80adis_H100_v5": "StandardNCadsH100v5Family",  # [OCP] (same NCads H100 v5 series)
    "Standard_ND96isr_H100_v5": "standardNDSH100v5Family",  # [OCP]
    "Standard_NCC40ads_H100_v5": "StandardNCCads2023Family",  # [OCP] (confidential H100)
    "Standard_ND96isr_H200_v5": "standardNDISRH200V5Family",  # [OCP]
    "Standard_NG32ads_V620_v1": "StandardNGADSV620v1Family",  # [OCP]
    # NG32adms is in the same NGads V620 series; that it shares the family is unverified.
    "Standard_NG32adms_V620_v1": "StandardNGADSV620v1Family",
    "Standard_NC6s_v3": "standardNCSv3Family",  # [INST]
    "Standard_NC12s_v3": "standardNCSv3Family",  # [INST]
    "Standard_NC24s_v3": "standardNCSv3Family",  # [INST]
    "Standard_NC24rs_v3": "standardNCSv3Family",  # [INST] (the r size in the same series: unverified)
    "Standard_NC4as_T4_v3": "Standard NCASv3_T4 Family",  # [INST] (spaces as listed there)
    "Standard_NC8as_T4_v3": "Standard NCASv3_T4 Family",  # [INST]
    "Standard_NC16as_T4_v3": "Standard NCASv3_T4 Family",  # [INST]
    "Standard_NC64as_T4_v3": "Standard NCASv3_T4 Family",  # [INST]
}

# CPU sizes: vCPU and memory from the Dv5/Ev5/Dasv5/DSv2 size pages; families as [INST] lists them.
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
            # Not facts["quota_family"]: that is kaitoctl's guess, the thing under test.
            family=GPU_FAMILIES.get(facts["name"], ""),
            gpus=int(facts.get("gpus") or 0),
            gpu_model=facts.get("gpu_model"),
            retired=facts.get("status") == "retired",
        )
    return sizes


def lookup(vm_size: str) -> VmSize | None:
    return vm_sizes().get(vm_size.lower())


def gpu_families() -> list[str]:
    return sorted({s.family for s in vm_sizes().values() if s.gpus and s.family})


def cpu_families() -> list[str]:
    return sorted({s.family for s in vm_sizes().values() if not s.gpus})


def family_key(family: str) -> str:
    """How Azure's quota machinery matches a family however it is spelled (case, spaces, `_` ignored)."""
    return re.sub(r"[\s_]", "", family).lower()


def family_display_name(family: str) -> str:
    """`StandardNCADSA100v4Family` -> `Standard NCADSA100v4 Family vCPUs` (the usages API's localizedValue, as in
    `az vm list-usage` output quoted in public guides; e.g. "Standard NCCads2023 Family vCPUs")."""
    m = re.fullmatch(r"standard\s*(.+?)\s*family", family, re.IGNORECASE)
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
