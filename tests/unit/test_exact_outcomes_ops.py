"""ops/: exact outcomes that no other unit test read (found by bench/mutation), against the in-memory cluster
(tests/unit/fakes.py): which namespace and selector a read uses, the field and reason of a refusal, what the
delete and pool progress say, how long the waiter sleeps."""

from __future__ import annotations

import dataclasses
import json
import queue
import threading
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from kaitoctl.core import conditions as cond
from kaitoctl.core.errors import InvalidInput, OperationFailed, WaitTimeout
from kaitoctl.core.naming import WORKSPACE_LABEL
from kaitoctl.core.redact import REDACTED
from kaitoctl.ops import chat, cluster, tuned
from kaitoctl.ops.manage import DeleteTarget, adapter_claims_in_use, delete_targets, delete_workspaces
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.pool import NODE_POOL
from kaitoctl.ops.progress import DONE, RUNNING, Progress
from kaitoctl.ops.run import make_room, plan_for, preflight, resolve_placement, run_workspace, write_and_wait
from kaitoctl.ops.status import collect, watch_statuses
from kaitoctl.ops.watch import Cache, Streams, StreamSpec, Update, drain
from tests.unit import helpers
from tests.unit import test_ops_manage as manage_t
from tests.unit import test_ops_pool as pool_t
from tests.unit import test_ops_run as run_t
from tests.unit import test_ops_status as status_t
from tests.unit import test_ops_wait as wait_t
from tests.unit.fakes import FakeKube, RecordingReporter, gpu_node, job_controller, pod_of, statefulset_controller

NS = "default"
OWNED = {"app.kubernetes.io/managed-by": "kaitoctl"}


def _sts(kube: FakeKube, name: str = "phi", namespace: str = NS) -> dict[str, Any]:
    spec = helpers.deploy_spec("phi-3", name=name, namespace=namespace, labels=["apps=phi"])
    return next(o for o in status_t.write(kube, spec) if o["kind"] == "StatefulSet")


# ---- records ---------------------------------------------------------------------------------------------------


def test_records_are_read_from_the_namespace_asked_for() -> None:
    kube = FakeKube()
    _sts(kube, "a", NS)
    _sts(kube, "b", "other")
    assert [(r.name, r.namespace) for r in cluster.list_records(kube, NS)] == [("a", NS)]
    assert [(r.name, r.namespace) for r in cluster.list_records(kube, None)] == [("a", NS), ("b", "other")]


def test_namespace_names_for_completion() -> None:
    kube = FakeKube()
    for name in ("default", "team-a"):
        kube.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert cluster.namespace_names(kube) == ["default", "team-a"]
    assert kube.calls == [("list", "/api/v1/namespaces", None, None)]


# ---- status --------------------------------------------------------------------------------------------------------


def test_status_reads_only_kaitoctls_objects() -> None:
    kube = FakeKube()
    _sts(kube)
    kube.calls.clear()
    collect(kube, NS)
    owned = "app.kubernetes.io/managed-by=kaitoctl"
    assert kube.calls == [
        ("list", "/api/v1/namespaces/default/configmaps", f"{owned},kaitoctl.io/record=workspace", None),
        ("list", "/apis/apps/v1/namespaces/default/statefulsets", owned, None),
        ("list", "/apis/batch/v1/namespaces/default/jobs", owned, None),
        ("list", "/api/v1/namespaces/default/pods", owned, None),
        ("list", "/api/v1/nodes", None, None),
    ]


def test_a_ready_workspace_has_no_diagnosis_even_after_an_oom_restart() -> None:
    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels={"apps": "phi"}))
    pod = pod_of(_sts(kube), 0)
    pod["status"]["containerStatuses"] = [
        {"name": "phi", "ready": True, "restartCount": 1, "lastState": {"terminated": {"reason": "OOMKilled"}}}
    ]
    kube.put(pod)
    (status,) = collect(kube, NS)
    assert (status.state, status.diagnosis) == ("Ready", None)


def test_a_cleaned_up_tuning_run_reports_job_started_by_its_name() -> None:
    kube = FakeKube()
    status_t.write(kube, status_t.tune(), {"state": "Succeeded"})
    kube.remove(f"/apis/batch/v1/namespaces/{NS}/jobs/tphi")
    (status,) = collect(kube, NS)
    assert status.conditions[cond.JOB_STARTED] == cond.Condition(
        cond.JOB_STARTED, "True", "WorkspaceTuningJobStatusStarted"
    )


