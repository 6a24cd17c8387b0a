"""`kaitoctl doctor` (issue 14 item 5) on the local control plane, as the admin and as a ServiceAccount bound to the
roles of rbac/kaitoctl.yaml (the RBAC authorizer answers the SelfSubjectAccessReviews), and against the ARM
emulator through the real Azure SDK (credential, target, usages permission, quota)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.kaitoctl_cli import Result, base_env, run, wait_until
from tests.harness.aks_emulator import Fault

pytestmark = pytest.mark.e2e

RBAC = Path(__file__).resolve().parents[2] / "rbac" / "kaitoctl.yaml"


def rows(result: Result) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in result.json()["checks"]}


@pytest.fixture
def gpu_node(cluster: Any) -> Iterator[str]:
    name = cluster.add_gpu_node(vm_size="Standard_NC24ads_A100_v4", pool="doctor")
    yield name
    cluster.delete_node(name)


def test_admin_on_the_local_cluster(cluster: Any, namespace: str, gpu_node: str) -> None:
    result = run(["doctor", "-n", namespace, "-o", "json"], base_env(cluster)).check()
    found = rows(result)
    assert found["kubeconfig"]["status"] == "ok" and found["API server"]["status"] == "ok"
    assert found["RBAC kaitoctl-workspaces"]["detail"].endswith(f"permissions in namespace {namespace}")
    assert found["RBAC kaitoctl-cluster"]["status"] == "ok"
    assert found["Azure target"]["status"] == "skip"
    assert found["GPU nodes"]["status"] == "ok" and "GPUs free" in found["GPU nodes"]["detail"]
    assert result.json()["blockers"] == 0
    table = run(["doctor", "-n", namespace], base_env(cluster)).check()
    assert table.stdout.splitlines()[0].split() == ["CHECK", "STATUS", "DETAIL", "FIX"]


# ---- a restricted user --------------------------------------------------------------------------------------------


@pytest.fixture
def service_account(cluster: Any, namespace: str, tmp_path: Path) -> Iterator[tuple[Path, Any]]:
    """A kubeconfig for the namespace's `default` ServiceAccount (a short-lived token), and the RBAC API to bind it
    with. The ClusterRoles are rbac/kaitoctl.yaml's."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    rbac = client.RbacAuthorizationV1Api(cluster.api_client())
    for doc in yaml.safe_load_all(RBAC.read_text()):
        try:
            rbac.create_cluster_role(doc)
        except ApiException as exc:
            if exc.status != 409:
                raise
    core = cluster.core()
    token = core.create_namespaced_service_account_token(
        "default", namespace, {"spec": {"expirationSeconds": 3600}}
    ).status.token
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    kubeconfig = tmp_path / "sa.kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": admin["clusters"],
                "users": [{"name": "sa", "user": {"token": token}}],
                "contexts": [
                    {"name": "sa", "context": {"cluster": admin["clusters"][0]["name"], "user": "sa", "namespace": namespace}}
                ],
                "current-context": "sa",
            }
        )
    )
    yield kubeconfig, rbac
    with contextlib.suppress(ApiException):
        rbac.delete_cluster_role_binding(f"kaitoctl-{namespace}")


def _subject(namespace: str) -> list[dict[str, str]]:
    return [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}]


