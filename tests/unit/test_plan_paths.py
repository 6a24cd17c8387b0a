"""Plan and render paths the golden files do not reach: the enablelb annotation, resource-check bypass, the model
access secret, image and pull-secret overrides, vLLM's data-parallel branch and the tuning does-not-fit error."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from kaitoctl.core.builders import spec_from_kaito
from kaitoctl.core.errors import InvalidInput
from tests.unit.helpers import FIXTURES, catalog, deploy_spec, one, plan_of, render, tune_spec


def _container(objects: list[dict[str, Any]], kind: str = "StatefulSet") -> dict[str, Any]:
    return one(objects, kind)["spec"]["template"]["spec"]["containers"][0]


def _service_type(doc: dict[str, Any]) -> str:
    objects = render(spec_from_kaito(doc, catalog()))
    name = doc["metadata"]["name"]
    services = {s["metadata"]["name"]: s["spec"] for s in objects if s["kind"] == "Service"}
    assert services[f"{name}-headless"]["clusterIP"] == "None"
    return str(services[name]["type"])


@pytest.mark.parametrize(
    ("value", "service_type"),
    [("true", "LoadBalancer"), ("True", "LoadBalancer"), ("false", "ClusterIP"), (None, "ClusterIP")],
)
def test_enablelb_annotation_makes_a_load_balancer(value: str | None, service_type: str) -> None:
    doc = yaml.safe_load((FIXTURES / "v1beta1-inference-phi-4-mini.yaml").read_text())
    if value is not None:
        doc["metadata"]["annotations"]["kaito.sh/enablelb"] = value
    assert _service_type(doc) == service_type


# ---- resource checks ------------------------------------------------------------------------------------------

FULL_CONTEXT_ON_A10 = {"max_model_len": 131072, "instance_type": "Standard_NV36ads_A10_v5"}


def test_a_model_that_does_not_fit_is_refused_with_the_smallest_that_fits() -> None:
    with pytest.raises(InvalidInput) as err:
        plan_of(deploy_spec("phi-3", **FULL_CONTEXT_ON_A10))
    assert err.value.field == "--instance-type"
    assert err.value.hint == "use --instance-type Standard_NC24ads_A100_v4 (the smallest that fits)"
    assert err.value.details is not None and next(iter(err.value.details)) == "Standard_NC24ads_A100_v4"


def test_bypass_flag_turns_the_refusal_into_a_warning() -> None:
    plan = plan_of(deploy_spec("phi-3", **FULL_CONTEXT_ON_A10), bypass_resource_checks=True)
    assert plan.sku.name == "Standard_NV36ads_A10_v5" and plan.placement.nodes == 1
    assert plan.warnings == [
        "phi-3-mini-128k-instruct on Standard_NV36ads_A10_v5: does not fit: the reserve of 50.3 GiB per GPU "
        "(KV cache for 131072 tokens + runtime) exceeds the 20.2 GiB usable on one NVIDIA A10 (resource checks bypassed)"
    ]


def test_bypass_annotation_does_the_same() -> None:
    doc = yaml.safe_load((FIXTURES / "v1beta1-inference-phi-4-mini.yaml").read_text())
    doc["resource"]["instanceType"] = "Standard_NV36ads_A10_v5"
    doc["inference"]["preset"]["name"] = "llama-3.3-70b-instruct"
    doc["metadata"]["annotations"]["kaito.sh/runtime"] = "transformers"
    with pytest.raises(InvalidInput, match="cannot spread a model over several nodes"):
        plan_of(spec_from_kaito(doc, catalog()))
    doc["metadata"]["annotations"]["kaito.sh/bypass-resource-checks"] = "True"
    plan = plan_of(spec_from_kaito(doc, catalog()))
    assert any(w.endswith("(resource checks bypassed)") for w in plan.warnings)


def test_tuning_that_does_not_fit_names_the_numbers_and_the_way_out() -> None:
    spec = tune_spec("qwen2.5-coder-32b-instruct", "lora", instance_type="Standard_NV36ads_A10_v5")
    with pytest.raises(InvalidInput) as err:
        plan_of(spec)
    assert err.value.field == "--instance-type"
    assert err.value.message.startswith("--instance-type: lora tuning of qwen2.5-coder-32b-instruct needs ≈ ")
    assert err.value.message.endswith(" GiB per GPU; Standard_NV36ads_A10_v5 has 24 GiB")
    assert err.value.hint is not None and err.value.hint.startswith("use --instance-type Standard_N")
    bypassed = plan_of(spec, bypass_resource_checks=True)
    assert bypassed.tuning_estimate is not None and not bypassed.tuning_estimate.fits
    assert bypassed.warnings[-1].endswith("has 24 GiB (resource checks bypassed)")


def test_tuning_without_an_instance_type_picks_the_smallest_that_fits() -> None:
    plan = plan_of(tune_spec("qwen2.5-coder-32b-instruct", "lora"))
    assert plan.tuning_estimate is not None and plan.tuning_estimate.fits
    assert plan.sku.gpu_memory_gib >= 80


# ---- secrets and images -----------------------------------------------------------------------------------------


def test_model_access_secret_reaches_the_runtime_as_hf_token() -> None:
    env = _container(render(deploy_spec("phi-3", model_access_secret="hf-token")))["env"]
    assert {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN", "optional": True}},
    } in env
    assert not [e for e in _container(render(deploy_spec("phi-3")))["env"] if e["name"] == "HF_TOKEN"]
    tuning_env = _container(render(tune_spec(model_access_secret="hf-token")), "Job")["env"]
    assert [e for e in tuning_env if e["name"] == "HF_TOKEN"] == [
        {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN", "optional": True}}}
    ]


def test_a_gated_model_without_a_token_is_refused_before_any_write() -> None:
    blockers = plan_of(deploy_spec("llama-3.1-8b-instruct")).blockers
    assert [(b.field, b.problem) for b in blockers] == [
        (
            "--model-access-secret",
            "meta-llama/Llama-3.1-8B-Instruct is a gated Hugging Face model and no model-access secret is given",
        )
    ]
    assert "--model-access-secret hf-token" in (blockers[0].hint or "")
    assert not plan_of(deploy_spec("llama-3.1-8b-instruct", model_access_secret="hf")).blockers
    assert not plan_of(deploy_spec("phi-3")).blockers


def test_image_override_replaces_the_runtime_image_only() -> None:
    image = "myacr.azurecr.io/kaito-base:custom"
    default = catalog().defaults.base_image
    assert _container(render(deploy_spec("phi-3")))["image"] == default
    assert _container(render(deploy_spec("phi-3", image=image)))["image"] == image
    job = one(render(tune_spec(image=image)), "Job")["spec"]["template"]["spec"]
    assert job["containers"][0]["image"] == image
    assert job["initContainers"][0]["image"] != image  # the weights downloader keeps its own image


def test_image_pull_secrets_are_listed_once_each() -> None:
    objects = render(
        deploy_spec(
            "phi-3",
            image_pull_secrets=["pull-a", "pull-b"],
            adapters=["a=myacr.azurecr.io/a:1"],
        )
    )
    pod = one(objects, "StatefulSet")["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "pull-a"}, {"name": "pull-b"}]
    assert "imagePullSecrets" not in one(render(deploy_spec("phi-3")), "StatefulSet")["spec"]["template"]["spec"]
    tuning = one(
        render(tune_spec(image_pull_secrets=["pull-a"], output_image="myacr.azurecr.io/o:1", push_secret="push")), "Job"
    )["spec"]["template"]["spec"]
    assert tuning["imagePullSecrets"] == [{"name": "pull-a"}, {"name": "push"}]


# ---- vLLM parallelism -------------------------------------------------------------------------------------------


def _vllm_args(preset: str, instance_type: str, **kwargs: Any) -> list[str]:
    return list(_container(render(deploy_spec(preset, instance_type=instance_type, **kwargs)))["args"])


def test_a_small_model_on_a_multi_gpu_node_runs_data_parallel() -> None:
    args = _vllm_args("phi-3", "Standard_NC96ads_A100_v4")
    assert "--data-parallel-size=4" in args and "--tensor-parallel-size=1" in args
    assert "--kaito-kv-cache-cpu-memory-utilization=0" in args
    assert not [a for a in args if a.startswith("--pipeline-parallel-size")]


def test_a_large_model_on_a_multi_gpu_node_runs_tensor_parallel() -> None:
    args = _vllm_args("llama-3.3-70b-instruct", "Standard_NC96ads_A100_v4")
    assert "--tensor-parallel-size=4" in args
    assert not [a for a in args if a.startswith("--data-parallel-size")]
    assert "--kaito-kv-cache-cpu-memory-utilization=0" not in args


def test_one_gpu_runs_tensor_parallel_one() -> None:
    args = _vllm_args("phi-3", "Standard_NC24ads_A100_v4")
    assert "--tensor-parallel-size=1" in args and not [a for a in args if "data-parallel" in a]


@pytest.mark.parametrize(
    ("sku", "utilization"), [("Standard_NV36ads_A10_v5", "0.82"), ("Standard_NC24ads_A100_v4", "0.84")]
)
def test_gpu_memory_utilization_is_lower_on_an_a10(sku: str, utilization: str) -> None:
    assert f"--gpu-memory-utilization={utilization}" in _vllm_args("phi-3", sku)


def test_count_is_ignored_for_vllm_with_a_warning_and_used_for_transformers() -> None:
    vllm = plan_of(deploy_spec("phi-3", count=3))
    assert vllm.placement.nodes == 1
    assert "count 3 is ignored for vLLM (as in Kaito v0.12): the estimate needs 1 node(s)" in vllm.warnings
    tf = plan_of(deploy_spec("phi-3", count=2, runtime="transformers"))
    assert tf.placement.nodes == 2 and not [w for w in tf.warnings if "ignored for vLLM" in w]