def test_a_record_that_cannot_be_evaluated_is_named_as_broken() -> None:
    kube = FakeKube()
    sts = _sts(kube)
    kube.put({**sts, "spec": {**sts["spec"], "replicas": "two"}})  # hand-edited into what no code expects
    broken: list[cluster.BrokenRecord] = []
    assert collect(kube, NS, None, broken) == []
    assert broken == [cluster.BrokenRecord("phi", NS, "unreadable (ValueError)")]


def test_watch_statuses_yields_once_synced_and_on_every_change() -> None:
    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels={"apps": "phi"}))
    sts = _sts(kube)
    updates = watch_statuses(kube, NS, None)
    try:
        first = next(updates)
        assert [(s.name, s.state) for s in first] == [("phi", "NotReady")]
        kube.put(pod_of(sts, 0))
        while (current := next(updates)) and current[0].state != "Ready":
            pass
        assert [(s.name, s.state, [p["metadata"]["name"] for p in s.pods]) for s in current] == [
            ("phi", "Ready", ["phi-0"])
        ]
    finally:
        updates.close()
    watched = sorted(c[1] for c in kube.calls if c[0] == "watch")
    assert sorted(set(watched)) == [
        "/api/v1/namespaces/default/configmaps",
        "/api/v1/namespaces/default/pods",
        "/api/v1/nodes",
        "/apis/apps/v1/namespaces/default/statefulsets",
        "/apis/batch/v1/namespaces/default/jobs",
    ]


def test_watch_statuses_waits_for_a_stream_that_failed_to_list() -> None:
    """Nothing is shown until every stream has listed once: a failed list is retried, not skipped."""
    kube = FakeKube(fail_list={"/api/v1/nodes": [OSError("connection refused")]})
    _sts(kube)
    updates = watch_statuses(kube, NS, None)
    try:
        assert [s.name for s in next(updates)] == ["phi"]
    finally:
        updates.close()
    assert [c[1] for c in kube.calls if c[0] == "list"].count("/api/v1/nodes") == 2


# ---- chat ----------------------------------------------------------------------------------------------------------


def test_chat_refusals_carry_their_field_and_reason() -> None:
    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels={"apps": "phi"}))
    for name, created in (("a", "2026-01-01T00:00:00Z"), ("b", "2026-01-02T00:00:00Z")):
        spec = helpers.deploy_spec("phi-3", name=name, namespace=NS, labels=["apps=phi"])
        sts = next(o for o in status_t.write(kube, spec, created=created) if o["kind"] == "StatefulSet")
        kube.put(pod_of(sts, 0))
    with pytest.raises(InvalidInput) as refused:
        chat.find_workspace(kube, NS, None)
    assert refused.value.field == "--workspace"
    assert refused.value.details == ["b (phi-3-mini-128k-instruct)", "a (phi-3-mini-128k-instruct)"]
    status = status_t.one(kube, "a")
    with pytest.raises(OperationFailed) as no_pod:
        chat.ready_pod(dataclasses.replace(status, pods=[]))
    assert (no_pod.value.reason, no_pod.value.hint) == ("NotReady", "`kaitoctl status`")


def test_not_ready_without_a_message_names_the_reason_alone() -> None:
    kube = FakeKube()
    _sts(kube)
    status = dataclasses.replace(
        status_t.one(kube, "phi"),
        conditions={cond.INFERENCE_READY: cond.Condition(cond.INFERENCE_READY, "False", "Pending", "")},
        diagnosis=None,
    )
    assert chat._not_ready_message(status) == "workspace phi is not ready: InferenceReady is False (Pending)"


# ---- deploy --from-tuning ------------------------------------------------------------------------------------------


def test_from_tuning_connects_when_no_cluster_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    kube = FakeKube()
    status_t.write(kube, status_t.tune(), {"state": "Succeeded"})
    seen: list[tuple[Any, Any]] = []

    def connect(kubeconfig: Any, context: Any) -> FakeKube:
        seen.append((kubeconfig, context))
        return kube

    monkeypatch.setattr(cluster, "connect", connect)
    preset, adapter = tuned.tuned_base_and_adapter(RunOptions(context="ctx"), NS, None)
    assert (preset, adapter.name, seen) == ("phi-3-mini-128k-instruct", "tphi", [(None, "ctx")])


