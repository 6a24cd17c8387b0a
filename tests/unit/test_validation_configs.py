"""A user's ConfigMaps (`--config`), exactly as Kaito v0.12's webhook judges them: training_config.yaml's sections,
output_dir and quantization switches, and inference_config.yaml's max-model-len."""

from __future__ import annotations

import pytest

from kaitoctl.core.errors import InvalidInput
from kaitoctl.core.validation import check_inference_config, check_training_config
from tests.unit.helpers import catalog

Q4 = "  QuantizationConfig: {load_in_4bit: true}\n"


def refusal(text: str, method: str = "qlora") -> tuple[str, str, str | None]:
    with pytest.raises(InvalidInput) as refused:
        check_training_config(text, method)
    return refused.value.field, refused.value.problem, refused.value.fix


@pytest.mark.parametrize(
    ("text", "method", "expected"),
    [
        ("- a\n", "qlora", ("--config", "training_config.yaml needs a top-level training_config mapping", None)),
        (
            "training_config: [a]\n",
            "qlora",
            ("--config", "training_config.yaml needs a top-level training_config mapping", None),
        ),
        (
            "training_config:\n  Foo: {}\n  Bar: {}\n  LoraConfig: {}\n",
            "qlora",
            (
                "--config",
                "unknown section(s) Bar, Foo",
                "use only DataCollator, DatasetConfig, LoraConfig, ModelConfig, QuantizationConfig, TrainingArguments",
            ),
        ),
        (
            "training_config:\n  QuantizationConfig: {load_in_4bit: yes please}\n",
            "qlora",
            ("--config", "QuantizationConfig.load_in_4bit must be true, false or null", None),
        ),
        (
            "training_config:\n  QuantizationConfig: {load_in_8bit: 1}\n",
            "qlora",
            ("--config", "QuantizationConfig.load_in_8bit must be true, false or null", None),
        ),
        (
            "training_config:\n  QuantizationConfig: {load_in_4bit: true, load_in_8bit: true}\n",
            "qlora",
            ("--config", "load_in_4bit and load_in_8bit cannot both be true", None),
        ),
        (
            "training_config:\n  QuantizationConfig: {load_in_8bit: true}\n",
            "lora",
            ("--config", "lora does not quantize: load_in_4bit/load_in_8bit must be false", "use qlora"),
        ),
        (
            "training_config:\n  QuantizationConfig: {load_in_4bit: false}\n",
            "qlora",
            ("--config", "qlora needs load_in_4bit or load_in_8bit true", "set load_in_4bit: true"),
        ),
        (
            "training_config:\n  TrainingArguments: {output_dir: ../etc}\n" + Q4,
            "qlora",
            ("--config", "output_dir '../etc' must be under /mnt", "e.g. /mnt/results"),
        ),
        (
            "training_config:\n  TrainingArguments: {output_dir: /mnt}\n" + Q4,
            "qlora",
            ("--config", "output_dir '/mnt' must be under /mnt", "e.g. /mnt/results"),
        ),
        (
            "training_config:\n  TrainingArguments: {output_dir: /tmp/out}\n" + Q4,
            "qlora",
            ("--config", "output_dir '/tmp/out' must be under /mnt", "e.g. /mnt/results"),
        ),
        (
            "training_config: {a: [}\n",
            "qlora",
            ("--config", "training_config.yaml is not valid YAML", "fix the ConfigMap"),
        ),
    ],
)
def test_a_training_config_the_webhook_refuses(text: str, method: str, expected: tuple[str, str, str | None]) -> None:
    assert refusal(text, method) == expected


def test_the_output_dir_a_training_config_resolves_to() -> None:
    assert check_training_config("training_config:\n" + Q4, "qlora") == "/mnt/output"  # Kaito's default
    assert check_training_config("training_config:\n  TrainingArguments: {output_dir: results/x}\n", "lora") == (
        "/mnt/results/x"
    )
    assert check_training_config("training_config:\n  TrainingArguments: {output_dir: /mnt/a/../b}\n", "lora") == (
        "/mnt/b"
    )
    both_off = "training_config:\n  QuantizationConfig: {load_in_4bit: false, load_in_8bit: null}\n"
    assert check_training_config(both_off, "lora") == "/mnt/output"
    assert check_training_config("training_config:\n  QuantizationConfig: {load_in_8bit: true}\n", "qlora") == (
        "/mnt/output"
    )


