"""Phase bookkeeping: durations from one clock, and a finished phase never starts again (that made lines flap)."""

from __future__ import annotations

from kaitoctl.ops.progress import Progress


class Recorder:
    def __init__(self) -> None:
        self.pushes: list[list[tuple[str, str, str]]] = []

    def phases(self, records):  # type: ignore[no-untyped-def]
        self.pushes.append([(r.name, r.status, r.message) for r in records])

    def message(self, level: str, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def test_durations_and_one_push_per_change() -> None:
    now = [100.0]
    rec = Recorder()
    progress = Progress(rec, ["A", "B"], clock=lambda: now[0])
    progress.start("A")
    now[0] = 102.5
    progress.update("A", "Waiting", "0/1")
    progress.update("A", "Waiting", "0/1")  # unchanged: no push
    progress.done("A", "Ready", "1/1")
    data = {p["name"]: p for p in progress.to_list()}
    assert data["A"]["status"] == "True" and data["A"]["durationSeconds"] == 2.5
    assert data["B"]["status"] == "Pending" and data["B"]["durationSeconds"] is None
    assert len(rec.pushes) == 3


def test_finished_phases_stay_finished() -> None:
    rec = Recorder()
    progress = Progress(rec, ["A"], clock=lambda: 0.0)
    progress.done("A", "Ready", "done")
    progress.start("A")
    progress.update("A", "Waiting", "again?")
    assert progress.to_list()[0]["status"] == "True" and progress.to_list()[0]["message"] == "done"
    progress.add("delete x")
    progress.add("delete x")
    assert [p["name"] for p in progress.to_list()] == ["A", "delete x"]
