"""What a re-run may change in place (Kaito's webhook rules for an update), and how `apply -f` flags win over the
file. Each immutable field on its own, with the exact description the user sees."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from kaitoctl.core.builders import CommonOptions, apply_overrides, spec_from_kaito
from kaitoctl.core.errors import InvalidInput
from kaitoctl.core.spec import Inference, Resource, WorkspaceSpec
from kaitoctl.core.validation import immutable_changes
from tests.unit.helpers import FIXTURES, catalog, deploy_spec, tune_spec


def _deploy() -> WorkspaceSpec:
    return deploy_spec("phi-3", instance_type="Standard_NC24ads_A100_v4", labels=["apps=x"], count=1)


def _tune() -> WorkspaceSpec:
    return tune_spec("phi-3", "qlora", instance_type="Standard_NC24ads_A100_v4", input_pvc="data")


def test_the_same_spec_has_no_changes() -> None:
    assert immutable_changes(_deploy(), _deploy()) == []
    assert immutable_changes(_tune(), _tune()) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda s: replace(s, inference=replace(s.inference, preset="phi-4-mini-instruct")),
            ["preset ('phi-3-mini-128k-instruct' → 'phi-4-mini-instruct')"],
        ),
        (lambda s: replace(s, resource=replace(s.resource, count=2)), ["resource.count (1 → 2)"]),
        (lambda s: replace(s, resource=replace(s.resource, count=None)), ["resource.count (1 → None)"]),
        (
            lambda s: replace(s, resource=replace(s.resource, match_labels={"apps": "y"})),
            ["resource.labelSelector ({'apps': 'x'} → {'apps': 'y'})"],
        ),
        (
            lambda s: replace(s, resource=replace(s.resource, instance_type="Standard_NV36ads_A10_v5")),
            ["resource.instanceType ('Standard_NC24ads_A100_v4' → 'Standard_NV36ads_A10_v5')"],
        ),
    ],
    ids=["preset", "count", "count-dropped", "labelSelector", "instanceType"],
)
def test_each_immutable_inference_field(change, expected: list[str]) -> None:  # type: ignore[no-untyped-def]
    old = _deploy()
    assert immutable_changes(old, change(old)) == expected


def test_mutable_fields_change_in_place() -> None:
    old = _deploy()
    assert old.inference is not None
    new = replace(
        old,
        inference=replace(old.inference, max_model_len=8192, runtime="transformers", config="cfg"),
        image="myacr.azurecr.io/img:1",
        image_pull_secrets=("pull",),
        model_access_secret="hf",
        resource=replace(old.resource, preferred_nodes=("n1",)),
    )
    assert immutable_changes(old, new) == []


def test_an_instance_type_not_recorded_before_may_be_set() -> None:
    old = replace(_deploy(), resource=replace(_deploy().resource, instance_type=None))
    assert immutable_changes(old, _deploy()) == []


def test_each_immutable_tuning_field() -> None:
    old = _tune()
    assert old.tuning is not None
    assert immutable_changes(old, replace(old, tuning=replace(old.tuning, method="lora"))) == [
        "tuning.method ('qlora' → 'lora')"
    ]
    renamed = replace(old, tuning=replace(old.tuning, input=replace(old.tuning.input, name="other")))
    assert immutable_changes(old, renamed) == ["tuning.input.name (None → 'other')"]
    both = replace(renamed, tuning=replace(renamed.tuning, method="lora"))  # type: ignore[arg-type]
    assert immutable_changes(old, both) == ["tuning.method ('qlora' → 'lora')", "tuning.input.name (None → 'other')"]


def test_inference_and_tuning_do_not_turn_into_each_other() -> None:
    assert immutable_changes(_deploy(), _tune()) == ["inference/tuning (was inference, now tuning)"]
    assert immutable_changes(_tune(), _deploy()) == ["inference/tuning (was tuning, now inference)"]


def test_several_changes_are_all_named_in_order() -> None:
    old = _deploy()
    new = replace(old, resource=Resource(instance_type="Standard_NV36ads_A10_v5", count=3, match_labels={}))
    assert immutable_changes(old, new) == [
        "resource.count (1 → 3)",
        "resource.labelSelector ({'apps': 'x'} → {})",
        "resource.instanceType ('Standard_NC24ads_A100_v4' → 'Standard_NV36ads_A10_v5')",
    ]


# ---- apply -f with flags -------------------------------------------------------------------------------------


def _yaml_spec() -> WorkspaceSpec:
    doc = yaml.safe_load((FIXTURES / "v1beta1-inference-phi-4-mini.yaml").read_text())
    doc["resource"]["count"] = 1
    return spec_from_kaito(doc, catalog())


def test_no_flags_keep_the_file() -> None:
    spec = _yaml_spec()
    assert apply_overrides(spec, CommonOptions()) == spec


def test_every_flag_wins_over_the_file() -> None:
    spec = _yaml_spec()
    common = CommonOptions(
        name="other",
        namespace="ns",
        instance_type="Standard_NC48ads_A100_v4",
        count=2,
        labels=["extra=1"],
        nodes=["n1", "n2"],
        image="myacr.azurecr.io/img:2",
        image_pull_secrets=["pull"],
        model_access_secret="hf",
    )
    out = apply_overrides(spec, common, runtime="Transformers", max_model_len=4096)
    assert out.name == "other" and out.namespace == "ns"
    assert out.resource == Resource(
        instance_type="Standard_NC48ads_A100_v4",
        count=2,
        match_labels={"apps": "phi-4-mini", "extra": "1"},
        match_expressions=spec.resource.match_expressions,
        preferred_nodes=("n1", "n2"),
    )
    assert (out.image, out.image_pull_secrets, out.model_access_secret) == ("myacr.azurecr.io/img:2", ("pull",), "hf")
    assert out.inference == Inference(
        preset=spec.preset, runtime="transformers", adapters=(), config=None, max_model_len=4096
    )


def test_count_flag_alone_overrides_the_files_count() -> None:
    out = apply_overrides(_yaml_spec(), CommonOptions(count=3))
    assert out.resource.count == 3
    assert out.resource.instance_type == "Standard_NC24ads_A100_v4"


def test_runtime_or_max_model_len_on_a_tuning_file_is_refused() -> None:
    doc = yaml.safe_load((FIXTURES / "v1beta1-tuning-pvc.yaml").read_text())
    spec = spec_from_kaito(doc, catalog())
    with pytest.raises(InvalidInput) as err:
        apply_overrides(spec, CommonOptions(), max_model_len=10)
    assert err.value.field == "--runtime/--max-model-len"
    assert err.value.message == "--runtime/--max-model-len: apply to inference workspaces only"
    with pytest.raises(InvalidInput):
        apply_overrides(spec, CommonOptions(), runtime="vllm")
