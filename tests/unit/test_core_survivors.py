"""Tests written against the mutants that survived bench/mutation: each pins a field, a default or a precedence
that no other unit test read (catalog parsing, error payloads, YAML field names, diagnosis precedence)."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from kaitoctl.core import conditions as cond
from kaitoctl.core.builders import CommonOptions, apply_overrides, spec_from_kaito
from kaitoctl.core.catalog import parse_catalog
from kaitoctl.core.data import data_dir, presets_path
from kaitoctl.core.errors import CloudError, InvalidInput, OperationFailed, WaitTimeout
from kaitoctl.core.sizing import transformers_fit
from kaitoctl.core.validation import check_input_url, validate_spec
from tests.unit.helpers import FIXTURES, catalog, plan_of, tune_spec

MINIMAL = {
    "kaito_version": "v0.12.0",
    "defaults": {
        "base_image": "mcr/kaito-base:1",
        "preset_registry": "mcr/presets",
        "tuning_dataset_url": "https://example.com/d.parquet",
        "images": {"puller": "p:1"},
    },
    "presets": {
        "Tiny-Model": {
            "hf_repo": "org/tiny",
            "disk_gib": 12,
            "download_auth_required": True,
            "runtimes": ["vllm"],
            "vllm": {"extra_args": {"enforce-eager": None, "max-num-seqs": 4}},
            "tuning": {"weights_image": "mcr/kaito-tiny:1", "disk_gib": 30},
        },
        "bare": {},
    },
    "aliases": {"tiny": "tiny-model"},
    "ambiguous": {"T": ["Tiny-Model", "bare"]},
    "skus": {
        "Standard_X": {"gpus": 2, "gpu_model": "G", "gpu_memory_gib": 40, "vcpus": 8, "memory_gib": 64, "nvme": True}
    },
}


def test_catalog_fields_and_defaults() -> None:
    cat = parse_catalog(copy.deepcopy(MINIMAL))
    tiny = cat.presets["tiny-model"]
    assert (tiny.hf_repo, tiny.disk_gib, tiny.download_auth_required, tiny.runtimes) == (
        "org/tiny",
        12,
        True,
        ("vllm",),
    )
    assert tiny.vllm.extra_args == {"enforce-eager": "", "max-num-seqs": "4"}
    assert tiny.tuning is not None and tiny.tuning.disk_gib == 30 and tiny.tuning.methods == ("lora", "qlora")
    assert tiny.served_name == "tiny-model" and tiny.status == "current"
    bare = cat.presets["bare"]
    assert (bare.hf_repo, bare.disk_gib, bare.download_auth_required, bare.runtimes) == (None, 0, False, ())
    assert (bare.vllm.extra_args, bare.vllm.dtype, bare.vllm.allow_lora, bare.tuning) == ({}, "auto", True, None)
    no_disk = copy.deepcopy(MINIMAL)
    del no_disk["presets"]["Tiny-Model"]["tuning"]["disk_gib"]
    assert parse_catalog(no_disk).presets["tiny-model"].tuning.disk_gib == 0  # type: ignore[union-attr]
    assert cat.ambiguous == {"t": ("tiny-model", "bare")} and cat.aliases == {"tiny": "tiny-model"}
    sku = cat.skus["standard_x"]
    assert (sku.nvme, sku.gpus, sku.gpu_memory_gib, sku.status) == (True, 2, 40.0, "current")
    plain = copy.deepcopy(MINIMAL)
    del plain["skus"]["Standard_X"]["nvme"]
    assert parse_catalog(plain).skus["standard_x"].nvme is False
    bad = copy.deepcopy(MINIMAL)
    bad["aliases"]["x"] = "missing"
    with pytest.raises(ValueError, match="alias 'x' points at unknown preset 'missing'"):
        parse_catalog(bad)


def test_the_catalog_file_is_presets_yaml_in_the_data_dir() -> None:
    assert presets_path() == data_dir() / "presets.yaml"
    assert Path(presets_path()).is_file()


def test_error_payloads() -> None:
    timeout = WaitTimeout("InferenceReady", 125.4, hint="raise --timeout", last_reason="ImagePullBackOff")
    assert timeout.to_dict() == {
        "type": "WaitTimeout",
        "exitCode": 3,
        "message": "timed out after 125s waiting for InferenceReady (last seen: ImagePullBackOff)",
        "reason": "Timeout",
        "hint": "raise --timeout",
    }
    assert InvalidInput("--x", "bad", "fix it", choices=["a"]).to_dict() == {
        "type": "InvalidInput",
        "exitCode": 2,
        "message": "--x: bad",
        "reason": "InvalidInput",
        "hint": "fix it",
        "details": ["a"],
        "field": "--x",
    }
    assert OperationFailed("boom").to_dict() == {"type": "OperationFailed", "exitCode": 1, "message": "boom"}
    assert CloudError("no", code="QuotaExceeded").to_dict()["exitCode"] == 4
    assert CloudError("no").reason == "CloudError"


def test_a_url_without_a_host_names_its_field() -> None:
    with pytest.raises(InvalidInput) as err:
        check_input_url("http:///x", "tuning.input.urls[0]")
    assert err.value.field == "tuning.input.urls[0]"


def _tuning_doc() -> dict[str, Any]:
    return yaml.safe_load((FIXTURES / "v1beta1-tuning-pvc.yaml").read_text())


def _yaml_error(doc: dict[str, Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as err:
        validate_spec(spec_from_kaito(doc, catalog()), catalog())
    return err.value


def test_yaml_tuning_errors_name_the_yaml_field() -> None:
    no_input = _tuning_doc()
    del no_input["tuning"]["input"]["volumeSource"]
    err = _yaml_error(no_input)
    assert (err.field, err.message) == (
        "tuning.input",
        "tuning.input: tuning input needs exactly one of urls, image and volumeSource",
    )
    no_output = _tuning_doc()
    no_output["tuning"]["output"] = {
        "image": "myacr.azurecr.io/a:1",
        "imagePushSecret": "s",
        **no_output["tuning"]["output"],
    }
    err = _yaml_error(no_output)
    assert err.field == "tuning.output" and err.message.endswith(
        "tuning output needs exactly one of image and volumeSource"
    )
    bad_output_volume = _tuning_doc()
    bad_output_volume["tuning"]["output"]["volumeSource"] = {"persistentVolumeClaim": {"claimName": "Bad_Name"}}
    assert _yaml_error(bad_output_volume).field.startswith("tuning.output.volumeSource")
    bad_input_volume = _tuning_doc()
    bad_input_volume["tuning"]["input"]["volumeSource"] = {"persistentVolumeClaim": {"claimName": "Bad_Name"}}
    assert _yaml_error(bad_input_volume).field.startswith("tuning.input.volumeSource")


def test_a_bad_push_secret_name_is_a_blocker_naming_its_field() -> None:
    doc = _tuning_doc()
    doc["tuning"]["output"] = {"image": "myacr.azurecr.io/a:1", "imagePushSecret": "Bad_Secret"}
    findings = validate_spec(spec_from_kaito(doc, catalog()), catalog())
    assert [b.field for b in findings.blockers] == ["tuning.output.imagePushSecret"]


def test_yaml_preset_options_and_count_are_read() -> None:
    doc = yaml.safe_load((FIXTURES / "v1beta1-inference-phi-4-mini.yaml").read_text())
    doc["inference"]["preset"]["presetOptions"] = {"image": "myacr.azurecr.io/base:2", "imagePullSecrets": ["pull"]}
    spec = spec_from_kaito(doc, catalog())
    # Kaito v0.12 runs kaito-base whatever presetOptions.image says: kept only to warn about it.
    assert (spec.image, spec.ignored_image, spec.image_pull_secrets) == (None, "myacr.azurecr.io/base:2", ("pull",))
    assert any("'myacr.azurecr.io/base:2' is ignored" in w for w in validate_spec(spec, catalog()).warnings)
    doc["resource"]["count"] = "two"
    with pytest.raises(InvalidInput) as err:
        spec_from_kaito(doc, catalog())
    assert err.value.field == "resource.count" and "expected an integer, got 'two'" in err.value.message
    doc["resource"]["count"] = 1
    doc["inference"]["preset"]["presetOptions"]["imagePullSecrets"] = "pull"
    with pytest.raises(InvalidInput) as err:
        spec_from_kaito(doc, catalog())
    assert err.value.field.startswith("inference.preset.presetOptions.imagePullSecrets")
    assert "expected a list of strings" in err.value.message


def test_apply_overrides_on_a_tuning_file_says_how_to_fix_it() -> None:
    spec = spec_from_kaito(_tuning_doc(), catalog())
    with pytest.raises(InvalidInput) as err:
        apply_overrides(spec, CommonOptions(), runtime="vllm")
    assert err.value.hint == "drop them"


def test_output_location_of_a_volume_without_a_claim() -> None:
    plan = plan_of(tune_spec(instance_type="Standard_NC24ads_A100_v4", input_pvc="d", output_pvc="out"))
    assert plan.output_location() == {"volume": "pvc:out", "claimName": "out"}
    tun = plan.spec.tuning
    assert tun is not None
    nfs = replace(plan, spec=replace(plan.spec, tuning=replace(tun, output=replace(tun.output, volume={"nfs": {}}))))
    assert nfs.output_location() == {"volume": "volume", "claimName": None}


def test_transformers_fit_reports_the_node_shape() -> None:
    fit = transformers_fit(catalog().resolve_preset("phi-3"), catalog().sku("Standard_NC48ads_A100_v4"), 1)  # type: ignore[arg-type]
    assert (fit.gpus_per_node, fit.gpu_memory_gib, fit.min_gpus, fit.sku) == (2, 80.0, 2, "Standard_NC48ads_A100_v4")


def test_job_without_status_has_not_succeeded() -> None:
    assert cond.job_succeeded({}) is False and cond.job_failed({}) is False


def test_the_schedulers_reason_is_kept() -> None:
    pod = {
        "metadata": {"name": "w-0"},
        "status": {
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated", "message": "gated"}]
        },
    }
    assert cond.diagnose("inference", None, [pod], "w").reason == "SchedulingGated"  # type: ignore[union-attr]


def test_invalid_image_name_wins_over_job_failed() -> None:
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    pod = {
        "metadata": {"name": "t-x"},
        "status": {"containerStatuses": [{"name": "t", "state": {"waiting": {"reason": "InvalidImageName"}}}]},
    }
    assert cond.diagnose("tuning", failed, [pod], "t").reason == "InvalidImageName"  # type: ignore[union-attr]


def test_a_failed_job_names_the_pod_that_explains_it() -> None:
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    quiet = {"metadata": {"name": "t-a"}, "status": {"phase": "Running"}}
    broken = {
        "metadata": {"name": "t-b"},
        "status": {"phase": "Failed", "containerStatuses": [{"name": "t", "state": {"terminated": {"exitCode": 2}}}]},
    }
    found = cond.diagnose("tuning", failed, [quiet, broken], "t")
    assert found is not None and found.pod == "t-b" and found.exit_code == 2
