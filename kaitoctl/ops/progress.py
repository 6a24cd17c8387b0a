"""Phases and progress: what ops reports while it works, independent of how the CLI shows it.

Phase names are Kaito's condition types (ResourceReady, InferenceReady, JobStarted, WorkspaceSucceeded) plus
kaitoctl's own steps (NodePool, Apply, Cleanup). Durations are measured here so `-o json` can report them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

PENDING, RUNNING, DONE, FAILED, SKIPPED = "Pending", "InProgress", "True", "False", "Skipped"


class Reporter(Protocol):
    """Implemented by the CLI: a live view on a TTY, plain timestamped lines otherwise."""

    def phases(self, records: list[PhaseRecord]) -> None: ...

    def message(self, level: str, text: str) -> None: ...

    def close(self) -> None: ...


@dataclass
class PhaseRecord:
    name: str
    status: str = PENDING
    reason: str = ""
    message: str = ""
    started: float | None = None
    finished: float | None = None
    started_at: str | None = None

    def elapsed(self, now: float) -> float | None:
        if self.started is None:
            return None
        return (self.finished or now) - self.started

    def to_dict(self, now: float) -> dict[str, Any]:
        elapsed = self.elapsed(now)
        return {
            "name": self.name,
            "status": self.status,
            "reason": self.reason or None,
            "message": self.message or None,
            "startedAt": self.started_at,
            "durationSeconds": None if elapsed is None else round(elapsed, 3),
        }


class Progress:
    """The phase list of one command, pushed to a Reporter on every change."""

    def __init__(self, reporter: Reporter, names: list[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.reporter = reporter
        self.clock = clock
        self.records = {name: PhaseRecord(name) for name in names}
        self.order = list(names)
        self.current: str | None = None

    def _push(self) -> None:
        self.reporter.phases([self.records[n] for n in self.order])

    def add(self, name: str) -> None:
        if name not in self.records:
            self.records[name] = PhaseRecord(name)
            self.order.append(name)

    def start(self, name: str, message: str = "") -> None:
        record = self.records[name]
        if record.status != PENDING:
            return
        if record.started is None:
            record.started = self.clock()
            record.started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        record.status = RUNNING
        record.message = message
        self.current = name
        self._push()

    def update(self, name: str, reason: str, message: str) -> None:
        record = self.records[name]
        if record.status in (DONE, FAILED, SKIPPED):
            return
        if record.status != RUNNING:
            self.start(name)
        if (record.reason, record.message) == (reason, message):
            return
        record.reason, record.message = reason, message
        self._push()

    def done(self, name: str, reason: str = "", message: str = "") -> None:
        record = self.records[name]
        if record.status == DONE:
            return
        if record.started is None:
            self.start(name)
        record.status, record.reason, record.message = DONE, reason, message
        record.finished = self.clock()
        self._push()

    def fail(self, name: str, reason: str, message: str) -> None:
        record = self.records[name]
        if record.started is None:
            record.started = self.clock()
        record.status, record.reason, record.message = FAILED, reason, message
        record.finished = self.clock()
        self._push()

    def skip(self, name: str, message: str = "") -> None:
        record = self.records[name]
        record.status, record.message = SKIPPED, message
        self._push()

    def is_done(self, name: str) -> bool:
        return self.records[name].status == DONE

    def info(self, text: str) -> None:
        self.reporter.message("info", text)

    def warn(self, text: str) -> None:
        self.reporter.message("warning", text)

    def to_list(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [self.records[n].to_dict(now) for n in self.order]
