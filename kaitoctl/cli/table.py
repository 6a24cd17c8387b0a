"""Plain, kubectl-style tables: upper-case headers, columns padded with three spaces. No colour, any terminal."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    sys.stdout.write(format_table(headers, rows))
    sys.stdout.flush()
