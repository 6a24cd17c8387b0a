"""`kaitoctl chat` as a user sees it (ops/chat.py): why a workspace is not ready, the hints of a workspace that is
not there, the refusals of --compare, and how a compared question is asked."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any, ClassVar

import pytest

from kaitoctl.adapters.chat import ChatRequest, StreamResult
from kaitoctl.core import conditions as cond
from kaitoctl.core.errors import InvalidInput, NotFound
from kaitoctl.ops import chat
from kaitoctl.ops.chat import Session, ask_each, compared_models
from tests.unit.fakes import FakeKube
from tests.unit.test_ops_status import NS, deploy, one, write


def test_a_diagnosis_is_the_reason_a_workspace_is_not_ready() -> None:
    kube = FakeKube()
    write(kube, deploy("phi"))
    status = dataclasses.replace(
        one(kube, "phi"),
        conditions={cond.INFERENCE_READY: cond.Condition(cond.INFERENCE_READY, "False", "Pending", "0/1 ready")},
        diagnosis=cond.Diagnosis("ImagePullBackOff", "pull access denied", terminal=True),
    )
    assert chat._not_ready_message(status) == (
        "workspace phi is not ready: InferenceReady is False (ImagePullBackOff: pull access denied)"
    )


def test_the_hints_when_no_workspace_is_found() -> None:
    kube = FakeKube()
    with pytest.raises(NotFound) as named:
        chat.find_workspace(kube, NS, "x")
    assert named.value.hint == "`kaitoctl status` lists them"
    with pytest.raises(NotFound) as unnamed:
        chat.find_workspace(kube, NS, None)
    assert unnamed.value.hint == "deploy one (`kaitoctl deploy`), pick a namespace with -n, or pass --endpoint URL"


def session(models: list[str] | None, base: str | None = None, adapters: list[str] | None = None) -> Session:
    return Session(None, "ws", None, models, "test", base, adapters or [])  # type: ignore[arg-type]


def test_compare_refusals_say_why_exactly() -> None:
    with pytest.raises(InvalidInput) as legacy:
        compared_models(session(None))
    assert (legacy.value.field, legacy.value.problem, legacy.value.fix) == (
        "--compare",
        "the server has the legacy /chat API (one model)",
        "compare needs /v1 models",
    )
    with pytest.raises(InvalidInput) as none:
        compared_models(session(["other"], base="base", adapters=["a1"]))
    assert none.value.problem == "only one model is served (none): nothing to compare with"


class SlowClient:
    """Streams "ok" after a short wait; records whether each stream ran on a daemon thread."""

    def __init__(self) -> None:
        self.daemon: list[bool] = []
        self.lock = threading.Lock()

    def stream(self, request: ChatRequest, result: StreamResult) -> Any:
        with self.lock:
            self.daemon.append(threading.current_thread().daemon)
        time.sleep(0.05)
        result.content = "ok"
        result.finish_reason = "stop"
        yield "ok"


def test_each_compared_answer_is_timed_on_a_thread_that_ctrl_c_does_not_wait_for() -> None:
    client = SlowClient()
    answers = ask_each(client, ChatRequest([{"role": "user", "content": "hi"}]), ["a", "b"])  # type: ignore[arg-type]
    assert [(a.model, a.result.content, a.error) for a in answers] == [("a", "ok", None), ("b", "ok", None)]
    assert all(0.05 <= a.seconds < 5 for a in answers)
    assert client.daemon == [True, True]


# ---- open_session through a port-forward ---------------------------------------------------------------------------


class Forward:
    """LocalForward's surface (our own adapter): records what it forwards to, and points at a loopback server."""

    made: ClassVar[list[tuple[Any, str, str, int]]] = []
    url = ""

    def __init__(self, kube: Any, namespace: str, pod: str, port: int) -> None:
        Forward.made.append((kube, namespace, pod, port))

    def __enter__(self) -> Forward:
        return self

    def __exit__(self, *_: Any) -> None:
        return None

    def refusal(self, name: str) -> None:
        return None


