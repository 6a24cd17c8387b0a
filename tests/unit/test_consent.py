"""Consent before spending (issue 10, item 8): a run that creates or scales a GPU pool, or --recreate, asks on a
terminal and writes nothing on a no; -y, a dry run and no terminal never ask."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from kaitoctl.cli.workspace_run import terminal_confirm, wants_consent
from kaitoctl.core.errors import Declined
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.run import run_workspace
from tests.unit import helpers
from tests.unit.fakes import FakeAks, FakeKube, FakePoller, RecordingReporter, gpu_node, statefulset_controller

AZURE = {"subscription": "sub", "resource_group": "rg", "aks_cluster": "aks", "no_device_plugin": True}


@pytest.fixture(autouse=True)
def listed_price(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached retail price, so the question can name the cost without the network."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = tmp_path / "kaitoctl" / "prices.json"
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"eastus/standard_nc24ads_a100_v4": {"usd_per_hour": 3.67, "at": time.time()}}))


def run(answers: list[bool], **opts: Any) -> tuple[FakeKube, FakeAks, list[str], Any]:
    kube = FakeKube(on_apply=[statefulset_controller])
    aks = FakeAks(calls=kube.calls)

    def node_joins(poller: FakePoller) -> None:
        if poller.op == "put" and poller.body is not None:
            props = poller.body["properties"]
            kube.put(gpu_node("aks-node-0", instance_type=props["vmSize"], labels=props["nodeLabels"]))

    aks.on_done.append(node_joins)
    asked: list[str] = []

    def confirm(question: str) -> bool:
        asked.append(question)
        return answers.pop(0)

    spec = helpers.deploy_spec("phi-3", name="phi", namespace="default", instance_type="Standard_NC24ads_A100_v4")
    options = RunOptions(confirm=confirm, **{**AZURE, **opts})
    try:
        result: Any = run_workspace(spec, options, helpers.catalog(), RecordingReporter(), kube=kube, aks=lambda _: aks)
    except Declined as error:
        result = error
    return kube, aks, asked, result


def test_no_writes_nothing() -> None:
    kube, aks, asked, result = run([False])
    assert isinstance(result, Declined) and result.exit_code == 1
    assert len(asked) == 1
    assert asked[0].startswith("create AKS agent pool kc") and "1 × Standard_NC24ads_A100_v4, $3.67/h" in asked[0]
    assert kube.writes() == []
    assert not [c for c in aks.calls if c[0] in ("begin_put_pool", "begin_delete_pool")]


def test_yes_proceeds_and_a_re_run_with_nothing_to_spend_does_not_ask() -> None:
    kube, aks, asked, result = run([True])
    assert result["state"] == "Ready" and len(asked) == 1
    # the same workspace again, pool already as planned: nothing to spend, nothing to ask
    spec = helpers.deploy_spec("phi-3", name="phi", namespace="default", instance_type="Standard_NC24ads_A100_v4")
    again: list[str] = []
    opts = RunOptions(confirm=lambda q: again.append(q) or False, **AZURE)
    run_workspace(spec, opts, helpers.catalog(), RecordingReporter(), kube=kube, aks=lambda _: aks)
    assert again == []


def test_recreate_asks_naming_what_it_deletes() -> None:
    kube, aks, _, _ = run([True])
    spec = helpers.deploy_spec(
        "phi-3", name="phi", namespace="default", instance_type="Standard_NC24ads_A100_v4", labels=["apps=x"]
    )
    asked: list[str] = []
    opts = RunOptions(confirm=lambda q: asked.append(q) or False, recreate=True, **AZURE)
    writes = len(kube.writes())
    with pytest.raises(Declined):
        run_workspace(spec, opts, helpers.catalog(), RecordingReporter(), kube=kube, aks=lambda _: aks)
    assert asked and asked[0].startswith("--recreate deletes workspace phi in namespace default (")
    assert "StatefulSet/phi" in asked[0] and "Service/phi-headless" in asked[0]
    assert len(kube.writes()) == writes


@pytest.mark.parametrize(
    ("yes", "dry_run", "tty", "asks"),
    [(False, False, True, True), (True, False, True, False), (False, True, True, False), (False, False, False, False)],
)
def test_who_is_asked(monkeypatch: pytest.MonkeyPatch, yes: bool, dry_run: bool, tty: bool, asks: bool) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: tty)
    monkeypatch.setattr("sys.stderr.isatty", lambda: tty)
    assert wants_consent(RunOptions(yes=yes, dry_run=dry_run)) is asks


@pytest.mark.parametrize(
    ("typed", "proceeds"), [("y\n", True), ("YES\n", True), ("\n", False), ("n\n", False), ("", False)]
)
def test_terminal_confirm_reads_the_answer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], typed: str, proceeds: bool
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    assert terminal_confirm(RecordingReporter())("create AKS agent pool kc1: 1 × X, $1.00/h\x1b[2J") is proceeds
    err = capsys.readouterr().err
    assert err.endswith("Proceed? [y/N] ") and "\x1b" not in err


def test_sigterm_is_handled_like_ctrl_c(tmp_path: Path) -> None:
    """Issue 10 item 7: a SIGTERM in the middle of a run exits 130 with the -o json object, like Ctrl-C."""
    import os
    import signal
    import subprocess
    import sys

    script = tmp_path / "term.py"
    script.write_text(
        "import os, signal, sys, time\n"
        "from kaitoctl.cli.app import handle_sigterm\n"
        "from kaitoctl.cli.output import reporting\n"
        "handle_sigterm()\n"
        "result = {'workspace': 'w'}\n"
        "import typer\n"
        "try:\n"
        "    with reporting(result):\n"
        "        print('ready', file=sys.stderr, flush=True)\n"
        "        time.sleep(30)\n"
        "except typer.Exit as e:\n"
        "    sys.exit(e.exit_code)\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    assert proc.stderr.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert json.loads(out)["error"]["exitCode"] == 130
    assert "interrupted" in err and "Traceback" not in err


def test_a_second_sigterm_does_not_break_the_first_one_s_stop(tmp_path: Path) -> None:
    """Issue 10 item 7: a runner may repeat SIGTERM before its SIGKILL; the stop that the first one started still
    prints the -o json object and exits 130 (the second is ignored, not a KeyboardInterrupt inside the handler)."""
    import os
    import signal
    import subprocess
    import sys

    script = tmp_path / "term2.py"
    script.write_text(
        "import os, signal, sys, time\n"
        "from kaitoctl.cli.app import handle_sigterm\n"
        "from kaitoctl.cli.output import reporting\n"
        "handle_sigterm()\n"
        "import typer\n"
        "try:\n"
        "    with reporting({'workspace': 'w'}):\n"
        "        try:\n"
        "            print('ready', file=sys.stderr, flush=True)\n"
        "            time.sleep(30)\n"
        "        finally:\n"
        "            print('stopping', file=sys.stderr, flush=True)\n"
        "            time.sleep(1)  # a safe point's own work, e.g. recording the failed phase\n"
        "            print('stopped', file=sys.stderr, flush=True)\n"
        "except typer.Exit as e:\n"
        "    sys.exit(e.exit_code)\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    assert proc.stderr.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.stderr.readline().strip() == "stopping"
    os.kill(proc.pid, signal.SIGTERM)  # while the first stop is still under way
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert json.loads(out)["error"]["exitCode"] == 130
    assert "stopped" in err.splitlines() and "Traceback" not in err  # the first stop's work was not cut short


def test_a_spot_pool_is_asked_about_as_spot(tmp_path: Path) -> None:
    cache = tmp_path / "kaitoctl" / "prices.json"  # the autouse fixture's cache, with the Spot price instead
    cache.write_text(json.dumps({"eastus/standard_nc24ads_a100_v4/spot": {"usd_per_hour": 0.73, "at": time.time()}}))
    _, _, asked, result = run([False], spot=True)
    assert isinstance(result, Declined)
    assert "1 × Standard_NC24ads_A100_v4 Spot (evictable), $0.73/h" in asked[0]
