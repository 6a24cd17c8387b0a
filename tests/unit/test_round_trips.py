"""Fewer serial round trips in a run (ops/run.py): independent requests go out together. Each test holds the first
request until the other one arrives, so it passes only if both are in flight at once (and times out, failing,
when they are sent one after the other)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from kaitoctl.core.errors import OperationFailed
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.run import preflight, run_workspace, server_dry_run
from tests.unit import helpers
from tests.unit.fakes import FakeKube, RecordingReporter, gpu_node, statefulset_controller
from tests.unit.test_ops_run import LABELS, deploy, make_run, namespace, selector_choice

WAIT_S = 5.0


class DryRunsTogether(FakeKube):
    """Each dry run waits until all `expected` dry runs have arrived."""

    def __init__(self, expected: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.barrier = threading.Barrier(expected, timeout=WAIT_S)

    def apply(self, obj: dict[str, Any], *, dry_run: bool = False, **kwargs: Any) -> dict[str, Any]:
        if dry_run:
            try:
                self.barrier.wait()
            except threading.BrokenBarrierError:
                raise AssertionError("the dry runs were sent one after the other") from None
        return super().apply(obj, dry_run=dry_run, **kwargs)


def test_the_dry_runs_go_out_together() -> None:
    probe = make_run(deploy(), FakeKube())
    objects = preflight(probe, selector_choice(), helpers.catalog())
    kube = DryRunsTogether(len(objects))
    kube.put(namespace())
    assert server_dry_run(make_run(deploy(), kube), objects) is True
    assert len([c for c in kube.calls if c[0] == "apply"]) == len(objects)
    assert kube.writes() == []


def test_the_first_refusal_in_order_is_the_one_reported() -> None:
    probe = make_run(deploy(), FakeKube())
    objects = preflight(probe, selector_choice(), helpers.catalog())
    kube = DryRunsTogether(
        len(objects),
        fail_apply={
            "/api/v1/namespaces/default/services/phi-headless": OperationFailed("second"),
            "/api/v1/namespaces/default/services/phi": OperationFailed("first"),
        },
    )
    kube.put(namespace())
    with pytest.raises(OperationFailed) as refused:
        server_dry_run(make_run(deploy(), kube), objects)
    assert refused.value.message == "first"
    assert kube.writes() == []


class RecordReadDuringPlacement(FakeKube):
    """Listing the nodes (placement) waits until the workspace's record has been asked for."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.record_asked = threading.Event()

    def get(self, path: str) -> dict[str, Any] | None:
        if path.endswith("/configmaps/phi-workspace"):
            self.record_asked.set()
        return super().get(path)

    def list(self, path: str, **kwargs: Any) -> tuple[list[dict[str, Any]], str]:
        if path == "/api/v1/nodes" and not self.record_asked.is_set():
            assert self.record_asked.wait(WAIT_S), "the record was read only after the placement"
        return super().list(path, **kwargs)


def test_the_record_is_read_while_the_placement_is_resolved() -> None:
    kube = RecordReadDuringPlacement(on_apply=[statefulset_controller])
    kube.put(gpu_node("gpu-1", labels=LABELS))
    result = run_workspace(deploy(), RunOptions(no_pool=True), helpers.catalog(), RecordingReporter(), kube=kube)
    assert result["state"] == "Ready"
    assert [c[1] for c in kube.calls if c[0] == "get"].count("/api/v1/namespaces/default/configmaps/phi-workspace") >= 1


class AssignsClusterIPs(FakeKube):
    """Services get their clusterIP when applied, as from the API server."""

    def apply(self, obj: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        stored = super().apply(obj, **kwargs)
        if obj["kind"] == "Service" and not kwargs.get("dry_run"):
            stored = {**stored, "spec": {**stored.get("spec", {}), "clusterIP": "10.0.0.9"}}
        return stored


def test_the_endpoint_comes_from_the_applied_service_without_a_request_after_ready() -> None:
    from kaitoctl.ops.run import apply_objects, conclude
    from kaitoctl.ops.wait import WaitOutcome

    kube = AssignsClusterIPs()
    kube.put(namespace())
    run = make_run(deploy(), kube)
    apply_objects(run, preflight(run, selector_choice(), helpers.catalog()))
    kube.calls.clear()
    result = conclude(run, WaitOutcome())
    assert result["endpoint"]["clusterIP"] == "10.0.0.9"
    assert kube.calls == []
