"""`kaitoctl eval`: every example of a dataset to the base model and to each adapter, answers scored
(core/evaluation.py). Requests are plain (non-streamed) completions, a few at a time, so that latency is the
time to the whole answer as a client waiting for it sees it."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from kaitoctl.adapters.chat import ChatRequest, ModelClient
from kaitoctl.core.errors import KaitoctlError
from kaitoctl.core.evaluation import Example, ModelSummary, Outcome, summarize


def ask_one(client: ModelClient, example: Example, model: str, template: ChatRequest) -> Outcome:
    messages = [*template.messages, {"role": "user", "content": example.prompt}]
    started = time.monotonic()
    try:
        reply = client.complete(ChatRequest(messages, model, template.max_tokens, template.temperature))
    except KaitoctlError as error:
        return Outcome(example, model, None, error=error.message)
    latency = time.monotonic() - started
    choice = (reply.get("choices") or [{}])[0]
    answer = str((choice.get("message") or {}).get("content") or "")
    tokens = (reply.get("usage") or {}).get("completion_tokens")
    return Outcome(example, model, answer, latency, tokens if isinstance(tokens, int) else None)


def evaluate(
    client: ModelClient,
    examples: list[Example],
    models: list[str],
    template: ChatRequest,
    *,
    parallel: int,
    on_done: Callable[[Outcome], None] = lambda outcome: None,
) -> tuple[list[ModelSummary], list[Outcome]]:
    """Each model's summary (in `models` order) and every outcome (by model, then by example).

    `parallel` daemon threads ask; Ctrl-C in the caller's thread ends the run at once (no waiting for answers)."""
    jobs: queue.SimpleQueue[tuple[int, str, Example]] = queue.SimpleQueue()
    for index, (model, example) in enumerate((m, e) for m in models for e in examples):
        jobs.put((index, model, example))
    total = len(models) * len(examples)
    done: queue.SimpleQueue[tuple[int, Outcome]] = queue.SimpleQueue()

    def work() -> None:
        while True:
            try:
                index, model, example = jobs.get_nowait()
            except queue.Empty:
                return
            try:
                outcome = ask_one(client, example, model, template)
            except Exception as exc:  # never leave the caller waiting for an answer that will not come
                outcome = Outcome(example, model, None, error=f"{type(exc).__name__}: {exc}")
            done.put((index, outcome))

    for _ in range(max(1, min(parallel, total))):
        threading.Thread(target=work, daemon=True).start()
    results: dict[int, Outcome] = {}
    while len(results) < total:
        index, outcome = done.get()
        on_done(outcome)
        results[index] = outcome
    outcomes = [results[i] for i in range(total)]
    summaries = [summarize(model, [o for o in outcomes if o.model == model]) for model in models]
    return summaries, outcomes