def test_a_user_without_the_roles_is_blocked_then_bound_passes(
    cluster: Any, namespace: str, gpu_node: str, service_account: tuple[Path, Any]
) -> None:
    kubeconfig, rbac = service_account
    env = base_env(cluster)
    args = ["doctor", "--kubeconfig", str(kubeconfig), "-o", "json"]
    bare = run(args, env)
    assert bare.returncode == 5, bare.stderr
    found = rows(bare)
    assert found["RBAC kaitoctl-workspaces"]["status"] == "fail"
    assert found["RBAC kaitoctl-workspaces"]["detail"].split(":")[0].endswith(f"denied in namespace {namespace}")
    assert f"kubectl create rolebinding kaitoctl -n {namespace}" in found["RBAC kaitoctl-workspaces"]["fix"]
    assert found["RBAC kaitoctl-cluster"]["status"] == "fail"  # nodes cannot be listed
    assert "blocker(s): RBAC kaitoctl-workspaces, RBAC kaitoctl-cluster" in bare.stderr

    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "kaitoctl"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kaitoctl-workspaces"},
            "subjects": _subject(namespace),
        },
    )

    def workspaces_ok() -> Result | None:
        result = run(args, env)
        return result if rows(result)["RBAC kaitoctl-workspaces"]["status"] == "ok" else None

    half = wait_until(workspaces_ok, "the RoleBinding to take effect", timeout=30)
    assert half.returncode == 5 and rows(half)["RBAC kaitoctl-cluster"]["status"] == "fail"

    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": f"kaitoctl-{namespace}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kaitoctl-cluster"},
            "subjects": _subject(namespace),
        }
    )
    bound = wait_until(lambda: (r := run(args, env)).returncode == 0 and r, "the ClusterRoleBinding", timeout=30)
    found = rows(bound)
    assert found["RBAC kaitoctl-cluster"]["status"] == "ok" and found["GPU nodes"]["status"] == "ok"


# ---- Azure (ARM emulator) -----------------------------------------------------------------------------------------


@pytest.fixture
def emu(cluster: Any, make_arm_emulator: Any) -> Any:
    return make_arm_emulator(cluster.kubeconfig)


@pytest.fixture
def env(cluster: Any, emu: Any) -> dict[str, str]:
    return base_env(cluster, emu.env())


@pytest.mark.azure
def test_azure_checks_through_the_sdk(cluster: Any, namespace: str, emu: Any, env: dict[str, str]) -> None:
    azure = ["--resource-group", emu.resource_group, "--cluster", emu.cluster]
    result = run(["doctor", "-n", namespace, *azure, "-o", "json"], env).check()
    found = rows(result)
    for name in ("Azure credential", "AKS cluster", "agent pools", "Compute usages"):
        assert found[name]["status"] == "ok", found[name]
    assert found["AKS cluster"]["detail"].startswith(f"subscription {emu.subscription}, resource group rg-local")
    # The emulator's default GPU family limit is 100 vCPUs (tests/harness/aks_emulator/emulator.py).
    assert found["quota StandardNCADSA100v4Family"]["detail"] == "100 of 100 vCPUs free; one Standard_NC24ads_A100_v4 needs 24"
    assert found["GPU nodes"]["status"] == "ok"  # no GPU node is fine: kaitoctl creates pools here
    assert {r.get("path", "") for r in emu.requests(method="PUT")} == set()  # doctor writes nothing

    emu.inject(Fault.usages_forbidden())
    limited = run(["doctor", "-n", namespace, *azure, "-o", "json"], env).check()
    assert rows(limited)["Compute usages"]["status"] == "warn"
    assert "Microsoft.Compute/locations/usages/read" in rows(limited)["Compute usages"]["fix"]
    emu.clear_faults()

    emu.set_quota("cores", 1000, current=1000)
    short = run(["doctor", "-n", namespace, *azure, "-o", "json"], env)
    assert short.returncode == 5 and rows(short)["GPU quota"]["status"] == "fail"


@pytest.mark.azure
def test_azure_target_errors_name_the_missing_part(cluster: Any, namespace: str, emu: Any, env: dict[str, str]) -> None:
    wrong_group = run(["doctor", "-n", namespace, "--resource-group", "nope", "--cluster", emu.cluster, "-o", "json"], env)
    assert wrong_group.returncode == 5
    row = rows(wrong_group)["Azure resource group"]
    assert row["status"] == "fail" and "ResourceGroupNotFound" in row["detail"] and "--resource-group" in row["fix"]
    emu.set_logged_in(False)
    logged_out = run(["doctor", "-n", namespace, "--resource-group", emu.resource_group, "--cluster", emu.cluster, "-o", "json"], env)
    assert logged_out.returncode == 5
    assert rows(logged_out)["Azure credential"]["status"] == "fail"
    assert "az login" in rows(logged_out)["Azure credential"]["fix"]
