"""The API requests of one run, counted on the in-memory cluster: the regression guard for deploy's overhead
(issue 15, goal 2). Deterministic: the fake's watches stay open for the whole run (watch_idle_s), so each stream is
one list and one watch."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kaitoctl.core.errors import OperationFailed
from kaitoctl.ops import readahead
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.readahead import ReadAhead
from kaitoctl.ops.run import preflight, run_workspace
from tests.unit import helpers
from tests.unit.fakes import (
    FakeAks,
    FakeKube,
    FakePoller,
    Obj,
    RecordingReporter,
    gpu_node,
    job_controller,
    statefulset_controller,
)
from tests.unit.test_ops_run import make_run, selector_choice

NS = "default"
A100 = "Standard_NC24ads_A100_v4"
AZURE = {"subscription": "sub", "resource_group": "rg", "aks_cluster": "aks", "no_device_plugin": True, "yes": True}


class Cluster(FakeKube):
    """The fake, plus what the API server's apply response carries that the waiter's budget depends on: a Service's
    clusterIP (allocated at creation, so the endpoint needs no read after Ready)."""

    def apply(self, obj: Obj, *, dry_run: bool = False, force: bool = False, field_manager: str = "kaitoctl") -> Obj:
        stored = super().apply(obj, dry_run=dry_run, force=force, field_manager=field_manager)
        if obj["kind"] == "Service" and not dry_run:
            stored.setdefault("spec", {}).setdefault("clusterIP", "10.0.0.10")
        return stored


def cluster(*hooks: Any) -> Cluster:
    kube = Cluster(on_apply=list(hooks), watch_idle_s=30.0)
    kube.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    return kube


def requests(kube: FakeKube) -> Counter[str]:
    """Requests by verb; an apply counts as a dry run or a write."""
    return Counter(c[0] if c[0] != "apply" else f"apply {c[3]}" for c in kube.calls)


def streams(kube: FakeKube) -> list[tuple[str, str]]:
    return sorted((c[0], c[1]) for c in kube.calls if c[0] in ("list", "watch") and "nodeName" not in str(c[3:4]))


def test_a_deploy_on_named_nodes_makes_seventeen_requests() -> None:
    """Reads: the record and the namespace (while the nodes are listed), then the GPU use on the node and the three
    objects' owners (together); four dry runs, four applies; the waiter lists and watches only the pods."""
    kube = cluster(statefulset_controller)
    kube.put(gpu_node("gpu-1"))
    spec = helpers.deploy_spec("phi-3", name="phi", namespace=NS, nodes=["gpu-1"])
    result = run_workspace(spec, RunOptions(), helpers.catalog(), RecordingReporter(), kube=kube)
    assert result["state"] == "Ready"
    assert requests(kube) == {"get": 5, "list": 3, "apply dry-run": 4, "apply write": 4, "watch": 1}
    assert streams(kube) == [
        ("list", "/api/v1/namespaces/default/pods"),
        ("list", "/api/v1/nodes"),
        ("watch", "/api/v1/namespaces/default/pods"),
    ]
    gets = [c[1] for c in kube.calls if c[0] == "get"]
    assert len(set(gets)) == len(gets)  # nothing is read twice (the record was read once, not again as an owner)


def test_a_tune_on_named_nodes_watches_the_pods_and_the_job() -> None:
    kube = cluster(job_controller)
    kube.put(gpu_node("gpu-1"))
    spec = helpers.tune_spec(
        "phi-3", name="tphi", namespace=NS, nodes=["gpu-1"], input_urls=["https://example.com/d.parquet"]
    )
    result = run_workspace(spec, RunOptions(cleanup="never"), helpers.catalog(), RecordingReporter(), kube=kube)
    assert result["state"] == "Succeeded"
    assert [s for s in streams(kube) if s[0] == "watch"] == [
        ("watch", "/api/v1/namespaces/default/pods"),
        ("watch", "/apis/batch/v1/namespaces/default/jobs"),
    ]


@pytest.fixture
def listed_price(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached retail price, so the pool preflight needs no network."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = tmp_path / "kaitoctl" / "prices.json"
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"eastus/standard_nc24ads_a100_v4": {"usd_per_hour": 3.67, "at": time.time()}}))


