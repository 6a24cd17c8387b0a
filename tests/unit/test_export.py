"""`kaitoctl export` (core/export.py, ops/export.py): the recorded spec as a Kaito v1beta1 Workspace. Read back by
kaitoctl's own Workspace reader it renders the same workloads as the run it came from, and it passes the Kaito
CRD/webhook rules kaitoctl encodes (core/validation.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kaitoctl.core.builders import spec_from_kaito
from kaitoctl.core.errors import NotFound
from kaitoctl.core.export import Export, to_kaito_workspace
from kaitoctl.core.naming import SPEC_ANNOTATION
from kaitoctl.core.plan import Plan, build_plan
from kaitoctl.core.render import render_plan
from kaitoctl.core.spec import WorkspaceSpec
from kaitoctl.core.validation import validate_spec
from kaitoctl.ops import cluster
from kaitoctl.ops.export import export_workspace
from tests.unit import helpers
from tests.unit.fakes import FakeKube

NS = "team-a"
A100 = "Standard_NC24ads_A100_v4"


def recorded(spec: WorkspaceSpec, mode: str) -> tuple[Plan, cluster.WorkspaceRecord]:
    """The plan of a run and the record it stores (parsed back as `kaitoctl export` reads it)."""
    catalog = helpers.catalog()
    sku = catalog.sku(A100) if mode != "pool" else None
    plan = build_plan(spec, catalog, placement_mode=mode, sku_override=sku)  # type: ignore[arg-type]
    record_obj = next(o for o in render_plan(plan, catalog) if o["metadata"]["name"] == plan.names.record)
    record = cluster.parse_record(record_obj)
    assert record is not None
    return plan, record


def export(record: cluster.WorkspaceRecord, provisioned: bool) -> Export:
    return to_kaito_workspace(
        record.spec, provisioned=provisioned, default_dataset_url=helpers.catalog().defaults.tuning_dataset_url
    )


def without_spec_annotation(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects without the recorded spec (it says where the spec came from: flags or a Workspace file)."""
    out = copy.deepcopy(objects)
    for obj in out:
        (obj["metadata"].get("annotations") or {}).pop(SPEC_ANNOTATION, None)
    return out


