"""`kaitoctl export` (issue 14 item 7) after a real run on the local control plane and the ARM emulator: the
exported Workspace, read back by `kaitoctl apply -f - --dry-run`, renders the workloads the run rendered, and its
containers are the ones running in the cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.e2e.kaitoctl_cli import base_env, objects_in, run

pytestmark = [pytest.mark.e2e, pytest.mark.azure]

SPEC_ANNOTATION = "kaitoctl.io/spec"


@pytest.fixture
def env(cluster: Any, make_arm_emulator: Any) -> dict[str, str]:
    emu = make_arm_emulator(cluster.kubeconfig, operation_seconds=1.0)
    return base_env(cluster, {**emu.env(), "KAITOCTL_ARM_POLL_INTERVAL": "0.1"})


def _items(listing: dict[str, Any]) -> list[dict[str, Any]]:
    """The rendered objects without the recorded spec (it says whether flags or a Workspace file gave it)."""
    items = listing["items"]
    for obj in items:
        (obj["metadata"].get("annotations") or {}).pop(SPEC_ANNOTATION, None)
    return items


def _containers(pod_spec: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (c["name"], c["image"], c.get("command"), c.get("args"))
        for c in [*(pod_spec.get("initContainers") or []), *pod_spec["containers"]]
    ]


@pytest.mark.parametrize(
    ("command", "workload"),
    [
        (["deploy", "phi-3"], "StatefulSet"),
        (["tune", "phi-3", "--method", "qlora", "--cleanup", "never"], "Job"),
    ],
    ids=["inference", "tuning"],
)
def test_export_renders_what_the_run_applied(
    cluster: Any, namespace: str, env: dict[str, str], command: list[str], workload: str
) -> None:
    name = run([*command, "-n", namespace, "-o", "json"], env, timeout=120).check().json()["workspace"]
    exported = run(["export", name, "-n", namespace], env).check()
    as_json = run(["export", name, "-n", namespace, "-o", "json"], env).check().json()
    assert yaml.safe_load(exported.stdout) == as_json and as_json["apiVersion"] == "kaito.sh/v1beta1"

    original = _items(run([*command, "-n", namespace, "--dry-run", "-o", "json"], env).check().json())
    again = _items(run(["apply", "-f", "-", "--dry-run", "-o", "json"], env, stdin=exported.stdout).check().json())
    if workload == "Job":  # Kaito creates no adapter claim: the Workspace names the one kaitoctl created
        assert [o["kind"] for o in original if o not in again] == ["PersistentVolumeClaim"]
        assert "tuning.output: claim" in exported.stderr
        original = [o for o in original if o["kind"] != "PersistentVolumeClaim"]
    assert again == original

    # ... and those are the objects the run applied, with the containers the cluster runs.
    live = {k for k in objects_in(cluster, namespace, name) if not k.startswith("Pod/")}
    assert {f"{o['kind']}/{o['metadata']['name']}" for o in original} <= live
    from kubernetes import client

    api = cluster.api_client()
    kind = workload
    if kind == "StatefulSet":
        obj = client.AppsV1Api(api).read_namespaced_stateful_set(name, namespace)
    else:
        obj = client.BatchV1Api(api).read_namespaced_job(name, namespace)
    raw = api.sanitize_for_serialization(obj)  # the API's JSON field names
    rendered = next(o for o in again if o["kind"] == kind)
    assert _containers(raw["spec"]["template"]["spec"]) == _containers(rendered["spec"]["template"]["spec"])


def test_export_of_kaitoctl_only_settings_warns(cluster: Any, namespace: str, env: dict[str, str]) -> None:
    run(["deploy", "phi-3", "-n", namespace, "--revision", "main", "--no-wait"], env, timeout=120).check()
    exported = run(["export", "phi-3-mini-128k-instruct", "-n", namespace], env).check()
    assert "warning: not exported (no Workspace field): --revision main" in exported.stderr
    assert "revision" not in exported.stdout
    assert json.loads(json.dumps(yaml.safe_load(exported.stdout)))["kind"] == "Workspace"
    missing = run(["export", "nope", "-n", namespace], env)
    assert missing.returncode == 1 and "no kaitoctl workspace 'nope'" in missing.stderr
