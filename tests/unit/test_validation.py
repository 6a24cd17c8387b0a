"""Validation errors, table-driven through the real CLI: exit code 2, the field and the fix, stdout empty."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kaitoctl.cli.app import app
from tests.unit.helpers import FIXTURES

runner = CliRunner()

CASES = [
    # (args, the error line, the fix line): both exactly
    (
        ["tune", "phi-3", "--method", "dora", "--dry-run"],
        "--method: unknown tuning method 'dora'",
        "use lora or qlora",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--name", "Bad_Name", "--dry-run"],
        "--name: 'Bad_Name' is not a valid workspace name",
        "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--name", "a\nb", "--dry-run"],
        "--name: 'a\\nb' is not a valid workspace name",
        "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--input-url", "ftp://x/y", "--dry-run"],
        "--input-url: 'ftp://x/y': scheme 'ftp' is not allowed",
        "use an http:// or https:// URL",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--input-url", "http://localhost/d.json", "--dry-run"],
        "--input-url: 'http://localhost/d.json': host 'localhost' is not allowed",
        "use a URL the training pod can reach on a public host",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--input-url", "http://127.0.0.1/d.json", "--dry-run"],
        "--input-url: 'http://127.0.0.1/d.json': 127.0.0.1 is a loopback, private or link-local address",
        "use a public host name or address",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--input-url", "http://10.1.2.3/d.json", "--dry-run"],
        "--input-url: 'http://10.1.2.3/d.json': 10.1.2.3 is a loopback, private or link-local address",
        "use a public host name or address",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--input-url", "http://169.254.169.254/latest", "--dry-run"],
        "--input-url: 'http://169.254.169.254/latest': 169.254.169.254 is a loopback, private or link-local address",
        "use a public host name or address",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--input-url", "http://metadata.google.internal/x", "--dry-run"],
        "--input-url: 'http://metadata.google.internal/x': host 'metadata.google.internal' is not allowed",
        "use a URL the training pod can reach on a public host",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--input-url", "https://a.b/x y", "--dry-run"],
        "--input-url: 'https://a.b/x y' contains whitespace or control characters",
        "percent-encode them",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--input-url", "https://a.b/x", "--input-pvc", "p", "--dry-run"],
        "--input-url/--input-image/--input-pvc: tuning input needs exactly one of urls, image and volumeSource (got urls, volumeSource)",
        "give one input",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--output-image", "acr.io/a:1", "--dry-run"],
        "--push-secret: an output image needs a push secret",
        "create a kubernetes.io/dockerconfigjson Secret for the registry and pass --push-secret NAME",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--output-image", "UPPER/Case:1", "--push-secret", "s", "--dry-run"],
        "--output-image: 'UPPER/Case:1' is not a valid image reference",
        "use registry/repository[:tag][@sha256:digest], e.g. myacr.azurecr.io/adapters/phi-3:0.0.1",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--count", "2", "--dry-run"],
        "--count: Tuning does not currently support multinode configurations; count must be 1",
        "set count to 1 (or leave it out)",
    ),
    (
        ["tune", "llama-3.1-8b-instruct", "--method", "qlora", "--dry-run"],
        "PRESET: preset llama-3.1-8b-instruct does not support qlora tuning",
        "tune one of: phi-3-medium-128k-instruct, phi-3-medium-4k-instruct, phi-3-mini-128k-instruct, phi-3-mini-4k-instruct, phi-3.5-mini-instruct, phi-4, phi-4-mini-instruct, qwen2.5-coder-32b-instruct, qwen2.5-coder-7b-instruct",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--label", "noequals", "--dry-run"],
        "--label: 'noequals' is not KEY=VALUE",
        "write e.g. --label apps=phi-3",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--label", "a=b:c", "--dry-run"],
        "--label: 'b:c' is not a valid value for label 'a'",
        "use at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--label", "kaito.sh/workspace=x", "--dry-run"],
        "--label: the label selector consists only of keys Kaito reserves",
        "add a label of your own, e.g. apps: my-model",
    ),
    (
        ["tune", "phi-3", "--method", "qlora", "--instance-type", "Standard_X1", "--dry-run"],
        "--instance-type: unknown instance type 'Standard_X1'",
        "use one of Standard_NV36ads_A10_v5, Standard_NV72ads_A10_v5, Standard_NC24ads_A100_v4, Standard_NC48ads_A100_v4, Standard_NC96ads_A100_v4, Standard_ND96asr_v4, Standard_ND96amsr_A100_v4, Standard_NC40ads_H100_v5, Standard_NC80adis_H100_v5, Standard_ND96isr_H100_v5, Standard_NCC40ads_H100_v5, Standard_ND96isr_H200_v5, Standard_NG32ads_V620_v1, Standard_NG32adms_V620_v1 (`kaitoctl presets skus`)",
    ),
    (
        ["tune", "phi-2", "--method", "qlora", "--dry-run"],
        "PRESET: model phi-2 is deprecated and no longer supported (Model phi-2 is deprecated and no longer supported)",
        "choose a current preset (`kaitoctl presets`)",
    ),
    (
        ["tune", "qwen2.5-coder", "--method", "qlora", "--dry-run"],
        "PRESET: 'qwen2.5-coder' is ambiguous: it could be qwen2.5-coder-7b-instruct, qwen2.5-coder-32b-instruct",
        "name one of them",
    ),
    (
        ["deploy", "falcon-7b", "--dry-run"],
        'PRESET: preset falcon-7b is not available in Kaito v0.12.0: listed in v0.12 supported_models.yaml (tag 0.2.0) but has no model_catalog.yaml entry and no LegacyBuiltinToCatalog alias, so v0.12 rejects it: "Unsupported inference preset name falcon-7b"',
        "choose a current preset (`kaitoctl presets`)",
    ),
    (
        ["deploy", "phi-3", "--runtime", "tgi", "--dry-run"],
        "--runtime: unknown runtime 'tgi'",
        "use vllm or transformers",
    ),
    (
        ["deploy", "phi-4-mini", "--runtime", "transformers", "--dry-run"],
        "--runtime: model phi-4-mini-instruct does not support inference with Huggingface Transformers runtime",
        "use --runtime vllm",
    ),
    (
        ["deploy", "phi-3", "--max-model-len", "200000", "--dry-run"],
        "--max-model-len: 200000 is outside 1..131072 (the context limit of phi-3-mini-128k-instruct)",
        "use a value up to 131072",
    ),
    (
        ["deploy", "phi-3", "--max-model-len", "131072", "--instance-type", "Standard_NV36ads_A10_v5", "--dry-run"],
        "--instance-type: phi-3-mini-128k-instruct on Standard_NV36ads_A10_v5: does not fit: the reserve of 50.3 GiB per GPU (KV cache for 131072 tokens + runtime) exceeds the 20.2 GiB usable on one NVIDIA A10",
        "use --instance-type Standard_NC24ads_A100_v4 (the smallest that fits)",
    ),
    (
        ["deploy", "phi-3", "--runtime", "transformers", "--max-model-len", "4096", "--dry-run"],
        "--max-model-len: --max-model-len applies to the vLLM runtime only",
        "drop it, or use vllm",
    ),
    (
        ["deploy", "phi-3", "--adapter", "a=x.io/a:1", "--adapter", "a=x.io/b:1", "--dry-run"],
        "--adapter: adapter name 'a' is used twice",
        "give each adapter its own name",
    ),
    (
        ["deploy", "phi-3", "--adapter", "a=not a ref", "--dry-run"],
        "--adapter: 'not a ref' is not a valid image reference",
        "use registry/repository[:tag][@sha256:digest], e.g. myacr.azurecr.io/adapters/phi-3:0.0.1",
    ),
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
        "--instance-type: llama-3.3-70b-instruct on Standard_NC24ads_A100_v4: does not fit: llama-3.3-70b-instruct needs 131.4 GiB of GPU memory and one Standard_NC24ads_A100_v4 has 80 GiB; Hugging Face Transformers cannot spread a model over several nodes",
        "use --instance-type Standard_NC48ads_A100_v4 (the smallest that fits)",
    ),
    (
        ["deploy", "phi-3", "-o", "xml", "--dry-run"],
        "--output: unknown format 'xml'",
        "use one of: yaml, json",
    ),
    (
        ["deploy", "phi-3", "--timeout", "soon", "--dry-run"],
        "--timeout: 'soon' is not a duration",
        "write e.g. 90s, 30m, 2h or 1h30m",
    ),
    (
        ["deploy", "phi-3", "--node", "Node_1", "--dry-run"],
        "--node: 'Node_1' is not a valid node name",
        "use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
    ),
    (
        ["apply", "-f", "/work/wt/h12-tests/tests/fixtures/missing.yaml", "--dry-run"],
        "--filename: cannot read /work/wt/h12-tests/tests/fixtures/missing.yaml: No such file or directory",
        "check the path",
    ),
]


@pytest.mark.parametrize(
    ("args", "error", "fix"), CASES, ids=[" ".join(c[0][:3]) + f" #{i}" for i, c in enumerate(CASES)]
)
def test_invalid_input_exits_2_with_field_and_fix(args: list[str], error: str, fix: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: {error}"
    assert lines[-1] == f"  fix: {fix}"
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
