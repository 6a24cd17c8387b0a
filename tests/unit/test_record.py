"""The workspace record (the ConfigMap that stands in for Kaito's Workspace object) and the spec annotation the
workloads carry. Golden files leave both out (tests/unit/golden.py); this file pins their content instead."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kaitoctl.core.conditions import PlacementInfo
from kaitoctl.core.spec import WorkspaceSpec, spec_from_record
from tests.unit.helpers import deploy_spec, plan_of, render, tune_spec

PHI3_DEPLOY_SPEC_JSON = (
    '{"version":1,"workspace":{"annotations":{},"ignored_image":null,"image":null,"image_pull_secrets":[],'
    '"inference":{"adapters":[],"config":null,"max_model_len":null,"preset":"phi-3-mini-128k-instruct",'
    '"revision":null,"runtime":"vllm"},"model_access_secret":null,"name":"phi-3-mini-128k-instruct","namespace":"default",'
    '"resource":{"count":null,"instance_type":"Standard_NV36ads_A10_v5","match_expressions":[],"match_labels":{},'
    '"preferred_nodes":[]},"source":"flags","tuning":null}}'
)


def _record(objects: list[dict[str, Any]]) -> dict[str, Any]:
    records = [o for o in objects if o["metadata"].get("labels", {}).get("kaitoctl.io/record") == "workspace"]
    assert len(records) == 1
    return records[0]


def test_deploy_record_is_exactly_this() -> None:
    objects = render(deploy_spec("phi-3"))
    assert objects[0] is _record(objects)  # applied first: it names what the rest belongs to
    assert objects[0] == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "phi-3-mini-128k-instruct-workspace",
            "namespace": "default",
            "labels": {
                "app.kubernetes.io/managed-by": "kaitoctl",
                "kaitoctl.io/workspace": "phi-3-mini-128k-instruct",
                "app.kubernetes.io/component": "workspace",
                "kaitoctl.io/record": "workspace",
                "kaitoctl.io/mode": "inference",
            },
            "annotations": {
                "kaitoctl.io/spec": PHI3_DEPLOY_SPEC_JSON,
                "kaitoctl.io/placement": (
                    '{"gpusPerNode":1,"instanceType":"Standard_NV36ads_A10_v5","mode":"pool","nodeCount":1,'
                    '"nodeNames":[],"pool":"kc6665cd65f5","selector":{"kaitoctl.io/workspace":'
                    '"phi-3-mini-128k-instruct","kaitoctl.io/workspace-namespace":"default"}}'
                ),
            },
        },
    }


def test_tuning_record_names_its_mode_and_placement() -> None:
    spec = tune_spec("phi-3", "lora", instance_type="Standard_NC24ads_A100_v4", input_pvc="data", output_pvc="out")
    objects = render(spec)
    record = _record(objects)
    assert record["metadata"]["name"] == "phi-3-mini-128k-instruct-tuning-workspace"
    assert record["metadata"]["labels"]["kaitoctl.io/mode"] == "tuning"
    placement = PlacementInfo.from_json(record["metadata"]["annotations"]["kaitoctl.io/placement"])
    assert placement == plan_of(spec).placement_info()
    assert (placement.mode, placement.instance_type, placement.node_count) == ("pool", "Standard_NC24ads_A100_v4", 1)


SPECS = {
    "deploy": lambda: deploy_spec("phi-3"),
    "deploy-adapters-nodes": lambda: deploy_spec(
        "phi-3",
        adapters=["a=myacr.azurecr.io/a:1", "b=pvc:claim"],
        nodes=["n1", "n2"],
        labels=["apps=x"],
        image_pull_secrets=["pull"],
        max_model_len=4096,
    ),
    "tune-urls-image": lambda: tune_spec(
        "phi-3",
        "qlora",
        instance_type="Standard_NC24ads_A100_v4",
        input_urls=["https://example.com/d.jsonl"],
        output_image="myacr.azurecr.io/o:1",
        push_secret="push",
    ),
    "tune-default-output": lambda: tune_spec("phi-3", "lora", instance_type="Standard_NC24ads_A100_v4", input_pvc="d"),
}


@pytest.mark.parametrize("case", sorted(SPECS))
def test_the_record_and_every_workload_carry_the_same_spec_and_it_reads_back(case: str) -> None:
    spec: WorkspaceSpec = SPECS[case]()
    objects = render(spec)
    text = _record(objects)["metadata"]["annotations"]["kaitoctl.io/spec"]
    planned = plan_of(spec).spec  # the plan fills in the namespace and the runtime
    assert planned.namespace == "default" and planned.name == spec.name
    assert text == planned.to_json()
    assert spec_from_record(json.loads(text)) == planned
    workloads = [o for o in objects if o["kind"] in ("StatefulSet", "Job")]
    assert len(workloads) == 1
    assert workloads[0]["metadata"]["annotations"]["kaitoctl.io/spec"] == text


def test_a_record_of_another_version_is_refused() -> None:
    record = json.loads(PHI3_DEPLOY_SPEC_JSON)
    record["version"] = 2
    with pytest.raises(ValueError, match="unsupported kaitoctl spec record version 2"):
        spec_from_record(record)
