"""A stand-in for Kaito's model servers, for chat tests: the OpenAI-compatible API (with real SSE streaming, one
chunk per flush) as vLLM serves it, or the legacy `POST /chat` of Kaito ≤ v0.9 transformers images.

It records every request so a test can check what was asked (e.g. that the adapter was the model). Answers are
deterministic: the reply to a question is "echo: <question>" split into word chunks.

    with ModelServer(models=["phi-3-mini-128k-instruct", "my-adapter"]) as server:
        server.port, server.url, server.requests, server.fail_next(429)
        server.pause(); server.resume()   # a server process that died with its pod, and its successor
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ModelServerConfig:
    models: list[str] = field(default_factory=lambda: ["phi-3-mini-128k-instruct"])
    legacy: bool = False  # serve only POST /chat (no /v1)
    chunk_delay_s: float = 0.05
    first_token_delay_s: float = 0.0  # before the first chunk (a model's prefill); bench/chat uses a fixed one
    failures: list[int] = field(default_factory=list)  # statuses to answer the next completion requests with
    retry_after: str | None = None  # Retry-After header on those failures (RFC 9110); Kaito's own use unverified
    # How the next streamed answer goes wrong, after its first chunk: "error" (an error event, as vLLM sends one
    # mid-generation: vllm/entrypoints/openai/serving_chat.py), "truncate" (the connection ends before [DONE]),
    # "malformed" (a chunk that is not JSON), "length" (finish_reason "length": the token limit).
    stream_fault: str | None = None
    api_key: str | None = None  # when set, requests without "Authorization: Bearer <key>" get 401


def reply_text(question: str) -> str:
    return f"echo: {question}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return None
        return json.loads(self.rfile.read(length))

    def _unauthorized(self) -> bool:
        key = self.server.config.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return False
        self._json(401, {"error": {"message": "Invalid API key", "type": "AuthenticationError", "code": 401}})
        return True

    def do_GET(self) -> None:
        cfg = self.server.config
        self.server.record(Recorded("GET", self.path, None, dict(self.headers)))
        if self._unauthorized():
            return
        if self.path == "/health":
            self._json(200, {"status": "Healthy"})
        elif self.path == "/v1/models" and not cfg.legacy:
            self._json(
                200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "vllm"} for m in cfg.models]}
            )
        else:
            self._json(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        cfg = self.server.config
        body = self._body() or {}
        self.server.record(Recorded("POST", self.path, body, dict(self.headers)))
        if self._unauthorized():
            return
        if self.path == "/chat":
            if not cfg.legacy:
                self._json(404, {"detail": "Not Found"})
                return
            prompt = body.get("prompt")
            if not prompt:
                self._json(400, {"detail": "Text generation parameter prompt required"})
                return
            self._json(200, {"Result": reply_text(prompt)})
            return
        if self.path != "/v1/chat/completions" or cfg.legacy:
            self._json(404, {"detail": "Not Found"})
            return
        if cfg.failures:
            status = cfg.failures.pop(0)
            data = json.dumps({"error": {"message": f"injected {status}", "type": "test", "code": status}}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if cfg.retry_after is not None:
                self.send_header("Retry-After", cfg.retry_after)
            self.end_headers()
            self.wfile.write(data)
            return
        model = body.get("model")
        if model not in cfg.models:
            self._json(
                404,
                {"error": {"message": f"The model `{model}` does not exist.", "type": "NotFoundError", "code": 404}},
            )
            return
        question = next((m["content"] for m in reversed(body.get("messages") or []) if m.get("role") == "user"), "")
        words = reply_text(question).split(" ")
        if not body.get("stream"):
            fault, cfg.stream_fault = cfg.stream_fault, None
            self._json(
                200,
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": " ".join(words)},
                            "finish_reason": "length" if fault == "length" else "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": len(question.split()),
                        "completion_tokens": len(words),
                        "total_tokens": 0,
                    },
                },
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(event: str) -> None:
            data = event.encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        if cfg.first_token_delay_s:
            time.sleep(cfg.first_token_delay_s)
        fault, cfg.stream_fault = cfg.stream_fault, None
        for i, word in enumerate(words):
            if i == 1 and fault == "error":
                send(
                    'data: {"error": {"message": "CUDA out of memory", "type": "InternalServerError", "code": 500}}\n\n'
                )
                break
            if i == 1 and fault == "malformed":
                send("data: {not json\n\n")
                break
            if i == 1 and fault == "truncate":
                break
            delta = word if i == 0 else " " + word
            chunk = {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "model": model,
                "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": None}],
            }
            send(f"data: {json.dumps(chunk)}\n\n")
            self.server.chunk_sent(delta)
            time.sleep(cfg.chunk_delay_s)
        if fault == "truncate":
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        final = {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "length" if fault == "length" else "stop"}],
            "usage": {"prompt_tokens": len(question.split()), "completion_tokens": len(words), "total_tokens": 0},
        }
        send(f"data: {json.dumps(final)}\n\n")
        send("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, config: ModelServerConfig) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.config = config
        self.lock = threading.Lock()
        self.requests: list[Recorded] = []
        self.chunk_times: list[tuple[float, str]] = []
        self.paused = False
        self.connections: set[Any] = set()

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return not self.paused  # paused: a new connection is closed at once, unanswered

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client (or the port-forward in front of it) that hangs up is normal; anything else is printed.
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)

    def record(self, entry: Recorded) -> None:
        with self.lock:
            self.requests.append(entry)

    def chunk_sent(self, delta: str) -> None:
        with self.lock:
            self.chunk_times.append((time.monotonic(), delta))


class ModelServer:
    def __init__(self, **config: Any) -> None:
        self.config = ModelServerConfig(**config)
        self.server = _Server(self.config)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[Recorded]:
        return list(self.server.requests)

    @property
    def chunk_times(self) -> list[tuple[float, str]]:
        return list(self.server.chunk_times)

    def completions(self) -> list[dict[str, Any]]:
        return [r.body or {} for r in self.requests if r.path == "/v1/chat/completions"]

    def pause(self) -> None:
        """As if the server's process died (its pod deleted): open connections end, new ones are closed unanswered."""
        import socket

        with self.server.lock:
            self.server.paused = True
            connections = list(self.server.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def resume(self) -> None:
        self.server.paused = False

    def fail_next(self, *statuses: int) -> None:
        self.config.failures.extend(statuses)

    def __enter__(self) -> ModelServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
