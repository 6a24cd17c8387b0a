"""`--adapter` as kaitoctl reads it (core/builders.parse_adapter): IMAGE, NAME=IMAGE, NAME=pvc:CLAIM or pvc:CLAIM,
and the adapter name taken from an image's repository when none is given."""

from __future__ import annotations

import pytest

from kaitoctl.core.builders import default_workspace_name, parse_adapter, pvc_volume
from kaitoctl.core.spec import Adapter


@pytest.mark.parametrize(
    ("raw", "adapter"),
    [
        ("tuned=reg.io/org/phi-lora:1", Adapter("tuned", image="reg.io/org/phi-lora:1")),
        ("reg.io/org/My_Adapter:v1@sha256:abc", Adapter("my-adapter", image="reg.io/org/My_Adapter:v1@sha256:abc")),
        ("reg.io:5000/team/x/lora-7:2", Adapter("lora-7", image="reg.io:5000/team/x/lora-7:2")),
        ("reg.io/a@sha256:x@y", Adapter("a", image="reg.io/a@sha256:x@y")),
        ("plain", Adapter("plain", image="plain")),
        ("reg.io/___:1", Adapter("adapter", image="reg.io/___:1")),
        ("pvc:claim-1", Adapter("claim-1", volume={"persistentVolumeClaim": {"claimName": "claim-1"}})),
        ("mine=pvc:claim-1", Adapter("mine", volume={"persistentVolumeClaim": {"claimName": "claim-1"}})),
        ("a=b=c", Adapter("a", image="b=c")),  # the name ends at the first '='
    ],
)
def test_an_adapter_flag_becomes_an_image_or_a_claim_with_a_name(raw: str, adapter: Adapter) -> None:
    assert parse_adapter(raw) == adapter


def test_a_long_repository_name_is_cut_to_a_dns_label() -> None:
    repo = "a" * 62 + "-b" * 5
    assert parse_adapter(f"reg.io/{repo}:1").name == "a" * 62  # 63 characters end in '-': dropped


def test_pvc_volume_and_default_workspace_names() -> None:
    assert pvc_volume("c") == {"persistentVolumeClaim": {"claimName": "c"}}
    assert default_workspace_name("llama-3.3-70b-instruct", "inference") == "llama-3-3-70b-instruct"
    assert default_workspace_name("phi-3.5-mini-instruct", "tuning") == "phi-3-5-mini-instruct-tuning"
    long = "x" * 60
    assert default_workspace_name(long, "tuning") == "x" * 60 + "-tu"
    assert default_workspace_name("y" * 62, "tuning") == "y" * 62  # cut at 63 it ends in '-': dropped


def test_an_unknown_preset_on_the_command_line_is_named_preset() -> None:
    from kaitoctl.core.errors import InvalidInput
    from tests.unit.helpers import deploy_spec, tune_spec

    for make in (deploy_spec, tune_spec):
        with pytest.raises(InvalidInput) as unknown:
            make("no-such", name="p")
        assert (unknown.value.field, unknown.value.problem, unknown.value.fix) == (
            "PRESET",
            "unknown preset 'no-such'",
            "run `kaitoctl presets` for the list",
        )


def test_input_files_go_to_a_claim_of_their_own_and_exclude_other_inputs() -> None:
    from kaitoctl.core.errors import InvalidInput
    from kaitoctl.core.spec import DataSource
    from tests.unit.helpers import tune_spec

    spec = tune_spec("phi-3", name="p", input_files_digest="abc123")
    assert spec.tuning is not None
    assert spec.tuning.input == DataSource(
        volume={"persistentVolumeClaim": {"claimName": "p-input"}},
        managed_pvc="p-input",
        upload_digest="abc123",
    )
    for other in ({"input_urls": ["https://example.com/d.parquet"]}, {"input_image": "reg.io/d:1"}, {"input_pvc": "c"}):
        with pytest.raises(InvalidInput) as both:
            tune_spec("phi-3", name="p", input_files_digest="abc123", **other)
        assert (both.value.field, both.value.problem, both.value.fix) == (
            "--input-file",
            "cannot be combined with --input-url, --input-image or --input-pvc",
            "give one kind of input",
        )
