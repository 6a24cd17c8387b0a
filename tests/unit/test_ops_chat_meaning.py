"""`kaitoctl chat` as a user sees it (ops/chat.py): why a workspace is not ready, the hints of a workspace that is
not there, the refusals of --compare, and how a compared question is asked."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import pytest

from kaitoctl.adapters.chat import ChatRequest, StreamResult
from kaitoctl.core import conditions as cond
from kaitoctl.core.errors import InvalidInput, NotFound
from kaitoctl.ops import chat
from kaitoctl.ops.chat import Session, ask_each, compared_models
from tests.unit.fakes import FakeKube
from tests.unit.test_ops_status import NS, deploy, one, write


def test_a_diagnosis_is_the_reason_a_workspace_is_not_ready() -> None:
    kube = FakeKube()
    write(kube, deploy("phi"))
    status = dataclasses.replace(
        one(kube, "phi"),
        conditions={cond.INFERENCE_READY: cond.Condition(cond.INFERENCE_READY, "False", "Pending", "0/1 ready")},
        diagnosis=cond.Diagnosis("ImagePullBackOff", "pull access denied", terminal=True),
    )
    assert chat._not_ready_message(status) == (
        "workspace phi is not ready: InferenceReady is False (ImagePullBackOff: pull access denied)"
    )


def test_the_hints_when_no_workspace_is_found() -> None:
    kube = FakeKube()
    with pytest.raises(NotFound) as named:
        chat.find_workspace(kube, NS, "x")
    assert named.value.hint == "`kaitoctl status` lists them"
    with pytest.raises(NotFound) as unnamed:
        chat.find_workspace(kube, NS, None)
    assert unnamed.value.hint == "deploy one (`kaitoctl deploy`), pick a namespace with -n, or pass --endpoint URL"


def session(models: list[str] | None, base: str | None = None, adapters: list[str] | None = None) -> Session:
    return Session(None, "ws", None, models, "test", base, adapters or [])  # type: ignore[arg-type]


def test_compare_refusals_say_why_exactly() -> None:
    with pytest.raises(InvalidInput) as legacy:
        compared_models(session(None))
    assert (legacy.value.field, legacy.value.problem, legacy.value.fix) == (
        "--compare",
        "the server has the legacy /chat API (one model)",
        "compare needs /v1 models",
    )
    with pytest.raises(InvalidInput) as none:
        compared_models(session(["other"], base="base", adapters=["a1"]))
    assert none.value.problem == "only one model is served (none): nothing to compare with"


class SlowClient:
    """Streams "ok" after a short wait; records whether each stream ran on a daemon thread."""

    def __init__(self) -> None:
        self.daemon: list[bool] = []
        self.lock = threading.Lock()

    def stream(self, request: ChatRequest, result: StreamResult) -> Any:
        with self.lock:
            self.daemon.append(threading.current_thread().daemon)
        time.sleep(0.05)
        result.content = "ok"
        result.finish_reason = "stop"
        yield "ok"


def test_each_compared_answer_is_timed_on_a_thread_that_ctrl_c_does_not_wait_for() -> None:
    client = SlowClient()
    answers = ask_each(client, ChatRequest([{"role": "user", "content": "hi"}]), ["a", "b"])  # type: ignore[arg-type]
    assert [(a.model, a.result.content, a.error) for a in answers] == [("a", "ok", None), ("b", "ok", None)]
    assert all(0.05 <= a.seconds < 5 for a in answers)
    assert client.daemon == [True, True]
