"""The dry-run CLI end to end (no cluster): stdout carries only data, stderr the plan."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml
from typer.testing import CliRunner

from kaitoctl import __version__
from kaitoctl.cli.app import app
from tests.unit.helpers import FIXTURES

runner = CliRunner()


def test_presets_lists_current_presets() -> None:
    result = runner.invoke(app, ["presets"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "PARAMS", "WEIGHTS(GiB)"]
    names = {line.split()[0] for line in lines[1:]}
    assert "phi-3-mini-128k-instruct" in names and "phi-2" not in names
    everything = runner.invoke(app, ["presets", "--all"])
    assert "phi-2" in everything.stdout and "deprecated" in everything.stdout


def test_presets_json_and_yaml() -> None:
    data = json.loads(runner.invoke(app, ["presets", "-o", "json"]).stdout)
    assert (data["apiVersion"], data["kind"]) == ("kaitoctl.io/v1", "List")
    phi3 = next(p for p in data["items"] if p["name"] == "phi-3-mini-128k-instruct")
    assert "phi-3" in phi3["aliases"] and phi3["bytesPerToken"] == 393216 and phi3["kind"] == "Preset"
    assert yaml.safe_load(runner.invoke(app, ["presets", "-o", "yaml"]).stdout) == data


def test_presets_show_gives_facts_and_fit() -> None:
    result = runner.invoke(app, ["presets", "show", "phi-3", "--max-model-len", "131072"])
    assert result.exit_code == 0
    assert "microsoft/Phi-3-mini-128k-instruct" in result.stdout
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("Standard_")}
    assert " no " in rows["Standard_NV36ads_A10_v5"] + " "
    assert "1 node(s)" in rows["Standard_NC24ads_A100_v4"]
    data = json.loads(runner.invoke(app, ["presets", "show", "phi-3", "-o", "json"]).stdout)
    assert data["name"] == "phi-3-mini-128k-instruct"
    fit = {row["sku"]: row for row in data["fit"]}
    assert fit["Standard_NV36ads_A10_v5"] == {
        "sku": "Standard_NV36ads_A10_v5",
        "vllm": {"fits": True, "nodes": 1},
        "tuning": {"lora": {"fits": True, "gibPerGPU": 12.3}, "qlora": {"fits": True, "gibPerGPU": 4.4}},
        "usdPerHour": None,  # nothing cached (tests start with an empty price cache)
    }
    full = json.loads(runner.invoke(app, ["presets", "show", "phi-3", "--max-model-len", "131072", "-o", "json"]).stdout)
    by_sku = {row["sku"]: row["vllm"] for row in full["fit"]}
    assert by_sku["Standard_NV36ads_A10_v5"]["fits"] is False
    assert by_sku["Standard_NC24ads_A100_v4"] == {"fits": True, "nodes": 1}


def test_presets_skus_flags_retired_sizes() -> None:
    current = runner.invoke(app, ["presets", "skus"]).stdout
    assert "Standard_NC24ads_A100_v4" in current and "Standard_NC6s_v3" not in current
    every = runner.invoke(app, ["presets", "skus", "--all"]).stdout
    assert "Standard_NC6s_v3" in every and "retired" in every and "2025-09-30" in every


def test_tune_dry_run_prints_plan_to_stderr_and_manifests_to_stdout() -> None:
    result = runner.invoke(app, ["tune", "phi-3", "--method", "qlora", "--dry-run"])
    assert result.exit_code == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in docs] == ["ConfigMap", "ConfigMap", "PersistentVolumeClaim", "Job"]
    assert "Plan: tune workspace phi-3-mini-128k-instruct-tuning" in result.stderr
    assert "dolly-15k-oai-style" in result.stderr  # the default dataset is stated in the plan
    assert "smallest current SKU that fits" in result.stderr
    as_json = json.loads(runner.invoke(app, ["tune", "phi-3", "--method", "qlora", "--dry-run", "-o", "json"]).stdout)
    assert as_json == {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": docs}


def test_deploy_max_model_len_changes_the_plan() -> None:
    small = runner.invoke(app, ["deploy", "phi-3", "--dry-run"])
    big = runner.invoke(app, ["deploy", "phi-3", "--dry-run", "--max-model-len", "131072"])
    assert "Standard_NV36ads_A10_v5" in small.stderr and "Standard_NC24ads_A100_v4" in big.stderr
    cm = [d for d in yaml.safe_load_all(big.stdout) if d["metadata"]["name"].endswith("-config")]
    assert yaml.safe_load(cm[0]["data"]["inference_config.yaml"])["vllm"]["max-model-len"] == 131072


def test_cookbook_yaml_dry_run_warns_about_the_retired_sku() -> None:
    result = runner.invoke(app, ["apply", "-f", str(FIXTURES / "cookbook-tuning-phi-3.yaml"), "--dry-run"])
    assert result.exit_code == 2, result.stderr  # the manifests are printed, and the exit code says it would fail
    assert "Standard_NC6s_v3 is retired" in result.stderr
    assert "2025-09-30" in result.stderr and "Standard_NC24ads_A100_v4" in result.stderr
    assert "a real run would stop here" in result.stderr
    job = next(d for d in yaml.safe_load_all(result.stdout) if d["kind"] == "Job")
    assert job["metadata"]["name"] == "workspace-tuning-phi-3"
    fixed = runner.invoke(
        app,
        [
            "apply",
            "-f",
            str(FIXTURES / "cookbook-tuning-phi-3.yaml"),
            "--dry-run",
            "--instance-type",
            "Standard_NC24ads_A100_v4",
        ],
    )
    assert "retired" not in fixed.stderr
    assert fixed.exit_code == 2  # the cookbook's placeholders (ACR_REPO_HERE, ...) still stop a real run


def test_render_equals_apply_dry_run() -> None:
    path = str(FIXTURES / "v1beta1-inference-phi-4-mini.yaml")
    assert (
        runner.invoke(app, ["render", "-f", path]).stdout
        == runner.invoke(app, ["apply", "-f", path, "--dry-run"]).stdout
    )


def test_apply_reads_stdin() -> None:
    text = (FIXTURES / "v1beta1-inference-phi-4-mini.yaml").read_text()
    result = runner.invoke(app, ["render", "-f", "-"], input=text)
    assert result.exit_code == 0 and "workspace-phi-4-mini" in result.stdout


def test_python_dash_m_and_version() -> None:
    out = subprocess.run([sys.executable, "-m", "kaitoctl", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"kaitoctl {__version__} (follows Kaito v0.12.0)"


def test_no_args_shows_help() -> None:
    result = runner.invoke(app, [])
    assert "tune" in result.output and "deploy" in result.output