CASES = {
    "deploy on a new pool": ("pool", lambda: helpers.deploy_spec("phi-3", name="phi", namespace=NS)),
    "deploy with labels, transformers, count, adapters, config, secrets": (
        "pool",
        lambda: helpers.deploy_spec(
            "phi-3",
            name="phi-tf",
            namespace=NS,
            runtime="transformers",
            labels=["apps=phi"],
            count=1,
            adapters=["tuned=pvc:adapter-claim", "other=myregistry.azurecr.io/adapters/other:1"],
            config="my-inference-config",
            image_pull_secrets=["acr-pull"],
            model_access_secret="hf-token",
            instance_type=A100,
        ),
    ),
    "deploy on named nodes": (
        "nodes",
        lambda: helpers.deploy_spec("phi-3", name="phi-n", namespace=NS, labels=["apps=phi"], nodes=["gpu-1"]),
    ),
    "deploy on labelled nodes": (
        "selector",
        lambda: helpers.deploy_spec("phi-3", name="phi-s", namespace=NS, labels=["apps=phi"]),
    ),
    "tune with the default dataset and claim": ("pool", lambda: helpers.tune_spec("phi-3", name="t", namespace=NS)),
    "tune from URLs to an image": (
        "pool",
        lambda: helpers.tune_spec(
            "phi-3",
            "lora",
            name="t-img",
            namespace=NS,
            input_urls=["https://example.com/data.parquet"],
            output_image="myregistry.azurecr.io/adapters/phi:1",
            push_secret="push",
            config="my-training-config",
        ),
    ),
    "tune from an image to a claim": (
        "selector",
        lambda: helpers.tune_spec(
            "phi-3",
            name="t-pvc",
            namespace=NS,
            labels=["apps=phi"],
            input_image="myregistry.azurecr.io/data/dolly:1",
            image_pull_secrets=["acr-pull"],
            output_pvc="adapters",
        ),
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_the_export_renders_the_same_workloads_as_the_run(case: str) -> None:
    mode, make = CASES[case]
    plan, record = recorded(make(), mode)
    exported = export(record, mode == "pool")
    spec = spec_from_kaito(copy.deepcopy(exported.workspace), helpers.catalog())
    assert spec.source == "kaito.sh/v1beta1"
    again, _ = recorded(spec, mode)
    before = without_spec_annotation(render_plan(plan, helpers.catalog()))
    after = without_spec_annotation(render_plan(again, helpers.catalog()))
    if plan.spec.tuning is not None and plan.spec.tuning.output.managed_pvc:
        # Kaito creates no adapter claim: the Workspace names the one kaitoctl created, which stays.
        assert [o["kind"] for o in before if o not in after] == ["PersistentVolumeClaim"]
        before = [o for o in before if o["kind"] != "PersistentVolumeClaim"]
    assert after == before


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_the_export_passes_kaito_s_rules(case: str) -> None:
    mode, make = CASES[case]
    _, record = recorded(make(), mode)
    doc = export(record, mode == "pool").workspace
    assert (doc["apiVersion"], doc["kind"]) == ("kaito.sh/v1beta1", "Workspace")
    assert set(doc) == {"apiVersion", "kind", "metadata", "resource", "inference" if "inference" in doc else "tuning"}
    assert "labelSelector" in doc["resource"]  # a required key of Kaito's ResourceSpec
    # Node auto-provisioning needs instanceType; bring-your-own-nodes mode needs it empty.
    assert ("instanceType" in doc["resource"]) == (mode == "pool")
    findings = validate_spec(spec_from_kaito(doc, helpers.catalog()), helpers.catalog())
    assert findings.blockers == []


def test_a_pool_workspace_without_labels_selects_the_label_kaitoctl_puts_on_its_nodes() -> None:
    _, record = recorded(helpers.deploy_spec("phi-3", name="phi", namespace=NS), "pool")
    doc = export(record, True).workspace
    assert doc == {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "phi", "namespace": NS, "annotations": {"kaito.sh/runtime": "vllm"}},
        "resource": {
            "instanceType": "Standard_NV36ads_A10_v5",
            "labelSelector": {"matchLabels": {"kaitoctl.io/workspace": "phi"}},
        },
        "inference": {"preset": {"name": "phi-3-mini-128k-instruct"}},
    }


def test_a_tuning_export_names_the_claim_kaitoctl_created() -> None:
    _, record = recorded(helpers.tune_spec("phi-3", name="t", namespace=NS), "pool")
    exported = export(record, True)
    tuning = exported.workspace["tuning"]
    assert tuning["method"] == "qlora" and tuning["preset"] == {"name": "phi-3-mini-128k-instruct"}
    assert tuning["input"] == {"urls": [helpers.catalog().defaults.tuning_dataset_url]}
    assert tuning["output"] == {"volumeSource": {"persistentVolumeClaim": {"claimName": "t-adapter"}}}
    assert exported.dropped == []
    assert exported.notes == [
        "tuning.output: claim t-adapter was created by kaitoctl (Kaito creates none) and `kaitoctl delete t` "
        "deletes it; keep it, or create one of that name first"
    ]


def test_kaitoctl_only_settings_are_left_out_and_named() -> None:
    spec = helpers.deploy_spec(
        "phi-3",
        name="phi",
        namespace=NS,
        image="myregistry.azurecr.io/kaito-base:custom",
        max_model_len=8192,
        revision="main",
    )
    _, record = recorded(spec, "pool")
    exported = export(record, True)
    assert exported.dropped == [
        "--image myregistry.azurecr.io/kaito-base:custom: Kaito v0.12 runs every preset on its kaito-base image",
        "--max-model-len 8192: set vllm.max-model-len in a ConfigMap's inference_config.yaml and name it in "
        "inference.config",
        "--revision main: Kaito loads the weights' Hugging Face main branch",
    ]
    text = repr(exported.workspace)
    assert "custom" not in text and "8192" not in text and "main" not in text


def test_a_spot_pool_is_named_as_left_out() -> None:
    catalog = helpers.catalog()
    plan = build_plan(helpers.deploy_spec("phi-3", name="phi", namespace=NS), catalog, placement_mode="pool", spot=True)
    kube = FakeKube()
    kube.put(next(o for o in render_plan(plan, catalog) if o["metadata"]["name"] == plan.names.record))
    exported = export_workspace(kube, NS, "phi", catalog)
    assert exported.dropped == [
        "--spot: a Workspace has no Spot setting; Kaito provisions regular (pay-as-you-go) nodes"
    ]
    assert "spot" not in repr(exported.workspace).lower()
    regular = build_plan(helpers.deploy_spec("phi-3", name="phi", namespace=NS), catalog, placement_mode="pool")
    assert '"spot"' not in regular.placement_info().to_json()  # the record of a regular pool is unchanged


def test_named_nodes_are_exported_with_a_note_that_kaito_ignores_them() -> None:
    spec = helpers.deploy_spec("phi-3", name="phi", namespace=NS, labels=["apps=phi"], nodes=["gpu-1"])
    _, record = recorded(spec, "nodes")
    exported = export(record, False)
    assert exported.workspace["resource"] == {
        "labelSelector": {"matchLabels": {"apps": "phi"}},
        "preferredNodes": ["gpu-1"],
    }
    assert exported.notes[0].startswith("resource.preferredNodes: Kaito v0.12 ignores it")


def test_urls_whose_secrets_kaitoctl_redacted_get_a_note() -> None:
    spec = helpers.tune_spec(
        "phi-3", name="t", namespace=NS, input_urls=["https://acct.blob.core.windows.net/d?sig=s3cret"]
    )
    _, record = recorded(spec, "pool")
    exported = export(record, True)
    assert exported.workspace["tuning"]["input"]["urls"] == ["https://acct.blob.core.windows.net/d?sig=REDACTED"]
    assert "s3cret" not in repr(exported.workspace)
    assert any(n.startswith("tuning.input.urls: kaitoctl stores URLs with their secrets") for n in exported.notes)


def test_export_reads_the_record_and_writes_nothing() -> None:
    catalog = helpers.catalog()
    plan = build_plan(helpers.deploy_spec("phi-3", name="phi", namespace=NS), catalog, placement_mode="pool")
    kube = FakeKube()
    kube.put(next(o for o in render_plan(plan, catalog) if o["metadata"]["name"] == plan.names.record))
    exported = export_workspace(kube, NS, "phi", catalog)
    assert exported.workspace["resource"]["instanceType"] == plan.sku.name
    assert exported.workspace["metadata"]["namespace"] == NS
    assert kube.writes() == []
    with pytest.raises(NotFound):
        export_workspace(kube, NS, "nope", catalog)
