"""Validation errors, table-driven through the real CLI: exit code 2, the field and the fix, stdout empty."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kaitoctl.cli.app import app
from tests.unit.helpers import FIXTURES

runner = CliRunner()

CASES = [
    # (args, text that must appear in stderr)
    (["tune", "phi-3", "--method", "dora", "--dry-run"], "--method: unknown tuning method 'dora'"),
    (["tune", "phi-3", "--method", "qlora", "--name", "Bad_Name", "--dry-run"], "--name: 'Bad_Name' is not a valid"),
    (["tune", "phi-3", "--method", "qlora", "--name", "a\nb", "--dry-run"], "--name:"),
    (
        ["tune", "phi-3", "--method", "qlora", "--input-url", "ftp://x/y", "--dry-run"],
        "--input-url: 'ftp://x/y': scheme 'ftp'",
    ),
    (["tune", "phi-3", "--method", "qlora", "--input-url", "http://localhost/d.json", "--dry-run"], "host 'localhost'"),
    (
        ["tune", "phi-3", "--method", "qlora", "--input-url", "http://127.0.0.1/d.json", "--dry-run"],
        "loopback, private or link-local",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--input-url", "http://10.1.2.3/d.json", "--dry-run"],
        "loopback, private or link-local",
    ),
    (["tune", "phi-3", "--method", "qlora", "--input-url", "http://169.254.169.254/latest", "--dry-run"], "link-local"),
    (
        ["tune", "phi-3", "--method", "qlora", "--input-url", "http://metadata.google.internal/x", "--dry-run"],
        "is not allowed",
    ),
    (["tune", "phi-3", "--method", "qlora", "--input-url", "https://a.b/x y", "--dry-run"], "whitespace"),
    (
        ["tune", "phi-3", "--method", "qlora", "--input-url", "https://a.b/x", "--input-pvc", "p", "--dry-run"],
        "exactly one of urls, image and volumeSource",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--output-image", "acr.io/a:1", "--dry-run"],
        "--push-secret: an output image needs a push secret",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--output-image", "UPPER/Case:1", "--push-secret", "s", "--dry-run"],
        "is not a valid image reference",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--count", "2", "--dry-run"],
        "Tuning does not currently support multinode",
    ),
    (["tune", "llama-3.1-8b-instruct", "--method", "qlora", "--dry-run"], "does not support qlora tuning"),
    (
        ["tune", "phi-3", "--method", "qlora", "--label", "noequals", "--dry-run"],
        "--label: 'noequals' is not KEY=VALUE",
    ),
    (["tune", "phi-3", "--method", "qlora", "--label", "a=b:c", "--dry-run"], "is not a valid value for label"),
    (
        ["tune", "phi-3", "--method", "qlora", "--label", "kaito.sh/workspace=x", "--dry-run"],
        "only of keys Kaito reserves",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--instance-type", "Standard_X1", "--dry-run"],
        "unknown instance type 'Standard_X1'",
    ),
    (["tune", "phi-2", "--method", "qlora", "--dry-run"], "phi-2 is deprecated"),
    (["tune", "qwen2.5-coder", "--method", "qlora", "--dry-run"], "is ambiguous"),
    (["deploy", "falcon-7b", "--dry-run"], "not available in Kaito"),
    (["deploy", "phi-3", "--runtime", "tgi", "--dry-run"], "--runtime: unknown runtime 'tgi'"),
    (
        ["deploy", "phi-4-mini", "--runtime", "transformers", "--dry-run"],
        "does not support inference with Huggingface Transformers",
    ),
    (["deploy", "phi-3", "--max-model-len", "200000", "--dry-run"], "--max-model-len: 200000 is outside 1..131072"),
    (
        ["deploy", "phi-3", "--max-model-len", "131072", "--instance-type", "Standard_NV36ads_A10_v5", "--dry-run"],
        "--instance-type",
    ),
    (
        ["deploy", "phi-3", "--runtime", "transformers", "--max-model-len", "4096", "--dry-run"],
        "applies to the vLLM runtime only",
    ),
    (["deploy", "phi-3", "--adapter", "a=x.io/a:1", "--adapter", "a=x.io/b:1", "--dry-run"], "is used twice"),
    (["deploy", "phi-3", "--adapter", "a=not a ref", "--dry-run"], "is not a valid image reference"),
    (
        [
            "deploy",
            "llama-3.3-70b-instruct",
            "--runtime",
            "transformers",
            "--instance-type",
            "Standard_NC24ads_A100_v4",
            "--dry-run",
        ],
        "cannot spread a model over several nodes",
    ),
    (["deploy", "phi-3", "-o", "xml", "--dry-run"], "--output: unknown format 'xml'"),
    (["deploy", "phi-3", "--timeout", "soon", "--dry-run"], "--timeout: 'soon' is not a duration"),
    (["deploy", "phi-3", "--node", "Node_1", "--dry-run"], "is not a valid node name"),
    (["apply", "-f", str(FIXTURES / "missing.yaml"), "--dry-run"], "--filename: cannot read"),
]


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(c[0][:3]) + f" #{i}" for i, c in enumerate(CASES)])
def test_invalid_input_exits_2_with_field_and_fix(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # nothing rendered, nothing applied


def test_errors_carry_a_fix_line() -> None:
    result = runner.invoke(app, ["tune", "phi-3", "--method", "qlora", "--output-image", "acr.io/a:1", "--dry-run"])
    assert "fix: create a kubernetes.io/dockerconfigjson Secret" in result.stderr


def test_vllm_rejects_adapter_strength_from_yaml(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = (
        (FIXTURES / "v1beta1-inference-adapters.yaml")
        .read_text()
        .replace("kaito.sh/runtime: transformers", "kaito.sh/runtime: vllm")
    )
    path = tmp_path / "ws.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["apply", "-f", str(path), "--dry-run"])
    assert result.exit_code == 2
    assert "inference.adapters[0]: vLLM does not support adapter strength" in result.stderr


def test_invalid_yaml_syntax_is_reported_with_position(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ws.yaml"
    path.write_text("apiVersion: kaito.sh/v1beta1\nkind: [\n")
    result = runner.invoke(app, ["apply", "-f", str(path), "--dry-run"])
    assert result.exit_code == 2 and "not valid YAML (line" in result.stderr
