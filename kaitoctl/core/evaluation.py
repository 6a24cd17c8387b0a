"""`kaitoctl eval`'s pure parts: reading a dataset, scoring an answer, and summing up a model's results.

Dataset: JSON Lines, one example per line: {"prompt": "...", "expected": "..."} (both non-empty strings; an
optional "id", a string or an integer, names the example in results; other fields are ignored, so a dataset
with more columns works as it is). Blank lines are skipped.

Scoring, per answer:
- exact match: the answer equals the expected text once whitespace is normalised (leading/trailing removed, runs
  collapsed to one space); case counts.
- contains: the expected text, whitespace normalised, occurs in the answer, ignoring case.

Latency percentiles are nearest-rank (the smallest value with at least p% of the values at or below it), so every
reported figure is one that was measured.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kaitoctl.core.errors import InvalidInput

FIELD = "--dataset"
MAX_EXAMPLES = 100_000


@dataclass(frozen=True)
class Example:
    line: int  # 1-based line number in the file
    prompt: str
    expected: str
    id: str | None = None

    @property
    def name(self) -> str:
        return self.id if self.id is not None else f"line {self.line}"


def parse_dataset(lines: Iterable[str], source: str) -> list[Example]:
    """The examples of a JSONL dataset, or InvalidInput (exit 2) naming the line and the field at fault."""
    examples: list[Example] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = f"{source} line {number}"
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                FIELD, f"{where} is not JSON ({exc.msg})", 'each line: {"prompt": "...", "expected": "..."}'
            ) from None
        if not isinstance(item, dict):
            raise InvalidInput(
                FIELD, f"{where} is not a JSON object", 'each line: {"prompt": "...", "expected": "..."}'
            )
        values: dict[str, str] = {}
        for field in ("prompt", "expected"):
            value = item.get(field)
            if field not in item:
                raise InvalidInput(FIELD, f"{where}: field {field!r} is missing", f'add "{field}": "..." to the line')
            if not isinstance(value, str) or not value.strip():
                raise InvalidInput(
                    FIELD, f"{where}: field {field!r} must be a non-empty string", f'e.g. "{field}": "..."'
                )
            values[field] = value
        ident = item.get("id")
        if ident is not None and (isinstance(ident, bool) or not isinstance(ident, (str, int))):
            raise InvalidInput(FIELD, f"{where}: field 'id' must be a string or an integer", "or leave it out")
        examples.append(Example(number, values["prompt"], values["expected"], None if ident is None else str(ident)))
        if len(examples) > MAX_EXAMPLES:
            raise InvalidInput(FIELD, f"{source} has more than {MAX_EXAMPLES} examples", "split it into smaller files")
    if not examples:
        raise InvalidInput(
            FIELD, f"{source} has no examples", 'one JSON object per line: {"prompt": ..., "expected": ...}'
        )
    return examples


def normalize(text: str) -> str:
    return " ".join(text.split())


def matches_exactly(answer: str, expected: str) -> bool:
    return normalize(answer) == normalize(expected)


def contains_expected(answer: str, expected: str) -> bool:
    return normalize(expected).casefold() in normalize(answer).casefold()


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of `values`; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Outcome:
    """One model's answer to one example."""

    example: Example
    model: str
    answer: str | None  # None: the request failed
    latency_s: float | None = None
    completion_tokens: int | None = None
    error: str | None = None

    @property
    def exact(self) -> bool:
        return self.answer is not None and matches_exactly(self.answer, self.example.expected)

    @property
    def contains(self) -> bool:
        return self.answer is not None and contains_expected(self.answer, self.example.expected)


@dataclass(frozen=True)
class ModelSummary:
    model: str
    examples: int
    exact: int
    contains: int
    errors: int
    p50_s: float | None
    p90_s: float | None
    p99_s: float | None
    tokens_per_s: float | None  # completion tokens over the time spent answering; None without usage figures

    @property
    def exact_accuracy(self) -> float:
        return self.exact / self.examples if self.examples else 0.0

    @property
    def contains_accuracy(self) -> float:
        return self.contains / self.examples if self.examples else 0.0


def summarize(model: str, outcomes: Sequence[Outcome]) -> ModelSummary:
    """A model's accuracy (failed requests count as wrong), latency percentiles and tokens/s."""
    answered = [o for o in outcomes if o.answer is not None]
    latencies = [o.latency_s for o in answered if o.latency_s is not None]
    counted = [o for o in answered if o.completion_tokens is not None and o.latency_s is not None]
    seconds = sum(o.latency_s or 0.0 for o in counted)
    tokens_per_s = sum(o.completion_tokens or 0 for o in counted) / seconds if counted and seconds > 0 else None
    return ModelSummary(
        model=model,
        examples=len(outcomes),
        exact=sum(o.exact for o in outcomes),
        contains=sum(o.contains for o in outcomes),
        errors=len(outcomes) - len(answered),
        p50_s=percentile(latencies, 50),
        p90_s=percentile(latencies, 90),
        p99_s=percentile(latencies, 99),
        tokens_per_s=tokens_per_s,
    )
