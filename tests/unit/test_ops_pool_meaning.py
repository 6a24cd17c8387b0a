"""Pool operations as the run and the user see them (ops/pool.py): the device plugin image installed, a running
operation followed over several polls to its end, and the error of one that ends Failed; how a step reports a
skipped phase (ops/progress.py)."""

from __future__ import annotations

import queue
from typing import Any

import pytest

from kaitoctl.core.errors import CloudError
from kaitoctl.ops.progress import Progress
from kaitoctl.ops.watch import Update
from tests.unit import helpers
from tests.unit.fakes import FakeAks, FakeKube, RecordingReporter
from tests.unit.test_ops_pool import existing, plan, pool_ops, updates


def test_the_device_plugin_installed_runs_the_catalog_s_image() -> None:
    kube = FakeKube()
    assert pool_ops(FakeAks(), kube=kube).ensure_device_plugin() == "installed"
    daemonset = kube.obj("/apis/apps/v1/namespaces/kube-system/daemonsets/nvidia-device-plugin-daemonset")
    assert daemonset is not None
    images = [c["image"] for c in daemonset["spec"]["template"]["spec"]["containers"]]
    assert images == [helpers.catalog().defaults.images["device_plugin"]]


class Polled(FakeAks):
    """A pool whose running operation reports `states` on successive reads."""

    def __init__(self, name: str, states: list[str]) -> None:
        super().__init__(pools={name: existing(provisioningState="Updating")})
        self.name, self.states = name, states

    def get_pool(self, name: str) -> Any:
        found = super().get_pool(name)
        if found is not None and self.states and len([c for c in self.calls if c[0] == "get_pool"]) > 1:
            found["properties"]["provisioningState"] = self.states.pop(0)
        return found


def test_a_running_operation_is_followed_over_several_polls_to_its_end() -> None:
    name = plan().placement.pool_name or ""
    aks = Polled(name, ["Updating", "Updating", "Succeeded"])
    ops = pool_ops(aks)
    ops.preflight(plan())
    q: queue.Queue[Update] = queue.Queue()
    ops.start(plan(), q)
    ops.finish(10)
    assert [u.get("state") for u in updates(q)] == [
        "waiting for the running operation",
        "Updating",
        "Updating",
        "Succeeded",
        "Succeeded",
    ]


def test_a_running_operation_that_ends_failed_says_where_to_look() -> None:
    name = plan().placement.pool_name or ""
    aks = Polled(name, ["Updating", "Failed"])
    ops = pool_ops(aks)
    ops.preflight(plan())
    ops.start(plan(), queue.Queue())
    with pytest.raises(CloudError) as failed:
        ops.finish(10)
    assert (failed.value.message, failed.value.code, failed.value.hint) == (
        f"the running operation on agent pool {name} ended Failed",
        "OperationFailed",
        f"see the pool in the portal or `az aks nodepool show -n {name}`; then re-run",
    )


def test_a_phase_skipped_without_a_reason_shows_no_message() -> None:
    progress = Progress(RecordingReporter(), ["Upload"], clock=lambda: 0.0)
    progress.skip("Upload")
    (phase,) = progress.to_list()
    assert (phase["name"], phase["message"]) == ("Upload", None)


def test_a_pool_of_another_workspace_says_how_to_avoid_it() -> None:
    other = existing(tags={"managed-by": "kaitoctl", "kaitoctl-workspace": "team/other"})
    aks = FakeAks(pools={plan().placement.pool_name or "": other})
    with pytest.raises(CloudError) as refused:
        pool_ops(aks).preflight(plan())
    assert refused.value.hint == "choose another --name (pool names derive from namespace and name)"


def test_a_regular_pool_cannot_become_a_spot_pool() -> None:
    from dataclasses import replace

    from kaitoctl.core.errors import InvalidInput

    spot_plan = plan()
    spot_plan = replace(spot_plan, placement=replace(spot_plan.placement, spot=True))
    aks = FakeAks(pools={spot_plan.placement.pool_name or "": existing()})
    with pytest.raises(InvalidInput) as refused:
        pool_ops(aks).preflight(spot_plan)
    assert (refused.value.field, refused.value.problem) == (
        "--spot",
        f"agent pool {spot_plan.placement.pool_name} has Regular priority; a pool's priority cannot change to Spot",
    )


def test_a_pool_to_recreate_stays_in_its_subnets_and_nothing_else_is_kept() -> None:
    subnets = {"vnetSubnetID": "/subscriptions/s/.../subnets/nodes", "podSubnetID": "/subscriptions/s/.../subnets/pods"}
    old = existing(vmSize="Standard_NC24ads_A100_v4", osDiskType="Ephemeral", maxPods=50, **subnets)
    aks = FakeAks(pools={plan().placement.pool_name or "": old})
    ops = pool_ops(aks, recreate=True)
    assert ops.preflight(plan()) == "recreate"
    props = ops.body(plan())["properties"]
    assert {k: props.get(k) for k in ("vnetSubnetID", "podSubnetID", "osDiskType", "maxPods")} == {
        **subnets,
        "osDiskType": None,
        "maxPods": None,
    }


def test_every_setting_that_cannot_change_is_named() -> None:
    from kaitoctl.core.errors import InvalidInput

    name = plan().placement.pool_name or ""
    aks = FakeAks(pools={name: existing(vmSize="Standard_NC24ads_A100_v4", osSKU="Windows2022")})
    with pytest.raises(InvalidInput) as refused:
        pool_ops(aks).preflight(plan())
    assert refused.value.problem == (
        f"agent pool {name} runs Standard_NC24ads_A100_v4; a pool's VM size cannot change "
        "(it also runs OS SKU Windows2022)"
    )


def test_an_adopted_pool_of_another_size_is_never_recreated() -> None:
    from kaitoctl.core.errors import InvalidInput

    name = plan().placement.pool_name or ""
    foreign = existing(vmSize="Standard_NC24ads_A100_v4", tags={"owner": "ops-team"})
    with pytest.raises(InvalidInput) as refused:
        pool_ops(FakeAks(pools={name: foreign}), adopt=True, recreate=True).preflight(plan())
    assert (refused.value.field, refused.value.problem, refused.value.fix) == (
        "--instance-type",
        f"agent pool {name} runs Standard_NC24ads_A100_v4; a pool's VM size cannot change, and kaitoctl never deletes "
        "a pool it adopted (--recreate would)",
        "choose settings the pool has, or another --name for a pool of kaitoctl's own",
    )
