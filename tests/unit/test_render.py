"""Rendered manifests: golden files for every preset × runtime and every tuning input × output, Kubernetes
OpenAPI schema validation of every object, and hostile input that must stay inside its scalar."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest
import yaml

from kaitoctl.core.builders import spec_from_kaito
from kaitoctl.core.manifests import to_json, to_yaml
from kaitoctl.core.render import render_template, script, yaml_scalar
from kaitoctl.core.spec import spec_from_record
from tests.unit.golden import GOLDEN, SPEC_PLACEHOLDER, workloads_only
from tests.unit.helpers import FIXTURES, by_kind, catalog, deploy_spec, one, render, tune_spec

K8S_SCHEMA_VERSION = "1.36.0"


def _current_presets_and_runtimes() -> list[tuple[str, str]]:
    return [(p.name, rt) for p in catalog().presets.values() if p.usable for rt in p.runtimes]


def _tuning_matrix() -> list[tuple[str, str, str]]:
    return [
        (m, i, o)
        for m in ("lora", "qlora")
        for i in ("urls", "image", "volume")
        for o in ("image", "volume", "default")
    ]


def _tuning_spec(method: str, input_kind: str, output_kind: str):  # type: ignore[no-untyped-def]
    kwargs: dict[str, Any] = {"name": f"tune-{method}-{input_kind}-{output_kind}"}
    if input_kind == "urls":
        kwargs["input_urls"] = ["https://example.com/data/train.parquet", "https://example.com/more.jsonl?sig=a&x=1"]
    elif input_kind == "image":
        kwargs["input_image"] = "myacr.azurecr.io/datasets/dolly:1.0"
        kwargs["image_pull_secrets"] = ["acr-pull"]
    else:
        kwargs["input_pvc"] = "training-data"
    if output_kind == "image":
        kwargs["output_image"] = "myacr.azurecr.io/adapters/phi-3:0.0.1"
        kwargs["push_secret"] = "acr-push"
    elif output_kind == "volume":
        kwargs["output_pvc"] = "adapters"
    return tune_spec("phi-3", method, instance_type="Standard_NC24ads_A100_v4", **kwargs)


def _check_golden(name: str, objects: list[dict[str, Any]]) -> None:
    GOLDEN.check(name, objects)


def _schema_valid(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_SCHEMA_VERSION, strict=True)


@pytest.mark.parametrize(("preset", "runtime"), _current_presets_and_runtimes())
def test_inference_golden_and_schema(preset: str, runtime: str) -> None:
    objects = render(deploy_spec(preset, runtime=runtime))
    _schema_valid(objects)
    _check_golden(f"inference/{preset}.{runtime}.yaml", objects)
    sts = one(objects, "StatefulSet")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == container["resources"]["requests"]["nvidia.com/gpu"]
    assert {s["metadata"]["name"] for s in by_kind(objects, "Service")} == {
        sts["metadata"]["name"],
        f"{sts['metadata']['name']}-headless",
    }


@pytest.mark.parametrize(("method", "input_kind", "output_kind"), _tuning_matrix())
def test_tuning_golden_and_schema(method: str, input_kind: str, output_kind: str) -> None:
    objects = render(_tuning_spec(method, input_kind, output_kind))
    _schema_valid(objects)
    _check_golden(f"tuning/phi-3.{method}.{input_kind}-to-{output_kind}.yaml", objects)
    job = one(objects, "Job")
    pod = job["spec"]["template"]["spec"]
    names = [c["name"] for c in pod["containers"]]
    assert ("pusher" in names) == (output_kind == "image")
    init = [c["name"] for c in pod["initContainers"]]
    assert init[0] == "model-weights-downloader"
    assert {"urls": "data-downloader", "image": "puller"}.get(input_kind) in (init[1:] or [None])
    assert bool(by_kind(objects, "PersistentVolumeClaim")) == (output_kind == "default")


INFERENCE_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    (
        "adapters",
        {
            "adapters": ["phi-3-adapter=myacr.azurecr.io/adapters/phi-3:0.0.1", "tuned=pvc:tuned-adapter"],
            "image_pull_secrets": ["acr-pull"],
        },
    ),
    ("max-model-len", {"max_model_len": 131072}),
    ("existing-nodes", {"nodes": ["gpu-node-1", "gpu-node-2"], "labels": ["apps=phi-3"]}),
]

# Every golden file a test below reads; test_every_golden_file_is_read fails on any other file in tests/golden.
GOLDEN.declare(
    *(f"inference/{p}.{rt}.yaml" for p, rt in _current_presets_and_runtimes()),
    *(f"tuning/phi-3.{m}.{i}-to-{o}.yaml" for m, i, o in _tuning_matrix()),
    *(f"inference/variants/phi-3.{label}.yaml" for label, _ in INFERENCE_VARIANTS),
    "inference/variants/llama-3.3-70b-instruct.multi-node.yaml",
    "tuning/cookbook-phi-3.yaml",
    "tuning/phi-3.qlora.files-to-default.yaml",
)


def test_every_golden_file_is_read() -> None:
    assert GOLDEN.undeclared() == set(), "golden files no test reads (KAITOCTL_UPDATE_GOLDEN=1 deletes them)"


def test_goldens_hold_workloads_without_the_record() -> None:
    objects = render(deploy_spec("phi-3"))
    kept = workloads_only(objects)
    assert [o["kind"] for o in objects] == ["ConfigMap", *[o["kind"] for o in kept]]
    assert objects[0]["metadata"]["labels"]["kaitoctl.io/record"] == "workspace"
    sts = one(kept, "StatefulSet")
    assert sts["metadata"]["annotations"]["kaitoctl.io/spec"] == SPEC_PLACEHOLDER
    # The objects passed in are not changed.
    assert one(objects, "StatefulSet")["metadata"]["annotations"]["kaitoctl.io/spec"] != SPEC_PLACEHOLDER


@pytest.mark.parametrize(("label", "spec_kwargs"), INFERENCE_VARIANTS)
def test_inference_variants_golden(label: str, spec_kwargs: dict[str, Any]) -> None:
    objects = render(deploy_spec("phi-3", **spec_kwargs))
    _schema_valid(objects)
    _check_golden(f"inference/variants/phi-3.{label}.yaml", objects)


def test_multi_node_vllm_uses_ray_and_pod_index() -> None:
    objects = render(deploy_spec("llama-3.3-70b-instruct", instance_type="Standard_NC24ads_A100_v4"))
    _schema_valid(objects)
    _check_golden("inference/variants/llama-3.3-70b-instruct.multi-node.yaml", objects)
    sts = one(objects, "StatefulSet")
    assert sts["spec"]["replicas"] == 3
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert "--pipeline-parallel-size=3" in container["args"]
    assert any(e["name"] == "POD_INDEX" for e in container["env"])


def test_input_files_render_their_claim_and_the_trainer_mounts_its_data_directory() -> None:
    spec = tune_spec("phi-3", "qlora", instance_type="Standard_NC24ads_A100_v4", input_files_digest="a" * 64)
    objects = render(spec)
    _schema_valid(objects)
    _check_golden("tuning/phi-3.qlora.files-to-default.yaml", objects)
    claims = {o["metadata"]["name"]: o["spec"] for o in by_kind(objects, "PersistentVolumeClaim")}
    name = spec.name
    assert claims[f"{name}-input"]["resources"]["requests"]["storage"] == "10Gi"
    pod = one(objects, "Job")["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["model-weights-downloader"]  # nothing to download
    data = next(v for v in pod["volumes"] if v["name"] == "data-volume")
    assert data == {"name": "data-volume", "persistentVolumeClaim": {"claimName": f"{name}-input"}}
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "data-volume")
    assert mount == {"name": "data-volume", "mountPath": "/mnt/data", "subPath": "data"}


def test_cookbook_yaml_renders_the_tuning_job_kaito_would_create() -> None:
    doc = yaml.safe_load((FIXTURES / "cookbook-tuning-phi-3.yaml").read_text())
    doc["resource"]["instanceType"] = "Standard_NC24ads_A100_v4"
    objects = render(spec_from_kaito(doc, catalog()))
    _schema_valid(objects)
    _check_golden("tuning/cookbook-phi-3.yaml", objects)
    job = one(objects, "Job")
    assert job["metadata"]["name"] == "workspace-tuning-phi-3"
    pod = job["spec"]["template"]["spec"]
    weights, data = pod["initContainers"]
    assert weights["command"] == [
        "oras",
        "pull",
        "mcr.microsoft.com/aks/kaito/kaito-phi-3-mini-128k-instruct:0.2.0",
        "-o",
        "/workspace/weights",
    ]
    assert data["name"] == "data-downloader" and data["args"] == list(doc["tuning"]["input"]["urls"])
    trainer, pusher = pod["containers"]
    assert trainer["image"] == "mcr.microsoft.com/aks/kaito/kaito-base:0.5.0"
    assert "accelerate launch" in trainer["command"][2]
    env = {e["name"]: e.get("value") for e in trainer["env"]}
    assert env["DEFAULT_TARGET_MODULES"] == "k_proj,q_proj,v_proj,o_proj,gate_proj,down_proj,up_proj"
    assert pusher["args"] == ["ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1"]
    assert {"name": "ACR_REGISTRY_SECRET_HERE"} in pod["imagePullSecrets"]
    affinity = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    keys = {t["key"]: t["values"] for t in affinity["nodeSelectorTerms"][0]["matchExpressions"]}
    assert keys["app"] == ["tuning-phi-3"]
    params = yaml.safe_load(
        one([o for o in objects if o["metadata"]["name"].endswith("-params")], "ConfigMap")["data"][
            "training_config.yaml"
        ]
    )
    assert params["training_config"]["QuantizationConfig"]["load_in_4bit"] is True


def test_output_is_deterministic() -> None:
    spec = deploy_spec("phi-4", runtime="vllm")
    assert to_yaml(render(spec)) == to_yaml(render(spec))
    assert to_json(render(spec)) == to_json(render(spec))


def test_every_object_carries_ownership_labels_and_the_workload_records_the_spec() -> None:
    objects = render(tune_spec())
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "kaitoctl"
        assert labels["kaitoctl.io/workspace"] == "phi-3-mini-128k-instruct-tuning"
    job = one(objects, "Job")
    recorded = spec_from_record(json.loads(job["metadata"]["annotations"]["kaitoctl.io/spec"]))
    assert recorded.name == "phi-3-mini-128k-instruct-tuning" and recorded.tuning is not None


# ---- hostile input -------------------------------------------------------------------------------------------

HOSTILE_URL = "https://example.com/a;b|c&d`id`$(id)${IFS}'\"<x>:\\/?q=\"';rm${IFS}-rf${IFS}/#frag"


def test_shell_metacharacters_in_urls_stay_argv_data() -> None:
    objects = render(tune_spec(input_urls=[HOSTILE_URL, "https://example.com/ok.json"]))
    job = one(objects, "Job")
    downloader = job["spec"]["template"]["spec"]["initContainers"][1]
    assert downloader["args"] == [HOSTILE_URL, "https://example.com/ok.json"]
    # The shell script is the constant from templates/scripts, untouched by user values.
    assert downloader["command"] == ["/bin/sh", "-c", script("download-data.sh"), "data-downloader"]
    assert HOSTILE_URL not in downloader["command"][2]


HOSTILE_STRINGS = [
    "a\nb: c",
    "quote \" and ' and : colon",
    "---\nkind: Secret",
    "{{ 7*7 }} {% raw %}",
    "tab\there\x00nul\x1b[31mred\u2028line\u0085next",
    "emoji 🚀 and 日本語",
    "trailing space \n",
    "line\n\u0085next line",  # no tab: a literal block would read U+0085 back as a line break
]


@pytest.mark.parametrize("value", HOSTILE_STRINGS)
def test_yaml_scalar_round_trips_anything(value: str) -> None:
    rendered = f"key: {yaml_scalar(value)}\nother: {yaml_scalar({'k': value, 'list': [value]})}\n"
    assert yaml.safe_load(rendered) == {"key": value, "other": {"k": value, "list": [value]}}


@pytest.mark.parametrize("value", HOSTILE_STRINGS)
def test_hostile_volume_sources_and_annotations_stay_in_their_scalars(value: str) -> None:
    doc = yaml.safe_load((FIXTURES / "v1beta1-tuning-pvc.yaml").read_text())
    doc["metadata"]["annotations"] = {"kaito.sh/note": value}
    doc["tuning"]["input"]["volumeSource"] = {"nfs": {"server": value, "path": value}}
    objects = render(spec_from_kaito(doc, catalog()))
    job = one(objects, "Job")
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data-volume"] == {"name": "data-volume", "nfs": {"server": value, "path": value}}
    recorded = spec_from_record(json.loads(job["metadata"]["annotations"]["kaitoctl.io/spec"]))
    assert recorded.annotations == {"kaito.sh/note": value}
    assert [o["kind"] for o in objects] == ["ConfigMap", "ConfigMap", "Job"]  # no object smuggled in
    # What kaitoctl prints parses back to the same objects.
    assert list(yaml.safe_load_all(to_yaml(objects))) == objects


def test_template_values_cannot_inject_yaml() -> None:
    objects = render_template(
        "workspace-record.yaml.j2",
        names=type("N", (), {"record": "x\nkind: Secret"})(),
        namespace="ns: evil",
        record_labels={"a": "b\n  c: d"},
        record_annotations={"k": "v"},
    )
    assert objects == [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "x\nkind: Secret",
                "namespace": "ns: evil",
                "labels": {"a": "b\n  c: d"},
                "annotations": {"k": "v"},
            },
        }
    ]