def test_an_inference_config_s_max_model_len_must_fit_the_model() -> None:
    phi3 = catalog().resolve_preset("phi-3")
    assert check_inference_config("vllm: {max-model-len: 131072}\n", phi3) is None
    assert check_inference_config("- not a mapping\n", phi3) is None  # nothing to check
    assert check_inference_config("", phi3) is None
    for value in ("131073", '"4096"', "4096.5"):
        with pytest.raises(InvalidInput) as refused:
            check_inference_config(f"vllm: {{max-model-len: {value}}}\n", phi3)
        shown = value if value != '"4096"' else "'4096'"
        assert (refused.value.field, refused.value.problem, refused.value.fix) == (
            "--config",
            f"vllm.max-model-len {shown} must be an integer ≤ 131072 (phi-3-mini-128k-instruct's context)",
            "fix inference_config.yaml",
        )
    with pytest.raises(InvalidInput) as broken:
        check_inference_config("vllm: [\n", phi3)
    assert (broken.value.problem, broken.value.fix) == ("inference_config.yaml is not valid YAML", "fix the ConfigMap")


SUBDOMAIN_RULE = "use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
KINDS = "use one of persistentVolumeClaim, azureFile, csi, nfs, ephemeral, emptyDir"


@pytest.mark.parametrize(
    ("volume", "expected"),
    [
        ([], ("V", "volumeSource must be a Kubernetes volume source", "e.g. persistentVolumeClaim: {claimName: NAME}")),
        ({}, ("V", "volumeSource must be a Kubernetes volume source", "e.g. persistentVolumeClaim: {claimName: NAME}")),
        ({"hostPath": {}}, ("V.hostPath", "not allowed: it mounts the node's own filesystem into the pod", KINDS)),
        ({"name": "x"}, ("V.name", "not allowed: the volume's name is set by kaitoctl", KINDS)),
        ({"gitRepo": {}}, ("V.gitRepo", "not allowed: kaitoctl does not accept this kind of volume", KINDS)),
        ({"nfs": {}, "csi": {}}, ("V", "names 2 volume kinds (nfs, csi)", "give exactly one")),
        ({"nfs": "x"}, ("V.nfs", "expected a mapping, got str", "see the README")),
        (
            {"persistentVolumeClaim": {"claimName": "Bad"}},
            ("V.persistentVolumeClaim.claimName", "'Bad' is not a valid PersistentVolumeClaim name", SUBDOMAIN_RULE),
        ),
        (
            {"persistentVolumeClaim": {}},
            ("V.persistentVolumeClaim.claimName", "'' is not a valid PersistentVolumeClaim name", SUBDOMAIN_RULE),
        ),
    ],
)
def test_a_volume_source_kaitoctl_refuses(volume: object, expected: tuple[str, str, str]) -> None:
    from kaitoctl.core.validation import _check_volume

    with pytest.raises(InvalidInput) as refused:
        _check_volume(volume, "V")
    assert (refused.value.field, refused.value.problem, refused.value.fix) == expected


def test_alternatives_skip_non_nvidia_skus_wherever_they_are_listed() -> None:
    from dataclasses import replace

    from kaitoctl.core.plan import build_plan
    from tests.unit.helpers import deploy_spec

    cat = catalog()
    amd, a10, a100 = (
        cat.sku(n) for n in ("Standard_NG32ads_V620_v1", "Standard_NV36ads_A10_v5", "Standard_NC24ads_A100_v4")
    )
    assert amd is not None and a10 is not None and a100 is not None
    amd_first = replace(cat, skus={s.name.lower(): s for s in (amd, a10, a100)})
    with pytest.raises(InvalidInput) as refused:
        build_plan(deploy_spec("phi-3", name="p", instance_type=a10.name, max_model_len=131072), amd_first)
    assert (refused.value.fix, refused.value.details) == (
        "use --instance-type Standard_NC24ads_A100_v4 (the smallest that fits)",
        ["Standard_NC24ads_A100_v4"],
    )
