"""Names and ownership labels (core/naming.py) and how a field is named in an error (core/fields.py)."""

from __future__ import annotations

import re

import pytest

from kaitoctl.core.fields import Fields
from kaitoctl.core.naming import WorkspaceNames, ownership_selector, pool_name


def test_pool_names_are_stable_valid_and_differ_per_namespace() -> None:
    # Pinned: a changed hash would orphan every pool created before.
    assert pool_name("default", "phi-3-mini-128k-instruct") == "kc6665cd65f5"
    names = {pool_name(ns, ws) for ns in ("a", "b") for ws in ("w1", "w2")}
    assert len(names) == 4
    assert all(re.fullmatch(r"[a-z][a-z0-9]{0,11}", n) for n in names)  # AKS's agent pool name rule


def test_ownership_selector() -> None:
    assert ownership_selector() == "app.kubernetes.io/managed-by=kaitoctl"
    assert ownership_selector("w") == "app.kubernetes.io/managed-by=kaitoctl,kaitoctl.io/workspace=w"


def test_workspace_names_follow_kaito() -> None:
    n = WorkspaceNames("w")
    assert (n.workload, n.service, n.headless_service, n.first_pod) == ("w", "w", "w-headless", "w-0")
    assert (n.record, n.inference_config, n.tuning_config) == ("w-workspace", "w-config", "w-params")


@pytest.mark.parametrize(
    ("source", "mode", "path", "index", "name"),
    [
        ("flags", "inference", "resource.instanceType", None, "--instance-type"),
        ("flags", "tuning", "presetOptions.image", None, "--image"),
        ("flags", "inference", "inference.runtime", None, "--runtime"),
        ("flags", "inference", "resource.preferredNodes", 1, "--node"),
        ("flags", "inference", "something.else", None, "something.else"),
        ("kaito.sh/v1beta1", "inference", "resource.instanceType", None, "resource.instanceType"),
        ("kaito.sh/v1beta1", "inference", "resource.preferredNodes", 1, "resource.preferredNodes[1]"),
        ("kaito.sh/v1beta1", "tuning", "presetOptions.image", None, "tuning.preset.presetOptions.image"),
        ("kaito.sh/v1alpha1", "inference", "inference.runtime", None, 'metadata.annotations["kaito.sh/runtime"]'),
        ("kaito.sh/v1beta1", "inference", "inference.maxModelLen", None, "--max-model-len"),
    ],
)
def test_fields_are_named_as_the_user_wrote_them(source: str, mode: str, path: str, index: int | None, name: str) -> None:
    assert Fields(source, mode)(path, index) == name  # type: ignore[arg-type]


FLAG_FOR = {
    "metadata.name": "--name",
    "metadata.namespace": "--namespace",
    "resource.instanceType": "--instance-type",
    "resource.count": "--count",
    "resource.labelSelector.matchLabels": "--label",
    "resource.labelSelector": "--label",
    "resource.preferredNodes": "--node",
    "inference.preset.name": "PRESET",
    "tuning.preset.name": "PRESET",
    "inference.runtime": "--runtime",
    "inference.adapters": "--adapter",
    "inference.config": "--config",
    "inference.maxModelLen": "--max-model-len",
    "tuning.config": "--config",
    "tuning.method": "--method",
    "tuning.input": "--input-url/--input-image/--input-pvc",
    "tuning.input.urls": "--input-url",
    "tuning.input.image": "--input-image",
    "tuning.input.imagePullSecrets": "--image-pull-secret",
    "tuning.input.volumeSource": "--input-pvc",
    "tuning.output": "--output-image/--output-pvc",
    "tuning.output.image": "--output-image",
    "tuning.output.imagePushSecret": "--push-secret",
    "tuning.output.volumeSource": "--output-pvc",
    "presetOptions.image": "--image",
    "presetOptions.imagePullSecrets": "--image-pull-secret",
    "presetOptions.modelAccessSecret": "--model-access-secret",
}


@pytest.mark.parametrize("path", list(FLAG_FOR))
def test_every_field_is_named_by_the_flag_that_sets_it_and_in_a_file_by_its_path(path: str) -> None:
    assert Fields("flags", "tuning")(path) == FLAG_FOR[path]
    assert Fields("flags", "tuning")(path, 2) == FLAG_FOR[path]  # a flag has no index
    in_file = {
        "inference.runtime": 'metadata.annotations["kaito.sh/runtime"]',
        "inference.maxModelLen": "--max-model-len",
    }.get(path, f"tuning.preset.{path}" if path.startswith("presetOptions.") else path)
    assert Fields("kaito.sh/v1beta1", "tuning")(path) == in_file
    assert Fields("kaito.sh/v1beta1", "tuning")(path, 0) == f"{in_file}[0]"


def test_a_field_s_default_mode_is_inference() -> None:
    assert Fields("kaito.sh/v1beta1")("presetOptions.modelAccessSecret") == "inference.preset.presetOptions.modelAccessSecret"
    assert Fields("flags")("presetOptions.unknown") == "inference.preset.presetOptions.unknown"
    assert Fields("kaito.sh/v1alpha1", "inference")("resource.labelSelector", 3) == "resource.labelSelector[3]"
