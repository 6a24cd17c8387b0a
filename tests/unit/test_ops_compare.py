"""`chat --compare` and `eval` in ops (ops/chat.py, ops/evaluate.py): which models are compared, and how answers
are gathered and scored, with a fake model client (the HTTP side is e2e: tests/e2e/test_eval.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from kaitoctl.adapters.chat import ChatRequest, StreamResult
from kaitoctl.core.errors import InvalidInput, OperationFailed
from kaitoctl.core.evaluation import Example
from kaitoctl.ops.chat import Session, ask_each, compared_models
from kaitoctl.ops.evaluate import ask_one, evaluate


def session(models: list[str] | None, base: str | None = None, adapters: list[str] | None = None) -> Session:
    return Session(None, "ws", None, models, "test", base, adapters or [])  # type: ignore[arg-type]


def test_compared_models_are_the_base_then_each_served_adapter() -> None:
    s = session(["other", "a2", "base", "a1"], base="base", adapters=["a1", "a2", "not-served"])
    assert compared_models(s) == ["base", "a1", "a2"]
    assert [s.role(m) for m in ("base", "a1", "other")] == ["base", "adapter", "model"]


def test_without_a_workspace_every_served_model_is_compared() -> None:
    assert compared_models(session(["m1", "m2"])) == ["m1", "m2"]


def test_one_model_or_the_legacy_api_is_nothing_to_compare() -> None:
    with pytest.raises(InvalidInput) as one:
        compared_models(session(["base", "other"], base="base", adapters=["gone"]))
    assert one.value.problem == "only one model is served (base): nothing to compare with"
    assert one.value.fix == "deploy the workspace with an adapter (--adapter NAME=IMAGE)"
    with pytest.raises(InvalidInput) as legacy:
        compared_models(session(None))
    assert legacy.value.field == "--compare"


class FakeClient:
    """ModelClient's stream/complete: "<model>: <question>" per word; `fail` models raise."""

    def __init__(self, fail: tuple[str, ...] = (), tokens: int | None = 3) -> None:
        self.fail = fail
        self.tokens = tokens
        self.requests: list[ChatRequest] = []
        self.lock = threading.Lock()

    def stream(self, request: ChatRequest, result: StreamResult) -> Any:
        with self.lock:
            self.requests.append(request)
        yield_text = f"{request.model}: {request.messages[-1]['content']}"
        for i, word in enumerate(yield_text.split(" ")):
            if i == 1 and request.model in self.fail:
                raise OperationFailed("broke", reason="StreamError")
            delta = word if i == 0 else " " + word
            result.content += delta
            yield delta
        result.finish_reason = "length" if request.model == "short" else "stop"

    def complete(self, request: ChatRequest) -> dict[str, Any]:
        with self.lock:
            self.requests.append(request)
        if request.model in self.fail:
            raise OperationFailed("HTTP 500", reason="ServerError")
        usage = {"completion_tokens": self.tokens} if self.tokens is not None else {}
        return {"choices": [{"message": {"content": f"answer to {request.messages[-1]['content']}"}}], "usage": usage}


def test_ask_each_streams_the_same_request_to_every_model_and_keeps_each_failure() -> None:
    client = FakeClient(fail=("b",))
    seen: list[tuple[int, str]] = []
    lock = threading.Lock()

    def on_delta(index: int, delta: str) -> None:
        with lock:
            seen.append((index, delta))

    request = ChatRequest([{"role": "system", "content": "s"}, {"role": "user", "content": "hi you"}], None, 9, 0.5)
    answers = ask_each(client, request, ["a", "b", "short"], on_delta)  # type: ignore[arg-type]
    assert [a.model for a in answers] == ["a", "b", "short"]
    assert answers[0].result.content == "a: hi you" and answers[0].error is None
    assert answers[1].result.content == "b:" and answers[1].error is not None and answers[1].error.message == "broke"
    assert answers[2].error is not None and answers[2].error.reason == "Truncated"  # finish_reason length
    assert "".join(d for i, d in seen if i == 0) == "a: hi you"
    assert sorted((r.model, r.max_tokens, r.temperature, r.messages[0]["content"]) for r in client.requests) == [
        ("a", 9, 0.5, "s"), ("b", 9, 0.5, "s"), ("short", 9, 0.5, "s"),
    ]


def test_ask_one_puts_the_prompt_after_the_template_and_records_tokens() -> None:
    client = FakeClient()
    template = ChatRequest([{"role": "system", "content": "be brief"}], None, 20, 0.0)
    outcome = ask_one(client, Example(4, "2+2?", "4"), "m", template)  # type: ignore[arg-type]
    assert outcome.answer == "answer to 2+2?" and outcome.completion_tokens == 3 and outcome.latency_s is not None
    sent = client.requests[0]
    assert sent.messages == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+2?"}]
    assert (sent.model, sent.max_tokens, sent.temperature) == ("m", 20, 0.0)
    failed = ask_one(FakeClient(fail=("m",)), Example(1, "p", "e"), "m", template)  # type: ignore[arg-type]
    assert failed.answer is None and failed.error == "HTTP 500" and failed.latency_s is None


def test_evaluate_returns_every_outcome_in_order_and_a_summary_per_model() -> None:
    examples = [Example(1, "x", "answer to x"), Example(2, "y", "Y"), Example(3, "z", "nope")]
    done: list[str] = []
    summaries, outcomes = evaluate(
        FakeClient(fail=("bad",)), examples, ["good", "bad"], ChatRequest([], None, None, 0.0),  # type: ignore[arg-type]
        parallel=3, on_done=lambda o: done.append(o.model),
    )
    assert [(o.model, o.example.line) for o in outcomes] == [("good", 1), ("good", 2), ("good", 3), ("bad", 1), ("bad", 2), ("bad", 3)]
    assert sorted(done) == ["bad"] * 3 + ["good"] * 3
    good, bad = summaries
    assert (good.model, good.exact, good.contains, good.errors) == ("good", 1, 2, 0)
    assert (bad.model, bad.exact, bad.contains, bad.errors) == ("bad", 0, 0, 3)