def test_a_run_finished_by_its_job_alone_shows_an_unknown_finish_time() -> None:
    kube = FakeKube()
    status_t.write(kube, status_t.tune("older"), {"state": "Succeeded", "finishedAt": "2026-01-01T00:00:00Z"})
    for obj in status_t.write(kube, status_t.tune("newer")):
        if obj["kind"] == "Job":
            kube.put({**obj, "status": {"succeeded": 1}})
    with pytest.raises(InvalidInput) as refused:
        tuned.tuned_base_and_adapter(RunOptions(), NS, None, kube=kube)
    assert refused.value.details == [
        "older: phi-3-mini-128k-instruct qlora, finished 2026-01-01T00:00:00Z",
        "newer: phi-3-mini-128k-instruct qlora, finished ?",
    ]


# ---- delete --------------------------------------------------------------------------------------------------------


def test_delete_all_looks_in_its_own_namespace_only() -> None:
    kube, _, _ = manage_t.deployed(pool=False)
    kube.put(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "x-params", "namespace": "other", "labels": {WORKSPACE_LABEL: "x", **OWNED}},
        }
    )
    assert [t.name for t in delete_targets(kube, NS, [], all_=True)] == ["phi"]


def test_only_kaitoctls_adapter_claims_count_as_in_use() -> None:
    kube = FakeKube()
    # A claim labelled like a workspace but not created by kaitoctl is not the workspace's adapter volume.
    for name, labels in (("tphi-adapter", {WORKSPACE_LABEL: "tphi", **OWNED}), ("foreign", {WORKSPACE_LABEL: "tphi"})):
        kube.put({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": NS}})
        kube.put(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": name, "namespace": NS, "labels": labels},
            }
        )
    volumes = [{"name": n, "persistentVolumeClaim": {"claimName": n}} for n in ("tphi-adapter", "foreign")]
    kube.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "phi-0", "namespace": NS, "labels": {WORKSPACE_LABEL: "phi"}},
            "spec": {"volumes": volumes},
            "status": {"phase": "Running"},
        }
    )
    targets = [DeleteTarget("tphi", NS, None)]
    assert adapter_claims_in_use(kube, targets) == ["tphi-adapter (used by pod phi-0)"]


def _leftover_pod(kube: FakeKube) -> None:
    """A pod of the workspace that no owner deletes (e.g. created by hand with its labels)."""
    labels = {WORKSPACE_LABEL: "phi", **OWNED}
    kube.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "phi-x", "namespace": NS, "labels": labels}})


def test_delete_waits_and_says_what_is_still_there() -> None:
    kube, aks, _ = manage_t.deployed(pool=False)
    _leftover_pod(kube)
    reporter = RecordingReporter()
    progress = Progress(reporter, [])
    targets = delete_targets(kube, NS, ["phi"], all_=False)
    delete_workspaces(kube, targets, RunOptions(timeout_s=0.2), progress, keep_pool=False, wait=True, aks=lambda _: aks)
    assert ("delete phi", RUNNING, "Waiting") in [row for snap in reporter.snapshots for row in snap]
    assert reporter.messages == [("warning", "phi: still terminating after 0s: Pod/phi-x")]
    r = progress.records["delete phi"]
    assert (r.status, r.reason, r.message) == (DONE, "Deleted", "4 object(s)")


def test_delete_without_wait_returns_at_once() -> None:
    kube, aks, _ = manage_t.deployed(pool=False)
    _leftover_pod(kube)
    reporter = RecordingReporter()
    targets = delete_targets(kube, NS, ["phi"], all_=False)
    kube.calls.clear()
    delete_workspaces(
        kube, targets, RunOptions(timeout_s=0.2), Progress(reporter, []), keep_pool=False, wait=False, aks=lambda _: aks
    )
    assert reporter.messages == []
    assert "Waiting" not in [row[2] for snap in reporter.snapshots for row in snap]
    assert [c for c in kube.calls if c[0] == "watch"] == []


# ---- placement and preflight ---------------------------------------------------------------------------------------