def test_a_session_forwards_to_the_ready_pod_of_the_workspace_in_the_namespace_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json
    from contextlib import ExitStack
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from kaitoctl.adapters import portforward
    from kaitoctl.adapters.k8s import KubeContext
    from kaitoctl.ops import cluster
    from tests.unit import helpers
    from tests.unit.fakes import gpu_node, pod_of

    class Models(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(
                {"object": "list", "data": [{"id": "other"}, {"id": "phi-3-mini-128k-instruct"}]}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    kube = FakeKube(context=KubeContext("dev", "team-a", "https://k8s.example:6443"))
    kube.put(gpu_node("gpu-1", labels={"apps": "phi"}))
    for namespace, name in (("team-a", "phi"), ("team-a", "other"), ("team-b", "phi")):
        spec = helpers.deploy_spec("phi-3", name=name, namespace=namespace, labels=["apps=phi"])
        sts = next(o for o in write(kube, spec) if o["kind"] == "StatefulSet")
        kube.put(pod_of(sts, 1 if namespace == "team-b" else 0))  # team-b's phi serves from phi-1
    connected: list[tuple[Any, Any]] = []

    def connect(kubeconfig: Any, context: Any) -> FakeKube:
        connected.append((kubeconfig, context))
        return kube

    server = ThreadingHTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Forward.made, Forward.url = [], f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(cluster, "connect", connect)
    monkeypatch.setattr(portforward, "LocalForward", Forward)
    try:
        sessions = []
        for namespace, model in ((None, None), ("team-b", "other")):
            with ExitStack() as stack:
                sessions.append(
                    chat.open_session(
                        stack,
                        kubeconfig="kc",
                        context="dev",
                        namespace=namespace,
                        workspace="phi",
                        endpoint=None,
                        model=model,
                    )
                )
    finally:
        server.shutdown()
        server.server_close()
    assert connected == [("kc", "dev"), ("kc", "dev")]
    assert Forward.made == [(kube, "team-a", "phi-0", 5000), (kube, "team-b", "phi-1", 5000)]
    # no --model: the workspace's base model (served second here), not the first one listed
    assert [(s.workspace, s.via, s.model) for s in sessions] == [
        ("phi", "port-forward to team-a/phi-0:5000", "phi-3-mini-128k-instruct"),
        ("phi", "port-forward to team-b/phi-1:5000", "other"),
    ]


def test_an_endpoint_that_is_not_http_shows_what_one_looks_like() -> None:
    from contextlib import ExitStack

    with pytest.raises(InvalidInput) as refused, ExitStack() as stack:
        chat.open_session(
            stack, kubeconfig=None, context=None, namespace=None, workspace=None, endpoint="10.0.0.1", model=None
        )
    assert refused.value.fix == "e.g. http://20.1.2.3:80"


def test_a_model_that_is_not_served_is_named() -> None:
    with pytest.raises(InvalidInput) as refused:
        chat.choose_model(["base", "a1"], "gone", [], "base")
    assert (refused.value.field, refused.value.problem, refused.value.fix, refused.value.details) == (
        "--model",
        "'gone' is not served",
        "served: base, a1",
        ["base", "a1"],
    )


def test_a_pod_that_refuses_the_forward_is_the_error_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    from contextlib import ExitStack

    from kaitoctl.adapters import portforward
    from kaitoctl.core.errors import OperationFailed
    from kaitoctl.ops import cluster
    from tests.unit.fakes import gpu_node, pod_of

    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels={"apps": "phi"}))
    sts = next(o for o in write(kube, deploy("phi")) if o["kind"] == "StatefulSet")
    kube.put(pod_of(sts, 0))
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]  # nothing listens there once closed
    refusal = OperationFailed("pod phi-0 refused the port-forward: no such port", reason="PortForwardRefused")
    asked: list[str] = []

    class Refusing(Forward):
        def refusal(self, name: str) -> OperationFailed:  # type: ignore[override]
            asked.append(name)
            return refusal

    Forward.made, Forward.url = [], f"http://127.0.0.1:{port}"
    monkeypatch.setattr(cluster, "connect", lambda kubeconfig, context: kube)
    monkeypatch.setattr(portforward, "LocalForward", Refusing)
    with pytest.raises(OperationFailed) as failed, ExitStack() as stack:
        chat.open_session(stack, kubeconfig=None, context=None, namespace=NS, workspace=None, endpoint=None, model=None)
    assert failed.value is refusal
    assert asked == ["phi"]
