"""Fast commands stay fast: --help, presets and dry-runs import neither kubernetes nor azure (nor httpx)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.unit.helpers import FIXTURES

HEAVY = ("kubernetes", "azure", "httpx", "msal", "urllib3")

COMMANDS = [
    ["--help"],
    ["tune", "--help"],
    ["presets"],
    ["presets", "skus"],
    ["tune", "phi-3", "--method", "qlora", "--dry-run"],
    ["deploy", "phi-3", "--dry-run", "-o", "json"],
    ["apply", "-f", str(FIXTURES / "cookbook-tuning-phi-3.yaml"), "--dry-run"],
    ["render", "-f", str(FIXTURES / "v1beta1-inference-phi-4-mini.yaml")],
]


def imported_modules(args: list[str]) -> set[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kaitoctl", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip())
    assert modules, "no -X importtime output"
    return modules


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a[:3]) for a in COMMANDS])
def test_fast_commands_import_no_cloud_clients(args: list[str]) -> None:
    modules = imported_modules(args)
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == [], f"kaitoctl {' '.join(args)} imported {heavy[:10]}"
    if args[0] == "--help":
        # Rendering machinery is not needed to print help either.
        assert not {"jinja2", "yaml"} & {m.split(".")[0] for m in modules}