def test_a_named_node_with_the_selectors_labels_is_used() -> None:
    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels={"apps": "phi", "zone": "1"}))
    kube.put(gpu_node("gpu-2", labels={"apps": "phi"}))
    where = resolve_placement(run_t.deploy(nodes=["gpu-2"]), RunOptions(), kube, helpers.catalog())
    assert (where.mode, [n["metadata"]["name"] for n in where.ready_nodes]) == ("nodes", ["gpu-2"])


def test_a_named_node_of_unknown_gpus_is_refused_naming_the_node_flag() -> None:
    kube = FakeKube()
    kube.put(gpu_node("cpu-1", instance_type="Standard_D4s_v5"))
    with pytest.raises(InvalidInput) as refused:
        resolve_placement(run_t.deploy(labels=[], nodes=["cpu-1"]), RunOptions(), kube, helpers.catalog())
    assert refused.value.field == "--node"
    assert refused.value.problem.startswith("cannot tell the GPUs of node(s) cpu-1:")


def test_gpus_of_an_init_container_are_in_use() -> None:
    kube = FakeKube()
    init = run_t.gpu_pod("init", "gpu-1", 0)
    init["spec"]["initContainers"] = [{"name": "i", "resources": {"requests": {"nvidia.com/gpu": 1}}}]
    kube.put(init)
    with pytest.raises(InvalidInput) as refused:
        preflight(run_t.make_run(run_t.deploy(), kube), run_t.selector_choice(), helpers.catalog())
    assert refused.value.problem == (
        "1 node(s) with 1 free nvidia.com/gpu needed, 0 found; gpu-1 (0 of 1 free, used by other/init)"
    )


def test_still_deleting_names_everything_left() -> None:
    kube = FakeKube()
    for name in ("tphi-a", "tphi-b"):
        labels = {WORKSPACE_LABEL: "tphi", **OWNED}
        kube.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS, "labels": labels}})
    existing = run_t.store_record(kube, run_t.tune(), {"state": "Failed"})
    run = run_t.make_run(run_t.tune(), kube, RunOptions(timeout_s=0.3), existing=existing)
    with pytest.raises(OperationFailed) as failed:
        make_room(run, namespace_exists=True)
    assert failed.value.message == "still being deleted: Pod/tphi-a, Pod/tphi-b"


# ---- agent pool ----------------------------------------------------------------------------------------------------


def test_recreate_reports_the_delete_first() -> None:
    name = pool_t.plan().placement.pool_name or ""
    aks = pool_t.FakeAks(pools={name: pool_t.existing(vmSize="Standard_NV72ads_A10_v5", count=1)})
    aks.quota = {pool_t.FAMILY: (0, 1000), "cores": (0, 1000)}
    ops = pool_t.pool_ops(aks, recreate=True, no_device_plugin=True)
    assert ops.preflight(pool_t.plan()) == "recreate"
    progress = Progress(RecordingReporter(), [NODE_POOL])
    ops.progress = progress  # after preflight, which would look up the retail price with a progress
    q: queue.Queue[Update] = queue.Queue()
    ops.start(pool_t.plan(), q)
    assert ops.thread is not None and ops.thread.name == "agent-pool"
    ops.finish(5)
    assert pool_t.updates(q)[0] == {"state": "Deleting", "action": f"agent pool {name}: recreate"}
    r = progress.records[NODE_POOL]
    assert (r.reason, r.message) == ("Deleting", f"deleting agent pool {name} to recreate it")


def test_a_pool_gone_while_followed_ends_the_wait() -> None:
    name = pool_t.plan().placement.pool_name or ""
    aks = pool_t.FakeAks(pools={name: pool_t.existing(provisioningState="Updating")})
    ops = pool_t.pool_ops(aks)
    ops.preflight(pool_t.plan())
    del aks.pools[name]
    q: queue.Queue[Update] = queue.Queue()
    ops.start(pool_t.plan(), q)
    ops.finish(5)
    assert pool_t.updates(q) == [
        {"state": "waiting for the running operation"},
        {"state": "Gone", "action": "wait"},
        {"state": "Succeeded", "action": f"agent pool {name}: wait"},
    ]


# ---- the waiter's loop ---------------------------------------------------------------------------------------------


def test_the_loop_sleeps_until_the_next_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    waiter, clock, _ = wait_t.make(deadline=150.0)
    clock.now = 100.0
    slept: list[float] = []

    def intake(timeout: float) -> bool:
        slept.append(timeout)
        clock.now += timeout
        return False

    monkeypatch.setattr(waiter, "intake", intake)
    with pytest.raises(WaitTimeout):
        waiter._loop()
    assert slept == [50.0]


