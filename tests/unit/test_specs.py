"""CLI flags and Kaito Workspace YAML (both API versions) become the same spec."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from kaitoctl.core.builders import CommonOptions, apply_overrides, spec_from_kaito
from kaitoctl.core.errors import InvalidInput
from kaitoctl.core.spec import spec_from_record
from tests.unit.helpers import FIXTURES, catalog, deploy_spec, plan_of, tune_spec


def load(name: str) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((FIXTURES / name).read_text())


def test_cookbook_v1alpha1_tuning_yaml() -> None:
    spec = spec_from_kaito(load("cookbook-tuning-phi-3.yaml"), catalog())
    assert spec.source == "kaito.sh/v1alpha1"
    assert spec.name == "workspace-tuning-phi-3"
    assert spec.resource.instance_type == "Standard_NC6s_v3"
    assert spec.resource.match_labels == {"app": "tuning-phi-3"}
    assert spec.tuning is not None
    assert spec.tuning.preset == "phi-3-mini-128k-instruct" and spec.tuning.method == "qlora"
    assert spec.tuning.input.urls[0].endswith("54e3756291ca09c6.parquet?download=true")
    assert spec.tuning.output.image == "ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1"
    assert spec.tuning.output.image_push_secret == "ACR_REGISTRY_SECRET_HERE"


def test_cookbook_plans_with_a_retirement_warning_and_current_alternatives() -> None:
    plan = plan_of(spec_from_kaito(load("cookbook-tuning-phi-3.yaml"), catalog()))
    assert plan.sku.name == "Standard_NC6s_v3"
    warning = " ".join(plan.warnings)
    assert "retired" in warning and "2025-09-30" in warning
    assert "Standard_NV36ads_A10_v5" in plan.alternatives and "--instance-type" in warning


def test_flag_override_replaces_the_retired_sku() -> None:
    spec = spec_from_kaito(load("cookbook-tuning-phi-3.yaml"), catalog())
    spec = apply_overrides(spec, CommonOptions(instance_type="Standard_NC24ads_A100_v4"))
    plan = plan_of(spec)
    assert plan.sku.name == "Standard_NC24ads_A100_v4" and not plan.warnings


def test_v1beta1_inference_yaml_equals_the_flags() -> None:
    from_yaml = spec_from_kaito(load("v1beta1-inference-phi-4-mini.yaml"), catalog())
    from_flags = deploy_spec(
        "phi-4-mini",
        runtime="vllm",
        name="workspace-phi-4-mini",
        instance_type="Standard_NC24ads_A100_v4",
        labels=["apps=phi-4-mini"],
    )
    assert replace(from_yaml, source="flags", annotations={}) == from_flags
    a, b = plan_of(from_yaml), plan_of(from_flags)
    assert a.sku == b.sku and a.placement == b.placement and a.runtime == b.runtime == "vllm"


def test_v1alpha1_without_instance_type_gets_the_kubebuilder_default() -> None:
    doc = load("cookbook-tuning-phi-3.yaml")
    del doc["resource"]["instanceType"]
    assert spec_from_kaito(doc, catalog()).resource.instance_type == "Standard_NC24ads_A100_v4"
    doc["apiVersion"] = "kaito.sh/v1beta1"
    assert spec_from_kaito(doc, catalog()).resource.instance_type is None  # v1beta1: kaitoctl picks


def test_tune_defaults_make_the_design_card_command_work() -> None:
    spec = tune_spec("phi-3", "qlora")
    assert spec.tuning is not None
    assert spec.tuning.input.default_dataset
    assert spec.tuning.input.urls == (catalog().defaults.tuning_dataset_url,)
    assert spec.tuning.output.managed_pvc == "phi-3-mini-128k-instruct-tuning-adapter"
    plan = plan_of(spec)
    assert plan.sku_choice == "smallest current SKU that fits"
    assert plan.summary()["input"]["defaultDataset"] is True


def test_spec_record_round_trips() -> None:
    spec = deploy_spec("phi-3", adapters=["ad1=myacr.azurecr.io/a:1", "pvc:tuned-adapter"], labels=["a=b"])
    assert spec_from_record(spec.to_record()) == spec
    tspec = tune_spec(input_image="myacr.azurecr.io/data:1", output_pvc="out", image_pull_secrets=["s1"])
    assert spec_from_record(tspec.to_record()) == tspec


def test_adapter_flag_forms() -> None:
    spec = deploy_spec(adapters=["myacr.azurecr.io/team/my_adapter:0.1", "x=pvc:claim-1", "pvc:claim-2"])
    assert spec.inference is not None
    a, b, c = spec.inference.adapters
    assert (a.name, a.image) == ("my-adapter", "myacr.azurecr.io/team/my_adapter:0.1")
    assert (b.name, b.volume) == ("x", {"persistentVolumeClaim": {"claimName": "claim-1"}})
    assert c.name == "claim-2"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(apiVersion="kaito.sh/v2"), "apiVersion"),
        (lambda d: d.update(kind="Deployment"), "kind"),
        (lambda d: d["resource"].update(instanceTyp="x"), "resource.instanceTyp"),
        (lambda d: d["tuning"].update(methd="x"), "tuning.methd"),
        (lambda d: d.update(inference={"preset": {"name": "phi-3"}}), "inference/tuning"),
        (lambda d: d["tuning"]["preset"].pop("name"), "tuning.preset.name"),
        (lambda d: d["resource"].update(count="2"), "resource.count"),
    ],
)
def test_malformed_yaml_names_the_field(mutate, field) -> None:  # type: ignore[no-untyped-def]
    doc = load("cookbook-tuning-phi-3.yaml")
    mutate(doc)
    with pytest.raises(InvalidInput) as err:
        spec_from_kaito(doc, catalog())
    assert err.value.field == field


def test_with_namespace_changes_only_the_namespace() -> None:
    spec = deploy_spec("phi-3", name="phi", labels=["apps=phi"])
    moved = spec.with_namespace("team-b")
    assert moved == replace(spec, namespace="team-b")
    assert (moved.namespace, spec.namespace) == ("team-b", None)


def test_a_record_keeps_the_selector_s_expressions_and_preferred_nodes() -> None:
    from kaitoctl.core.spec import Resource

    spec = deploy_spec("phi-3", name="phi")
    expr = {"key": "gpu", "operator": "In", "values": ["a100"]}
    selected = replace(spec, resource=Resource(match_expressions=(expr,), preferred_nodes=("n1",)))
    back = spec_from_record(selected.to_record())
    assert (back.resource.match_expressions, back.resource.preferred_nodes) == ((expr,), ("n1",))
    assert back == selected
