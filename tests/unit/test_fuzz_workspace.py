"""Fuzz `kaitoctl apply -f` with hostile Workspace files (issue 10): whatever the file, the CLI exits 0 or 2,
prints no traceback, answers within 2 s, and never talks to the cluster.

Cases come from hypothesis: Kaito's own example Workspaces with subtrees replaced by hostile values (wrong types,
control characters, markup, huge numbers, deep lists, unknown keys), and raw text attacks (aliases, duplicate keys,
deep nesting, other encodings, binary noise). The CLI runs in-process; the kubeconfig points at a socket that
counts connections, and the test fails if any arrives.
"""

from __future__ import annotations

import copy
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kaitoctl.cli.app import app
from tests.unit.helpers import FIXTURES

CASES = int(__import__("os").environ.get("FUZZ_CASES", "500"))
SECONDS_PER_CASE = 2.0

runner = CliRunner()
SEEDS = [yaml.safe_load(p.read_text()) for p in sorted(FIXTURES.glob("*.yaml"))]


class ConnectionCounter:
    """A listening socket standing in for an API server: it only counts who connects."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ConnectionCounter, Path]]:
    counter = ConnectionCounter()
    kubeconfig = tmp_path_factory.mktemp("kube") / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{counter.port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    yield counter, kubeconfig
    counter.close()


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
def raw_attacks(draw: st.DrawFn) -> bytes:
    """Text-level attacks on a valid file: aliases, duplicate keys, nesting, encodings, noise."""
    base = yaml.safe_dump(draw(st.sampled_from(SEEDS)), sort_keys=False)
    kind = draw(
        st.sampled_from(["alias", "duplicate", "deep-flow", "deep-block", "utf16", "noise", "bigstring", "multidoc"])
    )
    if kind == "alias":
        depth = draw(st.integers(min_value=1, max_value=9))
        lines = ['  x0: &x0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        lines += [f"  x{i}: &x{i} [{','.join([f'*x{i - 1}'] * 9)}]" for i in range(1, depth)]
        return (
            base.replace("metadata:\n", "metadata:\n  annotations:\n" + "\n".join("  " + ln for ln in lines) + "\n", 1)
        ).encode()
    if kind == "duplicate":
        return (base + "kind: Workspace\n").encode()
    if kind == "deep-flow":
        n = draw(st.integers(min_value=30, max_value=30000))
        return (base + "extra: " + "[" * n + "]" * n + "\n").encode()
    if kind == "deep-block":
        n = draw(st.integers(min_value=30, max_value=300))
        return (base + "".join("  " * i + f"k{i}:\n" for i in range(n))).encode()
    if kind == "utf16":
        return base.encode(draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"])), "replace")
    if kind == "noise":
        noise = draw(st.binary(min_size=1, max_size=64))
        at = draw(st.integers(min_value=0, max_value=len(base)))
        return base.encode()[:at] + noise + base.encode()[at:]
    if kind == "bigstring":
        return base.replace("name: ", "name: " + "n" * draw(st.integers(min_value=60, max_value=20000)), 1).encode()
    return (base + "---\n" + base).encode()


HOSTILE_FILES = st.one_of(mutated_documents().map(str.encode), raw_attacks(), st.binary(max_size=200))


@settings(
    max_examples=CASES,
    deadline=None,  # the budget is asserted below, per case, with its own message
    database=None,
    derandomize=True,  # the same cases in CI and locally: a failure reproduces
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
@given(content=HOSTILE_FILES, as_json=st.booleans())
def test_hostile_workspace_files(
    content: bytes, as_json: bool, apiserver: tuple[ConnectionCounter, Path], tmp_path: Path
) -> None:
    counter, kubeconfig = apiserver
    path = tmp_path / "ws.yaml"
    path.write_bytes(content)
    for extra in [["-o", "json"]] if as_json else [[]]:
        started = time.monotonic()
        result = runner.invoke(app, ["apply", "-f", str(path), "--dry-run", "--kubeconfig", str(kubeconfig), *extra])
        seconds = time.monotonic() - started
        assert result.exit_code in (0, 2), (result.exit_code, result.stderr[-2000:], content[:300])
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        assert "Traceback" not in result.stderr
        assert seconds < SECONDS_PER_CASE, (seconds, content[:300])
        assert len(result.stderr) < 20_000
    assert counter.connections == 0, "a dry run connected to the API server"
