"""Every -o json document kaitoctl prints validates against the published schema (schema/kaitoctl.schema.json):
camelCase keys, apiVersion kaitoctl.io/v1 and a kind (a dry run: a Kubernetes v1 List). Commands that need a
cluster are validated in the e2e tests (tests/e2e/kaitoctl_cli.py validates every JSON document they read)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.harness.model_server import ModelServer
from tests.unit.helpers import FIXTURES

SCHEMA = json.loads((Path(__file__).parents[2] / "schema" / "kaitoctl.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def validate(document: Any) -> None:
    errors = sorted(VALIDATOR.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def kaitoctl_json(*args: str, code: int = 0) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "kaitoctl", *args, "-o", "json"],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": "/nonexistent/kubeconfig"},
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == code, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def server() -> Iterator[ModelServer]:
    with ModelServer(models=["phi-3-mini-128k-instruct"], chunk_delay_s=0.0) as srv:
        yield srv


COMMANDS: list[tuple[list[str], int, str]] = [
    (["presets"], 0, "List"),
    (["presets", "--all"], 0, "List"),
    (["presets", "show", "phi-3"], 0, "Preset"),
    (["presets", "show", "mistral-7b-instruct"], 0, "Preset"),
    (["presets", "skus", "--all"], 0, "List"),
    (["version"], 0, "Version"),
    (["deploy", "phi-3", "--dry-run"], 0, "List"),
    (["tune", "phi-3", "--method", "qlora", "--dry-run"], 0, "List"),
    (["render", "-f", str(FIXTURES / "v1beta1-inference-phi-4-mini.yaml")], 0, "List"),
    # a real run that fails (no cluster): still one RunResult, with the error
    (["deploy", "phi-3"], 2, "RunResult"),
    (["tune", "phi-3", "--method", "full"], 2, "RunResult"),
    # delete that fails (no cluster): still one DeleteResult, with the error (issue 10 item 7)
    (["delete", "phi-3-mini-128k-instruct", "-y"], 2, "DeleteResult"),
    (["stop", "phi-3-mini-128k-instruct"], 2, "StopResult"),
]


@pytest.mark.parametrize(("args", "code", "kind"), COMMANDS, ids=[" ".join(c[0][:3]) for c in COMMANDS])
def test_command_output_matches_the_schema(args: list[str], code: int, kind: str) -> None:
    document = kaitoctl_json(*args, code=code)
    validate(document)
    assert document["kind"] == kind


def test_chat_documents_match_the_schema(server: ModelServer) -> None:
    validate(kaitoctl_json("chat", "hello", "--endpoint", server.url))
    validate(kaitoctl_json("chat", "--list-models", "--endpoint", server.url))


def test_a_failed_run_result_carries_the_error() -> None:
    document = kaitoctl_json("deploy", "phi-3", code=2)
    assert document["error"]["exitCode"] == 2 and document["error"]["field"] == "--kubeconfig"


def test_the_schema_refuses_other_key_styles_and_missing_versions() -> None:
    good = {"apiVersion": "kaitoctl.io/v1", "kind": "Version", "kaitoctl": "1", "kaito": "v0.12.0"}
    validate(good)
    for bad in (
        {k: v for k, v in good.items() if k != "apiVersion"},
        {**good, "kind": "Versions"},
        {**good, "hf_repo": "x"},
        {"apiVersion": "kaitoctl.io/v1", "kind": "RunResult", "durationSeconds": 1, "GiBPerGPU": 2},
        [{"name": "bare array"}],
    ):
        assert list(VALIDATOR.iter_errors(bad)), bad