# ---- watches -------------------------------------------------------------------------------------------------------


def test_the_waiter_watches_its_own_pods_nodes_and_job() -> None:
    pods = ("pods", f"/api/v1/namespaces/{wait_t.NS}/pods", f"{WORKSPACE_LABEL}={wait_t.NAME}", None)
    nodes = ("nodes", "/api/v1/nodes", "apps=phi", None)  # only the nodes the placement selects
    job = ("workload", f"/apis/batch/v1/namespaces/{wait_t.NS}/jobs", None, f"metadata.name={wait_t.NAME}")
    for mode, expected in (("inference", [pods, nodes]), ("tuning", [pods, nodes, job])):
        waiter, _, _ = wait_t.make(mode)
        assert [(s.key, s.path, s.label_selector, s.field_selector) for s in waiter.streams.specs] == expected


def test_the_training_log_tail_keeps_the_last_twenty_lines() -> None:
    waiter, _, _ = wait_t.make("tuning")
    for i in range(25):
        waiter.streams.queue.put(Update("trainlog", "side", obj={"line": f"line {i}"}))
    waiter.intake(timeout=0)
    assert list(waiter.log_tail) == [f"line {i}" for i in range(5, 25)]


def test_streams_list_with_both_selectors_on_daemon_threads() -> None:
    kube = FakeKube()
    spec = StreamSpec(
        "events", "/api/v1/namespaces/default/events", label_selector="a=b", field_selector="type=Warning"
    )
    streams = Streams(kube, [spec])
    assert [(t.name, t.daemon) for t in streams.threads] == [("watch-events", True)]  # Ctrl-C never waits for them
    streams.start()
    cache = Cache()
    try:
        while "events" not in cache.synced:
            drain(streams, cache, timeout=5)
    finally:
        streams.stop()
    assert kube.calls[0] == ("list", "/api/v1/namespaces/default/events", "a=b", "type=Warning")


# ---- the run's writes ----------------------------------------------------------------------------------------------


class CountingKube(FakeKube):
    """Records every ensure_namespace call, also the ones that find the namespace there."""

    def ensure_namespace(self, namespace: str) -> bool:
        self.calls.append(("ensure_namespace?", namespace))
        return super().ensure_namespace(namespace)


def test_an_existing_namespace_is_not_asked_for_again() -> None:
    kube = CountingKube(on_apply=[statefulset_controller])
    kube.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    run = run_t.make_run(run_t.deploy(), kube, RunOptions(no_pool=True, no_wait=True))
    objects = preflight(run, run_t.selector_choice(), helpers.catalog())
    write_and_wait(run, objects, {})
    assert [c for c in kube.calls if c[0].startswith("ensure_namespace")] == []


def test_only_the_record_is_written_before_the_pool() -> None:
    kube = FakeKube(on_apply=[job_controller])
    aks = pool_t.FakeAks(calls=kube.calls)

    def node_joins(poller: Any) -> None:
        if poller.op == "put" and poller.body is not None:
            props = poller.body["properties"]
            kube.put(gpu_node("aks-node-0", instance_type=props["vmSize"], labels=props["nodeLabels"]))

    aks.on_done.append(node_joins)
    spec = helpers.tune_spec("phi-3", name="tphi", namespace=NS, input_urls=["https://example.com/d.parquet"])
    opts = RunOptions(no_device_plugin=True, **manage_t.AZURE)
    run_workspace(spec, opts, helpers.catalog(), RecordingReporter(), kube=kube, aks=lambda _: aks)
    first_pool_call = next(i for i, c in enumerate(kube.calls) if c[0] == "begin_put_pool")
    before = [c[1] for c in kube.calls[:first_pool_call] if c[0] == "apply" and c[-1] == "write"]
    assert before == ["/api/v1/namespaces/default/configmaps/tphi-workspace"]


def test_a_phase_started_without_a_message_has_none() -> None:
    progress = Progress(RecordingReporter(), ["x"])
    progress.start("x")
    r = progress.records["x"]
    assert (r.status, r.reason, r.message) == (RUNNING, "", "")


