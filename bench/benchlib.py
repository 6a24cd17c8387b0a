"""Shared by the benches: timing subprocesses in paired rounds, summaries, goal verdicts, and the report format
that bench/all collects.

On a shared machine a single timing says little, so every bench:
- runs the peer and kaitoctl in the same round, one after the other, many rounds, and takes the ratio per round
  (both saw the same load) and then the median of those ratios;
- prints min / median / max of each, and the load average when it started and ended;
- exits 1 only when a goal is missed (2 when the bench itself could not run), never for noise around it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS_ENV = "KAITOCTL_BENCH_RESULTS"  # bench/all: append each goal as a JSON line to this file


def load() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load n/a"
    return f"load {one:.1f}/{five:.1f} on {os.cpu_count()} CPUs"


@dataclass
class Sample:
    wall: float
    cpu: float  # user + system time of the child


def run_timed(
    argv: Sequence[str], env: dict[str, str], *, cwd: Path = REPO, check: bool = True, ok: Sequence[int] = (0,)
) -> Sample:
    """Run argv to completion, stdout/stderr discarded; wall time and the child's CPU time. With `check`, an exit
    status outside `ok` is a BenchError."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd, stdin=subprocess.DEVNULL
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if check and proc.returncode not in ok:
        raise BenchError(f"{' '.join(argv)} failed ({proc.returncode}): {err.decode(errors='replace')[-800:]}")
    return Sample(wall, usage.ru_utime + usage.ru_stime)


class BenchError(Exception):
    """The bench could not measure (a command failed, no cluster): exit 2, not a missed goal."""


@dataclass
class Series:
    name: str
    samples: list[Sample] = field(default_factory=list)

    def values(self, metric: str) -> list[float]:
        return [getattr(s, metric) for s in self.samples]

    def summary(self, metric: str, scale: float = 1000.0) -> tuple[float, float, float]:
        v = self.values(metric)
        return min(v) * scale, statistics.median(v) * scale, max(v) * scale


def paired_ratio(ours: Series, peer: Series, metric: str) -> float:
    """Median over rounds of ours/peer, each round's pair measured back to back."""
    return statistics.median(a / b for a, b in zip(ours.values(metric), peer.values(metric), strict=True))


@dataclass
class Goal:
    bench: str
    name: str
    value: float
    limit: float
    unit: str  # "×" for ratios, "ms", "s"
    detail: str = ""
    at_least: bool = False  # the limit is a floor (a throughput ratio), not a ceiling

    @property
    def met(self) -> bool:
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    def line(self) -> str:
        fmt, lim = shown(self.value, self.unit), shown(self.limit, self.unit)
        verdict = "met" if self.met else "NOT MET"
        bound = "≥" if self.at_least else "≤"
        return f"goal {self.name}: {fmt} ({bound} {lim}) {verdict}" + (f" — {self.detail}" if self.detail else "")


def shown(value: float, unit: str) -> str:
    if unit == "×":
        return f"{value:.2f}×"
    if unit == "s":
        return f"{value:.1f} s"
    return f"{value:.0f} {unit}"


def finish(goals: list[Goal]) -> None:
    """Print the verdicts, hand them to bench/all, exit 1 if one is missed."""
    for goal in goals:
        print(goal.line())
    results = os.environ.get(RESULTS_ENV)
    if results:
        with open(results, "a", encoding="utf-8") as fh:
            for g in goals:
                fh.write(json.dumps(g.__dict__ | {"met": g.met, "load": load()}) + "\n")
    sys.exit(0 if all(g.met for g in goals) else 1)


def guarded(main: object) -> None:
    """Run a bench's main: a BenchError (or Ctrl-C) ends it with exit 2 and one line, no traceback."""
    try:
        main()  # type: ignore[operator]
    except BenchError as exc:
        print(f"bench could not run: {exc}", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:  # the harness (no control plane binaries, a cluster that did not start)
        if not type(exc).__module__.startswith("tests.harness") and not isinstance(exc, subprocess.SubprocessError):
            raise
        print(f"bench could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def python_env() -> dict[str, str]:
    """The environment for timed Python children: bytecode caches on, as an installed package has them."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "FORCE_COLOR")}
    env["NO_COLOR"] = "1"
    return env


def compile_package(python: str) -> None:
    """kaitoctl's .pyc files, as `pip install` writes them (a source checkout may have none, e.g. under
    PYTHONDONTWRITEBYTECODE): without them every run would also compile kaitoctl and measure that."""
    subprocess.run(
        [python, "-m", "compileall", "-q", str(REPO / "kaitoctl")], env=python_env(), check=True, cwd=REPO
    )
