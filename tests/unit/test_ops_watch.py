"""List-then-watch streams (ops/watch.py) against the in-memory cluster: 410 re-lists, dropped connections, the cache."""

from __future__ import annotations

import queue
from typing import Any

import pytest

from kaitoctl.adapters.k8s import WatchExpired
from kaitoctl.core.errors import ClusterUnreachable
from kaitoctl.ops.watch import Cache, Streams, StreamSpec, Update, drain
from tests.unit.fakes import FakeKube

PODS = "/api/v1/namespaces/ws/pods"
COLLECTION = "/api/v1/pods"  # how the fake keys scripted failures


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "ws", "labels": labels}}


def next_update(streams: Streams) -> tuple[str, str, list[str], str, str]:
    """(key, kind, names of listed items, event type + name, error) of the next update."""
    update = streams.queue.get(timeout=10)
    return (
        update.key,
        update.kind,
        [i["metadata"]["name"] for i in update.items],
        f"{update.event_type} {update.obj.get('metadata', {}).get('name', '')}".strip(),
        update.error,
    )


def started(kube: FakeKube, *specs: StreamSpec) -> Streams:
    return Streams(kube, list(specs) or [StreamSpec("pods", PODS, label_selector="app=x")]).start()


def test_lists_then_watches_from_the_lists_version() -> None:
    kube = FakeKube()
    kube.put(pod("a", app="x"))
    kube.put(pod("other", app="y"))
    streams = started(kube)
    try:
        assert next_update(streams) == ("pods", "sync", ["a"], "", "")
        kube.put(pod("b", app="x"))
        kube.put(pod("c", app="y"))  # not selected
        kube.remove(f"{PODS}/a")
        assert next_update(streams) == ("pods", "event", [], "ADDED b", "")
        assert next_update(streams) == ("pods", "event", [], "DELETED a", "")
    finally:
        streams.stop()
    assert ("list", PODS, "app=x", None) in kube.calls
    first_watch = next(c for c in kube.calls if c[0] == "watch")
    assert first_watch == ("watch", PODS, "2")  # the list's resourceVersion


def test_a_bookmark_moves_the_resume_point_without_an_update() -> None:
    kube = FakeKube(watch_idle_s=0.2)
    streams = started(kube)
    try:
        assert next_update(streams)[1] == "sync"
        mark = kube.bookmark(PODS)
        for _ in range(50):  # the server ends the idle watch; the next one resumes from the bookmark
            if ("watch", PODS, str(mark)) in kube.calls:
                break
            streams.stop_event.wait(0.1)
        assert ("watch", PODS, str(mark)) in kube.calls
        assert ("list", PODS, "app=x", None) in kube.calls and mark == 1  # the list said "0"
        assert streams.queue.empty()  # a bookmark is not an update
    finally:
        streams.stop()


def test_410_gone_re_lists_without_an_error() -> None:
    kube = FakeKube(fail_watch={COLLECTION: [WatchExpired("too old resource version")]})
    kube.put(pod("a", app="x"))
    streams = started(kube)
    try:
        assert next_update(streams) == ("pods", "sync", ["a"], "", "")
        assert next_update(streams) == ("pods", "sync", ["a"], "", "")  # listed again, no "error"
        kube.put(pod("b", app="x"))
        assert next_update(streams) == ("pods", "event", [], "ADDED b", "")
    finally:
        streams.stop()
    assert [c[0] for c in kube.calls[:3]] == ["list", "watch", "list"]


def test_a_dropped_connection_reports_then_recovers_with_a_fresh_list() -> None:
    kube = FakeKube(fail_watch={COLLECTION: [ClusterUnreachable("cannot reach the API server at x: refused")]})
    kube.put(pod("a", app="x"))
    streams = started(kube)
    try:
        assert next_update(streams) == ("pods", "sync", ["a"], "", "")
        assert next_update(streams) == ("pods", "error", [], "", "cannot reach the API server at x: refused")
        assert next_update(streams) == ("pods", "sync", ["a"], "", "")
        assert next_update(streams) == ("pods", "recovered", [], "", "")
    finally:
        streams.stop()


def test_a_failing_list_retries_with_backoff() -> None:
    kube = FakeKube(fail_list={COLLECTION: [OSError("connection refused"), OSError("connection refused")]})
    streams = started(kube)
    try:
        assert next_update(streams) == ("pods", "error", [], "", "connection refused")
        assert next_update(streams) == ("pods", "error", [], "", "connection refused")
        assert next_update(streams) == ("pods", "sync", [], "", "")
        assert next_update(streams) == ("pods", "recovered", [], "", "")
    finally:
        streams.stop()


def test_stop_ends_the_threads() -> None:
    kube = FakeKube()
    streams = started(kube)
    assert next_update(streams)[1] == "sync"
    streams.stop()
    for thread in streams.threads:
        thread.join(5)
        assert not thread.is_alive()


# ---- the cache -----------------------------------------------------------------------------------------------------


def test_cache_sync_replaces_and_events_update() -> None:
    cache = Cache()
    cache.apply(Update("pods", "sync", items=[pod("a"), pod("b")]))
    assert [p["metadata"]["name"] for p in cache.items("pods")] == ["a", "b"]
    assert cache.synced == {"pods"}
    cache.apply(Update("pods", "event", event_type="MODIFIED", obj=pod("a", v="2")))
    cache.apply(Update("pods", "event", event_type="DELETED", obj=pod("b")))
    cache.apply(Update("pods", "event", event_type="ADDED", obj=pod("c")))
    assert [(p["metadata"]["name"], p["metadata"]["labels"]) for p in cache.items("pods")] == [
        ("a", {"v": "2"}),
        ("c", {}),
    ]
    cache.apply(Update("pods", "sync", items=[pod("z")]))
    assert [p["metadata"]["name"] for p in cache.items("pods")] == ["z"]
    assert cache.one("pods") == pod("z")
    assert cache.one("nodes") is None


def test_cache_errors_clear_on_sync_or_recovery() -> None:
    cache = Cache()
    cache.apply(Update("pods", "error", error="down"))
    assert cache.errors == {"pods": "down"}
    assert cache.synced == set()
    cache.apply(Update("pods", "sync", items=[]))
    assert cache.errors == {}
    cache.apply(Update("nodes", "error", error="down"))
    cache.apply(Update("nodes", "recovered"))
    assert cache.errors == {}


def test_side_channel_is_taken_once() -> None:
    cache = Cache()
    cache.apply(Update("trainlog", "side", obj={"line": "1"}))
    cache.apply(Update("trainlog", "side", obj={"line": "2"}))
    assert cache.take_side("trainlog") == [{"line": "1"}, {"line": "2"}]
    assert cache.take_side("trainlog") == []
    assert cache.items("trainlog") == []


def test_drain_applies_a_burst_or_times_out() -> None:
    streams = Streams(FakeKube(), [])
    cache = Cache()
    assert drain(streams, cache, timeout=0.01) is False
    for name in ("a", "b", "c"):
        streams.queue.put(Update("pods", "event", event_type="ADDED", obj=pod(name)))
    assert drain(streams, cache, timeout=0) is True
    assert [p["metadata"]["name"] for p in cache.items("pods")] == ["a", "b", "c"]
    with pytest.raises(queue.Empty):
        streams.queue.get_nowait()


def test_a_negative_timeout_does_not_block_forever() -> None:
    streams = Streams(FakeKube(), [])
    assert drain(streams, Cache(), timeout=-5) is False
