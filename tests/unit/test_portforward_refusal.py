"""A port-forward whose pod refuses the connection says so, with the kubelet's reason and the next step, instead of
the HTTP client's "Server disconnected" (the e2e test tests/e2e/test_chat.py::test_port_forward_failure_is_reported
runs the real stream through kwok; these pin the pump's logic with socket pairs)."""

from __future__ import annotations

import socket
import threading
from typing import Any

from kaitoctl.adapters.portforward import LocalForward


class Stream:
    """kubernetes.stream's PortForward as the pump uses it: error(port) (the error channel's text) and close()."""

    def __init__(self, error: str | None) -> None:
        self._error = error

    def error(self, port: int) -> str | None:
        return self._error

    def close(self) -> None:
        pass


def _forward() -> LocalForward:
    forward = LocalForward.__new__(LocalForward)  # no listener, no cluster: only the pump's bookkeeping
    forward.namespace, forward.pod, forward.port, forward.errors, forward._answers = "ns", "pod-0", 5000, [], []
    return forward


def _answer(forward: LocalForward, stream: Stream, reply: bytes) -> tuple[bytes, threading.Thread]:
    pod_side, remote = socket.socketpair()
    client, conn = socket.socketpair()
    if reply:
        pod_side.sendall(reply)
    pod_side.close()
    pump = threading.Thread(
        target=forward._pump, args=(remote, conn, stream), kwargs={"on_silent_end": forward._refused}
    )
    forward._answers.append(pump)
    pump.start()
    got = b"".join(iter(lambda: client.recv(4096), b""))
    client.close()
    return got, pump


def test_a_stream_that_ends_before_any_answer_is_a_refusal_with_the_kubelets_reason() -> None:
    forward = _forward()
    said = "error forwarding port 5000 to pod pod-0, uid : dial tcp4 127.0.0.1:5000: connect: connection refused\n"
    got, _ = _answer(forward, Stream(said), b"")
    assert got == b""
    refusal: Any = forward.refusal("phi")
    assert refusal.message == (
        "port-forward to ns/pod-0:5000 reached the pod, but nothing answered on port 5000 (error forwarding port "
        "5000 to pod pod-0, uid : dial tcp4 127.0.0.1:5000: connect: connection refused)"
    )
    assert refusal.reason == "PortForwardRefused" and refusal.exit_code == 1
    assert "`kaitoctl logs phi`" in refusal.hint and "`kaitoctl status phi`" in refusal.hint


def test_without_a_reason_it_says_the_stream_closed() -> None:
    forward = _forward()
    _answer(forward, Stream(None), b"")
    assert forward.refusal("phi").message.endswith("(the stream closed before any answer)")  # type: ignore[union-attr]


def test_an_answer_is_not_a_refusal() -> None:
    forward = _forward()
    got, _ = _answer(forward, Stream(None), b"HTTP/1.1 200 OK\r\n\r\n")
    assert got == b"HTTP/1.1 200 OK\r\n\r\n"
    assert forward.refusal("phi") is None and forward.errors == []
