"""`kaitoctl doctor` row by row (ops/doctor.py): the exact name, verdict, detail and fix of every check a user reads,
and the requests each check sends to the in-memory cluster and AKS fakes (tests/unit/fakes.py)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kaitoctl.adapters.aks import AksTarget
from kaitoctl.adapters.k8s import KubeContext
from kaitoctl.core.errors import CloudError, OperationFailed
from kaitoctl.core.rbac import CLUSTER_ROLE, WORKSPACES_ROLE, Access, required_access
from kaitoctl.ops import doctor
from kaitoctl.ops.doctor import Check
from kaitoctl.ops.options import RunOptions
from tests.unit.fakes import FakeAks, gpu_node
from tests.unit.test_doctor import CAT, TARGET, DoctorKube, gpu_pod, quota_for_all

AZURE = RunOptions(subscription="sub", resource_group="rg", aks_cluster="aks")
NO_PLUGIN = Check(
    "NVIDIA device plugin",
    "warn",
    "not installed: GPU nodes advertise no nvidia.com/gpu without it",
    "kaitoctl installs it with the first pool it creates (unless --no-device-plugin); on existing "
    "nodes install it (or NVIDIA's GPU operator) yourself",
)
NO_TARGET = Check(
    "Azure target",
    "skip",
    "not an AKS kube context and no --resource-group/--cluster: pools cannot be created; "
    "kaitoctl runs on existing GPU nodes (--node, --label)",
)
ALL_FREE = [
    Check("quota StandardNVADSA10v5Family", "ok", "100 of 100 vCPUs free; one Standard_NV36ads_A10_v5 needs 36"),
    Check("quota StandardNCADSA100v4Family", "ok", "100 of 100 vCPUs free; one Standard_NC24ads_A100_v4 needs 24"),
    Check("quota StandardNDASv4_A100Family", "ok", "100 of 100 vCPUs free; one Standard_ND96asr_v4 needs 96"),
    Check("quota standardNDAMSv4_A100Family", "ok", "100 of 100 vCPUs free; one Standard_ND96amsr_A100_v4 needs 96"),
    Check("quota StandardNCadsH100v5Family", "ok", "100 of 100 vCPUs free; one Standard_NC40ads_H100_v5 needs 40"),
    Check("quota standardNDSH100v5Family", "ok", "100 of 100 vCPUs free; one Standard_ND96isr_H100_v5 needs 96"),
    Check("quota StandardNCCads2023Family", "ok", "100 of 100 vCPUs free; one Standard_NCC40ads_H100_v5 needs 40"),
    Check("quota standardNDISRH200V5Family", "ok", "100 of 100 vCPUs free; one Standard_ND96isr_H200_v5 needs 96"),
]
WORKSPACE_PERMS = sum(a.role == WORKSPACES_ROLE for a in required_access())
CLUSTER_PERMS = sum(a.role == CLUSTER_ROLE for a in required_access())


def test_the_whole_report_of_a_cluster_with_azure() -> None:
    kube = DoctorKube(context=KubeContext("dev", "team-a", "https://k8s.example:6443"))
    kube.put(gpu_node("g1", gpus=2))
    aks = FakeAks(quota=quota_for_all(100))
    tokens: list[AksTarget] = []
    report = doctor.diagnose(AZURE, CAT, connect=lambda: kube, aks=lambda t: aks, token=tokens.append)
    assert report.checks == [
        Check("kubeconfig", "ok", "context dev, namespace team-a"),
        Check("API server", "ok", "https://k8s.example:6443 answers (v1.36.3)"),
        Check(f"RBAC {WORKSPACES_ROLE}", "ok", f"all {WORKSPACE_PERMS} permissions in namespace team-a"),
        Check(f"RBAC {CLUSTER_ROLE}", "ok", f"all {CLUSTER_PERMS} permissions cluster-wide"),
        Check("Azure credential", "ok", "a token for Azure Resource Manager"),
        Check("AKS cluster", "ok", "subscription sub, resource group rg, cluster aks; eastus, Kubernetes None"),
        Check("agent pools", "ok", "agentPools/read allowed"),
        Check("Compute usages", "ok", "readable in eastus"),
        *ALL_FREE,
        Check("quota total regional vCPUs", "ok", "1000 of 1000 free"),
        NO_PLUGIN,
        Check("GPU nodes", "ok", "1 (1 Ready; Standard_NC24ads_A100_v4), 2 of 2 GPUs free"),
    ]
    assert report.blockers == [] and report.warnings == [NO_PLUGIN]
    assert tokens == [AksTarget("sub", "rg", "aks")]  # the token is asked for the target the checks are about
    assert aks.calls == [("cluster",), ("get_pool", "kaitoctl-doctor-probe"), ("usages", "eastus")]
    # the namespaced permissions are asked in the context's namespace
    assert {ns for *_, ns in kube.reviews} == {"team-a", None}


def test_an_unnamed_context_without_a_namespace_is_checked_in_default() -> None:
    kube = DoctorKube(context=KubeContext(None, "", "https://k8s.example:6443"))
    report = doctor.diagnose(RunOptions(), CAT, connect=lambda: kube)
    assert report.checks[0] == Check("kubeconfig", "ok", "context (current), namespace ")
    assert report.checks[2].detail == f"all {WORKSPACE_PERMS} permissions in namespace default"
    assert {ns for *_, ns in kube.reviews} == {"default", None}
    assert report.checks[4] == NO_TARGET


def test_the_namespace_asked_for_wins_over_the_context_s() -> None:
    kube = DoctorKube(context=KubeContext("dev", "team-a", "https://k8s.example:6443"))
    report = doctor.diagnose(RunOptions(), CAT, namespace="team-b", connect=lambda: kube)
    assert report.checks[2].detail == f"all {WORKSPACE_PERMS} permissions in namespace team-b"
    assert {ns for *_, ns in kube.reviews} == {"team-b", None}


def test_an_aks_kube_context_is_the_azure_target() -> None:
    server = "https://aks-dns-1.hcp.eastus.azmk8s.io:443"
    kube = DoctorKube(context=KubeContext("aks", "default", server))
    aks = FakeAks(
        quota=quota_for_all(100),
        clusters=[
            {
                "id": "/subscriptions/sub/resourceGroups/rg-found/providers/Microsoft.ContainerService/managedClusters/a",
                "name": "a",
                "properties": {"fqdn": "aks-dns-1.hcp.eastus.azmk8s.io"},
            }
        ],
    )
    tokens: list[AksTarget] = []
    report = doctor.diagnose(
        RunOptions(subscription="sub"), CAT, connect=lambda: kube, aks=lambda t: aks, token=tokens.append
    )
    assert [c.name for c in report.checks][4:6] == ["Azure credential", "AKS cluster"]
    assert report.checks[5].detail == "subscription sub, resource group rg-found, cluster a; eastus, Kubernetes None"
    assert tokens == [AksTarget("sub", "rg-found", "a")]


def test_a_target_that_cannot_be_resolved_is_a_blocker_with_its_fix() -> None:
    kube = DoctorKube()
    report = doctor.diagnose(RunOptions(cloud="Mars"), CAT, connect=lambda: kube)
    assert report.checks[4] == Check(
        "Azure target", "fail", "--cloud: unknown cloud 'Mars'", "use AzureCloud, AzureChinaCloud or AzureUSGovernment"
    )
    assert [c.name for c in report.blockers] == ["Azure target", "GPU nodes"]


def test_the_kubeconfig_passed_is_the_one_loaded(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "from-env"))
    missing = tmp_path / "passed"
    report = doctor.diagnose(RunOptions(kubeconfig=str(missing)), CAT)
    assert report.checks == [
        Check(
            "kubeconfig",
            "fail",
            f"--kubeconfig: cannot load a kubeconfig from {missing}: Invalid kube-config file. No configuration found.",
            "pass --kubeconfig FILE, or run `az aks get-credentials` first",
        ),
        NO_TARGET,
    ]


# ---- RBAC ---------------------------------------------------------------------------------------------------------


def cluster_access(count: int) -> list[Access]:
    return [Access(CLUSTER_ROLE, "get", "", f"things{i}") for i in range(count)]


def test_six_denied_permissions_are_all_named() -> None:
    access = cluster_access(6)
    kube = DoctorKube(denied={("get", "", a.resource) for a in access})
    checks = doctor.rbac_checks(kube, "ns", access)
    assert checks[1] == Check(
        f"RBAC {CLUSTER_ROLE}",
        "warn",
        "6 of 6 denied cluster-wide: get things0, get things1, get things2, get things3, get things4, get things5",
        f"kubectl apply -f rbac/kaitoctl.yaml; kubectl create clusterrolebinding kaitoctl-USER "
        f"--clusterrole={CLUSTER_ROLE} --user=USER",
    )
    assert checks[0] == Check(f"RBAC {WORKSPACES_ROLE}", "ok", "all 0 permissions in namespace ns")


def test_more_than_six_denied_permissions_name_six_and_count_the_rest() -> None:
    access = [*cluster_access(8), Access(CLUSTER_ROLE, "list", "", "nodes")]
    kube = DoctorKube(denied={(a.verb, "", a.resource) for a in access[1:]})
    row = doctor.rbac_checks(kube, "ns", access)[1]
    assert (row.status, row.detail) == (
        "fail",
        "8 of 9 denied cluster-wide: get things1, get things2, get things3, get things4, get things5, get things6 "
        "(+2 more)",
    )
    seven = doctor.rbac_checks(DoctorKube(denied={(a.verb, "", a.resource) for a in access[2:]}), "ns", access)[1]
    assert seven.detail.endswith(
        ": get things2, get things3, get things4, get things5, get things6, get things7 (+1 more)"
    )


def test_the_access_reviews_go_out_eight_at_a_time() -> None:
    """About 70 reviews: 8 in flight together (one round trip each), never more."""
    gate = threading.Barrier(doctor.REVIEW_WORKERS, timeout=10)
    lock = threading.Lock()
    state = {"now": 0, "peak": 0, "n": 0}

    class Gated(DoctorKube):
        def can_i(self, verb: str, group: str, resource: str, namespace: str | None = None) -> tuple[bool, str]:
            with lock:
                state["n"] += 1
                first = state["n"] <= doctor.REVIEW_WORKERS
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            if first:
                gate.wait()  # the first 8 answer only once all 8 are asked together
            with lock:
                state["now"] -= 1
            return super().can_i(verb, group, resource, namespace)

    checks = doctor.rbac_checks(Gated(), "ns")
    assert [c.status for c in checks] == ["ok", "ok"]
    assert doctor.REVIEW_WORKERS == 8 and state["peak"] == 8


# ---- GPUs ---------------------------------------------------------------------------------------------------------


def daemonset(name: str, labels: dict[str, str] | None = None, status: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "gpu-operator", "labels": labels or {}}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta, "status": status or {}}


def test_another_daemonset_is_not_the_device_plugin() -> None:
    kube = DoctorKube()
    kube.put(daemonset("kube-proxy", {"app.kubernetes.io/managed-by": "addon-manager"}))
    assert doctor.device_plugin_check(kube) == NO_PLUGIN
    assert kube.calls == [
        ("list", "/apis/apps/v1/daemonsets", None, "metadata.name=nvidia-device-plugin-daemonset"),
        ("list", "/apis/apps/v1/daemonsets", "app.kubernetes.io/managed-by=gpu-operator", None),
    ]


def test_nvidia_s_gpu_operator_counts_as_the_device_plugin() -> None:
    kube = DoctorKube()
    kube.put(daemonset("nvidia-device-plugin-ds", {"app.kubernetes.io/managed-by": "gpu-operator"}))
    assert doctor.device_plugin_check(kube) == Check(
        "NVIDIA device plugin", "ok", "DaemonSet gpu-operator/nvidia-device-plugin-ds: 0 of 0 ready"
    )


def test_gpu_nodes_none_yet_with_and_without_azure() -> None:
    assert doctor.gpu_nodes_check(DoctorKube(), azure_target=True) == Check(
        "GPU nodes", "ok", "none yet: kaitoctl creates an AKS pool for each workspace"
    )
    assert doctor.gpu_nodes_check(DoctorKube(), azure_target=False) == Check(
        "GPU nodes",
        "fail",
        "none yet",
        "point kaitoctl at the AKS cluster (an AKS kube context, or --resource-group and --cluster) "
        "so it can create GPU pools, or add GPU nodes with the device plugin",
    )


def test_gpus_are_counted_per_container_request_and_an_unlabelled_node_is_shown_as_unknown() -> None:
    kube = DoctorKube()
    bare = gpu_node("g1", gpus=4, ready=False)
    bare["metadata"]["labels"] = {}
    kube.put(bare)
    pod = gpu_pod("p", "g1", 1)
    pod["spec"]["containers"] += [{"name": "sidecar"}, {"name": "proxy", "resources": {"requests": {"cpu": "1"}}}]
    kube.put(pod)
    kube.put({**gpu_pod("pending", "", 2), "spec": {"containers": [{"name": "c"}]}})
    assert doctor.gpu_nodes_check(kube, azure_target=False) == Check(
        "GPU nodes", "ok", "1 (0 Ready; ?), 3 of 4 GPUs free"
    )


def test_gpu_nodes_all_busy_without_azure_say_how_to_free_them() -> None:
    kube = DoctorKube()
    kube.put(gpu_node("g1", gpus=1))
    kube.put(gpu_pod("p", "g1", 1))
    assert doctor.gpu_nodes_check(kube, azure_target=False) == Check(
        "GPU nodes",
        "warn",
        "1 (1 Ready; Standard_NC24ads_A100_v4), 0 of 1 GPUs free",
        "free GPUs (`kaitoctl delete` a workspace) or add GPU nodes",
    )
    assert doctor.gpu_nodes_check(kube, azure_target=True) == Check(
        "GPU nodes", "ok", "1 (1 Ready; Standard_NC24ads_A100_v4), 0 of 1 GPUs free"
    )


def test_a_forbidden_read_names_what_was_refused() -> None:
    kube = DoctorKube()
    kube.fail_list["/api/v1/nodes"] = [OperationFailed("nodes is forbidden: User x", reason="Forbidden")]
    assert doctor.gpu_checks(kube, azure_target=False)[1] == Check(
        "GPU nodes", "skip", "not checked: nodes is forbidden: User x", "see the RBAC rows above"
    )


# ---- Azure --------------------------------------------------------------------------------------------------------


@dataclass
class Versioned(FakeAks):
    properties: dict[str, Any] = field(default_factory=dict)

    def cluster(self) -> Any:
        found = super().cluster()
        found["properties"].update(self.properties)
        return found


def test_the_cluster_s_running_kubernetes_version_is_shown() -> None:
    aks = Versioned(quota=quota_for_all(100))
    aks.properties = {"kubernetesVersion": "1.33", "currentKubernetesVersion": "1.33.2"}
    assert doctor.azure_checks(aks, TARGET, CAT, lambda: None)[1].detail == (
        "subscription sub, resource group rg, cluster aks; eastus, Kubernetes 1.33.2"
    )
    aks.properties = {"kubernetesVersion": "1.32"}
    assert doctor.azure_checks(aks, TARGET, CAT, lambda: None)[1].detail.endswith("eastus, Kubernetes 1.32")


def test_agent_pools_that_cannot_be_read_are_a_blocker_and_the_rest_is_checked() -> None:
    class NoPools(FakeAks):
        def get_pool(self, name: str) -> Any:
            raise CloudError("reading agent pool x: forbidden", code="AuthorizationFailed", hint="grant Contributor")

    checks = doctor.azure_checks(NoPools(quota=quota_for_all(100)), TARGET, CAT, lambda: None)
    assert checks[2] == Check(
        "agent pools", "fail", "reading agent pool x: forbidden [AuthorizationFailed]", "grant Contributor"
    )
    assert checks[3] == Check("Compute usages", "ok", "readable in eastus")


def test_unreadable_usages_row_exactly() -> None:
    checks = doctor.azure_checks(FakeAks(usages_forbidden=True), TARGET, CAT, lambda: None)
    assert checks[3:] == [
        Check(
            "Compute usages",
            "warn",
            "forbidden: kaitoctl cannot check vCPU quota before creating a pool",
            "grant Microsoft.Compute/locations/usages/read on the subscription (e.g. the Reader role at subscription "
            "scope)",
        )
    ]


def test_usages_that_fail_end_the_azure_checks() -> None:
    class Down(FakeAks):
        def usages(self, location: str) -> Any:
            raise CloudError("reading usages: timed out", code="GatewayTimeout", hint="retry")

    checks = doctor.azure_checks(Down(), TARGET, CAT, lambda: None)
    assert checks[3:] == [Check("Compute usages", "fail", "reading usages: timed out [GatewayTimeout]", "retry")]


# ---- quota --------------------------------------------------------------------------------------------------------


def test_a_family_not_listed_warns_and_the_next_families_are_still_checked() -> None:
    usages = quota_for_all(100)
    del usages["StandardNVADSA10v5Family"]
    checks = doctor.quota_checks(usages, CAT, "westus3")
    assert checks == [
        Check("quota StandardNVADSA10v5Family", "warn", "not listed in westus3"),
        *ALL_FREE[1:],
        Check("quota total regional vCPUs", "ok", "1000 of 1000 free"),
    ]


def test_a_family_short_of_quota_says_which_quota_to_request() -> None:
    usages = {**quota_for_all(100), "StandardNCADSA100v4Family": (90, 100)}
    a100 = next(c for c in doctor.quota_checks(usages, CAT, "westus3") if c.name == "quota StandardNCADSA100v4Family")
    assert a100 == Check(
        "quota StandardNCADSA100v4Family",
        "warn",
        "10 of 100 vCPUs free; one Standard_NC24ads_A100_v4 needs 24",
        "request more StandardNCADSA100v4Family vCPU quota in westus3 (portal: Quotas → Compute, or `az quota update`)",
    )


def test_regional_quota_of_exactly_one_node_is_enough_for_that_family() -> None:
    usages = {**quota_for_all(100), "cores": (976, 1000)}  # 24 free: one A100 node (24 vCPUs), nothing bigger
    checks = doctor.quota_checks(usages, CAT, "westus3")
    assert [c.status for c in checks if c.name.startswith("quota Standard") or c.name.startswith("quota standard")] == [
        "warn",
        "ok",
        "warn",
        "warn",
        "warn",
        "warn",
        "warn",
        "warn",
    ]
    assert checks[-1] == Check("quota total regional vCPUs", "ok", "24 of 1000 free")
    assert "GPU quota" not in [c.name for c in checks]


def test_no_family_with_room_for_one_node_is_the_blocker() -> None:
    checks = doctor.quota_checks(quota_for_all(0), CAT, "westus3")
    assert checks[-1] == Check(
        "GPU quota",
        "fail",
        "no GPU family has free vCPUs for one node in westus3",
        "request GPU vCPU quota in westus3 (portal: Quotas → Compute, or `az quota update`)",
    )
