"""e2e helpers: a local HTTP server that a kwok pod's port-forward can reach (see LocalCluster.forward_ports)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest


@dataclass
class LocalHTTPServer:
    """A threaded HTTP server on 127.0.0.1. GET answers 200 with JSON {"marker", "path"}; requests are recorded."""

    port: int
    marker: str
    paths: list[str] = field(default_factory=list)


@pytest.fixture
def http_server() -> Iterator[LocalHTTPServer]:
    import secrets

    state = LocalHTTPServer(port=0, marker=f"local-server-{secrets.token_hex(4)}")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            state.paths.append(self.path)
            body = json.dumps({"marker": state.marker, "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
