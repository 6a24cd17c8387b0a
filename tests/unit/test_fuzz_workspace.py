"""Fuzz `kaitoctl apply -f` with hostile Workspace files (issue 10): whatever the file, the CLI exits 0 or 2 on a
dry run, prints no traceback, answers within 2 s (CPU) and 200 MB, and never writes to the cluster.

Cases come from hypothesis: Kaito's own example Workspaces with subtrees replaced by hostile values (wrong types,
control characters, markup, huge numbers, deep lists, unknown keys), and raw text attacks (aliases, duplicate keys,
deep nesting, other encodings, binary noise), and near-valid files (a seed a real run accepts with one field
changed) that get past validation and reach the server. Each file runs in-process twice: as a dry run, and as a real run
(`apply -f` without --dry-run) against a kubeconfig whose server is a local HTTP server that records every
connection and request: objects are not found (404) and lists and writes are forbidden (403), as for a user
whose RBAC allows get only. A file refused with exit 2 must not have opened a single connection (validation comes
before the first one); a file that passes validation may read, stops at its first list (every real run lists
nodes before its first write: exit 1, Forbidden) and must never have sent a write.
"""

from __future__ import annotations

import copy
import json
import resource
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kaitoctl.cli.app import app
from tests.unit.helpers import FIXTURES

CASES = int(__import__("os").environ.get("FUZZ_CASES", "500"))
# The < 2 s budget is CPU time of the process (all threads): on a loaded CI machine wall time is not the CLI's
# doing. A hang burns no CPU, so wall time has its own, generous cap.
CPU_SECONDS_PER_CASE = 2.0
HANG_SECONDS = 30.0
# A case may raise the process's peak resident memory by less than this (ru_maxrss before and after it: a
# high-water mark the kernel keeps, so a 2.5 GB alias bomb shows however briefly it lived; no sampling).
# tracemalloc would be exact per case but makes each case ~3.5x slower. Per case, not against a start value: the
# harness (hypothesis shrinking a failure) may raise the peak itself, and must not be blamed on the next case.
PEAK_GROWTH_KIB = 200 * 1024
READS = ("GET", "HEAD", "OPTIONS")

runner = CliRunner()
SEEDS = [yaml.safe_load(p.read_text()) for p in sorted(FIXTURES.glob("*.yaml"))]


def _status(code: int, reason: str, message: str) -> bytes:
    """kube-apiserver's error body: a metav1.Status (k8s.io/apimachinery/pkg/apis/meta/v1/types.go, `Status`;
    reasons StatusReasonNotFound / StatusReasonForbidden)."""
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": {},
            "code": code,
        }
    ).encode()


def _is_single_object(path: str) -> bool:
    """/api/v1/namespaces/NS/KIND/NAME, /api/v1/KIND/NAME, /apis/GROUP/VERSION/... alike: a GET of one object
    (a list or watch names no object)."""
    route, _, query = path.partition("?")
    if "watch=" in query:
        return False
    parts = [p for p in route.split("/") if p]
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]  # namespaced: KIND[/NAME[/SUBRESOURCE]]
    return len(rest) >= 2


