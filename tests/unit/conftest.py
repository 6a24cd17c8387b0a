"""Unit-test session hooks: the golden-file update guard and its report (tests/unit/golden.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(autouse=True)
def _no_local_azure_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A developer's price cache and az defaults must not change a plan under test (the SKU ranking reads them):
    each test starts with an empty cache and no default region. Tests that need them set their own."""
    home = Path(tmp_path_factory.mktemp("azure-state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(home / "azure"))
    monkeypatch.delenv("AZURE_DEFAULTS_LOCATION", raising=False)
    # No unit test reaches prices.azure.com: the discard port refuses at once ("unreachable").
    monkeypatch.setenv("KAITOCTL_PRICES_ENDPOINT", "http://127.0.0.1:9")
    yield
