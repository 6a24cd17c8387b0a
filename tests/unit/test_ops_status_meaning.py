"""`kaitoctl status` as a user reads it (ops/status.py): a stopped workspace's conditions, diagnosis and pods, and
`status -w` (watch_statuses): what it watches, which workspace it shows, tuning Jobs and nodes, records that
change."""

from __future__ import annotations

import json

from kaitoctl.core import conditions as cond
from kaitoctl.ops.status import collect, watch_statuses
from tests.unit.fakes import FakeKube, gpu_node
from tests.unit.test_ops_lifecycle import deployed, pool_name, status_json, stop
from tests.unit.test_ops_status import LABELS, NS, deploy, tune, write


def test_a_stopped_workspace_without_a_known_price_says_so_and_is_not_terminal() -> None:
    kube, aks, opts = deployed(pool=True)
    stop(kube, aks, opts, price=lambda sku, region, spot: None)
    (status,) = collect(kube, NS)
    marker = status_json(kube)["stopped"]
    message = (
        f"stopped at {marker['at']}: 1 replica(s), agent pool {pool_name(kube)} 1 → 0 × Standard_NV36ads_A10_v5 "
        "(price unknown); resume: kaitoctl start phi -n default"
    )
    assert status.conditions[cond.INFERENCE_READY] == cond.Condition(cond.INFERENCE_READY, "False", "Stopped", message)
    assert status.conditions[cond.WORKSPACE_SUCCEEDED].message == message
    assert status.diagnosis == cond.Diagnosis("Stopped", message, terminal=False)
    assert status.pods == []


def test_a_stopped_workspace_on_existing_nodes_names_no_pool() -> None:
    kube, _, opts = deployed(pool=False)
    stop(kube, None, opts)
    (status,) = collect(kube, NS)
    marker = status_json(kube)["stopped"]
    assert status.diagnosis is not None
    assert status.diagnosis.message == f"stopped at {marker['at']}: 1 replica(s); resume: kaitoctl start phi -n default"


def test_status_watch_asks_only_for_kaitoctl_s_objects() -> None:
    kube = FakeKube()
    write(kube, deploy("phi"))
    updates = watch_statuses(kube, NS, None)
    try:
        next(updates)
    finally:
        updates.close()
    owned = "app.kubernetes.io/managed-by=kaitoctl"
    assert sorted({(c[1], c[2], c[3]) for c in kube.calls if c[0] == "list"}) == [
        ("/api/v1/namespaces/default/configmaps", f"{owned},kaitoctl.io/record=workspace", None),
        ("/api/v1/namespaces/default/pods", owned, None),
        ("/api/v1/nodes", None, None),
        ("/apis/apps/v1/namespaces/default/statefulsets", owned, None),
        ("/apis/batch/v1/namespaces/default/jobs", owned, None),
    ]


def test_status_watch_of_one_workspace_shows_only_it_with_its_nodes_and_jobs() -> None:
    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels=LABELS))
    write(kube, deploy("phi"))
    for obj in write(kube, tune("tphi")):
        if obj["kind"] == "Job":
            kube.put({**obj, "status": {"succeeded": 1}})
    updates = watch_statuses(kube, NS, "tphi")
    try:
        (tuned,) = next(updates)
    finally:
        updates.close()
    assert (tuned.name, tuned.state) == ("tphi", "Succeeded")
    assert tuned.conditions[cond.RESOURCE_READY].status == "True"  # its labelled GPU node is there


def test_status_watch_follows_a_record_that_changes() -> None:
    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels=LABELS))
    objects = write(kube, tune("tphi"))
    record = next(o for o in objects if o["metadata"]["name"] == "tphi-workspace")
    updates = watch_statuses(kube, NS, None)
    try:
        (first,) = next(updates)
        assert first.record.status == {}
        kube.put({**record, "data": {"status.json": json.dumps({"state": "Failed"})}})
        (current,) = next(updates)  # one change, one redraw
        assert current.record.status == {"state": "Failed"}
    finally:
        updates.close()


def test_a_finished_tuning_run_holds_no_nodes_even_while_they_are_still_there() -> None:
    from tests.unit.test_ops_status import one

    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels=LABELS))
    write(kube, tune(), {"state": "Succeeded"})
    kube.remove(f"/apis/batch/v1/namespaces/{NS}/jobs/tphi")
    status = one(kube, "tphi")
    assert status.conditions[cond.RESOURCE_READY] == cond.Condition(
        cond.RESOURCE_READY, "Unknown", "Released", "tuning finished"
    )
    assert (status.nodes_held, status.region, status.usd_per_hour()) == (0, None, 0.0)


def tuning_job(kube: FakeKube, status: dict[str, object], reason: str = "OOMKilled", code: int = 137) -> None:
    from tests.unit.fakes import pod_of

    for obj in write(kube, tune("tphi")):
        if obj["kind"] == "Job":
            kube.put({**obj, "status": status})
            failed = pod_of(obj, 0, phase="Failed", ready=False)
            failed["status"]["containerStatuses"] = [
                {"name": "tphi", "state": {"terminated": {"reason": reason, "exitCode": code}}}
            ]
            kube.put(failed)


def test_a_succeeded_tuning_run_shows_no_diagnosis_of_an_earlier_failed_attempt() -> None:
    from tests.unit.test_ops_status import one

    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels=LABELS))
    tuning_job(kube, {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})
    status = one(kube, "tphi")
    assert (status.state, status.diagnosis) == ("Succeeded", None)


def test_a_failed_tuning_job_is_diagnosed_as_the_job_failing() -> None:
    from tests.unit.test_ops_status import one

    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels=LABELS))
    failed = {
        "type": "Failed",
        "status": "True",
        "reason": "BackoffLimitExceeded",
        "message": "Job has reached the limit",
    }
    tuning_job(kube, {"failed": 1, "conditions": [failed]}, reason="Error", code=1)
    status = one(kube, "tphi")
    assert status.state == "Failed"
    assert status.diagnosis is not None
    assert (status.diagnosis.reason, status.diagnosis.message, status.diagnosis.terminal) == (
        "JobFailed",
        "the tuning Job failed: BackoffLimitExceeded: Job has reached the limit — container tphi exited with code 1 "
        "(Error)",
        True,
    )
