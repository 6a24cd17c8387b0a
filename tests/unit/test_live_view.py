"""The rich live view of the phases, on a real pseudo-terminal: redrawn in place, the final frame left on screen,
warnings printed above it; without a terminal, one plain line per change and no escape codes."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import time
from kaitoctl.cli.progress import make_reporter
from kaitoctl.ops.progress import PhaseRecord

t = time.monotonic()
r = make_reporter(no_progress={no_progress})
print(type(r).__name__, flush=True)
r.phases([PhaseRecord("ResourceReady", "InProgress", "Waiting", "0/1 nodes", started=t),
          PhaseRecord("InferenceReady")])
r.message("warning", "count 3 is ignored")
r.phases([PhaseRecord("ResourceReady", "True", "Ready", "1/1 nodes", started=t, finished=t + 1.5),
          PhaseRecord("InferenceReady", "False", "ImagePullBackOff", "not found", started=t + 1.5, finished=t + 2)])
r.close()
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "CI")}
    return env | {"TERM": "xterm-256color", "COLUMNS": "100", "PYTHONPATH": str(REPO)}


def _on_a_terminal(no_progress: bool) -> str:
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdout and stderr are the terminal
        os.execve(sys.executable, [sys.executable, "-c", CHILD.format(no_progress=no_progress)], _env())
    out = bytearray()
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        out.extend(data)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, bytes(out)
    return out.decode()


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_a_terminal_gets_the_live_view_redrawn_in_place() -> None:
    out = _on_a_terminal(no_progress=False)
    assert out.startswith("\x1b[?25l") and out.endswith("\x1b[?25h")  # cursor hidden while live, shown after
    assert out.count("LiveReporter") == 1
    assert "\x1b[1A\x1b[2K" in out  # moves up and erases: the table is redrawn, not appended
    assert "\x1b[32m✓\x1b[0m  \x1b[32mResourceReady\x1b[0m" in out  # green tick
    assert "\x1b[1;31m✗\x1b[0m  \x1b[1;31mInferenceReady\x1b[0m" in out  # bold red cross
    segments = [seg.strip() for seg in re.split(r"[\r\n]+", _plain(out)) if seg.strip()]
    assert segments[-2].startswith("✓  ResourceReady   1.5s  Ready 1/1 nodes")  # the last frame stays on screen
    assert segments[-1] == "✗  InferenceReady  0.5s  ImagePullBackOff not found"
    assert "warning: count 3 is ignored" in segments


def test_no_progress_on_a_terminal_is_plain_lines() -> None:
    out = _on_a_terminal(no_progress=True)
    assert "PlainReporter" in out and "\x1b[" not in out
    lines = [line for line in out.replace("\r\n", "\n").splitlines() if line.strip()]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ResourceReady\s+InProgress Waiting 0/1 nodes", lines[1])
    assert lines[2].endswith("warning: count 3 is ignored")
    assert re.search(r"ResourceReady\s+True\s+Ready 1/1 nodes \(1\.5s\)$", lines[3])
    assert re.search(r"InferenceReady\s+False\s+ImagePullBackOff not found \(0\.5s\)$", lines[4])


def test_without_a_terminal_there_is_no_live_view() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD.format(no_progress=False)], env=_env(), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "PlainReporter\n"
    assert "\x1b[" not in proc.stderr and "ResourceReady" in proc.stderr
