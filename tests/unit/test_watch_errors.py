"""ops/watch.py: a network failure is retried with a re-list; a programming error reaches the waiting thread at
once instead of being retried as "reconnecting" until the deadline. A fake of our Kube adapter, not of the
kubernetes client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kaitoctl.core.errors import ClusterUnreachable
from kaitoctl.ops.watch import Cache, Streams, StreamSpec, drain


class FakeKube:
    """list() answers from a script of results (an exception is raised); watch() yields nothing, then ends."""

    def __init__(self, results: list[Any]) -> None:
        self.results = results
        self.lists = 0

    def list(self, path: str, **_: Any) -> tuple[list[dict[str, Any]], str]:
        self.lists += 1
        result = self.results.pop(0) if self.results else ([], "9")
        if isinstance(result, BaseException):
            raise result
        return result

    def watch(self, path: str, **_: Any) -> Iterator[dict[str, Any]]:
        yield from ()


def _streams(kube: FakeKube) -> tuple[Streams, Cache]:
    streams = Streams(kube, [StreamSpec("pods", "/api/v1/namespaces/ns/pods")], watch_timeout_s=1)  # type: ignore[arg-type]
    return streams, Cache()


def test_a_bug_in_a_stream_is_raised_in_the_waiting_thread() -> None:
    streams, cache = _streams(FakeKube([TypeError("'NoneType' object is not subscriptable")]))
    streams.start()
    try:
        with pytest.raises(TypeError, match="not subscriptable"):
            drain(streams, cache, timeout=30)
        streams.threads[0].join(timeout=30)
        assert not streams.threads[0].is_alive()  # the stream ended; it does not retry a bug
    finally:
        streams.stop()


def test_an_unreachable_server_is_reported_then_recovered_by_a_new_list() -> None:
    pod = {"metadata": {"namespace": "ns", "name": "w-0", "resourceVersion": "5"}}
    kube = FakeKube([ClusterUnreachable("cannot reach the API server at https://x: refused"), ([pod], "5")])
    streams, cache = _streams(kube)
    streams.start()
    try:
        drain(streams, cache, timeout=30)
        assert cache.errors == {"pods": "cannot reach the API server at https://x: refused"}
        while "pods" not in cache.synced or cache.errors:
            assert drain(streams, cache, timeout=30)
        assert [p["metadata"]["name"] for p in cache.items("pods")] == ["w-0"]
        assert kube.lists >= 2
    finally:
        streams.stop()
