"""Status over many workspaces (ops/status.py): the node index finds exactly what a scan would, and the watch view
recomputes a workspace only when one of its own objects changed, yet always shows what a fresh collect shows."""

from __future__ import annotations

import copy
from typing import Any

from kaitoctl.core import conditions as cond
from kaitoctl.ops.status import NodeIndex, StatusView, collect
from tests.unit.fakes import FakeKube, gpu_node, pod_of
from tests.unit.test_ops_status import NS, deploy, write


def test_node_index_finds_what_a_scan_finds() -> None:
    nodes = [gpu_node(f"n{i}", labels={"pool": f"p{i % 3}", "zone": f"z{i % 2}"}) for i in range(12)]
    index = NodeIndex(nodes)
    placements = [
        cond.PlacementInfo("selector", 1, 1, None, selector={"pool": "p1"}),
        cond.PlacementInfo("selector", 1, 1, None, selector={"pool": "p1", "zone": "z0"}),
        cond.PlacementInfo("selector", 1, 1, None, selector={"pool": "absent"}),
        cond.PlacementInfo("selector", 1, 1, None, selector={}),
        cond.PlacementInfo("nodes", 2, 1, None, node_names=("n3", "n7", "gone")),
        cond.PlacementInfo("pool", 1, 1, None, pool="p2", selector={"pool": "p2"}),
    ]
    for placement in placements:
        scanned = sorted(n["metadata"]["name"] for n in nodes if placement.matches(n))
        assert sorted(n["metadata"]["name"] for n in index.candidates(placement)) == scanned, placement


def _cache_view(kube: FakeKube) -> tuple[dict[str, Any], list[Any], list[Any], list[Any]]:
    """What the watch cache holds: the same lists collect() reads."""
    records = {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}": o
        for o in kube.list("/api/v1/configmaps", label_selector="kaitoctl.io/record=workspace")[0]
    }
    workloads = kube.list("/apis/apps/v1/statefulsets")[0] + kube.list("/apis/batch/v1/jobs")[0]
    return records, workloads, kube.list("/api/v1/pods")[0], kube.list("/api/v1/nodes")[0]


def _columns(statuses: list[Any]) -> list[tuple[str, ...]]:
    kinds = (cond.RESOURCE_READY, cond.INFERENCE_READY, cond.JOB_STARTED, cond.WORKSPACE_SUCCEEDED)
    return [(s.namespace, s.name, s.state, *(s.column(k) for k in kinds)) for s in statuses]


def test_the_view_recomputes_only_what_changed_and_matches_collect() -> None:
    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels={"apps": "phi"}))
    sets = {}
    for name in ("a", "b", "c"):
        sets[name] = next(o for o in write(kube, deploy(name)) if o["kind"] == "StatefulSet")
        kube.put(pod_of(sets[name], 0, ready=True, phase="Running"))
    view = StatusView()
    first = view.update(*_cache_view(kube))
    assert _columns(first) == _columns(collect(kube, NS))
    assert [s.state for s in first] == ["Ready", "Ready", "Ready"]

    again = view.update(*_cache_view(kube))
    assert all(x is y for x, y in zip(first, again, strict=True))  # nothing changed: nothing recomputed

    kube.put(pod_of(sets["b"], 0, ready=False, phase="Running"))
    changed = view.update(*_cache_view(kube))
    assert [x is y for x, y in zip(first, changed, strict=True)] == [True, False, True]
    assert [s.state for s in changed] == ["Ready", "NotReady", "Ready"]
    assert _columns(changed) == _columns(collect(kube, NS))

    node = copy.deepcopy(kube.list("/api/v1/nodes")[0][0])
    node["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    kube.put(node)
    after_node = view.update(*_cache_view(kube))
    assert not any(x is y for x, y in zip(changed, after_node, strict=True))  # every workspace uses that node
    assert _columns(after_node) == _columns(collect(kube, NS))
    assert {s.column(cond.RESOURCE_READY) for s in after_node} == {"False"}


def test_the_view_keeps_namespaces_apart_and_filters_by_name() -> None:
    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels={"apps": "phi"}))
    write(kube, deploy("same"))
    other = deploy("same")
    other = type(other)(**{**other.__dict__, "namespace": "other"})
    write(kube, other)
    assert [(s.namespace, s.name) for s in StatusView().update(*_cache_view(kube))] == [
        ("default", "same"),
        ("other", "same"),
    ]
    assert len(StatusView("same").update(*_cache_view(kube))) == 2
    assert StatusView("nope").update(*_cache_view(kube)) == []


def test_the_watch_keeps_its_first_snapshot_out_of_the_collectors_scans() -> None:
    import gc

    from kaitoctl.ops.status import watch_statuses

    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels={"apps": "phi"}))
    write(kube, deploy("a"))
    gc.unfreeze()
    statuses = watch_statuses(kube, NS, None)
    try:
        first = next(statuses)
        assert [s.name for s in first] == ["a"]
        assert gc.get_freeze_count() > 0  # frozen once the snapshot was complete
    finally:
        statuses.close()
        gc.unfreeze()
