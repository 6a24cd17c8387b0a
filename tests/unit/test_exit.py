"""kaitoctl ends without tearing down its modules (cli/app.py: _leave_without_teardown), yet like any program:
the exit status is main()'s, the output is all written, and the other atexit handlers still run first (the
kubernetes client deletes the temporary files it wrote the kubeconfig's certificates to)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kaitoctl.cli import app


def kaitoctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kaitoctl", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_the_exit_status_and_all_output_survive() -> None:
    listing = kaitoctl("presets", "-o", "json")
    assert listing.returncode == 0 and listing.stdout.rstrip().endswith("}")  # flushed to the end
    refused = kaitoctl("deploy", "phi-3", "--runtime", "bogus", "--dry-run")
    assert refused.returncode == 2 and "unknown runtime 'bogus'" in refused.stderr


def test_the_kubernetes_clients_temporary_certificate_files_are_removed(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    ca = base64.b64encode(os.urandom(64)).decode()
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:1', certificate-authority-data: '{ca}'}}}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
    )
    temp = tmp_path / "tmp"
    temp.mkdir()
    done = kaitoctl("status", "--kubeconfig", str(kubeconfig), env={**os.environ, "TMPDIR": str(temp)})
    assert done.returncode == 1 and "cannot reach the API server" in done.stderr
    assert list(temp.iterdir()) == []


def test_only_kaitoctl_the_program_leaves_early(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/usr/bin/pytest"])
    assert not app._is_program()  # main() called by another program: Python's usual ending
    monkeypatch.setattr(sys, "argv", ["/venv/bin/kaitoctl", "status"])
    assert app._is_program()
    monkeypatch.setattr(sys, "argv", [os.path.join("/src", "kaitoctl", "__main__.py"), "status"])
    assert app._is_program()
