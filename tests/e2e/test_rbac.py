"""rbac/kaitoctl.yaml covers what kaitoctl does (issue 10, item 18): a run of every verb against the local control
plane, then each request kaitoctl made (the API server's audit log, by User-Agent) must be allowed by the
ClusterRoles, the way the RBAC authorizer would match it (kubernetes/plugin/pkg/auth/authorizer/rbac)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.kaitoctl_cli import base_env, run

pytestmark = pytest.mark.e2e

RBAC = Path(__file__).resolve().parents[2] / "rbac" / "kaitoctl.yaml"
A100 = "Standard_NC24ads_A100_v4"


def rules() -> dict[str, list[dict[str, Any]]]:
    return {d["metadata"]["name"]: d["rules"] for d in yaml.safe_load_all(RBAC.read_text())}


def allowed(role_rules: list[dict[str, Any]], verb: str, group: str, resource: str) -> bool:
    return any(
        (verb in r["verbs"] or "*" in r["verbs"])
        and (group in r["apiGroups"] or "*" in r["apiGroups"])
        and (resource in r["resources"] or "*" in r["resources"])
        for r in role_rules
    )


def uncovered(events: list[dict[str, Any]]) -> list[str]:
    """Requests neither role allows. Namespaced requests may use either role (the workspace role is bound in the
    namespace, the cluster role cluster-wide); cluster-scoped and all-namespace requests only the cluster role."""
    roles = rules()
    missing = []
    for ev in events:
        ref = ev.get("objectRef") or {}
        resource = ref.get("resource", "")
        if ref.get("subresource"):
            resource += "/" + ref["subresource"]
        group, verb = ref.get("apiGroup", ""), ev["verb"]
        ok = allowed(roles["kaitoctl-cluster"], verb, group, resource) or (
            bool(ref.get("namespace")) and allowed(roles["kaitoctl-workspaces"], verb, group, resource)
        )
        if not ok:
            missing.append(f"{verb} {group}/{resource} ns={ref.get('namespace', '-')} ({ev['requestURI']})")
    return sorted(set(missing))


def test_the_roles_cover_every_request_of_every_verb(cluster: Any, namespace: str, tmp_path: Path) -> None:
    env = base_env(cluster)
    node = cluster.add_gpu_node(vm_size=A100, pool="gpu")
    try:
        mark = cluster.audit_mark()
        ns = ["-n", namespace, "--no-progress"]
        run(["deploy", "phi-3", "--node", node, *ns, "--name", "inf"], env).check()
        run(["status", "-n", namespace], env).check()
        run(["status", "-A", "-o", "json"], env).check()
        cluster.serve_logs(namespace, ["server started"])
        run(["logs", "inf", "-n", namespace, "--tail", "5"], env).check()
        run(["delete", "inf", "-y", *ns], env).check()
        run(["tune", "phi-3", "--method", "qlora", "--node", node, *ns, "--name", "tun"], env).check()
        run(["deploy", *ns, "--node", node, "--name", "inf2", "--no-wait"], env).check()
        run(["delete", "--all", "-y", *ns], env).check()
        events = cluster.requests("kaitoctl", since=mark)
    finally:
        cluster.delete_node(node)
    verbs = {(e["verb"], (e.get("objectRef") or {}).get("resource")) for e in events}
    assert ("patch", "statefulsets") in verbs and ("patch", "jobs") in verbs and ("delete", "configmaps") in verbs
    assert uncovered(events) == []


def test_the_check_itself_can_fail() -> None:
    event = {"verb": "delete", "requestURI": "/api/v1/nodes/x", "objectRef": {"resource": "nodes", "name": "x"}}
    assert uncovered([event]) == ["delete /nodes ns=- (/api/v1/nodes/x)"]
    secret_list = {"verb": "list", "requestURI": "/api/v1/namespaces/a/secrets", "objectRef": {"resource": "secrets", "namespace": "a"}}
    assert uncovered([secret_list]) != []
