"""What the benches rely on from the harness: deleting a namespace can wait until its pods are really gone (a
terminating pod still holds its GPU, and the next bench run on the same node would not fit)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

HOLD = "kaitoctl.io/test-hold"


def _held_pod(cluster: Any, namespace: str) -> None:
    # Never scheduled; the finalizer keeps it Terminating after the namespace is deleted, like a slow kubelet.
    cluster.core().create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "held", "finalizers": [HOLD]},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], "nodeName": "no-such-node"},
        },
    )


def _release_later(cluster: Any, namespace: str, after: threading.Event) -> threading.Thread:
    def release() -> None:
        after.wait(60)
        cluster.core().patch_namespaced_pod("held", namespace, {"metadata": {"finalizers": None}})

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    return thread


def test_delete_namespace_waits_for_terminating_pods(cluster: Any) -> None:
    ns = cluster.create_namespace("bench-wait")
    _held_pod(cluster, ns)
    go = threading.Event()
    thread = _release_later(cluster, ns, go)
    timer = threading.Timer(2.0, go.set)  # the pod goes away only after delete_namespace has started waiting
    timer.start()
    cluster.delete_namespace(ns, wait=True)
    assert go.is_set()
    assert cluster.core().list_namespaced_pod(ns).items == []
    thread.join(30)


def test_without_wait_a_terminating_pod_is_still_there(cluster: Any) -> None:
    ns = cluster.create_namespace("bench-nowait")
    _held_pod(cluster, ns)
    go = threading.Event()
    thread = _release_later(cluster, ns, go)
    try:
        cluster.delete_namespace(ns)
        # Deleted, not gone: the finalizer holds it (the namespace controller marks it terminating meanwhile).
        assert [p.metadata.name for p in cluster.core().list_namespaced_pod(ns).items] == ["held"]
    finally:
        go.set()
        thread.join(30)
