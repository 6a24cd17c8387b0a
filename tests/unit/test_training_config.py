"""Kaito's webhook rules for a user's tuning ConfigMap (training_config.yaml), checked before anything is written."""

from __future__ import annotations

import pytest

from kaitoctl.core.errors import InvalidInput
from kaitoctl.core.render import training_config_yaml
from kaitoctl.core.validation import check_training_config


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_kaitos_default_configs_pass(method: str) -> None:
    assert check_training_config(training_config_yaml(method), method) == "/mnt/results"


@pytest.mark.parametrize(
    ("text", "method", "message"),
    [
        ("training_config: [1]", "lora", "top-level training_config mapping"),
        ("training_config:\n  Bogus: {}", "lora", "unknown section(s) Bogus"),
        ("training_config:\n  TrainingArguments: {output_dir: /tmp/x}", "lora", "must be under /mnt"),
        ("training_config:\n  TrainingArguments: {output_dir: ../etc}", "lora", "must be under /mnt"),
        ("training_config:\n  QuantizationConfig: {load_in_4bit: yes please}", "qlora", "must be true, false or null"),
        (
            "training_config:\n  QuantizationConfig: {load_in_4bit: true, load_in_8bit: true}",
            "qlora",
            "cannot both be true",
        ),
        ("training_config:\n  QuantizationConfig: {load_in_4bit: true}", "lora", "lora does not quantize"),
        ("training_config:\n  QuantizationConfig: {load_in_4bit: false}", "qlora", "qlora needs load_in_4bit"),
        ("training_config: {", "lora", "not valid YAML"),
    ],
)
def test_bad_configs_name_the_problem(text: str, method: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_training_config(text, method)
    assert message in err.value.message and err.value.field == "--config"


def test_relative_output_dir_resolves_under_mnt() -> None:
    text = (
        "training_config:\n  TrainingArguments: {output_dir: adapters/run1}\n  QuantizationConfig: {load_in_4bit: true}"
    )
    assert check_training_config(text, "qlora") == "/mnt/adapters/run1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("vllm: {max-model-len: 200000}", "must be an integer ≤ 131072"),
        ("vllm: {max-model-len: '4096'}", "must be an integer"),
        ("vllm: [", "not valid YAML"),
    ],
)
def test_inference_config_rules(text: str, message: str) -> None:
    from kaitoctl.core.catalog import load_catalog
    from kaitoctl.core.validation import check_inference_config

    preset = load_catalog().resolve_preset("phi-3")
    check_inference_config("vllm: {max-model-len: 131072, cpu-offload-gb: 0}", preset)  # Kaito's shape passes
    with pytest.raises(InvalidInput) as err:
        check_inference_config(text, preset)
    assert message in err.value.message