class RecordingApiServer(ThreadingHTTPServer):
    """Stands in for an API server and a user whose RBAC lets them get objects but not list or write them:
    counts every connection, records method and path of every request; a GET of one object is answered 404 (so
    a client that reads before it writes goes on to the write, and is caught), lists, watches and writes 403."""

    daemon_threads = True

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connections = 0
        self.requests: list[tuple[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                with recorder.lock:
                    recorder.requests.append((self.command, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if self.command in READS and _is_single_object(self.path):
                    code, body = 404, _status(404, "NotFound", "not found")
                else:
                    code, body = 403, _status(403, "Forbidden", 'forbidden: User "fuzz" cannot do this')
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_HEAD = do_OPTIONS = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.lock:
            self.connections += 1
        super().process_request(request, client_address)

    def take(self) -> tuple[int, list[tuple[str, str]]]:
        """Connections and requests since the last call."""
        with self.lock:
            seen = (self.connections, list(self.requests))
            self.connections, self.requests = 0, []
        return seen

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RecordingApiServer, Path]]:
    server = RecordingApiServer()
    kubeconfig = tmp_path_factory.mktemp("kube") / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    # A valid Workspace, run for real once: the kubernetes client is imported before the first timed case, and
    # the server is shown to see (and refuse) what a real run reads.
    valid = FIXTURES / "v1beta1-tuning-pvc.yaml"
    result = runner.invoke(app, ["apply", "-f", str(valid), "--kubeconfig", str(kubeconfig)])
    connections, requests = server.take()
    assert result.exit_code == 1 and "forbidden" in result.stderr, result.stderr
    assert connections > 0 and requests and all(method == "GET" for method, _ in requests), requests
    yield server, kubeconfig
    server.close()


# ---- hostile values -----------------------------------------------------------------------------------------

HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "[/dim]",
        "[bold red]x",
        "\x1b[2J\x1b]0;pwned\x07",
        "a\x00b",
        "\u202eevil",
        "../../etc/passwd",
        "/etc",
        "http://169.254.169.254/latest",
        "http://0xa9fea9fe/",
        "http://kubernetes.default.svc/",
        "https://u:p@example.com/x?sig=s",
        "ftp://x/y",
        "-rf",
        "--help",
        "$(reboot)",
        "`id`",
        "a" * 64,
        "a" * 300,
        "x" * 9000,
        "Standard_NC24ads_A100_v4",
        "phi-3",
        "lora",
        "qlora",
        "vllm",
        "transformers",
        "kaito.sh/runtime",
        "persistentVolumeClaim",
        "hostPath",
        "null",
        "~",
        "1e400",
        "NaN",
        "ünïcødé-名前",
        "ｅｘａｍｐｌｅ．ｃｏｍ",
    ]
)
SCALARS = st.one_of(
    HOSTILE_TEXT,
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(HOSTILE_TEXT, st.text(max_size=10)), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out.extend(_paths(value, (*prefix, i)))
    return out


@st.composite
def mutated_documents(draw: st.DrawFn) -> str:
    """A Kaito example with 1-3 subtrees replaced (or keys added) by hostile values, dumped as YAML."""
    doc = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        value = draw(VALUES)
        if not path:
            doc = value
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            parent[draw(st.one_of(HOSTILE_TEXT, st.sampled_from(["count", "volumeSource", "name", "values"])))] = value
        else:
            parent[path[-1]] = value
    try:
        return yaml.safe_dump(doc, allow_unicode=draw(st.booleans()), sort_keys=False)
    except (yaml.YAMLError, ValueError):  # a value YAML cannot dump: fall back to its text
        return str(doc)


@st.composite
def raw_attack(draw: st.DrawFn, kind: str) -> tuple[str, bytes]:
    """Text-level attacks on a valid file: aliases, duplicate keys, nesting, encodings, noise."""
    base = yaml.safe_dump(draw(st.sampled_from(SEEDS)), sort_keys=False)
    if kind == "alias":
        depth = draw(st.integers(min_value=1, max_value=9))
        lines = ['  x0: &x0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        lines += [f"  x{i}: &x{i} [{','.join([f'*x{i - 1}'] * 9)}]" for i in range(1, depth)]
        return f"raw:{kind}", (
            base.replace("metadata:\n", "metadata:\n  annotations:\n" + "\n".join("  " + ln for ln in lines) + "\n", 1)
        ).encode()
    if kind == "duplicate":
        return f"raw:{kind}", (base + "kind: Workspace\n").encode()
    if kind == "deep-flow":
        n = draw(st.integers(min_value=30, max_value=30000))
        return f"raw:{kind}", (base + "extra: " + "[" * n + "]" * n + "\n").encode()
    if kind == "deep-block":
        n = draw(st.integers(min_value=30, max_value=300))
        return f"raw:{kind}", (base + "".join("  " * i + f"k{i}:\n" for i in range(n))).encode()
    if kind == "utf16":
        return f"raw:{kind}", base.encode(
            draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"])), "replace"
        )
    if kind == "noise":
        noise = draw(st.binary(min_size=1, max_size=64))
        at = draw(st.integers(min_value=0, max_value=len(base)))
        return f"raw:{kind}", base.encode()[:at] + noise + base.encode()[at:]
    if kind == "bigstring":
        return f"raw:{kind}", base.replace(
            "name: ", "name: " + "n" * draw(st.integers(min_value=60, max_value=20000)), 1
        ).encode()
    return f"raw:{kind}", (base + "---\n" + base).encode()


# Seeds a real run accepts as they are: mutations of these are the cases that reach the (refusing) server.
VALID_SEEDS = [s for s in SEEDS if s["metadata"]["name"] in ("workspace-phi-4-mini", "workspace-tuning-phi-3-pvc")]
DNS_NAMES = st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
NEAR_VALID_PATHS = [
    ("metadata", "name"),
    ("metadata", "namespace"),
    ("metadata", "annotations", "kaito.sh/runtime"),
    ("metadata", "annotations", "x"),
    ("metadata", "labels", "x"),
    ("resource", "labelSelector", "matchLabels", "x"),
    ("resource", "count"),
]


@st.composite
def near_valid_documents(draw: st.DrawFn) -> tuple[str, bytes]:
    """A Workspace a real run accepts with one field set to a hostile or a plausible value: most pass validation
    and reach the server, so a write sent before (or without) validation would show."""
    doc = copy.deepcopy(draw(st.sampled_from(VALID_SEEDS)))
    path = draw(st.sampled_from(NEAR_VALID_PATHS))
    parent = doc
    for step in path[:-1]:
        parent = parent.setdefault(step, {})
    parent[path[-1]] = draw(st.one_of(DNS_NAMES, SCALARS, st.integers(min_value=0, max_value=3)))
    return "near-valid:" + ".".join(path[:2]), yaml.safe_dump(doc, sort_keys=False).encode()


RAW_KINDS = ["alias", "duplicate", "deep-flow", "deep-block", "utf16", "noise", "bigstring", "multidoc"]


def _family(name: str) -> st.SearchStrategy[tuple[str, bytes]]:
    if name == "mutated":
        return mutated_documents().map(lambda text: ("mutated", text.encode()))
    if name == "binary":
        return st.binary(max_size=200).map(lambda data: ("binary", data))
    if name == "near-valid":
        return near_valid_documents()
    return raw_attack(name)


# Families drawn evenly (st.one_of would favour its first branch), then a case of the family.
HOSTILE_FILES = st.sampled_from(["mutated", "binary", "near-valid", *RAW_KINDS]).flatmap(_family)


@settings(
    max_examples=CASES,
    deadline=None,  # the budgets are asserted below, per case, with their own message
    database=None,
    derandomize=True,  # the same cases in CI and locally: a failure reproduces
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
@given(case=HOSTILE_FILES, as_json=st.booleans())
def test_hostile_workspace_files(
    case: tuple[str, bytes], as_json: bool, apiserver: tuple[RecordingApiServer, Path], tmp_path: Path
) -> None:
    family, content = case
    event(family)  # `pytest --hypothesis-show-statistics` counts the cases of each family
    server, kubeconfig = apiserver
    path = tmp_path / "ws.yaml"
    path.write_bytes(content)
    extra = ["-o", "json"] if as_json else []
    base = ["apply", "-f", str(path), "--kubeconfig", str(kubeconfig), *extra]
    server.take()

    dry = _invoke([*base, "--dry-run"], content)
    assert dry.exit_code in (0, 2), (dry.exit_code, dry.stderr[-2000:], content[:300])
    assert server.take() == (0, []), "a dry run connected to the API server"

    real = _invoke(base, content)
    connections, requests = server.take()
    event(f"real run: exit {real.exit_code}, {'no request' if not requests else 'reads only'}")
    writes = [r for r in requests if r[0] not in READS]
    assert not writes, (writes, content[:300])
    if real.exit_code == 2:
        # refused as bad input: before the first connection, not after reading the cluster
        assert connections == 0, (requests, real.stderr[-2000:], content[:300])
    else:
        # accepted: the first read was refused by the server, and that is what the user is told
        assert real.exit_code == 1, (real.exit_code, real.stderr[-2000:], content[:300])
        assert "forbidden" in real.stderr, (real.stderr[-2000:], content[:300])
        assert requests, "exit 1 without a request: something other than the cluster failed"
    # A file the dry run refuses is refused by a real run too (one validation for both).
    if dry.exit_code == 2:
        assert real.exit_code == 2, (dry.stderr[-2000:], real.stderr[-2000:], content[:300])


def _invoke(args: list[str], content: bytes) -> Any:
    """One in-process run of the CLI, within the time and memory budget and without a traceback."""
    peak_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu_started = time.monotonic(), time.process_time()
    result = runner.invoke(app, args)
    seconds, cpu_seconds = time.monotonic() - started, time.process_time() - cpu_started
    growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before_kib
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr
    assert cpu_seconds < CPU_SECONDS_PER_CASE, (args, cpu_seconds, content[:300])
    assert seconds < HANG_SECONDS, (args, seconds, content[:300])
    assert growth_kib < PEAK_GROWTH_KIB, (args, growth_kib, content[:300])
    assert len(result.stderr) < 20_000
    return result
