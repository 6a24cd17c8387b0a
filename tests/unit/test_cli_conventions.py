"""CLI conventions a kubectl/az/helm user and a CI script rely on (issue 13): exit codes of dry runs, flag errors
before any connection, kubectl-shaped JSON, one meaning per short flag, help that says what values are,
completion, Examples, version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from kaitoctl import __version__
from kaitoctl.cli import options as o
from kaitoctl.cli.app import app
from tests.unit.helpers import FIXTURES

runner = CliRunner()
COOKBOOK = str(FIXTURES / "cookbook-tuning-phi-3.yaml")
PHI4 = str(FIXTURES / "v1beta1-inference-phi-4-mini.yaml")
VERBS = ["tune", "deploy", "apply", "render", "status", "logs", "delete", "stop", "start", "export", "chat", "eval", "endpoint", "doctor", "version", "presets"]


def kaitoctl(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kaitoctl", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        input=stdin,
        timeout=60,
    )


# -- 1. a dry run's exit code says whether a real run would pass ------------------------------------------------


def test_dry_run_of_a_retired_sku_prints_the_manifests_and_exits_2() -> None:
    result = runner.invoke(app, ["deploy", "phi-3", "--instance-type", "Standard_NC6s_v3", "--dry-run"])
    assert result.exit_code == 2
    kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout)]
    assert "StatefulSet" in kinds
    assert "a real run would be refused" in result.stderr and "Standard_NC6s_v3" in result.stderr


def test_render_is_a_ci_lint_step() -> None:
    bad = runner.invoke(app, ["render", "-f", COOKBOOK])
    assert bad.exit_code == 2
    assert [d["kind"] for d in yaml.safe_load_all(bad.stdout)][-1] == "Job"  # still rendered
    assert "and 2 more problems" in bad.stderr
    good = runner.invoke(app, ["render", "-f", PHI4])
    assert good.exit_code == 0, good.stderr


def test_a_dry_run_that_would_pass_exits_0() -> None:
    assert runner.invoke(app, ["deploy", "phi-3", "--dry-run"]).exit_code == 0


# -- 2. flags are validated before connecting --------------------------------------------------------------------

NO_CLUSTER = {"KUBECONFIG": "/nonexistent/kubeconfig", "HOME": "/nonexistent"}


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["tune", "phi-3", "--method", "full"], "--method"),
        (["deploy", "phi-3", "--runtime", "foo"], "--runtime"),
        (["deploy", "--runtime", "foo"], "--runtime"),  # no PRESET: the flag is still checked first
        (["deploy", "phi-3", "--instance-type", "Standard_NC6s_v3"], "--instance-type"),
        (["deploy", "phi-3", "--timeout", "soon"], "--timeout"),
        (["deploy", "phi-3", "-o", "xml"], "--output"),
        (["tune", "phi-3", "--method", "qlora", "--cleanup", "sometimes"], "--cleanup"),
        (["apply", "-f", COOKBOOK], "resource.instanceType"),
        (["apply", "-f", "/nonexistent.yaml"], "--filename"),
        (["logs", "ws", "--since", "yesterday"], "--since"),
        (["status", "--request-timeout", "fast"], "--request-timeout"),
        (["deploy", "llama-3.1-8b-instruct"], "--model-access-secret"),  # item 11: gated, no token
    ],
)
def test_flag_errors_come_before_the_kubeconfig(args: list[str], field: str) -> None:
    result = runner.invoke(app, args, env=NO_CLUSTER)
    assert result.exit_code == 2, result.stderr
    assert f"error: {field}:" in result.stderr
    assert "kubeconfig" not in result.stderr.lower()


# -- 3. -o json of a dry run is a v1 List --------------------------------------------------------------------------


def test_dry_run_json_is_a_v1_list_like_kubectl_get() -> None:
    result = runner.invoke(app, ["deploy", "phi-3", "--dry-run", "-o", "json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (data["apiVersion"], data["kind"], data["metadata"]) == ("v1", "List", {"resourceVersion": ""})
    as_yaml = list(yaml.safe_load_all(runner.invoke(app, ["deploy", "phi-3", "--dry-run"]).stdout))
    assert data["items"] == as_yaml


# -- 4. one meaning per short flag; help says what values are -----------------------------------------------------


def help_text(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_short_flags_follow_kubectl() -> None:
    assert "-A" in help_text("status") and "-w" in help_text("status")
    chat = help_text("chat")
    assert "--workspace" in chat and " -w " not in chat
    assert " -A " not in help_text("presets")
    assert runner.invoke(app, ["presets", "-A"]).exit_code == 2  # no such option any more
    assert runner.invoke(app, ["presets", "--all"]).exit_code == 0


@pytest.mark.parametrize("verb", [*VERBS, "presets show", "presets skus"])
def test_help_shows_value_names_not_python_types(verb: str) -> None:
    text = help_text(*verb.split())
    for wrong in ("<bool>", "<str>", "<int>", "<list", "<float>", "<path>", "NAME...]...", "[[", "]]"):
        assert wrong not in text, f"`kaitoctl {verb} --help` shows {wrong}"
    assert "Examples:" in text and "kaitoctl " + verb.split()[0] in text.split("Examples:")[1]


def test_help_texts_say_the_right_thing_per_verb() -> None:
    def line(verb: str, flag: str) -> str:
        return next(x for x in help_text(verb).splitlines() if f"{flag} " in x)

    assert "vLLM" not in line("tune", "--count")
    assert "derived from the preset" not in line("apply", "--name")
    assert "training_config" not in line("deploy", "--config")
    assert "inference_config" not in line("tune", "--config")
    assert "yaml" not in line("delete", "--output")
    assert runner.invoke(app, ["delete", "x", "-o", "yaml"]).exit_code == 2


def test_every_shared_option_is_in_help() -> None:
    """The option groups are declared once; each verb that takes them still lists every flag."""
    for verb in ("tune", "deploy", "apply"):
        text = help_text(verb)
        for flag in (
            "--instance-type", "--label", "--node", "--image", "--image-pull-secret", "--model-access-secret",
            "--bypass-resource-checks", "--kubeconfig", "--context", "--namespace", "--subscription",
            "--resource-group", "--cluster", "--cloud", "--no-pool", "--adopt", "--no-device-plugin", "--dry-run",
            "--output", "--timeout", "--no-progress", "--no-wait", "--recreate", "--yes", "--name", "--count",
            "--verbose", "--debug",
        ):  # fmt: skip
            assert flag in text, f"{verb} --help lacks {flag}"


@dataclass(frozen=True, kw_only=True)
class Twice:
    conn: o.ClusterFlags = field(default_factory=o.ClusterFlags)
    namespace: o.Namespace = None


@dataclass(frozen=True, kw_only=True)
class ProbeArgs:
    run: o.RunFlags = field(default_factory=o.RunFlags)
    conn: o.ClusterFlags = field(default_factory=o.ClusterFlags)


def test_a_group_cannot_declare_a_flag_twice() -> None:
    def twice(args: Twice) -> None:
        pass

    with pytest.raises(TypeError, match="namespace"):
        o.verb(twice)


def test_typed_options_reach_the_verb() -> None:
    """A flag set on the command line arrives in its dataclass field (a renamed field would not type-check)."""
    seen: list[object] = []

    @o.verb
    def probe(args: ProbeArgs) -> None:
        seen.append(args)

    cli = typer.Typer()
    cli.command("probe")(probe)
    cli.command("other")(lambda: None)
    assert runner.invoke(cli, ["probe", "-n", "team", "--dry-run", "--timeout", "5m"]).exit_code == 0
    assert seen == [ProbeArgs(run=o.RunFlags(dry_run=True, timeout="5m"), conn=o.ClusterFlags(namespace="team"))]


# -- 5. completion, Examples, version --------------------------------------------------------------------------------


def complete(words: str) -> list[str]:
    env = {"_KAITOCTL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    return kaitoctl(env=env).stdout.split()


def test_completion_of_presets_skus_and_fixed_values() -> None:
    assert "phi-3-mini-128k-instruct" in complete("kaitoctl deploy phi-3-m")
    assert complete("kaitoctl deploy phi-3 --instance-type Standard_NC2") == ["Standard_NC24ads_A100_v4"]
    assert complete("kaitoctl tune phi-3 --method q") == ["qlora"]
    assert complete("kaitoctl deploy --cloud AzureC") == ["AzureChinaCloud", "AzureCloud"]


def test_completion_of_contexts_reads_the_kubeconfig(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(yaml.safe_dump({"contexts": [{"name": "aks-dev"}, {"name": "aks-prod"}, {"name": "kind"}]}))
    assert complete(f"kaitoctl status --kubeconfig {config} --context aks-") == ["aks-dev", "aks-prod"]


def test_completion_of_workspaces_without_a_cluster_is_empty() -> None:
    result = kaitoctl(
        env={**NO_CLUSTER, "_KAITOCTL_COMPLETE": "complete_bash", "COMP_WORDS": "kaitoctl logs ", "COMP_CWORD": "2"}
    )
    assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr == ""


def test_completion_can_be_installed() -> None:
    assert "--install-completion" in help_text()


def test_version_names_the_kaito_release() -> None:
    assert kaitoctl("version").stdout == f"kaitoctl {__version__} (follows Kaito v0.12.0)\n"
    assert kaitoctl("--version").stdout == kaitoctl("version").stdout
    data = json.loads(kaitoctl("version", "-o", "json").stdout)
    assert data == {"apiVersion": "kaitoctl.io/v1", "kind": "Version", "kaitoctl": __version__, "kaito": "v0.12.0"}


# -- 10. apply/render -f: several documents, directories ----------------------------------------------------------


def test_render_takes_a_multi_document_file_and_a_directory(tmp_path: Path) -> None:
    phi4 = (FIXTURES / "v1beta1-inference-phi-4-mini.yaml").read_text()
    adapters = (FIXTURES / "v1beta1-tuning-pvc.yaml").read_text()
    both = tmp_path / "both.yaml"
    both.write_text(phi4 + "\n---\n" + adapters)
    multi = runner.invoke(app, ["render", "-f", str(both), "-o", "json"])
    assert multi.exit_code == 0, multi.stderr
    kinds = [d["kind"] for d in json.loads(multi.stdout)["items"]]
    assert "StatefulSet" in kinds and "Job" in kinds
    assert multi.stderr.count("Plan:") == 2
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "a.yaml").write_text(phi4)
    (folder / "b.yml").write_text(adapters)
    (folder / "notes.txt").write_text("not a manifest")
    from_dir = runner.invoke(app, ["render", "-f", str(folder), "-o", "json"])
    assert from_dir.exit_code == 0, from_dir.stderr
    assert json.loads(from_dir.stdout) == json.loads(multi.stdout)
    twice = runner.invoke(app, ["render", "-f", str(folder / "a.yaml"), "-f", str(folder / "b.yml")])
    assert twice.exit_code == 0 and twice.stdout == runner.invoke(app, ["render", "-f", str(both)]).stdout


def test_several_workspaces_are_all_checked_first(tmp_path: Path) -> None:
    phi4 = (FIXTURES / "v1beta1-inference-phi-4-mini.yaml").read_text()
    both = tmp_path / "both.yaml"
    both.write_text(phi4 + "\n---\n" + phi4)
    same = kaitoctl("apply", "-f", str(both), env=NO_CLUSTER)
    assert same.returncode == 2 and "given twice" in same.stderr and "kubeconfig" not in same.stderr
    cookbook = (FIXTURES / "cookbook-tuning-phi-3.yaml").read_text()
    both.write_text(phi4 + "\n---\n" + cookbook)
    refused = kaitoctl("apply", "-f", str(both), env=NO_CLUSTER)  # the second one's retired SKU stops both
    assert refused.returncode == 2 and "Standard_NC6s_v3" in refused.stderr and "kubeconfig" not in refused.stderr
    renamed = kaitoctl("apply", "-f", str(both), "--name", "x", env=NO_CLUSTER)
    assert renamed.returncode == 2 and "--name" in renamed.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "holds no .yaml" in kaitoctl("render", "-f", str(empty)).stderr


# -- 6. -v/--debug and Azure credential errors ----------------------------------------------------------------------


def test_redaction_of_secrets_in_debug_logs() -> None:
    from kaitoctl.cli.logsetup import redact

    assert redact("{'Authorization': 'Bearer eyJabc.def'}") == "{'Authorization': 'Bearer REDACTED'}"
    assert "hunter2" not in redact("client_secret=hunter2&grant_type=client_credentials")
    assert "abc" not in redact("https://x.blob.core.windows.net/c?sv=1&sig=abc")
    assert redact("GET /api/v1/namespaces/default/pods 200") == "GET /api/v1/namespaces/default/pods 200"


def test_no_credentials_is_one_line_naming_what_was_tried() -> None:
    from azure.core.exceptions import ClientAuthenticationError

    from kaitoctl.adapters.aks import cloud_error

    # azure-identity's text (azure/identity/_credentials/chained.py, _get_error_message)
    text = (
        "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
        "Attempted credentials:\n\tEnvironmentCredential: EnvironmentCredential authentication unavailable. "
        "Environment variables are not fully configured.\nVisit https://aka.ms/azsdk/python/identity/"
        "environmentcredential/troubleshoot to troubleshoot this issue.\n\tAzureCliCredential: Please run 'az login' "
        "to set up an account\n\tSharedTokenCacheCredential\nTo mitigate this issue, please refer to the guidelines."
    )
    error = cloud_error(ClientAuthenticationError(message=text), "reading AKS cluster c")
    assert error.message == (
        "reading AKS cluster c: no usable Azure credentials "
        "(tried: EnvironmentCredential, AzureCliCredential, SharedTokenCacheCredential)"
    )
    assert "az login" in (error.hint or "") and "AZURE_CLIENT_ID" in (error.hint or "")
    assert int(error.exit_code) == 4
    rejected = cloud_error(ClientAuthenticationError(message="token expired"), "x")
    assert "no usable" not in rejected.message


# -- README's command table matches the help ------------------------------------------------------------------------


def test_readme_command_table_matches_the_help() -> None:
    import re

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `kaitoctl ")]
    documented = {re.match(r"\| `kaitoctl ([a-z]+)", row).group(1) for row in rows}  # type: ignore[union-attr]
    assert documented == set(VERBS)
    for row in rows:
        verb = re.match(r"\| `kaitoctl ([a-z]+)", row).group(1)  # type: ignore[union-attr]
        text = help_text(verb) + (
            help_text("presets", "show") + help_text("presets", "skus") if verb == "presets" else ""
        )
        flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+|-[a-zA-Z])\b", re.split(r"(?<!\\)\|", row)[2]))
        missing = sorted(f for f in flags if f not in text and f not in ("--version",))
        assert not missing, f"README documents {missing} for `kaitoctl {verb}`, its help does not"
