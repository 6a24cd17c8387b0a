"""kaitoctl chat against a stand-in model server, reached through the API server's port-forward to a kwok pod
(the real path from a laptop), or directly with --endpoint."""

from __future__ import annotations

import os
import pty
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.kaitoctl_cli import REPO, base_env, run, wait_until
from tests.harness.model_server import ModelServer

pytestmark = pytest.mark.e2e

BASE = "phi-3-mini-128k-instruct"


@pytest.fixture
def env(cluster: Any, tmp_path: Path) -> dict[str, str]:
    return base_env(cluster, {"XDG_CACHE_HOME": str(tmp_path / "cache")})


@pytest.fixture
def gpu_node(cluster: Any) -> str:
    name = cluster.add_gpu_node(vm_size="Standard_NC24ads_A100_v4")
    yield name
    cluster.delete_node(name)


@pytest.fixture
def deployed(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> str:
    run(["deploy", "phi-3", "--node", gpu_node, "-n", namespace, "--adapter", "my-adapter=myacr.azurecr.io/adapters/a:1"], env).check()
    return namespace


@pytest.fixture
def server(cluster: Any, deployed: str) -> ModelServer:
    with ModelServer(models=[BASE, "my-adapter"], chunk_delay_s=0.15) as srv:
        cluster.forward_ports(deployed, srv.port)
        yield srv


def test_streams_chunk_by_chunk_through_port_forward_and_asks_for_the_adapter(server: ModelServer, deployed: str, env: dict[str, str]) -> None:
    question = "what is a kubernetes operator"
    server.config.chunk_delay_s = 1.0
    proc = subprocess.Popen(
        [sys.executable, "-m", "kaitoctl", "chat", question, "-n", deployed],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    pieces: list[tuple[float, bytes]] = []
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    while True:
        data = os.read(fd, 4096)
        if not data:
            break
        pieces.append((time.monotonic(), data))
    assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
    text = b"".join(p for _, p in pieces).decode()
    assert text == f"echo: {question}\n"
    # Streamed: the first words were on stdout before the server sent its last chunk (an order of events; the
    # server pauses 1 s between chunks so that a loaded machine cannot blur it).
    assert pieces[0][0] < server.chunk_times[-1][0]
    asked = server.completions()
    assert asked[-1]["model"] == "my-adapter" and asked[-1]["stream"] is True


def test_model_flag_json_no_stream_and_stdin(server: ModelServer, deployed: str, env: dict[str, str]) -> None:
    data = run(["chat", "hello", "-n", deployed, "--model", BASE, "-o", "json", "--max-tokens", "20", "--temperature", "0"], env).check().json()
    assert data["kind"] == "ChatResult" and data["content"] == "echo: hello" and data["model"] == BASE
    assert data["response"]["choices"][0]["message"]["content"] == "echo: hello"
    body = server.completions()[-1]
    assert body["max_tokens"] == 20 and body["temperature"] == 0 and body["stream"] is False
    assert run(["chat", "-", "-n", deployed, "--no-stream"], env, stdin="from stdin\n").check().stdout == "echo: from stdin\n"
    assert run(["chat", "x", "-n", deployed, "--system", "be brief"], env).check().stdout == "echo: x\n"
    assert server.completions()[-1]["messages"][0] == {"role": "system", "content": "be brief"}
    models = run(["chat", "--list-models", "-n", deployed], env).check().stdout.split("\n")
    assert f"{BASE}" in models and "my-adapter  (default)" in models


def test_http_errors_from_the_runtime(server: ModelServer, deployed: str, env: dict[str, str]) -> None:
    server.config.retry_after = "0"
    server.fail_next(429)
    retried = run(["chat", "q", "-n", deployed], env)
    assert retried.returncode == 0 and "busy (HTTP 429); retrying" in retried.stderr
    server.fail_next(*[429] * 5)  # more than kaitoctl retries
    busy = run(["chat", "q", "-n", deployed], env)
    assert busy.returncode == 1 and "busy (HTTP 429)" in busy.stderr
    server.fail_next(500)
    broken = run(["chat", "q", "-n", deployed, "--no-stream"], env)
    assert broken.returncode == 1 and "HTTP 500" in broken.stderr and "kaitoctl logs" in broken.stderr
    missing = run(["chat", "q", "-n", deployed, "--model", "nope"], env)
    assert missing.returncode == 2 and "'nope' is not served" in missing.stderr


def test_legacy_chat_api(cluster: Any, deployed: str, env: dict[str, str]) -> None:
    with ModelServer(legacy=True) as legacy:
        cluster.forward_ports(deployed, legacy.port)
        out = run(["chat", "old style", "-n", deployed], env).check().stdout
        assert out == "echo: old style\n"
        assert legacy.requests[-1].path == "/chat" and legacy.requests[-1].body["prompt"] == "old style"
        data = run(["chat", "json please", "-n", deployed, "-o", "json"], env).check().json()
        assert data["kind"] == "ChatResult" and data["content"] == "echo: json please"
        assert data["response"] == {"Result": "echo: json please"}


def test_endpoint_flag_needs_no_cluster(env: dict[str, str]) -> None:
    with ModelServer(models=[BASE]) as srv:
        result = run(["chat", "direct", "--endpoint", srv.url], {**env, "KUBECONFIG": "/nonexistent"}).check()
        assert result.stdout == "echo: direct\n"


def test_not_ready_workspace_says_which_phase(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    cluster.set_pod_behavior(namespace, "not-ready")
    run(["deploy", "phi-3", "--node", gpu_node, "-n", namespace, "--no-wait"], env).check()
    wait_until(
        lambda: [p for p in cluster.core().list_namespaced_pod(namespace).items if p.status.phase == "Running"],
        "the workspace's pod to run (not ready)",
    )
    result = run(["chat", "q", "-n", namespace], env)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        "error: workspace phi-3-mini-128k-instruct is not ready: InferenceReady is False "
        "(WorkspaceInferenceStatusPending: 0/1 pod(s) ready)"
    )


def test_port_forward_failure_is_reported(deployed: str, env: dict[str, str]) -> None:
    # No ClusterPortForward for this namespace: kwok refuses the stream.
    result = run(["chat", "q", "-n", deployed], env, timeout=60)
    assert result.returncode == 1
    first, fix = result.stderr.splitlines()[:2]
    # What happened (the pod refused, with kwok's reason from the stream's error channel) and the next step, not
    # the HTTP client's "Server disconnected without sending a response." (before this test).
    assert re.fullmatch(
        rf"error: port-forward to {deployed}/[\w.-]+:5000 reached the pod, but nothing answered on port 5000 "
        rf"\(error forwarding port 5000 to pod .*no forward found for port 5000 in pod .*\)",
        first,
    ), result.stderr
    assert "kaitoctl logs phi-3-mini-128k-instruct" in fix and "kaitoctl status" in fix, result.stderr


def test_several_ready_workspaces_need_a_choice(cluster: Any, deployed: str, env: dict[str, str]) -> None:
    other = cluster.add_gpu_node(vm_size="Standard_NC24ads_A100_v4")
    try:
        run(["deploy", "phi-3", "--node", other, "-n", deployed, "--name", "second"], env).check()
        result = run(["chat", "q", "-n", deployed], env)
        assert result.returncode == 2 and "--workspace" in result.stderr and "second" in result.stderr
    finally:
        cluster.delete_node(other)


def test_interactive_repl_in_a_pseudo_terminal(server: ModelServer, deployed: str, env: dict[str, str], tmp_path: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # child: kaitoctl on a terminal
        os.chdir(REPO)
        os.execve(sys.executable, [sys.executable, "-m", "kaitoctl", "chat", "-n", deployed], {**env, "TERM": "dumb"})
    output = bytearray()
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)

    def read_until(needle: bytes, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while needle not in output and time.monotonic() < deadline:
            if selector.select(timeout=0.2):
                try:
                    output.extend(os.read(fd, 4096))
                except OSError:
                    break
        assert needle in output, bytes(output)

    read_until(b"> ")
    os.write(fd, b"first question\r")
    read_until(b"echo: first question")
    read_until(b"> ")
    os.write(fd, b"second\r")
    read_until(b"echo: second")
    os.write(fd, b"/exit\r")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    last = server.completions()[-1]["messages"]
    # the conversation is kept between questions
    assert [m["role"] for m in last] == ["user", "assistant", "user"]
    assert (tmp_path / "cache" / "kaitoctl" / "chat_history").read_text().count("question") >= 1


def test_ctrl_c_ends_cleanly(server: ModelServer, deployed: str, env: dict[str, str]) -> None:
    server.config.chunk_delay_s = 1.0
    proc = subprocess.Popen(
        [sys.executable, "-m", "kaitoctl", "chat", "a long question with many words", "-n", deployed],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    wait_until(lambda: server.chunk_times, "the first chunk of the answer")  # interrupted mid-stream
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert b"Traceback" not in err and b"interrupted" in err
