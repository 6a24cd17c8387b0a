"""`kaitoctl logs` and `kaitoctl delete` as a user sees them (ops/manage.py): the log request sent for each flag,
the preview line of what delete removes, and which adapter claims another workspace still mounts."""

from __future__ import annotations

from typing import Any

import pytest

from kaitoctl.core.errors import InvalidInput
from kaitoctl.core.naming import WORKSPACE_LABEL
from kaitoctl.ops.manage import DeleteTarget, adapter_claims_in_use, delete_preview, delete_targets, log_lines
from tests.unit.fakes import FakeKube, RecordingReporter
from tests.unit.test_ops_manage import pod
from tests.unit.test_ops_status import NS, tune, write


def request(container: str, **changed: Any) -> dict[str, Any]:
    base = {
        "pod": f"{NS}/phi-0",
        "container": container,
        "tail_lines": None,
        "previous": False,
        "follow": False,
        "timestamps": False,
        "since_seconds": None,
    }
    return {**base, **changed}


def test_logs_sends_every_flag_with_the_request() -> None:
    kube = FakeKube(pod_logs={(NS, "phi-0", "phi"): ["a", "b", "c"]})
    kube.put(pod("phi-0"))
    lines = log_lines(kube, NS, "phi", follow=True, previous=True, tail=2, since_seconds=60, timestamps=True)
    assert list(lines) == ["b", "c"]
    assert kube.log_requests == [
        request("phi", tail_lines=2, previous=True, follow=True, timestamps=True, since_seconds=60)
    ]


def test_init_container_logs_send_the_flags_too_but_never_follow() -> None:
    kube = FakeKube(pod_logs={(NS, "phi-0", "download"): ["x", "fetching"]})
    kube.put(pod("phi-0", init=True))
    lines = log_lines(kube, NS, "phi", init=True, follow=True, previous=True, tail=1, since_seconds=5, timestamps=True)
    assert list(lines) == ["==> phi-0/download <==", "fetching"]
    assert kube.log_requests == [request("download", tail_lines=1, previous=True, timestamps=True, since_seconds=5)]


def test_an_unknown_container_lists_the_pod_s_containers() -> None:
    kube = FakeKube()
    kube.put(pod("phi-0", init=True))
    with pytest.raises(InvalidInput) as refused:
        list(log_lines(kube, NS, "phi", container="nope"))
    assert refused.value.fix == "containers: download, phi, sidecar"
    assert kube.log_requests == []


def test_the_delete_preview_of_a_pool_found_only_by_its_tags() -> None:
    kube = FakeKube()
    assert delete_preview(kube, [DeleteTarget("ghost", NS, None, pool="kaitoghost")]) == [
        "default/ghost: no objects; AKS agent pool kaitoghost (found by its tags; no workspace record)"
    ]


def test_the_delete_preview_of_a_workspace_on_existing_nodes_names_no_pool() -> None:
    kube = FakeKube()
    write(kube, tune("tphi"))
    assert delete_preview(kube, delete_targets(kube, NS, ["tphi"], all_=False)) == [
        "default/tphi: Job/tphi, PersistentVolumeClaim/tphi-adapter, ConfigMap/tphi-params, ConfigMap/tphi-workspace"
    ]


def running_pod(name: str, namespace: str, workspace: str, claim: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {WORKSPACE_LABEL: workspace}},
        "spec": {"volumes": [{"name": "a", "persistentVolumeClaim": {"claimName": claim}}]},
        "status": {"phase": "Running"},
    }


def test_only_another_workspace_s_pod_in_the_same_namespace_keeps_an_adapter_claim() -> None:
    kube = FakeKube()
    write(kube, tune("tphi"))
    targets = delete_targets(kube, NS, ["tphi"], all_=False)
    kube.put(running_pod("a-tphi-own", NS, "tphi", "tphi-adapter"))  # the workspace's own pod: deleted with it
    kube.put(running_pod("b-elsewhere", "other", "srv", "tphi-adapter"))  # another namespace's claim of that name
    assert adapter_claims_in_use(kube, targets) == []
    done = running_pod("b-done-0", NS, "done", "tphi-adapter")
    kube.put({**done, "status": {"phase": "Succeeded"}})  # a finished pod holds nothing
    kube.put(running_pod("c-srv-0", NS, "srv", "tphi-adapter"))
    assert adapter_claims_in_use(kube, targets) == ["tphi-adapter (used by pod c-srv-0)"]


class ShowsMessages(RecordingReporter):
    """Also keeps every phase message shown."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[tuple[str, str]] = []

    def phases(self, records: list[Any]) -> None:
        super().phases(records)
        self.shown += [(r.name, r.message) for r in records if r.message]


def test_delete_gives_an_adopted_pool_back_with_the_labels_it_had_not_the_ones_kaitoctl_added() -> None:
    from dataclasses import replace

    from kaitoctl.ops.manage import delete_workspaces
    from kaitoctl.ops.options import RunOptions
    from kaitoctl.ops.progress import Progress
    from tests.unit.test_lifecycle import AZURE, THEIR_LABELS, THEIR_TAGS, adopt_run, adopted_setup
    from tests.unit.test_ops_status import LABELS

    kube, aks, spec, name = adopted_setup(count=3)
    labelled = replace(spec, resource=replace(spec.resource, match_labels=dict(LABELS)))
    adopt_run(kube, aks, labelled)
    assert aks.pools[name]["properties"]["nodeLabels"]["apps"] == "phi"  # added for the workspace's selector
    reporter = ShowsMessages()
    summary = delete_workspaces(
        kube,
        delete_targets(kube, NS, ["phi"], all_=False),
        RunOptions(**AZURE),
        Progress(reporter, []),
        keep_pool=False,
        wait=False,
        aks=lambda _: aks,
    )
    assert summary["phi"]["pool"] == "restored to 3 node(s) (adopted: kept)"
    props = aks.pools[name]["properties"]
    assert (props["count"], props["tags"], props["nodeLabels"]) == (3, THEIR_TAGS, THEIR_LABELS)
    assert ("delete phi", f"releasing agent pool {name}") in reporter.shown


def test_the_delete_preview_of_a_workspace_on_its_own_pool_names_the_pool_plainly() -> None:
    from tests.unit.test_ops_lifecycle import deployed, pool_name

    kube, _, _ = deployed(pool=True)
    (line,) = delete_preview(kube, delete_targets(kube, NS, ["phi"], all_=False))
    assert line == (
        "default/phi: StatefulSet/phi, Service/phi, Service/phi-headless, ConfigMap/phi-workspace; "
        f"AKS agent pool {pool_name(kube)}"
    )


def test_deleting_a_workspace_without_a_pool_makes_no_azure_client_and_fills_the_report_as_it_goes() -> None:
    from kaitoctl.ops.manage import delete_workspaces
    from kaitoctl.ops.options import RunOptions
    from kaitoctl.ops.progress import Progress
    from tests.unit.test_lifecycle import AZURE

    def no_azure(_: Any) -> Any:
        raise AssertionError("no Azure client may be made")

    kube = FakeKube()
    write(kube, tune("tphi"))
    report: dict[str, Any] = {}
    summary = delete_workspaces(
        kube,
        delete_targets(kube, NS, ["tphi"], all_=False),
        RunOptions(**AZURE),  # an AKS cluster is configured, but this workspace has no pool
        Progress(RecordingReporter(), []),
        keep_pool=False,
        wait=False,
        aks=no_azure,
        into=report,
    )
    assert summary is report and list(report) == ["tphi"]
    assert report["tphi"]["pool"] is None
