"""`kaitoctl doctor` (issue 14 item 5): the RBAC list is rbac/kaitoctl.yaml's, each check's verdict and fix, the
blocker exit code and the -o json report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from kaitoctl.adapters.aks import AksTarget
from kaitoctl.core.catalog import load_catalog
from kaitoctl.core.errors import CloudError, ExitCode, InvalidInput
from kaitoctl.core.rbac import CLUSTER_ROLE, WORKSPACES_ROLE, Access, rbac_path, required_access
from kaitoctl.ops import doctor
from kaitoctl.ops.options import RunOptions
from tests.unit.fakes import FakeAks, FakeKube, gpu_node

REPO = Path(__file__).resolve().parents[2]
CAT = load_catalog()
TARGET = AksTarget("sub", "rg", "aks")


# ---- the RBAC list cannot drift from rbac/kaitoctl.yaml ---------------------------------------------------------------


def test_the_doctor_reads_the_repos_rbac_file() -> None:
    assert rbac_path().resolve() == (REPO / "rbac" / "kaitoctl.yaml").resolve()


def test_the_access_list_is_every_verb_of_every_rule_of_both_roles() -> None:
    # An independent expansion of the file: role, group, resource, verb; the doctor must ask exactly these.
    expected = set()
    for doc in yaml.safe_load_all((REPO / "rbac" / "kaitoctl.yaml").read_text()):
        for rule in doc["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        expected.add((doc["metadata"]["name"], verb, group, resource))
    got = [(a.role, a.verb, a.group, a.resource) for a in required_access()]
    assert len(got) == len(set(got)) and set(got) == expected
    assert ("kaitoctl-workspaces", "create", "", "pods/portforward") in got
    assert ("kaitoctl-cluster", "create", "apps", "daemonsets") in got
    assert ("kaitoctl-workspaces", "list", "events.k8s.io", "events") in got


def test_a_changed_file_changes_what_is_asked() -> None:
    text = """
kind: ClusterRole
metadata: {name: kaitoctl-workspaces}
rules:
  - {apiGroups: [""], resources: [pods], verbs: [get, get, list]}
