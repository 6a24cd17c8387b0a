"""`kaitoctl endpoint`'s choice of pod and its wait for a ready one again (ops/endpoint.py), against the in-memory
cluster; the proxy and the pod restart themselves are e2e (tests/e2e/test_endpoint.py)."""

from __future__ import annotations

from typing import Any

import pytest

from kaitoctl.core.errors import OperationFailed
from kaitoctl.ops.endpoint import Pod, pod_problem, resolve_pod, wait_for_pod
from tests.unit.fakes import FakeKube, gpu_node, pod_of
from tests.unit.test_ops_status import LABELS, NS, deploy, write


def statefulset(kube: FakeKube) -> dict[str, Any]:
    kube.put(gpu_node("gpu-1", labels=LABELS))
    return next(o for o in write(kube, deploy("phi")) if o["kind"] == "StatefulSet")


def test_resolve_pod_names_the_workspace_and_the_serving_pod_with_its_uid() -> None:
    kube = FakeKube()
    sts = statefulset(kube)
    kube.put(pod_of(sts, 1))
    uid = kube.put(pod_of(sts, 0))["metadata"]["uid"]  # the fake assigns uids as the API server does
    assert resolve_pod(kube, NS, None) == ("phi", Pod(NS, "phi-0", uid))
    assert str(Pod(NS, "phi-0", "uid-0")) == "default/phi-0"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_for_pod_polls_until_the_workspace_is_ready_again() -> None:
    kube = FakeKube()
    sts = statefulset(kube)
    clock = Clock()
    created: list[str] = []

    def resolve() -> tuple[str, Pod]:
        if len(clock.sleeps) == 3 and not created:  # the restarted pod is ready after three polls
            created.append(kube.put(pod_of(sts, 0))["metadata"]["uid"])
        return resolve_pod(kube, NS, "phi")

    pod = wait_for_pod(resolve, timeout_s=10, sleep=clock.sleep, clock=lambda: clock.now)
    assert pod == Pod(NS, "phi-0", created[0])
    assert clock.sleeps == [1.0, 1.0, 1.0]


def test_wait_for_pod_gives_up_after_its_timeout_and_says_why() -> None:
    kube = FakeKube()
    statefulset(kube)
    clock = Clock()
    with pytest.raises(OperationFailed) as gave_up:
        wait_for_pod(lambda: resolve_pod(kube, NS, "phi"), timeout_s=5, sleep=clock.sleep, clock=lambda: clock.now)
    assert clock.now == 5.0
    assert gave_up.value.reason == "NotReady"
    assert gave_up.value.message == (
        "the workspace has no ready pod to forward to: workspace phi is not ready: InferenceReady is False "
        "(WorkspaceInferenceStatusPending: 0/1 pod(s) ready)"
    )


def test_pod_problem_says_why_the_serving_pod_no_longer_serves() -> None:
    kube = FakeKube()
    sts = statefulset(kube)
    stored = kube.put(pod_of(sts, 0))
    pod = Pod(NS, "phi-0", stored["metadata"]["uid"])
    assert pod_problem(kube, pod) is None
    assert pod_problem(kube, Pod(NS, "phi-0", "an-older-uid")) == "it was replaced"
    kube.put(pod_of(sts, 0, ready=False) | {"metadata": {**stored["metadata"]}})
    assert pod_problem(kube, pod) == "it is not ready"
    kube.put({**stored, "metadata": {**stored["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}})
    assert pod_problem(kube, pod) == "it is being deleted"
    kube.delete(f"/api/v1/namespaces/{NS}/pods/phi-0")
    assert pod_problem(kube, pod) == "it was deleted"