@pytest.mark.usefixtures("listed_price")
def test_a_deploy_with_a_pool_watches_the_pods_and_the_nodes() -> None:
    kube = cluster(statefulset_controller)
    aks = FakeAks(calls=kube.calls)

    def node_joins(poller: FakePoller) -> None:
        if poller.op == "put" and poller.body is not None:
            props = poller.body["properties"]
            kube.put(gpu_node("aks-node-0", instance_type=props["vmSize"], labels=props["nodeLabels"]))

    aks.on_done.append(node_joins)
    spec = helpers.deploy_spec("phi-3", name="phi", namespace=NS, instance_type=A100)
    result = run_workspace(
        spec, RunOptions(**AZURE), helpers.catalog(), RecordingReporter(), kube=kube, aks=lambda _: aks
    )
    assert result["state"] == "Ready"
    watched = [s for s in streams(kube) if s[0] == "watch"]
    assert watched == [("watch", "/api/v1/namespaces/default/pods"), ("watch", "/api/v1/nodes")]
    assert not any(c[0] == "list" and "events" in c[1] for c in kube.calls)


# ---- ReadAhead -----------------------------------------------------------------------------------------------------


def test_read_ahead_answers_each_read_once_in_the_order_asked() -> None:
    kube = FakeKube()
    kube.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": NS}})
    a, b = "/api/v1/namespaces/default/configmaps/a", "/api/v1/namespaces/default/configmaps/b"
    reads = ReadAhead(kube, known={"/api/v1/namespaces/default/configmaps/k": None}).send(
        gets=[a, b, "/api/v1/namespaces/default/configmaps/k"], lists=[("/api/v1/pods", None, "spec.nodeName=n")]
    )
    assert reads.sent == 3  # the known object is not read
    assert reads.get(b) is None
    assert (reads.get(a) or {})["metadata"]["name"] == "a"
    assert reads.get("/api/v1/namespaces/default/configmaps/k") is None
    assert reads.list("/api/v1/pods", field_selector="spec.nodeName=n") == ([], "1")
    assert reads.direct == 0
    reads.get(a)  # asked twice: the second goes to the cluster
    assert reads.direct == 1
    reads.close()
    assert sorted(c[1] for c in kube.calls if c[0] == "get") == [a, a, b]


def test_read_ahead_raises_a_reads_error_where_it_is_asked_for() -> None:
    class Refusing(FakeKube):
        def get(self, path: str) -> Obj | None:
            if path.endswith("/secrets/s"):
                raise OperationFailed("forbidden: secrets", reason="Forbidden")
            return super().get(path)

    reads = ReadAhead(Refusing()).send(gets=["/api/v1/namespaces/default/secrets/s", "/api/v1/namespaces/default/x/y"])
    assert reads.get("/api/v1/namespaces/default/x/y") is None  # sent after the failing one, answered first
    with pytest.raises(OperationFailed):
        reads.get("/api/v1/namespaces/default/secrets/s")
    reads.close()


def test_preflight_sends_every_read_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    """References (an inference config, a model access secret, an adapter claim), the objects' owners and the GPU
    use on the node: all in one batch, none read one after another."""
    kube = FakeKube()
    for kind, name, extra in (
        ("ConfigMap", "cfg", {"data": {"inference_config.yaml": "vllm:\n  max-model-len: 4096\n"}}),
        ("Secret", "hf", {"data": {"HF_TOKEN": "eA=="}}),
        ("PersistentVolumeClaim", "adapters", {}),
    ):
        kube.put({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": NS}, **extra})
    seen: list[tuple[int, int]] = []
    monkeypatch.setattr(readahead.ReadAhead, "close", lambda self: seen.append((self.sent, self.direct)))
    spec = helpers.deploy_spec(
        "phi-3", name="phi", namespace=NS, labels=["apps=phi"], config="cfg", model_access_secret="hf",
        adapters=["a=pvc:adapters"],
    )  # fmt: skip
    objects = preflight(make_run(spec, kube), selector_choice(), helpers.catalog())
    assert seen == [(3 + len(objects) + 1, 0)]
