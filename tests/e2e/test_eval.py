"""`kaitoctl chat --compare` and `kaitoctl eval` against a stand-in model server (base model + adapter), reached
through the API server's port-forward to a kwok pod."""

from __future__ import annotations

import json
import os
import pty
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.kaitoctl_cli import REPO, base_env, run
from tests.harness.model_server import ModelServer

pytestmark = pytest.mark.e2e

BASE = "phi-3-mini-128k-instruct"
ADAPTER = "my-adapter"


@pytest.fixture
def env(cluster: Any, tmp_path: Path) -> dict[str, str]:
    return base_env(cluster, {"XDG_CACHE_HOME": str(tmp_path / "cache")})


@pytest.fixture
def deployed(cluster: Any, namespace: str, env: dict[str, str]) -> Iterator[str]:
    node = cluster.add_gpu_node(vm_size="Standard_NC24ads_A100_v4")
    run(["deploy", "phi-3", "--node", node, "-n", namespace, "--adapter", f"{ADAPTER}=myacr.azurecr.io/adapters/a:1"], env).check()
    yield namespace
    cluster.delete_node(node)


@pytest.fixture
def server(cluster: Any, deployed: str) -> Iterator[ModelServer]:
    # "other" is served too but is not the workspace's: compare and eval leave it out
    with ModelServer(models=[BASE, "other", ADAPTER], chunk_delay_s=0.01) as srv:
        cluster.forward_ports(deployed, srv.port)
        yield srv


def test_compare_not_a_terminal_one_labelled_block_per_model(server: ModelServer, deployed: str, env: dict[str, str]) -> None:
    out = run(["chat", "--compare", "which is better", "-n", deployed, "--max-tokens", "50"], env).check().stdout
    assert out == (
        f"== {BASE} (base) ==\necho: which is better\n\n"
        f"== {ADAPTER} (adapter) ==\necho: which is better\n"
    )
    asked = sorted(body["model"] for body in server.completions())
    assert asked == [ADAPTER, BASE]
    assert all(body["stream"] is True and body["max_tokens"] == 50 for body in server.completions())


def test_compare_json_gives_both_answers(server: ModelServer, deployed: str, env: dict[str, str]) -> None:
    data = run(["chat", "--compare", "hi", "-n", deployed, "-o", "json"], env).check().json()
    assert data["kind"] == "ChatComparison"
    assert [(a["model"], a["role"], a["content"], a["finishReason"], a["error"]) for a in data["answers"]] == [
        (BASE, "base", "echo: hi", "stop", None),
        (ADAPTER, "adapter", "echo: hi", "stop", None),
    ]


def test_compare_a_failed_answer_exits_1_after_both_are_shown(server: ModelServer, deployed: str, env: dict[str, str]) -> None:
    server.config.stream_fault = "error"  # the next stream (one of the two) gets an error event mid-answer
    result = run(["chat", "--compare", "one two three", "-n", deployed], env)
    assert result.returncode == 1, result.stderr
    assert result.stdout.count("echo: one two three") == 1 and f"== {BASE} (base) ==" in result.stdout
    assert "the model server reported an error mid-answer: CUDA out of memory" in result.stderr


def test_compare_needs_an_adapter_and_refuses_model(cluster: Any, deployed: str, env: dict[str, str]) -> None:
    with ModelServer(models=[BASE]) as only_base:
        cluster.forward_ports(deployed, only_base.port)
        alone = run(["chat", "--compare", "q", "-n", deployed], env)
        assert alone.returncode == 2
        assert alone.stderr.startswith(f"error: --compare: only one model is served ({BASE}): nothing to compare with")
        assert not only_base.completions()
    both = run(["chat", "--compare", "q", "--model", BASE, "-n", deployed], env)
    assert both.returncode == 2 and both.stderr.startswith("error: --compare: asks the base model and each adapter")


