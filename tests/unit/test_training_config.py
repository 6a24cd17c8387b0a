"""Kaito's webhook rules for a user's tuning ConfigMap (training_config.yaml), checked before anything is written."""

from __future__ import annotations

import pytest

from kaitoctl.core.errors import InvalidInput
from kaitoctl.core.render import training_config_yaml
from kaitoctl.ops.run import _check_training_config


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_kaitos_default_configs_pass(method: str) -> None:
    assert _check_training_config(training_config_yaml(method), method) == "/mnt/results"


@pytest.mark.parametrize(
    ("text", "method", "message"),
    [
        ("training_config: [1]", "lora", "top-level training_config mapping"),
        ("training_config:\n  Bogus: {}", "lora", "unknown section(s) Bogus"),
        ("training_config:\n  TrainingArguments: {output_dir: /tmp/x}", "lora", "must be under /mnt"),
        ("training_config:\n  TrainingArguments: {output_dir: ../etc}", "lora", "must be under /mnt"),
        ("training_config:\n  QuantizationConfig: {load_in_4bit: yes please}", "qlora", "must be true, false or null"),
        ("training_config:\n  QuantizationConfig: {load_in_4bit: true, load_in_8bit: true}", "qlora", "cannot both be true"),
        ("training_config:\n  QuantizationConfig: {load_in_4bit: true}", "lora", "lora does not quantize"),
        ("training_config:\n  QuantizationConfig: {load_in_4bit: false}", "qlora", "qlora needs load_in_4bit"),
        ("training_config: {", "lora", "not valid YAML"),
    ],
)
def test_bad_configs_name_the_problem(text: str, method: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        _check_training_config(text, method)
    assert message in err.value.message and err.value.field == "--config"


def test_relative_output_dir_resolves_under_mnt() -> None:
    text = "training_config:\n  TrainingArguments: {output_dir: adapters/run1}\n  QuantizationConfig: {load_in_4bit: true}"
    assert _check_training_config(text, "qlora") == "/mnt/adapters/run1"