---
kind: ConfigMap
metadata: {name: x}
"""
    assert required_access(text) == [
        Access(WORKSPACES_ROLE, "get", "", "pods"),
        Access(WORKSPACES_ROLE, "list", "", "pods"),
    ]
    assert Access(WORKSPACES_ROLE, "get", "apps", "statefulsets").text == "get statefulsets.apps"
    assert Access(CLUSTER_ROLE, "list", "", "nodes").namespaced is False


# ---- fakes ------------------------------------------------------------------------------------------------------------


@dataclass
class DoctorKube(FakeKube):
    denied: set[tuple[str, str, str]] = field(default_factory=set)  # (verb, group, resource)
    reviews: list[tuple[str, str, str, str | None]] = field(default_factory=list)

    def can_i(self, verb: str, group: str, resource: str, namespace: str | None = None) -> tuple[bool, str]:
        self.reviews.append((verb, group, resource, namespace))
        return (verb, group, resource) not in self.denied, ""

    def server_version(self) -> str:
        return "v1.36.3"


def statuses(checks: list[doctor.Check]) -> dict[str, str]:
    return {c.name: c.status for c in checks}


# ---- RBAC -------------------------------------------------------------------------------------------------------------


def test_every_permission_is_asked_in_the_right_scope() -> None:
    kube = DoctorKube()
    checks = doctor.rbac_checks(kube, "team-a")
    assert statuses(checks) == {f"RBAC {WORKSPACES_ROLE}": "ok", f"RBAC {CLUSTER_ROLE}": "ok"}
    access = required_access()
    assert len(kube.reviews) == len(access)
    for a in access:
        assert (a.verb, a.group, a.resource, "team-a" if a.role == WORKSPACES_ROLE else None) in kube.reviews
    assert checks[0].detail == f"all {sum(a.role == WORKSPACES_ROLE for a in access)} permissions in namespace team-a"


def test_a_missing_workspace_permission_is_a_blocker_with_the_binding_to_create() -> None:
    checks = doctor.rbac_checks(DoctorKube(denied={("patch", "apps", "statefulsets")}), "team-a")
    row = checks[0]
    mine = sum(a.role == WORKSPACES_ROLE for a in required_access())
    assert (row.status, row.detail) == ("fail", f"1 of {mine} denied in namespace team-a: patch statefulsets.apps")
    assert "kubectl create rolebinding kaitoctl -n team-a --clusterrole=kaitoctl-workspaces" in str(row.fix)
    assert checks[1].status == "ok"


def test_cluster_permissions_block_only_for_nodes() -> None:
    limited = doctor.rbac_checks(DoctorKube(denied={("create", "", "namespaces")}), "ns")[1]
    assert limited.status == "warn" and "create namespaces" in limited.detail
    assert "clusterrolebinding" in str(limited.fix)
    nodes = doctor.rbac_checks(DoctorKube(denied={("list", "", "nodes")}), "ns")[1]
    assert nodes.status == "fail"


# ---- GPUs -------------------------------------------------------------------------------------------------------------


def gpu_pod(name: str, node: str, gpus: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "x"},
        "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"nvidia.com/gpu": gpus}}}]},
        "status": {"phase": "Running"},
    }


def test_gpu_nodes_free_gpus_and_a_missing_device_plugin() -> None:
    kube = DoctorKube()
    kube.put(gpu_node("g1", gpus=2))
    kube.put(gpu_node("g2", gpus=2, instance_type="Standard_NC40ads_H100_v5"))
    kube.put(gpu_pod("busy", "g1", 2))
    done = {**gpu_pod("done", "g2", 1), "status": {"phase": "Succeeded"}}
    kube.put(done)
    checks = doctor.gpu_checks(kube, azure_target=False)
    assert statuses(checks) == {"NVIDIA device plugin": "warn", "GPU nodes": "ok"}
    assert checks[1].detail == "2 (2 Ready; Standard_NC24ads_A100_v4, Standard_NC40ads_H100_v5), 2 of 4 GPUs free"
    kube.put(gpu_pod("more", "g2", 2))
    assert doctor.gpu_checks(kube, azure_target=False)[1].status == "warn"  # no GPU free, no pool to create


def test_the_device_plugin_is_found_by_name() -> None:
    kube = DoctorKube()
    kube.put(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "nvidia-device-plugin-daemonset", "namespace": "kube-system"},
            "status": {"numberReady": 1, "desiredNumberScheduled": 2},
        }
    )
    row = doctor.gpu_checks(kube, azure_target=True)[0]
    assert (row.status, row.detail) == (
        "ok",
        "DaemonSet kube-system/nvidia-device-plugin-daemonset: 1 of 2 ready",
    )


def test_no_gpu_nodes_blocks_only_without_azure() -> None:
    assert doctor.gpu_checks(DoctorKube(), azure_target=False)[1].status == "fail"
    with_azure = doctor.gpu_checks(DoctorKube(), azure_target=True)[1]
    assert with_azure.status == "ok" and "creates an AKS pool" in with_azure.detail


# ---- Azure ------------------------------------------------------------------------------------------------------------


def quota_for_all(free: int) -> dict[str, tuple[int, int]]:
    rows = {str(s.quota_family): (100 - free, 100) for s in CAT.skus.values() if s.quota_family}
    return {**rows, "cores": (0, 1000)}


def test_azure_all_good() -> None:
    checks = doctor.azure_checks(FakeAks(quota=quota_for_all(100)), TARGET, CAT, lambda: None)
    assert [c.name for c in checks[:4]] == ["Azure credential", "AKS cluster", "agent pools", "Compute usages"]
    assert all(c.status == "ok" for c in checks)
    assert checks[1].detail.startswith("subscription sub, resource group rg, cluster aks; eastus")
    a100 = next(c for c in checks if c.name == "quota StandardNCADSA100v4Family")
    assert a100.detail == "100 of 100 vCPUs free; one Standard_NC24ads_A100_v4 needs 24"


def test_no_credential_stops_the_azure_checks() -> None:
    def no_token() -> None:
        raise CloudError(
            "getting an Azure token: no usable Azure credentials", code="CredentialUnavailable", hint="run `az login`"
        )

    aks = FakeAks()
    checks = doctor.azure_checks(aks, TARGET, CAT, no_token)
    assert [(c.name, c.status, c.fix) for c in checks] == [("Azure credential", "fail", "run `az login`")]
    assert aks.calls == []


@pytest.mark.parametrize(
    ("code", "row", "fix"),
    [
        ("SubscriptionNotFound", "Azure subscription", "check --subscription / AZURE_SUBSCRIPTION_ID"),
        ("ResourceGroupNotFound", "Azure resource group", "check --resource-group / AZURE_RESOURCE_GROUP"),
        ("ResourceNotFound", "AKS cluster", "check --subscription, --resource-group and --cluster"),
    ],
)
def test_the_missing_part_of_the_target_is_named(code: str, row: str, fix: str) -> None:
    class Missing(FakeAks):
        def cluster(self) -> Any:
            raise CloudError(
                "reading AKS cluster rg/aks: not found",
                code=code,
                hint="check --subscription, --resource-group and --cluster",
            )

    checks = doctor.azure_checks(Missing(), TARGET, CAT, lambda: None)
    assert (checks[-1].name, checks[-1].status, checks[-1].fix) == (row, "fail", fix)


def test_unreadable_usages_is_a_warning_with_the_permission() -> None:
    checks = doctor.azure_checks(FakeAks(usages_forbidden=True), TARGET, CAT, lambda: None)
    row = checks[-1]
    assert (row.name, row.status) == ("Compute usages", "warn")
    assert "Microsoft.Compute/locations/usages/read" in str(row.fix)


def test_quota_short_families_warn_and_no_family_at_all_blocks() -> None:
    usages = quota_for_all(100)
    usages["StandardNCADSA100v4Family"] = (90, 100)
    checks = doctor.quota_checks(usages, CAT, "eastus")
    a100 = next(c for c in checks if c.name == "quota StandardNCADSA100v4Family")
    assert a100.status == "warn" and a100.detail == "10 of 100 vCPUs free; one Standard_NC24ads_A100_v4 needs 24"
    assert "GPU quota" not in statuses(checks)
    usages["StandardNCADSA100v4Family"] = (76, 100)  # exactly one node's 24 vCPUs left
    assert statuses(doctor.quota_checks(usages, CAT, "eastus"))["quota StandardNCADSA100v4Family"] == "ok"
    nothing = doctor.quota_checks(quota_for_all(0), CAT, "eastus")
    assert statuses(nothing)["GPU quota"] == "fail"
    regional_gone = {**quota_for_all(100), "cores": (1000, 1000)}
    assert statuses(doctor.quota_checks(regional_gone, CAT, "eastus"))["GPU quota"] == "fail"
    spot = doctor.quota_checks({**quota_for_all(100), "lowPriorityCores": (4, 100)}, CAT, "eastus")
    assert next(c for c in spot if c.name == "quota Spot vCPUs").detail == "96 of 100 free (--spot)"


# ---- the whole run ----------------------------------------------------------------------------------------------------


def test_an_unloadable_kubeconfig_is_the_first_blocker_and_the_cluster_checks_are_left_out() -> None:
    def broken() -> Any:
        raise InvalidInput("--kubeconfig", "cannot load a kubeconfig from x", "pass --kubeconfig FILE")

    report = doctor.diagnose(RunOptions(), CAT, connect=broken)
    assert [(c.name, c.status) for c in report.checks] == [("kubeconfig", "fail"), ("Azure target", "skip")]
    assert [c.name for c in report.blockers] == ["kubeconfig"]


def test_a_healthy_cluster_with_azure_has_no_blockers() -> None:
    kube = DoctorKube()
    aks = FakeAks(quota=quota_for_all(100))
    opts = RunOptions(subscription="sub", resource_group="rg", aks_cluster="aks")
    report = doctor.diagnose(opts, CAT, connect=lambda: kube, aks=lambda t: aks, token=lambda t: None)
    assert report.blockers == [] and [c.name for c in report.warnings] == ["NVIDIA device plugin"]
    names = [c.name for c in report.checks]
    assert names[:4] == ["kubeconfig", "API server", f"RBAC {WORKSPACES_ROLE}", f"RBAC {CLUSTER_ROLE}"]
    assert names[-2:] == ["NVIDIA device plugin", "GPU nodes"]


def test_cli_exit_code_and_json_report(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "kaitoctl", "doctor", "--kubeconfig", str(tmp_path / "none"), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == ExitCode.BLOCKED == 5, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["kind"], data["blockers"], data["checks"][0]["name"]) == ("DoctorReport", 1, "kubeconfig")
    assert "1 blocker(s): kubeconfig" in proc.stderr and "Traceback" not in proc.stderr
    from tests.unit.test_json_schema import validate

    validate(data)


def test_gpu_checks_the_user_may_not_read_are_skipped_not_a_crash() -> None:
    from kaitoctl.core.errors import OperationFailed

    kube = DoctorKube()
    forbidden = OperationFailed("forbidden: nodes is forbidden", reason="Forbidden")
    kube.fail_list["/api/v1/nodes"] = [forbidden]
    kube.fail_list["/apis/apps/v1/daemonsets"] = [forbidden]
    checks = doctor.gpu_checks(kube, azure_target=False)
    assert [(c.name, c.status, c.fix) for c in checks] == [
        ("NVIDIA device plugin", "skip", "see the RBAC rows above"),
        ("GPU nodes", "skip", "see the RBAC rows above"),
    ]
