"""Unit-test session hooks: the golden-file update guard and its report (tests/unit/golden.py)."""

from __future__ import annotations

import pytest

from tests.unit.golden import GOLDEN, UPDATE_ENV, running_in_ci, update_requested


def pytest_configure(config: pytest.Config) -> None:
    if update_requested() and running_in_ci():
        raise pytest.UsageError(
            f"{UPDATE_ENV}=1 under CI: golden files are rewritten on a developer machine and reviewed, never in CI"
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not GOLDEN.changes:
        return
    terminalreporter.section(f"golden files rewritten ({len(GOLDEN.changes)}): review this diff before committing")
    for _name, diff in GOLDEN.changes:
        terminalreporter.write(diff if diff.endswith("\n") else diff + "\n")
