"""core/: exact outcomes that no other unit test read (found by bench/mutation): every catalog field, Kaito's
generated training config, which event is the newest, how a failed init container fails a tuning Job, and the
field/hint of the ConfigMap errors."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import yaml

from kaitoctl.core import conditions as cond
from kaitoctl.core.builders import spec_from_kaito
from kaitoctl.core.catalog import (
    Architecture,
    Defaults,
    Preset,
    TuningSupport,
    VllmSettings,
    parse_catalog,
)
from kaitoctl.core.errors import CloudError, Declined, ExitCode, InvalidInput
from kaitoctl.core.render import _vllm_args, k8s_name, training_config_yaml
from kaitoctl.core.sizing import FIXED_RESERVE_GIB, GPU_MEMORY_UTILIZATION, estimate_inference
from kaitoctl.core.spec import spec_from_record
from kaitoctl.core.validation import check_inference_config, check_input_url, check_training_config, validate_spec
from kaitoctl.core.yamlsafe import MAX_FILE_BYTES, MAX_NODES, decode, load_documents
from tests.unit.helpers import FIXTURES, catalog, deploy_spec, plan_of

DOC = {
    "kaito_version": "v0.12.0",
    "defaults": {
        "base_image": "mcr/kaito-base:1",
        "preset_registry": "mcr/presets",
        "tuning_dataset_url": "https://example.com/d.parquet",
        "images": {"puller": "p:1"},
    },
    "presets": {
        "Full": {
            "status": "current",
            "note": "n",
            "family": "fam",
            "hf_repo": "org/full",
            "revision": "abc",
            "served_name": "full-served",
            "params_b": 7.5,
            "weights_gib": 14.5,
            "weights_dtype": "bfloat16",
            "disk_gib": 40,
            "download_auth_required": True,
            "bytes_per_token": 128,
            "runtimes": ["vllm", "transformers"],
            "vllm": {
                "dtype": "float16",
                "chat_template": "t.jinja",
                "tool_call_parser": "hermes",
                "reasoning_parser": "deepseek_r1",
                "allow_lora": False,
                "extra_args": {"a": 1},
            },
            "transformers": {"args": {"b": None}},
            "tuning": {
                "methods": ["qlora"],
                "weights_image": "mcr/w:1",
                "target_modules": ["q_proj", "v_proj"],
                "disk_gib": 60,
            },
            "tuning_refused": "no",
        },
    },
    "skus": {},
}


def test_every_preset_field_is_read() -> None:
    cat = parse_catalog(copy.deepcopy(DOC))
    assert cat.defaults == Defaults(
        "mcr/kaito-base:1", "mcr/presets", "https://example.com/d.parquet", {"puller": "p:1"}
    )
    assert cat.presets["full"] == Preset(
        name="full",
        status="current",
        note="n",
        family="fam",
        hf_repo="org/full",
        revision="abc",
        served_name="full-served",
        params_b=7.5,
        weights_gib=14.5,
        weights_dtype="bfloat16",
        disk_gib=40,
        download_auth_required=True,
        architecture=Architecture(None, None, None, None, None, None, None, None, None),
        bytes_per_token=128,
        runtimes=("vllm", "transformers"),
        vllm=VllmSettings("float16", "t.jinja", "hermes", "deepseek_r1", False, {"a": "1"}),
        transformers_args={"b": ""},
        tuning=TuningSupport(("qlora",), "mcr/w:1", ("q_proj", "v_proj"), 60),
        tuning_refusal="no",
    )


def test_download_auth_defaults_to_not_required() -> None:
    doc = copy.deepcopy(DOC)
    del doc["presets"]["Full"]["download_auth_required"]
    assert parse_catalog(doc).presets["full"].download_auth_required is False


# kaito v0.12.0 charts/kaito/workspace/templates/lora-params.yaml and qlora-params.yaml, key training_config.yaml.
KAITO_TEMPLATE = {
    "ModelConfig": {"torch_dtype": "bfloat16", "local_files_only": True, "device_map": "auto"},
    "LoraConfig": {"r": 8, "lora_alpha": 8, "lora_dropout": 0.0},
    "TrainingArguments": {
        "output_dir": "/mnt/results",
        "ddp_find_unused_parameters": False,
        "save_strategy": "no",
        "per_device_train_batch_size": 1,
    },
    "DataCollator": {"mlm": True},
    "DatasetConfig": {"shuffle_dataset": True, "train_test_split": 1},
}


def test_generated_training_configs_are_kaitos_templates() -> None:
    assert yaml.safe_load(training_config_yaml("lora")) == {
        "training_config": {**KAITO_TEMPLATE, "QuantizationConfig": {"load_in_4bit": False}}
    }
    assert yaml.safe_load(training_config_yaml("qlora")) == {
        "training_config": {
            **KAITO_TEMPLATE,
            "QuantizationConfig": {
                "load_in_4bit": True,
                "bnb_4bit_quant_type": "nf4",
                "bnb_4bit_compute_dtype": "bfloat16",
                "bnb_4bit_use_double_quant": True,
            },
        }
    }


def test_a_pod_without_status_has_no_diagnosis() -> None:
    assert cond.diagnose("inference", None, [{"metadata": {"name": "w-0"}}], "w") is None


def test_a_failed_init_container_fails_the_tuning_job() -> None:
    pod = {
        "metadata": {"name": "t-abc"},
        "status": {
            "phase": "Failed",
            "initContainerStatuses": [{"name": "data-downloader", "state": {"terminated": {"exitCode": 6}}}],
        },
    }
    assert cond.diagnose("tuning", {"status": {}}, [pod], "t") == cond.Diagnosis(
        "JobFailed",
        "the tuning Job failed — init container data-downloader exited with code 6",
        True,
        pod="t-abc",
        container="data-downloader",
        exit_code=6,
        log_container="data-downloader",
    )
    # The same pod of an inference workload keeps its own reason.
    assert cond.diagnose("inference", None, [pod], "w").reason == "InitContainerFailed"  # type: ignore[union-attr]


def _failed_scheduling(message: str | None, **stamps: str) -> dict[str, object]:
    event: dict[str, object] = {"involvedObject": {"name": "w-0"}, "reason": "FailedScheduling"}
    if message is not None:
        event["message"] = message
    if "creationTimestamp" in stamps:
        event["metadata"] = {"creationTimestamp": stamps.pop("creationTimestamp")}
    return {**event, **stamps}


def test_scheduler_message_orders_by_creation_time_when_nothing_else_is_set() -> None:
    newer = _failed_scheduling("0/3 nodes: newer", creationTimestamp="2026-01-02T00:00:00Z")
    older = _failed_scheduling("0/3 nodes: older", creationTimestamp="2026-01-01T00:00:00Z")
    assert cond.scheduler_message([newer, older], "w-0") == "0/3 nodes: newer"


def test_scheduler_message_of_an_event_without_text_is_empty() -> None:
    assert cond.scheduler_message([_failed_scheduling(None, lastTimestamp="2026-01-01T00:00:00Z")], "w-0") == ""


def test_workload_warning_orders_by_event_time() -> None:
    def warning(message: str, at: str) -> dict[str, object]:
        return {
            "involvedObject": {"kind": "StatefulSet", "name": "w"},
            "reason": "FailedCreate",
            "message": message,
            "eventTime": at,
        }

    events = [warning("quota exceeded", "2026-01-02T00:00:00Z"), warning("older", "2026-01-01T00:00:00Z")]
    assert cond.workload_warning(events, "w") == ("FailedCreate", "quota exceeded")


def test_declined_says_nothing_was_written() -> None:
    err = Declined("create agent pool gpu")
    assert (str(err), err.hint, err.exit_code) == (
        "not confirmed: create agent pool gpu; nothing was written",
        "re-run and answer y, or pass -y",
        ExitCode.FAILED,
    )


def _invalid(check: object, *args: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as err:
        check(*args)  # type: ignore[operator]
    return err.value


def test_configmap_errors_name_the_flag_and_the_fix() -> None:
    phi = catalog().resolve_preset("phi-3")
    err = _invalid(check_inference_config, "vllm: [", phi)
    assert (err.field, err.problem, err.fix) == (
        "--config",
        "inference_config.yaml is not valid YAML",
        "fix the ConfigMap",
    )
    err = _invalid(check_inference_config, "vllm: {max-model-len: 10000000}", phi)
    assert (err.field, err.fix) == ("--config", "fix inference_config.yaml")
    assert phi.max_context == 131072
    assert err.problem == "vllm.max-model-len 10000000 must be an integer ≤ 131072 (phi-3-mini-128k-instruct's context)"
    err = _invalid(check_training_config, "training_config: {", "lora")
    assert (err.field, err.problem, err.fix) == (
        "--config",
        "training_config.yaml is not valid YAML",
        "fix the ConfigMap",
    )
    err = _invalid(check_training_config, "training_config:\n  QuantizationConfig: {load_in_4bit: false}", "qlora")
    assert (err.field, err.fix) == ("--config", "set load_in_4bit: true")


# ---- Kaito YAML read back: every refusal names its field, its problem and its fix -------------------------------


def _kaito(**changes: object) -> dict[str, object]:
    doc: dict[str, object] = yaml.safe_load((FIXTURES / "v1beta1-inference-adapters.yaml").read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node: object = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]  # type: ignore[index]
        node[int(last) if isinstance(node, list) else last] = value  # type: ignore[index]
    return doc


def _kaito_error(doc: object) -> tuple[str, str, str | None]:
    with pytest.raises(InvalidInput) as err:
        spec_from_kaito(doc, catalog())
    return err.value.field, err.value.problem, err.value.fix


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (["a list"], ("", "the file is not a Kaito Workspace (expected a YAML mapping)", None)),
        (_kaito(kind="Deployment"), ("kind", "'Deployment' is not supported", "use kind: Workspace")),
        (_kaito(metadata=["x"]), ("metadata", "expected a mapping", None)),
        (
            _kaito(resource__labelSelector__matchLabels=["apps"]),
            ("resource.labelSelector.matchLabels", "expected a mapping of strings, got list", "write KEY: VALUE lines"),
        ),
        (
            _kaito(resource__labelSelector__matchLabels={1: "x"}),
            ("resource.labelSelector.matchLabels", "key 1 is not a string", "quote the key"),
        ),
        (
            _kaito(resource__labelSelector__matchLabels={"apps": None}),
            ("resource.labelSelector.matchLabels.apps", "the value is null", 'give a value (an empty one is "")'),
        ),
        (
            _kaito(resource__labelSelector__matchExpressions=[{"key": 1, "operator": "In"}]),
            (
                "resource.labelSelector.matchExpressions[0]",
                "key and operator must be strings",
                "e.g. key: apps, operator: In",
            ),
        ),
        (
            _kaito(resource__labelSelector__matchExpressions=[{"key": "a", "operator": "In", "values": "b"}]),
            (
                "resource.labelSelector.matchExpressions[0].values",
                "expected a list of strings, got 'b'",
                "write values: [a, b]",
            ),
        ),
        (
            _kaito(inference__preset__name="no-such-model"),
            ("inference.preset.name", "unknown preset 'no-such-model'", None),
        ),
        (_kaito(inference__adapters="x"), ("inference.adapters", "expected a list", None)),
        (
            _kaito(inference__adapters__0__source={"name": "a", "urls": ["https://example.com/a"]}),
            ("inference.adapters[0].source.urls", "adapters cannot come from URLs", "use image or volumeSource"),
        ),
    ],
)
def test_kaito_yaml_refusals(doc: object, expected: tuple[str, str, str | None]) -> None:
    field, problem, fix = _kaito_error(doc)
    if expected[0] == "inference.preset.name":  # the suggestions depend on the catalog
        assert (field, problem) == expected[:2]
    else:
        assert (field, problem, fix) == expected


def test_kaito_tuning_image_fields_are_named() -> None:
    doc = yaml.safe_load((FIXTURES / "v1beta1-tuning-pvc.yaml").read_text())
    doc["tuning"]["input"] = {"image": 5}
    assert _kaito_error(doc)[0] == "tuning.input.image"
    doc = yaml.safe_load((FIXTURES / "v1beta1-tuning-pvc.yaml").read_text())
    doc["tuning"]["output"] = {"image": 5, "imagePushSecret": "s"}
    assert _kaito_error(doc)[0] == "tuning.output.image"


def test_a_volume_adapter_and_its_pull_secrets_survive_the_record() -> None:
    source = {
        "name": "ad",
        "volumeSource": {"persistentVolumeClaim": {"claimName": "ad-pvc"}},
        "imagePullSecrets": ["pull"],
    }
    doc = _kaito(inference__adapters=[{"source": source}])
    spec = spec_from_kaito(doc, catalog())
    (adapter,) = spec.inference.adapters  # type: ignore[union-attr]
    assert (adapter.volume, adapter.image_pull_secrets) == (
        {"persistentVolumeClaim": {"claimName": "ad-pvc"}},
        ("pull",),
    )
    assert spec_from_record(json.loads(json.dumps(spec.to_record()))) == spec


def test_long_names_are_cut_without_a_dash_before_the_hash() -> None:
    name = k8s_name("a" * 53 + "-" + "b" * 20)
    assert name.startswith("a" * 53 + "-") and not name.startswith("a" * 53 + "--")
    assert len(name) <= 63 and name == f"{'a' * 53}-{name[-8:]}"


def test_input_url_rules_exactly() -> None:
    check_input_url("https://my_bucket.example.com/d.parquet", "tuning.input.urls[0]")  # '_' is common in hosts
    with pytest.raises(InvalidInput) as err:
        check_input_url("https:///d.parquet", "tuning.input.urls[0]")
    assert err.value.fix == "use a full URL such as https://host/path/data.parquet"


def test_tuning_refusals_name_the_kind_of_name_and_the_fix() -> None:
    doc = yaml.safe_load((FIXTURES / "v1beta1-tuning-pvc.yaml").read_text())
    doc["tuning"]["input"] = {"image": "r.example/data:1", "imagePullSecrets": ["Bad_Secret"]}
    err = _yaml_validation_error(doc)
    assert err.field.startswith("tuning.input.imagePullSecrets") and "Secret name" in err.problem
    doc = yaml.safe_load((FIXTURES / "v1beta1-tuning-pvc.yaml").read_text())
    doc["tuning"]["output"] = {"image": "r.example/out:1", "imagePushSecret": "s", **doc["tuning"]["output"]}
    err = _yaml_validation_error(doc)
    assert (err.field, err.fix) == ("tuning.output", "give one output")


def _yaml_validation_error(doc: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as err:
        validate_spec(spec_from_kaito(doc, catalog()), catalog())
    return err.value


# ---- YAML safety: the limits and where in the file -----------------------------------------------------------


def test_a_duplicate_key_names_its_line() -> None:
    with pytest.raises(InvalidInput) as err:
        load_documents("a: 1\nb: 2\na: 3\n", "w.yaml", "--filename")
    assert (err.value.field, err.value.problem, err.value.fix) == (
        "--filename",
        "w.yaml key 'a' appears twice (line 3, column 1)",
        "keep one of them",
    )


def test_too_many_values_are_refused_where_the_limit_is_passed() -> None:
    text = "[" + ",".join(["0"] * MAX_NODES) + "]"  # the list and its values: one more than the limit
    with pytest.raises(InvalidInput) as err:
        load_documents(text, "w.yaml")
    assert err.value.problem == f"w.yaml holds more than {MAX_NODES} values (line 1, column {2 * MAX_NODES})"
    assert load_documents("[" + ",".join(["0"] * (MAX_NODES - 1)) + "]", "w.yaml")[0][:2] == [0, 0]


def test_size_and_encoding_refusals_name_the_field() -> None:
    with pytest.raises(InvalidInput) as err:
        load_documents("#" * (MAX_FILE_BYTES + 1), "w.yaml", "-f")
    assert (err.value.field, err.value.problem) == ("-f", "w.yaml is larger than 1024 KiB")
    with pytest.raises(InvalidInput) as err:
        decode(b"a: \xc3\x28\n", "w.yaml", "-f")
    assert (err.value.field, err.value.problem) == ("-f", "w.yaml is not UTF-8 text (byte 3 is not valid UTF-8)")


# ---- vLLM arguments and the fit ------------------------------------------------------------------------------


def test_two_nodes_run_vllm_as_a_pipeline_over_ray() -> None:
    plan = plan_of(
        deploy_spec("phi-4", name="w", namespace="d", instance_type="Standard_NV36ads_A10_v5", labels=["a=b"])
    )
    assert plan.placement.nodes == 2
    args = _vllm_args(plan, adapters=False, config_file=False)
    assert [a for a in args if a.split("=")[0] in MULTI_NODE_FLAGS] == [
        "--tensor-parallel-size=1",
        "--kaito-kv-cache-cpu-memory-utilization=0",
        "--pipeline-parallel-size=2",
        "--distributed-executor-backend=ray",
    ]


MULTI_NODE_FLAGS = {
    "--tensor-parallel-size",
    "--kaito-kv-cache-cpu-memory-utilization",
    "--pipeline-parallel-size",
    "--distributed-executor-backend",
}


def test_a_catalog_extra_arg_never_repeats_a_flag_kaitoctl_sets() -> None:
    plan = plan_of(deploy_spec("phi-3", name="w", namespace="d", labels=["a=b"]))
    vllm = dataclasses.replace(plan.preset.vllm, extra_args={"dtype": "half", "enforce-eager": ""})
    plan = dataclasses.replace(plan, preset=dataclasses.replace(plan.preset, vllm=vllm))
    args = _vllm_args(plan, adapters=False, config_file=False)
    assert [a for a in args if a.startswith("--dtype")] == [f"--dtype={plan.preset.vllm.dtype}"]
    assert args.count("--enforce-eager") == 1


def test_no_kv_cache_is_counted_when_its_size_is_unknown() -> None:
    doc = copy.deepcopy(DOC)
    del doc["presets"]["Full"]["bytes_per_token"]
    preset = parse_catalog(doc).presets["full"]
    sku = catalog().sku("Standard_NC24ads_A100_v4")
    assert sku is not None
    assert estimate_inference(preset, sku).kv_cache_gib_per_gpu == 0.0


def test_a_reserve_that_fills_the_gpu_exactly_does_not_fit() -> None:
    doc = copy.deepcopy(DOC)
    del doc["presets"]["Full"]["bytes_per_token"]  # no KV cache: the reserve is the fixed runtime reserve alone
    preset = parse_catalog(doc).presets["full"]
    a100 = catalog().sku("Standard_NC24ads_A100_v4")
    assert a100 is not None
    sku = dataclasses.replace(a100, gpu_memory_gib=FIXED_RESERVE_GIB / GPU_MEMORY_UTILIZATION)
    assert sku.gpu_memory_gib * GPU_MEMORY_UTILIZATION == FIXED_RESERVE_GIB  # usable == reserve, to the bit
    fit = estimate_inference(preset, sku)
    assert (fit.fits, fit.min_gpus, fit.nodes, fit.weights_room_per_gpu_gib) == (False, 0, 0, 0.0)
    assert fit.problem is not None and fit.problem.startswith("does not fit: the reserve of 2.3 GiB per GPU")


def test_an_adapter_with_image_and_volume_is_refused_naming_it() -> None:
    source = {
        "name": "ad",
        "image": "r.example/ad:1",
        "volumeSource": {"persistentVolumeClaim": {"claimName": "ad-pvc"}},
    }
    err = _yaml_validation_error(_kaito(inference__adapters=[{"source": source}]))
    assert (err.field, err.problem, err.fix) == (
        "inference.adapters[0]",
        "an adapter needs exactly one of image and volumeSource",
        None,
    )


def test_bad_names_in_the_inference_say_which_kind_of_name() -> None:
    source = {"name": "ad", "image": "r.example/ad:1", "imagePullSecrets": ["Bad_S"]}
    err = _yaml_validation_error(_kaito(inference__adapters=[{"source": source}]))
    assert (err.field, err.problem) == ("inference.adapters[0]", "'Bad_S' is not a valid Secret name")
    err = _yaml_validation_error(_kaito(inference__config="Bad_CM"))
    assert (err.field, err.problem) == ("inference.config", "'Bad_CM' is not a valid ConfigMap name")


def test_a_hugging_face_id_is_not_a_preset() -> None:
    with pytest.raises(InvalidInput) as err:
        catalog().resolve_preset("microsoft/Phi-3-mini")
    assert err.value.fix == (
        "kaitoctl serves Kaito's catalog presets only; arbitrary Hugging Face ids need Kaito's in-cluster model "
        "inspection. Run `kaitoctl presets` for the list"
    )


def test_a_retired_sku_blocks_the_apply_and_the_plan_names_what_fits() -> None:
    spec = deploy_spec("phi-3", name="w", namespace="d", instance_type="Standard_NC6s_v3", labels=["a=b"])
    note = "NCv3 (V100) was retired on Azure on 2025-09-30 and dropped by Kaito (CUDA CC 7.0 < 8.0)"
    (blocker,) = validate_spec(spec, catalog()).blockers
    assert (blocker.field, blocker.problem, blocker.fix) == (
        "--instance-type",
        f"Standard_NC6s_v3 cannot be used: {note}",
        "choose a current SKU with --instance-type (`kaitoctl presets skus`)",
    )
    (warning,) = [w for w in plan_of(spec).warnings if w.startswith("Standard_NC6s_v3")]
    assert warning.startswith(f"Standard_NC6s_v3 is retired ({note}); current SKUs that fit: Standard_NV36ads_A10_v5, ")
    assert warning.endswith("; choose one with --instance-type")


def test_an_oom_kill_without_an_exit_code_reports_137() -> None:
    pod = {
        "metadata": {"name": "w-0"},
        "status": {"containerStatuses": [{"name": "w", "lastState": {"terminated": {"reason": "OOMKilled"}}}]},
    }
    found = cond.diagnose("inference", None, [pod], "w")
    assert found is not None and (found.reason, found.exit_code) == ("OOMKilled", 137)
    assert found.message == "container w was killed for using more memory than its limit (exit code 137)"


def test_workload_warning_orders_by_last_timestamp() -> None:
    def warning(message: str, at: str) -> dict[str, object]:
        return {
            "involvedObject": {"kind": "Job", "name": "t"},
            "reason": "FailedCreate",
            "message": message,
            "lastTimestamp": at,
        }

    events = [warning("newer", "2026-01-02T00:00:00Z"), warning("older", "2026-01-01T00:00:00Z")]
    assert cond.workload_warning(events, "t") == ("FailedCreate", "newer")


def test_a_cloud_error_keeps_its_details() -> None:
    err = CloudError("quota", code="QuotaExceeded", details=["standardNCADSA100v4Family: 0 of 24 left"])
    assert (err.reason, err.details) == ("QuotaExceeded", ["standardNCADSA100v4Family: 0 of 24 left"])


def test_a_file_of_exactly_the_size_limit_is_read() -> None:
    text = "a: 1\n" + "#" * (MAX_FILE_BYTES - 5)
    assert len(text) == MAX_FILE_BYTES
    assert load_documents(text, "w.yaml") == [{"a": 1}]


def test_more_kaito_yaml_refusals_exactly() -> None:
    no_name = _kaito()
    no_name["metadata"].pop("name")  # type: ignore[attr-defined]
    assert _kaito_error(no_name) == ("metadata.name", "a workspace name is required", "set metadata.name")
    both = _kaito(tuning={"preset": {"name": "phi-3"}})
    assert _kaito_error(both) == (
        "inference/tuning",
        "a Workspace needs exactly one of inference and tuning",
        "keep one of the two sections",
    )
    assert _kaito_error(_kaito(resource__partition={"x": 1})) == (
        "resource.partition",
        "MIG/accelerator partitions are not supported by kaitoctl",
        "remove partition",
    )
    typo = _kaito(resource__labelSelector={"matchLabels": {"apps": "x"}, "matchExpresions": []})
    assert _kaito_error(typo) == (
        "resource.labelSelector.matchExpresions",
        "unknown field",
        "did you mean 'matchExpressions'?",
    )
    tuning = yaml.safe_load((FIXTURES / "v1beta1-tuning-pvc.yaml").read_text())
    tuning["tuning"]["input"]["bogus"] = 1
    assert _kaito_error(tuning) == (
        "tuning.input.bogus",
        "unknown field",
        "allowed: image, imagePullSecrets, name, urls, volumeSource",
    )
    bad_volume = _kaito(inference__adapters=[{"source": {"name": "a", "volumeSource": {"persistentVolumeClaim": "x"}}}])
    err = _yaml_validation_error(bad_volume)
    assert (err.field, err.problem, err.fix) == (
        "inference.adapters[0].persistentVolumeClaim",
        "expected a mapping, got str",
        "see the README",
    )


def test_kaito_yaml_options_are_read() -> None:
    doc = _kaito(
        inference__preset__presetOptions={"modelAccessSecret": "hf"},
        inference__config="cm",
        resource__labelSelector__matchExpressions=[{"key": "z", "operator": "In", "values": ["a"]}],
    )
    spec = spec_from_kaito(doc, catalog())
    assert spec.inference is not None
    assert (spec.model_access_secret, spec.inference.config, spec.resource.match_expressions) == (
        "hf",
        "cm",
        ({"key": "z", "operator": "In", "values": ["a"]},),
    )
