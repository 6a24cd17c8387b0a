"""ReadAhead (ops/readahead.py) as preflight uses it: each distinct read sent once with its selectors, answers
taken in the caller's order, a read not sent ahead going out as usual with its selectors, at most 8 in flight."""

from __future__ import annotations

import threading
from typing import Any

from kaitoctl.ops.readahead import MAX_IN_FLIGHT, ReadAhead
from tests.unit.fakes import FakeKube

PODS = "/api/v1/namespaces/default/pods"


def pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "labels": labels}}


def test_a_list_sent_ahead_twice_is_one_request_with_its_selectors() -> None:
    kube = FakeKube()
    kube.put(pod("a", {"app": "x"}))
    kube.put(pod("b", {"app": "y"}))
    query = (PODS, "app=x", "status.phase!=Failed")
    reads = ReadAhead(kube).send(lists=[query, query])
    items, _ = reads.list(PODS, label_selector="app=x", field_selector="status.phase!=Failed")
    reads.close()
    assert [i["metadata"]["name"] for i in items] == ["a"]
    assert (reads.sent, reads.direct) == (1, 0)
    assert [c for c in kube.calls if c[0] == "list"] == [("list", PODS, "app=x", "status.phase!=Failed")]


def test_a_read_not_sent_ahead_goes_out_as_usual() -> None:
    kube = FakeKube()
    kube.put(pod("a", {"app": "x"}))
    reads = ReadAhead(kube)
    items, _ = reads.list(PODS, label_selector="app=x", field_selector="metadata.name=a")
    assert reads.get(f"{PODS}/a") is not None
    reads.close()
    assert [i["metadata"]["name"] for i in items] == ["a"]
    assert (reads.sent, reads.direct) == (0, 2)
    assert [c for c in kube.calls if c[0] in ("list", "get")] == [
        ("list", PODS, "app=x", "metadata.name=a"),
        ("get", f"{PODS}/a"),
    ]


def test_at_most_eight_reads_are_in_flight() -> None:
    lock = threading.Lock()
    gate = threading.Barrier(MAX_IN_FLIGHT, timeout=10)
    state = {"now": 0, "peak": 0, "n": 0}

    class Slow(FakeKube):
        def get(self, path: str) -> Any:
            with lock:
                state["n"] += 1
                first = state["n"] <= MAX_IN_FLIGHT
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            if first:
                gate.wait()  # the first eight answer only once all eight are asked together
            with lock:
                state["now"] -= 1
            return super().get(path)

    paths = [f"{PODS}/p{i}" for i in range(20)]
    reads = ReadAhead(Slow()).send(gets=paths)
    assert [reads.get(p) for p in paths] == [None] * 20
    reads.close()
    assert (MAX_IN_FLIGHT, state["peak"], reads.sent) == (8, 8, 20)
