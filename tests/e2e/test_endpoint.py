"""kaitoctl endpoint: the official OpenAI Python client against the local endpoint, which reaches a stand-in model
server through the API server's port-forward to a kwok pod (the path from a laptop)."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.kaitoctl_cli import Background, base_env, run, wait_until
from tests.harness.model_server import ModelServer

pytestmark = pytest.mark.e2e

BASE = "phi-3-mini-128k-instruct"
POD = f"{BASE}-0"  # the StatefulSet's pod 0 serves


@pytest.fixture
def env(cluster: Any, tmp_path: Path) -> dict[str, str]:
    return base_env(cluster, {"XDG_CACHE_HOME": str(tmp_path / "cache")})


@pytest.fixture
def deployed(cluster: Any, namespace: str, env: dict[str, str]) -> Iterator[str]:
    node = cluster.add_gpu_node(vm_size="Standard_NC24ads_A100_v4")
    run(["deploy", "phi-3", "--node", node, "-n", namespace, "--adapter", "my-adapter=myacr.azurecr.io/adapters/a:1"], env).check()
    yield namespace
    cluster.delete_node(node)


@pytest.fixture
def server(cluster: Any, deployed: str) -> Iterator[ModelServer]:
    with ModelServer(models=[BASE, "my-adapter"], chunk_delay_s=0.02) as srv:
        cluster.forward_ports(deployed, srv.port)
        yield srv


@pytest.fixture
def endpoint(server: ModelServer, deployed: str, env: dict[str, str]) -> Iterator[tuple[Background, str]]:
    """A running `kaitoctl endpoint --port 0`, and the base URL it printed; Ctrl-C at the end must exit 0."""
    proc = Background(["-v", "endpoint", "-n", deployed, "--port", "0"], env)
    line = proc.wait_for_line("OPENAI_BASE_URL=", stream="stdout")
    url = line.strip().split("=", 1)[1]
    yield proc, url
    proc.interrupt()
    result = proc.finish()
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "endpoint stopped" in result.stderr


def client(url: str) -> openai.OpenAI:
    # max_retries=0: every request must succeed through the endpoint itself, not through the client's retries
    return openai.OpenAI(base_url=url, api_key="not-checked", max_retries=0, timeout=120)


def test_openai_client_lists_models_completes_and_streams(endpoint: tuple[Background, str], server: ModelServer) -> None:
    proc, url = endpoint
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    proc.wait_for_line(f"via port-forward to {server_ns(proc)}/{POD}:5000")
    api = client(url)
    assert [m.id for m in api.models.list()] == [BASE, "my-adapter"]
    reply = api.chat.completions.create(model="my-adapter", messages=[{"role": "user", "content": "hello there"}])
    assert reply.choices[0].message.content == "echo: hello there" and reply.choices[0].finish_reason == "stop"
    assert server.requests[-1].headers.get("authorization") == "Bearer not-checked"  # passed through as sent

    server.config.chunk_delay_s = 0.5
    received: list[tuple[int, str]] = []
    stream = api.chat.completions.create(
        model=BASE, messages=[{"role": "user", "content": "stream me please"}], stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received.append((len(server.chunk_times), chunk.choices[0].delta.content))
    assert "".join(text for _, text in received) == "echo: stream me please"
    # Streamed through: the first delta reached the client before the server had sent its last one.
    assert received[0][0] < received[-1][0]
    assert server.completions()[-1]["stream"] is True and server.completions()[-1]["model"] == BASE


def server_ns(proc: Background) -> str:
    return proc.args[proc.args.index("-n") + 1]


def test_twenty_concurrent_streams(endpoint: tuple[Background, str], server: ModelServer) -> None:
    _, url = endpoint
    api = client(url)
    streams = 20
    # Each client waits, after its first delta, until all 20 have one: only an endpoint that serves the streams
    # at the same time lets them all through (one that queued them would break the barrier).
    barrier = threading.Barrier(streams, timeout=120)
    answers: dict[int, str] = {}
    errors: list[BaseException] = []

    def ask(i: int) -> None:
        try:
            text = ""
            stream = api.chat.completions.create(
                model="my-adapter", messages=[{"role": "user", "content": f"question {i} of many"}], stream=True
            )
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    if not text:
                        barrier.wait()
                    text += chunk.choices[0].delta.content
            answers[i] = text
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not errors, errors[:3]
    assert answers == {i: f"echo: question {i} of many" for i in range(streams)}


def test_a_pod_restart_mid_session(cluster: Any, endpoint: tuple[Background, str], server: ModelServer) -> None:
    proc, url = endpoint
    ns = server_ns(proc)
    api = client(url)
    assert api.chat.completions.create(model=BASE, messages=[{"role": "user", "content": "before"}]).choices[0].message.content == "echo: before"
    old_uid = cluster.core().read_namespaced_pod(POD, ns).metadata.uid
    cluster.set_pod_behavior(ns, "ready", delay_s=3)  # the next pod becomes ready 3 s after it is created

    # A stream is in flight when the pod dies.
    server.config.chunk_delay_s = 0.5
    cut = api.chat.completions.create(model=BASE, messages=[{"role": "user", "content": "one two three four five"}], stream=True)
    first = next(c for c in cut if c.choices and c.choices[0].delta.content)
    assert first.choices[0].delta.content == "echo:"
    server.pause()  # the server's process dies with its pod
    cluster.core().delete_namespaced_pod(POD, ns, grace_period_seconds=0)

    # A request made while no pod serves waits for the new one and is answered by it.
    outcome: dict[str, Any] = {}

    def ask() -> None:
        try:
            outcome["reply"] = api.chat.completions.create(model=BASE, messages=[{"role": "user", "content": "after"}])
        except BaseException as exc:
            outcome["error"] = exc

    asking = threading.Thread(target=ask)
    asking.start()
    wait_until(lambda: new_pod(cluster, ns, old_uid), "the StatefulSet's new pod")
    server.config.chunk_delay_s = 0.02
    server.resume()  # the new pod's server is up before the pod reports ready (its readiness probe)
    asking.join(timeout=150)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["reply"].choices[0].message.content == "echo: after"
    # The answer that was streaming from the old pod ended as an error for its client, not as a complete answer.
    with pytest.raises((httpx.HTTPError, openai.APIError)):
        for _ in cut:
            pass
    proc.wait_for_line(f"pod {ns}/{POD} restarted")
    # and the session goes on: streaming through the new pod
    stream = api.chat.completions.create(model=BASE, messages=[{"role": "user", "content": "still there"}], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "echo: still there"


def test_an_idle_endpoint_moves_to_the_restarted_pod(cluster: Any, endpoint: tuple[Background, str], server: ModelServer) -> None:
    proc, url = endpoint
    ns = server_ns(proc)
    api = client(url)
    # leaves an idle keep-alive connection, through a port-forward stream, to the pod that is about to go
    assert api.chat.completions.create(model=BASE, messages=[{"role": "user", "content": "before"}]).choices[0].message.content == "echo: before"
    old_uid = cluster.core().read_namespaced_pod(POD, ns).metadata.uid
    cluster.set_pod_behavior(ns, "ready", delay_s=3)
    server.pause()
    cluster.core().delete_namespaced_pod(POD, ns, grace_period_seconds=0)
    wait_until(lambda: new_pod(cluster, ns, old_uid), "the StatefulSet's new pod")
    server.resume()
    # No request failed: the endpoint noticed by looking at the pod, and dropped the old pod's connections (kwok,
    # like a lingering kubelet stream, never ends them), so the next request goes to the new pod.
    proc.wait_for_line(f"pod {ns}/{POD} restarted")
    assert api.chat.completions.create(model=BASE, messages=[{"role": "user", "content": "after"}]).choices[0].message.content == "echo: after"


def test_ctrl_c_while_waiting_for_a_pod_ends_cleanly(cluster: Any, server: ModelServer, deployed: str, env: dict[str, str]) -> None:
    proc = Background(["-v", "endpoint", "-n", deployed, "--port", "0"], env)
    proc.wait_for_line("OPENAI_BASE_URL=", stream="stdout")
    cluster.set_pod_behavior(deployed, "not-ready")  # the next pod never becomes ready
    server.pause()
    cluster.core().delete_namespaced_pod(POD, deployed, grace_period_seconds=0)
    proc.wait_for_line("waiting for a ready pod of workspace")  # it would wait 2 minutes
    proc.interrupt()
    result = proc.finish(timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "endpoint stopped" in result.stderr


def new_pod(cluster: Any, ns: str, old_uid: str) -> bool:
    pods = cluster.core().list_namespaced_pod(ns, field_selector=f"metadata.name={POD}").items
    return bool(pods) and pods[0].metadata.uid != old_uid


def test_sigterm_ends_it_cleanly(server: ModelServer, deployed: str, env: dict[str, str]) -> None:
    proc = Background(["endpoint", "-n", deployed, "--port", "0"], env)
    url = proc.wait_for_line("OPENAI_BASE_URL=", stream="stdout").strip().split("=", 1)[1]
    assert client(url).models.list().data[0].id == BASE
    proc.proc.send_signal(signal.SIGTERM)
    result = proc.finish()
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr


def test_a_port_in_use_is_refused_before_any_cluster_call(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run(["endpoint", "--port", str(port)], {**env, "KUBECONFIG": "/nonexistent"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: --port: cannot listen on 127.0.0.1:{port}: Address already in use")
    assert "--port 0" in result.stderr or "another --port" in result.stderr
