"""CI cannot go green by leaving the e2e suites out (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import deselects_e2e, e2e_required

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("markexpr", "deselects"),
    [
        ("", False),
        ("e2e", False),
        ("not azure", False),
        ("e2e or azure", False),
        ("not e2e", True),
        ("not e2e and not azure", True),
        ("azure", True),
        ("not (e2e or azure)", True),
    ],
)
def test_which_mark_expressions_leave_out_e2e(markexpr: str, deselects: bool) -> None:
    assert deselects_e2e(markexpr) is deselects


@pytest.mark.parametrize(
    ("env", "required"),
    [
        ({}, False),
        ({"CI": "true"}, True),
        ({"KAITOCTL_E2E": "required"}, True),
        ({"KAITOCTL_E2E": "1"}, True),
        ({"KAITOCTL_E2E": "0"}, False),
        ({"CI": "false"}, False),
    ],
)
def test_what_makes_e2e_required(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], required: bool) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("KAITOCTL_E2E", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert e2e_required() is required


def _collect(extra_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "KAITOCTL_E2E")} | extra_env
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--co", "-q", "tests/unit/test_ci_policy.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("env", [{"CI": "true"}, {"KAITOCTL_E2E": "1"}])
def test_not_e2e_is_an_error_where_e2e_is_required(env: dict[str, str]) -> None:
    refused = _collect(env, "-m", "not e2e")
    assert refused.returncode == pytest.ExitCode.USAGE_ERROR
    assert "leaves out the e2e tests" in refused.stderr
    assert _collect({}, "-m", "not e2e").returncode == pytest.ExitCode.OK
