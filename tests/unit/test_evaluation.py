"""`kaitoctl eval`'s pure parts (core/evaluation.py): the dataset's format and its errors, the two scores, nearest-rank
percentiles and a model's summary."""

from __future__ import annotations

import pytest

from kaitoctl.core.errors import ExitCode, InvalidInput
from kaitoctl.core.evaluation import (
    Example,
    Outcome,
    contains_expected,
    matches_exactly,
    parse_dataset,
    percentile,
    summarize,
)


def test_a_dataset_line_by_line_blank_lines_skipped_extra_fields_ignored() -> None:
    lines = [
        '{"prompt": "2+2?", "expected": "4"}\n',
        "\n",
        '{"prompt": "capital of France?", "expected": "Paris", "id": 7, "source": "quiz"}\n',
        '  {"prompt": "p", "expected": "e", "id": "q-3"}  \n',
    ]
    assert parse_dataset(lines, "qa.jsonl") == [
        Example(1, "2+2?", "4"),
        Example(3, "capital of France?", "Paris", "7"),
        Example(4, "p", "e", "q-3"),
    ]
    assert [e.name for e in parse_dataset(lines, "qa.jsonl")] == ["line 1", "7", "q-3"]


@pytest.mark.parametrize(
    ("line", "problem", "fix"),
    [
        ("{not json", "qa.jsonl line 2 is not JSON (Expecting property name enclosed in double quotes)",
         'each line: {"prompt": "...", "expected": "..."}'),
        ('["prompt", "expected"]', "qa.jsonl line 2 is not a JSON object", 'each line: {"prompt": "...", "expected": "..."}'),
        ('{"expected": "4"}', "qa.jsonl line 2: field 'prompt' is missing", 'add "prompt": "..." to the line'),
        ('{"prompt": "2+2?"}', "qa.jsonl line 2: field 'expected' is missing", 'add "expected": "..." to the line'),
        ('{"prompt": "2+2?", "expected": 4}', "qa.jsonl line 2: field 'expected' must be a non-empty string", 'e.g. "expected": "..."'),
        ('{"prompt": "  ", "expected": "4"}', "qa.jsonl line 2: field 'prompt' must be a non-empty string", 'e.g. "prompt": "..."'),
        ('{"prompt": "p", "expected": ""}', "qa.jsonl line 2: field 'expected' must be a non-empty string", 'e.g. "expected": "..."'),
        ('{"prompt": "p", "expected": "e", "id": true}', "qa.jsonl line 2: field 'id' must be a string or an integer", "or leave it out"),
        ('{"prompt": "p", "expected": "e", "id": [1]}', "qa.jsonl line 2: field 'id' must be a string or an integer", "or leave it out"),
    ],
)
def test_a_bad_line_is_named_with_its_number_and_field(line: str, problem: str, fix: str) -> None:
    with pytest.raises(InvalidInput) as bad:
        parse_dataset(['{"prompt": "ok", "expected": "ok"}', line, '{"prompt": "later", "expected": "x"}'], "qa.jsonl")
    assert bad.value.field == "--dataset"
    assert bad.value.problem == problem
    assert bad.value.fix == fix
    assert bad.value.exit_code == ExitCode.INVALID_INPUT


def test_an_empty_dataset_is_refused() -> None:
    with pytest.raises(InvalidInput) as empty:
        parse_dataset(["\n", "   \n"], "empty.jsonl")
    assert empty.value.problem == "empty.jsonl has no examples"


def test_exact_match_normalises_whitespace_only() -> None:
    assert matches_exactly("  Paris\n", "Paris")
    assert matches_exactly("New   York\tCity", "New York City")
    assert not matches_exactly("paris", "Paris")  # case counts
    assert not matches_exactly("Paris.", "Paris")
    assert not matches_exactly("The answer is Paris", "Paris")


def test_contains_ignores_case_and_whitespace_runs() -> None:
    assert contains_expected("The answer is PARIS.", "paris")
    assert contains_expected("it is New\n York  City", "new york city")
    assert not contains_expected("Lyon", "Paris")
    assert not contains_expected("Par is", "Paris")


def test_percentiles_are_nearest_rank() -> None:
    values = [0.5, 0.1, 0.4, 0.2, 0.3]
    assert percentile(values, 50) == 0.3
    assert percentile(values, 90) == 0.5
    assert percentile(values, 20) == 0.1
    assert percentile(values, 21) == 0.2
    assert percentile(values, 0) == 0.1
    assert percentile(values, 100) == 0.5
    ten = [float(i) for i in range(1, 11)]
    assert (percentile(ten, 50), percentile(ten, 90), percentile(ten, 99)) == (5.0, 9.0, 10.0)
    assert percentile([], 50) is None