def test_compare_on_a_terminal_streams_side_by_side(server: ModelServer, deployed: str, env: dict[str, str]) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # child: kaitoctl on a terminal
        os.chdir(REPO)
        os.execve(sys.executable, [sys.executable, "-m", "kaitoctl", "chat", "--compare", "side by side", "-n", deployed],
                  {**env, "TERM": "xterm", "COLUMNS": "100"})
    output = bytearray()
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        output.extend(data)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, output.decode(errors="replace")
    lines = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output.decode(errors="replace")).splitlines()
    # Side by side: a row with both models' headers, then a row with both answers.
    header = max(i for i, line in enumerate(lines) if f"{BASE} (base)" in line and f"{ADAPTER} (adapter)" in line)
    assert any(line.count("echo: side by side") == 2 for line in lines[header:]), "\n".join(lines[-12:])


def write_dataset(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_eval_scores_base_and_adapter_in_one_table(server: ModelServer, deployed: str, env: dict[str, str], tmp_path: Path) -> None:
    # The stand-in answers "echo: <prompt>": one exact match, two that contain the expected text, one wrong.
    dataset = write_dataset(tmp_path / "qa.jsonl", [
        {"prompt": "alpha", "expected": "echo: alpha"},
        {"prompt": "Beta gamma", "expected": "BETA"},
        {"prompt": "delta", "expected": "delta", "id": "d"},
        {"prompt": "epsilon", "expected": "zeta"},
    ])
    data = run(["eval", "-n", deployed, "--dataset", str(dataset), "-o", "json"], env).check().json()
    assert data["kind"] == "EvalResult" and data["examples"] == 4 and data["workspace"] == BASE
    assert [(m["model"], m["role"]) for m in data["models"]] == [(BASE, "base"), (ADAPTER, "adapter")]
    for model in data["models"]:
        assert model["exactMatch"] == {"correct": 1, "accuracy": 0.25}
        assert model["contains"] == {"correct": 3, "accuracy": 0.75}
        assert model["errors"] == 0 and model["tokensPerSecond"] > 0
        assert model["latencyMs"]["p50"] <= model["latencyMs"]["p90"] <= model["latencyMs"]["p99"]
    assert [(r["model"], r["example"], r["exactMatch"], r["contains"]) for r in data["results"][:4]] == [
        (BASE, "line 1", True, True), (BASE, "line 2", False, True), (BASE, "d", False, True), (BASE, "line 4", False, False),
    ]
    bodies = server.completions()
    assert len(bodies) == 8 and {b["model"] for b in bodies} == {BASE, ADAPTER}
    assert all(b["stream"] is False and b["temperature"] == 0 for b in bodies)

    table = run(["eval", BASE, "-n", deployed, "--dataset", str(dataset)], env).check().stdout.splitlines()
    assert table[0].split() == ["MODEL", "ROLE", "EXACT", "CONTAINS", "P50", "P90", "P99", "TOKENS/S", "ERRORS"]
    assert table[1].split()[:6] == [BASE, "base", "25.0%", "(1/4)", "75.0%", "(3/4)"]
    assert table[2].split()[:6] == [ADAPTER, "adapter", "25.0%", "(1/4)", "75.0%", "(3/4)"]


def test_eval_a_bad_line_exits_2_before_any_request(server: ModelServer, deployed: str, env: dict[str, str], tmp_path: Path) -> None:
    dataset = tmp_path / "bad.jsonl"
    dataset.write_text('{"prompt": "a", "expected": "b"}\n\n{"prompt": "c", "answer": "d"}\n')
    result = run(["eval", "-n", deployed, "--dataset", str(dataset)], env)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == f"error: --dataset: {dataset} line 3: field 'expected' is missing"
    assert not server.completions()


def test_eval_failed_requests_count_as_wrong_and_exit_1(server: ModelServer, deployed: str, env: dict[str, str], tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "qa.jsonl", [{"prompt": "alpha", "expected": "alpha"}])
    server.fail_next(500)
    result = run(["eval", "-n", deployed, "--dataset", str(dataset), "--parallel", "1", "-o", "json"], env)
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert [(m["model"], m["errors"], m["contains"]["correct"]) for m in data["models"]] == [(BASE, 1, 0), (ADAPTER, 0, 1)]
    assert "1 of 2 requests failed (scored as wrong)" in result.stderr and "HTTP 500" in result.stderr
