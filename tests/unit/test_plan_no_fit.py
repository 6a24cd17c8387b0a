"""A SKU that cannot hold the workload, when the catalog has no other that can: the refusal says what to change
instead of naming an alternative, and with the resource checks bypassed it is a warning."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kaitoctl.core.errors import InvalidInput
from kaitoctl.core.plan import build_plan
from kaitoctl.core.spec import WorkspaceSpec
from tests.unit import helpers

A10 = "Standard_NV36ads_A10_v5"
LORA = "lora tuning of phi-4 needs ≈ 36.7 GiB per GPU; Standard_NV36ads_A10_v5 has 24 GiB"
CONTEXT = (
    "phi-3-mini-128k-instruct on Standard_NV36ads_A10_v5: does not fit: the reserve of 50.3 GiB per GPU (KV cache "
    "for 131072 tokens + runtime) exceeds the 20.2 GiB usable on one NVIDIA A10"
)


def only_a10():  # type: ignore[no-untyped-def]
    cat = helpers.catalog()
    a10 = cat.sku(A10)
    assert a10 is not None
    return replace(cat, skus={A10.lower(): a10})


CASES = [
    (
        lambda: helpers.tune_spec("phi-4", "lora", name="t", instance_type=A10),
        LORA,
        "use qlora, or bypass with --bypass-resource-checks",
    ),
    (
        lambda: helpers.deploy_spec("phi-3", name="p", instance_type=A10, max_model_len=131072),
        CONTEXT,
        "lower --max-model-len",
    ),
]


@pytest.mark.parametrize(("make", "problem", "fix"), CASES, ids=["tuning", "inference"])
def test_no_sku_fits_and_there_is_no_alternative(make, problem: str, fix: str) -> None:  # type: ignore[no-untyped-def]
    spec: WorkspaceSpec = make()
    with pytest.raises(InvalidInput) as refused:
        build_plan(spec, only_a10(), placement_mode="pool")
    assert (refused.value.field, refused.value.problem, refused.value.fix, refused.value.details) == (
        "--instance-type",
        problem,
        fix,
        [],
    )
    bypassed = build_plan(spec, only_a10(), placement_mode="pool", bypass_resource_checks=True)
    assert (bypassed.warnings, bypassed.alternatives) == ([problem + " (resource checks bypassed)"], [])