def test_a_models_summary_counts_failures_as_wrong_and_tokens_over_answer_time() -> None:
    a, b, c = Example(1, "q1", "Paris"), Example(2, "q2", "4"), Example(3, "q3", "x")
    outcomes = [
        Outcome(a, "m", "Paris", 0.2, 10),  # exact and contains
        Outcome(b, "m", "It is 4", 0.6, 20),  # contains only
        Outcome(c, "m", None, None, None, error="HTTP 500"),  # failed: neither, not in latency
    ]
    summary = summarize("m", outcomes)
    assert (summary.examples, summary.exact, summary.contains, summary.errors) == (3, 1, 2, 1)
    assert summary.exact_accuracy == pytest.approx(1 / 3)
    assert summary.contains_accuracy == pytest.approx(2 / 3)
    assert (summary.p50_s, summary.p90_s, summary.p99_s) == (0.2, 0.6, 0.6)
    assert summary.tokens_per_s == pytest.approx(30 / 0.8)


def test_without_usage_figures_there_is_no_tokens_per_second() -> None:
    summary = summarize("m", [Outcome(Example(1, "q", "e"), "m", "e", 0.3, None)])
    assert summary.tokens_per_s is None and summary.exact == 1 and summary.p50_s == 0.3


def test_more_than_the_most_examples_is_refused_with_a_fix() -> None:
    from kaitoctl.core.evaluation import MAX_EXAMPLES

    assert MAX_EXAMPLES == 100_000
    line = '{"prompt": "p", "expected": "e"}'
    assert len(parse_dataset([line] * MAX_EXAMPLES, "big.jsonl")) == MAX_EXAMPLES
    with pytest.raises(InvalidInput) as big:
        parse_dataset([line] * (MAX_EXAMPLES + 1), "big.jsonl")
    assert (big.value.field, big.value.problem, big.value.fix) == (
        "--dataset",
        "big.jsonl has more than 100000 examples",
        "split it into smaller files",
    )


def test_an_empty_dataset_says_what_a_line_looks_like() -> None:
    with pytest.raises(InvalidInput) as empty:
        parse_dataset([], "none.jsonl")
    assert (empty.value.field, empty.value.problem, empty.value.fix) == (
        "--dataset",
        "none.jsonl has no examples",
        'one JSON object per line: {"prompt": ..., "expected": ...}',
    )


def test_an_integer_id_names_the_example_and_a_null_id_is_none() -> None:
    examples = parse_dataset(['{"prompt": "p", "expected": "e", "id": 0}', '{"prompt": "p", "expected": "e", "id": null}'], "x")
    assert examples == [Example(1, "p", "e", "0"), Example(2, "p", "e", None)]
    assert [e.name for e in examples] == ["0", "line 2"]


def test_a_failed_request_is_neither_exact_nor_contains() -> None:
    example = Example(1, "q", "Paris")
    failed = Outcome(example, "m", None, error="timeout")
    assert (failed.exact, failed.contains) == (False, False)
    right = Outcome(example, "m", "paris, France")
    assert (right.exact, right.contains) == (False, True)


def test_a_summary_of_nothing_and_of_answers_without_time() -> None:
    empty = summarize("m", [])
    assert (empty.examples, empty.exact_accuracy, empty.contains_accuracy) == (0, 0.0, 0.0)
    assert (empty.p50_s, empty.p90_s, empty.p99_s, empty.tokens_per_s) == (None, None, None, None)
    example = Example(1, "q", "4")
    # tokens without a latency are not counted; a zero total time gives no rate
    untimed = summarize("m", [Outcome(example, "m", "4", None, 50), Outcome(example, "m", "4", 0.0, 5)])
    assert (untimed.exact, untimed.contains, untimed.errors, untimed.p50_s, untimed.tokens_per_s) == (2, 2, 0, 0.0, None)
    mixed = summarize(
        "m",
        [Outcome(example, "m", "4", 2.0, 10), Outcome(example, "m", "4", None, 50), Outcome(example, "m", "5", 3.0, None)],
    )
    assert mixed.tokens_per_s == 5.0
    assert (mixed.p50_s, mixed.p90_s) == (2.0, 3.0)
    assert (mixed.exact_accuracy, mixed.model) == (2 / 3, "m")


def test_a_summary_s_percentiles_over_ten_answers() -> None:
    example = Example(1, "q", "4")
    outcomes = [Outcome(example, "m", "4", float(s), None) for s in (10, 1, 9, 2, 8, 3, 7, 4, 6, 5)]
    summary = summarize("m", outcomes)
    assert (summary.p50_s, summary.p90_s, summary.p99_s) == (5.0, 9.0, 10.0)
