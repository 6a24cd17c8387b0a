"""What callers of the small ops modules see, exactly: deploy --from-tuning's choice and refusals (ops/tuned.py), the
pod `kaitoctl endpoint` forwards to (ops/endpoint.py), the upload pod (ops/upload.py), eval's outcomes and
parallelism (ops/evaluate.py), the cached market of a dry run (ops/market.py) and why a record cannot be read
(ops/cluster.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kaitoctl.adapters import aks as azure
from kaitoctl.adapters.chat import ChatRequest
from kaitoctl.core.errors import InvalidInput, NotFound, OperationFailed
from kaitoctl.core.evaluation import Example, Outcome
from kaitoctl.core.naming import SPEC_ANNOTATION, ownership_selector
from kaitoctl.core.ranking import Market
from kaitoctl.ops import cluster
from kaitoctl.ops.endpoint import Pod, resolve_pod
from kaitoctl.ops.evaluate import evaluate
from kaitoctl.ops.market import cached_market
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.tuned import tuned_base_and_adapter
from kaitoctl.ops.upload import _wait_running, uploader_pod
from tests.unit import helpers
from tests.unit.fakes import FakeKube, gpu_node, pod_of
from tests.unit.test_ops_status import LABELS, NS, tune, write

# ---- deploy --from-tuning (ops/tuned.py) ----------------------------------------------------------------------------


def test_from_tuning_asks_for_kaitoctl_s_jobs_in_the_namespace_only() -> None:
    kube = FakeKube()
    write(kube, tune("tphi"))
    # A finished Job of that name that kaitoctl did not create, and kaitoctl's finished one in another namespace:
    # neither means the tuning run in this namespace succeeded.
    kube.remove(f"/apis/batch/v1/namespaces/{NS}/jobs/tphi")
    kube.put(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "tphi", "namespace": NS, "labels": {}},
            "status": {"succeeded": 1},
        }
    )
    elsewhere = helpers.tune_spec("phi-3", name="tphi", namespace="other", labels=["apps=phi"])
    for obj in write(kube, elsewhere):
        if obj["kind"] == "Job":
            kube.put({**obj, "status": {"succeeded": 1}})
    kube.calls.clear()
    with pytest.raises(InvalidInput) as refused:
        tuned_base_and_adapter(RunOptions(), NS, None, kube=kube)
    assert refused.value.problem == (
        "no successful kaitoctl tuning run in namespace default to deploy (tuning workspaces: tphi)"
    )
    assert refused.value.fix == "name a preset (`kaitoctl deploy phi-3`), or run `kaitoctl tune` first"
    assert ("list", f"/apis/batch/v1/namespaces/{NS}/jobs", ownership_selector(), None) in kube.calls


def test_from_tuning_refusals_say_what_to_do() -> None:
    kube = FakeKube()
    write(kube, tune("running"))
    with pytest.raises(InvalidInput) as refused:
        tuned_base_and_adapter(RunOptions(), NS, "running", kube=kube)
    assert refused.value.fix == "wait for it: `kaitoctl status`"
    with pytest.raises(NotFound) as missing:
        tuned_base_and_adapter(RunOptions(), NS, "nope", kube=kube)
    assert missing.value.hint == "`kaitoctl status` lists them"


# ---- the pod an endpoint forwards to (ops/endpoint.py) -----------------------------------------------------------


def serving(kube: FakeKube, name: str, namespace: str = NS) -> str:
    """A ready inference workspace `name`; the uid of its pod 0."""
    spec = helpers.deploy_spec("phi-3", name=name, namespace=namespace, labels=["apps=phi"])
    sts = next(o for o in write(kube, spec) if o["kind"] == "StatefulSet")
    return str(kube.put(pod_of(sts, 0))["metadata"]["uid"])


def test_the_endpoint_forwards_to_the_workspace_named() -> None:
    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels=LABELS))
    serving(kube, "phi")
    uid = serving(kube, "qwen")
    assert resolve_pod(kube, NS, "qwen") == ("qwen", Pod(NS, "qwen-0", uid))


def test_the_endpoint_looks_only_in_its_namespace() -> None:
    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels=LABELS))
    serving(kube, "phi", "other")
    uid = serving(kube, "phi")
    assert resolve_pod(kube, NS, None) == ("phi", Pod(NS, "phi-0", uid))


# ---- the upload pod (ops/upload.py) --------------------------------------------------------------------------------


def test_the_upload_pod_runs_on_the_job_s_nodes_and_mounts_the_claim() -> None:
    name = "t" * 60
    job = {
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {
            "template": {
                "spec": {
                    "affinity": {"nodeAffinity": {"x": 1}},
                    "tolerations": [{"key": "sku", "operator": "Exists"}],
                    "imagePullSecrets": [],
                }
            }
        },
    }
    assert uploader_pod(job, "t-input", "busybox:1.36") == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "t" * 56 + "-upload",
            "namespace": "team-a",
            "labels": {
                "app.kubernetes.io/managed-by": "kaitoctl",
                "kaitoctl.io/workspace": name,
                "app.kubernetes.io/component": "upload",
            },
        },
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "activeDeadlineSeconds": 21600,
            "containers": [
                {
                    "name": "upload",
                    "image": "busybox:1.36",
                    "command": ["sleep", "21600"],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "t-input"}}],
            "affinity": {"nodeAffinity": {"x": 1}},
            "tolerations": [{"key": "sku", "operator": "Exists"}],
        },
    }


def test_an_upload_pod_that_cannot_pull_its_image_is_refused_at_once() -> None:
    kube = FakeKube()
    waiting = {"reason": "ErrImagePull", "message": "manifest unknown"}
    kube.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "t-upload", "namespace": NS},
            "status": {"phase": "Pending", "containerStatuses": [{"state": {"waiting": waiting}}]},
        }
    )
    reports: list[tuple[str, str]] = []
    with pytest.raises(OperationFailed) as refused:
        _wait_running(kube, f"/api/v1/namespaces/{NS}/pods/t-upload", time.monotonic() + 60, reports.append)  # type: ignore[arg-type]
    assert (refused.value.message, refused.value.reason, refused.value.hint) == (
        "the upload pod t-upload did not start: ErrImagePull manifest unknown",
        "ErrImagePull",
        "check the image and pull secrets (`kubectl describe pod`)",
    )
    assert reports == []


# ---- eval (ops/evaluate.py) ----------------------------------------------------------------------------------------


class Client:
    def __init__(self, crash: bool = False) -> None:
        self.crash = crash
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def complete(self, request: ChatRequest) -> dict[str, Any]:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(0.02)
        with self.lock:
            self.now -= 1
        if self.crash:
            raise RuntimeError("socket closed")
        return {"choices": [{"message": {"content": "ok"}}]}


def test_an_unexpected_error_is_the_outcome_of_that_example() -> None:
    example = Example(3, "p", "ok", id="q3")
    _, outcomes = evaluate(Client(crash=True), [example], ["m"], ChatRequest([]), parallel=4)  # type: ignore[arg-type]
    assert outcomes == [Outcome(example, "m", None, error="RuntimeError: socket closed")]


def test_parallel_one_asks_one_question_at_a_time() -> None:
    client = Client()
    examples = [Example(i, f"p{i}", "ok") for i in range(1, 7)]
    summaries, outcomes = evaluate(client, examples, ["m"], ChatRequest([]), parallel=1)  # type: ignore[arg-type]
    assert client.peak == 1
    assert [o.answer for o in outcomes] == ["ok"] * 6 and summaries[0].exact == 6


# ---- a dry run's market (ops/market.py) ------------------------------------------------------------------------


def test_the_cached_market_is_the_regular_prices_unless_spot_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    a100 = helpers.catalog().sku("Standard_NC24ads_A100_v4")
    azure._write_price_cache(azure._cache_key(a100.name, "eastus", False), 3.67)
    azure._write_price_cache(azure._cache_key(a100.name, "eastus", True), 0.8)
    assert cached_market("eastus", [a100]) == Market(
        "eastus", {"standard_nc24ads_a100_v4": 3.67}, None, False, source="cached retail prices"
    )
    assert cached_market("eastus", [a100], spot=True) == Market(
        "eastus", {"standard_nc24ads_a100_v4": 0.8}, None, True, source="cached retail prices"
    )


# ---- records that cannot be read (ops/cluster.py) ------------------------------------------------------------------


def test_a_record_without_the_spec_annotation_says_it_is_missing() -> None:
    missing = f"annotation {SPEC_ANNOTATION} is missing"
    assert cluster.record_problem({"metadata": {"annotations": {"other": "x"}}}) == missing
    assert cluster.record_problem({"metadata": {"annotations": None}}) == missing
    assert cluster.record_problem({"metadata": {"annotations": {SPEC_ANNOTATION: 3}}}) == missing


class Scripted(FakeKube):
    """The upload pod as the API server shows it poll after poll (the last state repeats)."""

    def __init__(self, states: list[dict[str, Any] | None]) -> None:
        super().__init__()
        self.states = states
        self.gets: list[str] = []

    def get(self, path: str) -> Any:
        self.gets.append(path)
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


POD_PATH = f"/api/v1/namespaces/{NS}/pods/t-upload"


def pod_status(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "t-upload"}, "status": status}


def waiting(reason: str, message: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"reason": reason}
    if message is not None:
        state["message"] = message
    return {"containerStatuses": [{"name": "upload", "state": {"waiting": state}}]}


def wait_running(kube: Scripted, monkeypatch: pytest.MonkeyPatch, deadline: float = 1000.0) -> list[tuple[str, str]]:
    from kaitoctl.ops import upload

    monkeypatch.setattr(upload, "time", Clock())
    reports: list[tuple[str, str]] = []
    _wait_running(kube, POD_PATH, deadline, lambda state, detail: reports.append((state, detail)))
    return reports


def test_the_upload_waits_for_a_node_then_for_the_container_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    kube = Scripted(
        [
            None,
            pod_status(
                phase="Pending",
                conditions=[
                    {"type": "Initialized", "status": "False", "reason": "Other"},
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"},
                ],
            ),
            pod_status(phase="Pending", conditions=[{"type": "PodScheduled", "status": "True", "reason": "Done"}]),
            pod_status(phase="Pending", **waiting("ContainerCreating")),
            pod_status(phase="Running"),
        ]
    )
    assert wait_running(kube, monkeypatch) == [
        ("Waiting", "Pending"),
        ("Waiting", "Unschedulable: waiting for a node"),
        ("Waiting", "Pending"),
        ("Waiting", "ContainerCreating"),
    ]
    assert kube.gets == [POD_PATH] * 5


@pytest.mark.parametrize(
    ("status", "message", "reason"),
    [
        (pod_status(phase="Failed"), "the upload pod t-upload did not start: Failed", "Failed"),
        (pod_status(phase="Succeeded"), "the upload pod t-upload did not start: Succeeded", "Succeeded"),
        (
            pod_status(phase="Pending", **waiting("InvalidImageName")),
            "the upload pod t-upload did not start: InvalidImageName",
            "InvalidImageName",
        ),
        (
            pod_status(phase="Pending", **waiting("CreateContainerConfigError", 'secret "s" not found')),
            'the upload pod t-upload did not start: CreateContainerConfigError secret "s" not found',
            "CreateContainerConfigError",
        ),
    ],
)
def test_an_upload_pod_that_cannot_run_is_refused_with_why(
    status: dict[str, Any], message: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(OperationFailed) as refused:
        wait_running(Scripted([status]), monkeypatch)
    assert (refused.value.message, refused.value.reason, refused.value.hint) == (
        message,
        reason,
        "check the image and pull secrets (`kubectl describe pod`)",
    )


def test_an_upload_pod_not_running_by_the_deadline_times_out_with_what_it_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kaitoctl.core.errors import WaitTimeout

    kube = Scripted([pod_status(phase="Pending", **waiting("ContainerCreating"))])
    with pytest.raises(WaitTimeout) as late:
        wait_running(kube, monkeypatch, deadline=101.0)
    assert (late.value.message, late.value.hint) == (
        "timed out after 0s waiting for Upload (last seen: ContainerCreating)",
        "the upload pod runs on the Job's nodes",
    )
    assert len(kube.gets) == 4  # polled at 100.0, 100.5 and 101.0 (not past the deadline), given up at 101.5
