"""A local HTTP/1.1 reverse proxy for `kaitoctl endpoint`: OpenAI clients on this machine talk to it, it passes
each request on to the model server (through whatever `Upstream` gives it) and streams the answer back as it comes.

Why this shape:
- The stdlib's ThreadingHTTPServer (HTTP/1.1 keep-alive, one thread per client connection) plus httpx (already a
  dependency) for the upstream side. The Kubernetes client's port-forward is blocking (websocket-client), so a
  thread per connection fits it; an ASGI server (uvicorn + starlette) or aiohttp would add dependencies and an
  event loop only to call blocking code from it. The proxy does no HTTP parsing of its own beyond reading a
  Content-Length body; bytes of answers are passed through untouched (`iter_raw`), each as it arrives.
- Only requests that failed before any answer reached the client are retried, after `Upstream.reconnect` (a pod
  that went away is re-resolved); an answer cut mid-stream is cut for the client too (its HTTP chunked body does
  not end with the terminating chunk, which OpenAI clients report), never silently replayed.
- Binds 127.0.0.1 only: the endpoint has the cluster credentials' reach and no authentication of its own.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import httpx

from kaitoctl.core.errors import KaitoctlError

log = logging.getLogger("kaitoctl.endpoint")

# RFC 9110 §7.6.1: connection-specific fields are not forwarded; Host and the length/encoding framing are set by
# each side's own HTTP stack.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
RETRIES = 3  # reconnects per request before the client gets 503
MAX_BODY = 64 * 1024 * 1024  # a request body larger than this is refused (413): prompts are text


class Upstream(Protocol):
    """The model server behind the proxy: an HTTP client for it, and a way to find it again."""

    def client(self) -> tuple[int, httpx.Client]:
        """(generation, client): the generation changes each time the upstream is reconnected."""
        ...

    def reconnect(self, generation: int, cause: str) -> None:
        """The upstream of `generation` failed: find the model server again (waits for a ready one), unless
        another request already did. Raises KaitoctlError when it cannot."""
        ...


def error_body(message: str, code: int, kind: str = "ServiceUnavailable") -> bytes:
    """OpenAI's error shape ({"error": {...}}), which OpenAI clients turn into a typed exception."""
    return json.dumps({"error": {"message": message, "type": kind, "code": code}}).encode()


class _Handler(BaseHTTPRequestHandler):
    server: ProxyServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one SSE event per write, sent at once

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send_error_json(self, status: int, message: str, kind: str, retry_after: str | None = None) -> None:
        data = error_body(message, status, kind)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._send_error_json(411, "send the request body with a Content-Length", "LengthRequired")
            self.close_connection = True
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._send_error_json(413, "request body too large or Content-Length invalid", "PayloadTooLarge")
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _forward(self) -> None:
        body = self._read_body()
        if body is None:
            return
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
        for attempt in range(RETRIES + 1):
            generation, client = self.server.upstream.client()
            request = client.build_request(self.command, self.path, headers=headers, content=body)
            try:
                response = client.send(request, stream=True)
            except (httpx.NetworkError, httpx.RemoteProtocolError, RuntimeError) as exc:
                # RuntimeError: the client was closed under us, as the upstream moved to another pod
                cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                log.info("%s %s failed before an answer (%s); reconnecting", self.command, self.path, cause)
                if attempt == RETRIES:
                    break
                try:
                    self.server.upstream.reconnect(generation, cause)
                except KaitoctlError as error:
                    self._send_error_json(503, error.message, "ServiceUnavailable", retry_after="5")
                    return
                continue
            except httpx.TimeoutException:
                self._send_error_json(504, "the model server did not answer in time", "GatewayTimeout")
                return
            with contextlib.closing(response):
                self._relay(response)
            return
        self._send_error_json(503, "the model server cannot be reached", "ServiceUnavailable", retry_after="5")

    def _relay(self, response: httpx.Response) -> None:
        """Status and headers, then the body as it arrives: with the upstream's Content-Length when it gave one,
        else chunked (an SSE stream)."""
        self.send_response_only(response.status_code, response.reason_phrase)
        length = response.headers.get("content-length")
        for name, value in response.headers.multi_items():
            if name.lower() not in HOP_BY_HOP and name.lower() not in ("date", "server"):
                self.send_header(name, value)
        self.send_header("Date", self.date_time_string())
        if length is not None:
            self.send_header("Content-Length", length)
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for data in response.iter_raw():
                if not data:
                    continue
                self.wfile.write(data if length is not None else b"%x\r\n%b\r\n" % (len(data), data))
            if length is None:
                self.wfile.write(b"0\r\n\r\n")
        except (httpx.TransportError, httpx.StreamError) as exc:
            # The model server went away mid-answer: the client sees its body end unterminated (an error to
            # every HTTP client), never a complete-looking answer.
            log.info("%s %s: the answer broke off (%s)", self.command, self.path, exc)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

    def handle(self) -> None:
        with contextlib.suppress(TimeoutError, ConnectionResetError, BrokenPipeError):
            super().handle()  # a client that hangs up is normal; its upstream response is closed by _forward


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True  # Ctrl-C does not wait for streams in flight
    block_on_close = False
    request_queue_size = 128  # many clients connecting at once

    upstream: Upstream  # set before serving: the port is bound first, so that a port in use fails early

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("endpoint: unexpected error serving %s", client_address)


def serve(server: ProxyServer, on_ready: Callable[[], None] | None = None) -> None:
    """Serve until KeyboardInterrupt (Ctrl-C, or SIGTERM as kaitoctl maps it); then stop accepting."""
    if on_ready is not None:
        on_ready()
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
