"""Progress on stderr: a rich live view of the phases on a TTY; one timestamped line per change otherwise.

Both implement ops.progress.Reporter. rich decides colour (NO_COLOR, FORCE_COLOR) and never writes cursor codes
when stderr is not a terminal, so the plain reporter is what CI logs get.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kaitoctl.cli import output

if TYPE_CHECKING:
    from kaitoctl.ops.progress import PhaseRecord, Reporter

_SYMBOL = {"Pending": "·", "InProgress": "…", "True": "✓", "False": "✗", "Skipped": "-"}
_STYLE = {"Pending": "dim", "InProgress": "cyan", "True": "green", "False": "bold red", "Skipped": "dim"}


def _elapsed(record: PhaseRecord, now: float) -> str:
    seconds = record.elapsed(now)
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


class PlainReporter:
    """One line per phase change or new reason: `2026-11-29T10:00:00Z ResourceReady  InProgress  message`."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, str, str]] = {}

    def phases(self, records: list[PhaseRecord]) -> None:
        now = time.monotonic()
        for record in records:
            state = (record.status, record.reason, record.message)
            if self.seen.get(record.name) == state or record.status == "Pending":
                continue
            self.seen[record.name] = state
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            text = " ".join(p for p in (record.reason, record.message) if p)
            took = f" ({_elapsed(record, now)})" if record.status in ("True", "False") else ""
            sys.stderr.write(f"{stamp} {record.name:<18} {record.status:<10} {text}{took}\n".rstrip() + "\n")
            sys.stderr.flush()

    def message(self, level: str, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        sys.stderr.write(f"{stamp} {level}: {text}\n")
        sys.stderr.flush()

    def close(self) -> None:
        pass


class LiveReporter:
    """A table of phases with elapsed times, refreshed in place."""

    def __init__(self) -> None:
        from rich.live import Live

        self.records: list[PhaseRecord] = []
        self.live = Live(
            get_renderable=self._render, console=output.rich_stderr(), refresh_per_second=4, transient=False
        )
        self.live.start()

    def _render(self) -> Any:
        from rich.table import Table

        now = time.monotonic()
        table = Table.grid(padding=(0, 2))
        for record in self.records:
            style = _STYLE.get(record.status, "")
            detail = " ".join(p for p in (record.reason, record.message) if p)
            table.add_row(
                f"[{style}]{_SYMBOL.get(record.status, '?')}[/]",
                f"[{style}]{record.name}[/]",
                _elapsed(record, now),
                output.escape(detail),
            )
        return table

    def phases(self, records: list[PhaseRecord]) -> None:
        self.records = list(records)
        self.live.refresh()

    def message(self, level: str, text: str) -> None:
        self.live.console.print(f"[{'yellow' if level == 'warning' else 'dim'}]{level}:[/] {output.escape(text)}")

    def close(self) -> None:
        self.live.refresh()
        self.live.stop()


def make_reporter(*, no_progress: bool) -> Reporter:
    if not no_progress and output.stderr().is_terminal:
        return LiveReporter()
    return PlainReporter()
