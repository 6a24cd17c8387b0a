"""`kaitoctl stop` waiting for the pods (ops/lifecycle.py), the AKS client a delete's pool finder makes
(ops/pool.py), and the training-log follower the waiter starts (ops/wait.py), as a user sees them."""

from __future__ import annotations

from typing import Any

from kaitoctl.adapters.aks import Aks, AksTarget
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.pool import PoolFinder
from tests.unit import helpers
from tests.unit.fakes import FakeAks, FakeKube, RecordingReporter
from tests.unit.test_ops_lifecycle import NS, deployed


class ShowsPhases(RecordingReporter):
    def __init__(self) -> None:
        super().__init__()
        self.shown: list[tuple[str, str, str]] = []

    def phases(self, records: list[Any]) -> None:
        super().phases(records)
        self.shown += [(r.name, r.reason, r.message) for r in records if r.name == "PodsGone"]


def pod(name: str, workspace: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "kaitoctl", "kaitoctl.io/workspace": workspace}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS, "labels": labels}}


def test_stop_waits_for_its_own_pods_only_and_says_which_still_terminate() -> None:
    from kaitoctl.ops.lifecycle import stop_workspace

    kube, _, _ = deployed(pool=False)
    kube.put(pod("other-0", "other"))  # another workspace's pod: not waited for
    kube.put(pod("phi-x", "phi"))  # a pod of the workspace no controller removes
    reporter = ShowsPhases()
    result = stop_workspace(
        kube, NS, "phi", RunOptions(no_pool=True, timeout_s=1), helpers.catalog(), reporter, price=None
    )
    (gone,) = [p for p in result["phases"] if p["name"] == "PodsGone"]
    assert (gone["reason"], gone["message"]) == ("Timeout", "Pod/phi-x")
    assert ("warning", "phi: still terminating: Pod/phi-x; scaling the pool anyway") in reporter.messages
    assert ("PodsGone", "", "waiting for the pods to end") in reporter.shown
    assert ("PodsGone", "Terminating", "Pod/phi-x") in reporter.shown
    assert kube.obj(f"/api/v1/namespaces/{NS}/pods/other-0") is not None


def test_the_pool_finder_makes_its_client_for_the_target_it_resolved() -> None:
    azure = RunOptions(subscription="sub", resource_group="rg", aks_cluster="aks")
    made: list[AksTarget] = []
    finder = PoolFinder(azure, FakeKube(), aks=lambda t: made.append(t) or FakeAks())
    finder.client()
    assert made == [AksTarget("sub", "rg", "aks")]
    own = PoolFinder(azure, FakeKube()).client()  # the real adapter: no request until its first call
    assert isinstance(own, Aks) and own.target == AksTarget("sub", "rg", "aks")


def test_the_training_log_is_followed_on_a_thread_ctrl_c_does_not_wait_for() -> None:
    from tests.unit.test_ops_wait import make

    waiter, _, _ = make("tuning")
    waiter._follow_training_log("phi-abc")
    assert waiter.log_thread is not None
    waiter.log_thread.join(5)
    assert waiter.log_thread.daemon is True