def test_a_chat_endpoint_must_be_http_and_is_shown_redacted() -> None:
    with pytest.raises(InvalidInput) as refused, ExitStack() as stack:
        chat.open_session(
            stack,
            kubeconfig=None,
            context=None,
            namespace=None,
            workspace=None,
            endpoint="ftp://user:hunter2@10.0.0.1/v1",
            model=None,
        )
    assert refused.value.field == "--endpoint"
    assert "hunter2" not in refused.value.problem
    assert refused.value.problem == f"'ftp://user:{REDACTED}@10.0.0.1/v1' is not an http(s) URL"


def test_without_a_stand_in_the_pool_operations_talk_to_the_target_cluster() -> None:
    from kaitoctl.adapters.aks import Aks  # builds no client until the first call: nothing is contacted here
    from kaitoctl.ops.pool import PoolOperations

    ops = PoolOperations(pool_t.TARGET, RunOptions(), FakeKube(), helpers.catalog())
    assert isinstance(ops.aks, Aks) and ops.aks.target == pool_t.TARGET


def test_a_chat_endpoint_gets_the_headers_and_the_request_timeout() -> None:
    """Against a real HTTP server on loopback (the real httpx client, no stand-in)."""
    seen: list[dict[str, str]] = []

    class Models(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            body = json.dumps({"object": "list", "data": [{"id": "base"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Models)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with ExitStack() as stack:
            session = chat.open_session(
                stack,
                kubeconfig=None,
                context=None,
                namespace=None,
                workspace=None,
                endpoint=f"http://127.0.0.1:{server.server_address[1]}",
                model=None,
                headers={"Authorization": "Bearer t0ken"},
                request_timeout=7.0,
            )
            assert session.client.http.timeout == httpx.Timeout(7.0, connect=7.0)
    finally:
        server.shutdown()
        server.server_close()
    assert [h.get("authorization") for h in seen] == ["Bearer t0ken"]


# ---- where a workspace's nodes are found again (the record's placement) -------------------------------------------


def test_the_recorded_selector_keeps_only_single_valued_terms() -> None:
    spec = run_t.deploy()
    zones = {"key": "zone", "operator": "In", "values": ["a", "b"]}
    spec = dataclasses.replace(spec, resource=dataclasses.replace(spec.resource, match_expressions=(zones,)))
    plan = plan_for(spec, RunOptions(no_pool=True), helpers.catalog(), run_t.selector_choice())
    assert plan.placement.affinity == {"apps": ("phi",), "zone": ("a", "b")}
    assert plan.placement_info().selector == {"apps": "phi"}  # a node in zone a or b matches: not one label


def test_named_nodes_record_an_empty_selector() -> None:
    sku = helpers.catalog().sku(run_t.A100)
    where = run_t.PlacementChoice("nodes", ready_nodes=[gpu_node("gpu-1")], sku=sku)
    plan = plan_for(run_t.deploy(labels=[], nodes=["gpu-1"]), RunOptions(no_pool=True), helpers.catalog(), where)
    assert json.loads(plan.placement_info().to_json()) == {
        "gpusPerNode": 1,
        "instanceType": run_t.A100,
        "mode": "nodes",
        "nodeCount": 1,
        "nodeNames": ["gpu-1"],
        "pool": None,
        "selector": {},
    }


def test_a_named_node_without_the_labels_says_how_to_label_it() -> None:
    kube = FakeKube()
    kube.put(gpu_node("gpu-1"))
    with pytest.raises(InvalidInput) as refused:
        resolve_placement(
            run_t.deploy(labels=["apps=phi", "tier=gpu"], nodes=["gpu-1"]), RunOptions(), kube, helpers.catalog()
        )
    assert refused.value.fix == "label it (kubectl label node gpu-1 apps=phi tier=gpu), or drop the labels"


def test_a_broken_record_says_what_is_wrong_with_it() -> None:
    kube = FakeKube()
    _sts(kube, "a")
    record = kube.obj(f"/api/v1/namespaces/{NS}/configmaps/a-workspace")
    assert record is not None
    record["metadata"]["annotations"]["kaitoctl.io/spec"] = "not json"
    kube.put(record)
    assert cluster.list_all_records(kube, NS)[1] == [
        cluster.BrokenRecord("a-workspace", NS, "annotation kaitoctl.io/spec is malformed (JSONDecodeError)")
    ]
