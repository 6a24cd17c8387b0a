"""The documented GitHub Actions recipe (examples/github-actions/kaitoctl-smoke-test.yml) stays right: OIDC login,
deploy -o json, a smoke chat, delete on always(); every kaitoctl command line in it parses with today's flags. And
the job summary kaitoctl writes when GITHUB_STEP_SUMMARY is set (issue 13, item 13)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from kaitoctl.cli.app import app

RECIPE = Path(__file__).parents[2] / "examples" / "github-actions" / "kaitoctl-smoke-test.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    doc = yaml.safe_load(RECIPE.read_text())
    assert isinstance(doc, dict)
    return doc


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    (job,) = workflow["jobs"].values()
    return list(job["steps"])


def kaitoctl_lines(step: dict[str, Any]) -> list[list[str]]:
    """The kaitoctl command lines of a run: step, with ${{ }} expressions and $VARS as placeholders."""
    script = re.sub(r"\$\{\{[^}]*\}\}", "X", step.get("run", "")).replace("\\\n", " ")
    commands = []
    for line in script.splitlines():
        line = line.strip()
        if "kaitoctl " not in line or line.startswith("#"):
            continue
        words = shlex.split(line.split(">")[0].split("|")[0])
        commands.append(words[words.index("kaitoctl") + 1 :])
    return commands


def parse(args: list[str]) -> Any:
    """Parse like the real CLI would (unknown flags, missing values and bad choices raise), without running.
    (typer bundles its own click; only the command objects' public methods are used.)"""
    group: Any = typer.main.get_command(app)
    command = group.commands[args[0]]  # a renamed verb: KeyError
    return command.make_context(args[0], list(args[1:]))


def test_login_is_oidc_without_a_client_secret(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"]["id-token"] == "write"
    login = next(s for s in steps(workflow) if str(s.get("uses", "")).startswith("azure/login@"))
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}
    assert "secret" not in RECIPE.read_text().lower().replace("secrets.", "").replace("client secret", "")


def test_deploy_json_smoke_chat_and_delete_on_always(workflow: dict[str, Any]) -> None:
    runs = [(s, kaitoctl_lines(s)) for s in steps(workflow)]
    commands = [c for _, cs in runs for c in cs]
    verbs = [c[0] for c in commands]
    assert verbs == ["render", "deploy", "chat", "delete"]
    deploy = next(c for c in commands if c[0] == "deploy")
    assert deploy[deploy.index("-o") + 1] == "json" and "--yes" in deploy
    delete_step = next(s for s, cs in runs if cs and cs[0][0] == "delete")
    assert delete_step["if"] == "always()"
    order = [s.get("name") for s in steps(workflow)]
    assert order.index(delete_step["name"]) == len(order) - 1  # cleanup comes last


def test_every_kaitoctl_command_in_the_recipe_parses(workflow: dict[str, Any]) -> None:
    for step in steps(workflow):
        for args in kaitoctl_lines(step):
            parse(args)  # raises a UsageError on a renamed or removed flag
    with pytest.raises(Exception, match="No such option: --no-such-flag"):
        parse(["deploy", "phi-3", "--no-such-flag"])
    with pytest.raises(Exception, match="--output"):
        parse(["deploy", "phi-3", "--output"])


def test_step_summary_has_plan_cost_and_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kaitoctl.cli import summary
    from kaitoctl.core.errors import CloudError

    path = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    result = {
        "workspace": "phi-3-mini-128k-instruct",
        "namespace": "ci",
        "action": "deploy",
        "plan": {
            "preset": "phi-3-mini-128k-instruct",
            "runtime": "vllm",
            "instanceType": "Standard_NV36ads_A10_v5",
            "instanceTypeChoice": "smallest current SKU that fits",
            "nodes": 1,
            "fit": {"explanation": ["weights 7.3 GiB"]},
        },
        "pool": {"name": "kc1234567890", "action": "create", "usdPerHour": 3.2},
        "phases": [{"name": "NodePool", "status": "True", "reason": "Succeeded", "durationSeconds": 301.2}],
        "endpoint": {"url": "http://phi.ci.svc.cluster.local:80", "model": "phi-3-mini-128k-instruct"},
        "state": "Ready",
        "durationSeconds": 412.0,
    }
    summary.append(result)
    summary.append({**result, "state": None}, CloudError("quota | exceeded\nfor NCADS", code="QuotaExceeded"))
    text = path.read_text()
    first, second = text.split("### ")[1:]
    assert first.startswith("kaitoctl deploy `phi-3-mini-128k-instruct` in `ci`: Ready ✅")
    assert "| instance | 1 × Standard_NV36ads_A10_v5 (smallest current SKU that fits) |" in first
    assert "| cost | $3.20/h |" in first and "| duration | 412 s |" in first
    assert "| NodePool | ✅ True | Succeeded | 301 |" in first
    assert "Failed ❌" in second and "| error | quota \\| exceeded for NCADS |" in second
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    summary.append(result)  # no variable: nothing written
    assert path.read_text() == text
