"""--input-file's upload step as its caller and the user see it (ops/upload.py): what it returns and reports, how it
fails, the archive it sends, and how long it waits for an earlier upload pod and for its own to go (a fake clock:
no test waits for real)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from kaitoctl.core.errors import InvalidInput, OperationFailed, WaitTimeout
from kaitoctl.core.render import render_plan
from kaitoctl.ops import upload as up
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.progress import Progress
from kaitoctl.ops.run import Run, plan_for
from tests.unit import helpers
from tests.unit.fakes import FakeKube, RecordingReporter
from tests.unit.test_ops_small_meaning import Clock
from tests.unit.test_ops_status import NS, where
from tests.unit.test_upload import IMAGE, Volume, pods_run

POD = f"/api/v1/namespaces/{NS}/pods/t-upload"


class StuckKube(FakeKube):
    """A cluster where a deleted upload pod never goes (a node that does not answer)."""

    def delete(self, path: str, *, propagation: str = "Background") -> bool:
        self.calls.append(("delete", path, propagation))
        return self.obj(path) is not None


def upload_step(
    kube: FakeKube, data: Path, *, timeout_s: float | None = None
) -> tuple[str, dict[str, Any], RecordingReporter]:
    """upload_inputs for the tuning Job of a run on a labelled node: (its result, the Upload phase, the reporter)."""
    local = up.collect([str(data)], IMAGE)
    spec = helpers.tune_spec("phi-3", name="t", namespace=NS, labels=["apps=phi"], input_files_digest=local.digest)
    opts = RunOptions(no_pool=True, upload=local, timeout_s=timeout_s)
    plan = plan_for(spec, opts, helpers.catalog(), where())
    job = next(o for o in render_plan(plan, helpers.catalog()) if o["kind"] == "Job")
    reporter = RecordingReporter()
    progress = Progress(reporter, [up.UPLOAD], clock=lambda: 0.0)
    result = up.upload_inputs(Run(kube, opts, plan, progress, None, [], 0.0), job, local)
    (phase,) = progress.to_list()
    return result, {k: phase[k] for k in ("status", "reason", "message")}, reporter


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_bytes(b'{"a": 1}\n')
    return path


def test_an_upload_then_the_same_files_again(data: Path) -> None:
    volume = Volume()
    kube = FakeKube(on_apply=[pods_run], exec_handler=volume)
    result, phase, reporter = upload_step(kube, data)
    assert (result, phase) == (
        "uploaded",
        {"status": "True", "reason": "Uploaded", "message": "1 file(s), 9 B, sha256 checked in the pod"},
    )
    assert reporter.messages == []  # the pod went: nothing to warn about
    result, phase, _ = upload_step(kube, data)
    assert (result, phase) == (
        "unchanged",
        {"status": "True", "reason": "Unchanged", "message": "1 file(s) already in t-input: nothing sent"},
    )
    assert volume.uploads == 1


def test_a_failed_unpack_names_the_claim_the_exit_code_and_the_last_lines(data: Path) -> None:
    def broken(kube: FakeKube, namespace: str, pod: str, command: Any, stdin: bytes | None) -> tuple[int, str, str]:
        return (1, "", "") if command[0] == "cat" else (2, "", "tar: short read\ntar: error exit delayed\n")

    kube = FakeKube(on_apply=[pods_run], exec_handler=broken)
    with pytest.raises(OperationFailed) as failed:
        upload_step(kube, data)
    assert (failed.value.message, failed.value.reason, failed.value.details, failed.value.hint) == (
        "uploading into t-input failed (exit 2): tar: short read; tar: error exit delayed",
        "UploadFailed",
        ["tar: short read", "tar: error exit delayed"],
        "re-run the command (the volume is only recorded as holding the files once all checked)",
    )


def test_an_earlier_upload_pod_that_never_goes_times_out_after_30_minutes(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(up, "time", clock)
    kube = StuckKube(on_apply=[pods_run])
    kube.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "t-upload", "namespace": NS}})
    with pytest.raises(WaitTimeout) as late:
        upload_step(kube, data)
    assert late.value.message == (
        "timed out after 0s waiting for Upload (last seen: an earlier upload pod is still terminating)"
    )
    assert clock.now == 100.0 + 30 * 60 + 0.5  # given up at the first poll past the default --timeout
    assert [c[0] for c in kube.calls if c[0] in ("apply", "delete", "exec")] == ["delete"]


def test_its_own_upload_pod_is_waited_for_a_minute_then_named(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(up, "time", clock)
    kube = StuckKube(on_apply=[pods_run], exec_handler=Volume())
    result, _, reporter = upload_step(kube, data, timeout_s=5)
    assert result == "uploaded"
    assert reporter.messages == [("warning", "upload pod t-upload is still terminating")]
    assert clock.now == 100.0 + 60.5  # a minute, then the first poll past it


def test_a_file_that_cannot_be_read_is_refused_before_anything_is_sent(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(path: Path) -> str:
        raise OSError(5, "Input/output error", str(path))

    monkeypatch.setattr(up, "_sha256", unreadable)
    with pytest.raises(InvalidInput) as refused:
        up.collect([str(data)], IMAGE)
    assert (refused.value.field, refused.value.problem, refused.value.fix) == (
        "--input-file",
        f"cannot read {data}: Input/output error",
        "check the path",
    )
    monkeypatch.setattr(up, "_walk", lambda raw: [("gone.jsonl", data.parent / "gone.jsonl")])
    with pytest.raises(InvalidInput) as gone:
        up.collect([str(data)], IMAGE)
    assert (gone.value.field, gone.value.problem, gone.value.fix) == (
        "--input-file",
        f"cannot read {data.parent / 'gone.jsonl'}: No such file or directory",
        "check the path",
    )


def test_the_archive_s_directories_and_files_have_fixed_modes_and_times(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "sub" / "a.csv").write_bytes(b"x\n")
    local = up.collect([str(tmp_path / "d")], IMAGE)
    stream = b"".join(up.tar_stream(up.tar_parts(local), lambda n: None))
    with tarfile.open(fileobj=io.BytesIO(stream)) as tar:
        members = [(m.name, m.type, m.mode, m.mtime, m.size) for m in tar.getmembers()]
    assert members[:4] == [
        ("data", tarfile.DIRTYPE, 0o755, 0, 0),
        ("data/d", tarfile.DIRTYPE, 0o755, 0, 0),
        ("data/d/sub", tarfile.DIRTYPE, 0o755, 0, 0),
        ("data/d/sub/a.csv", tarfile.REGTYPE, 0o644, 0, 2),
    ]
    assert [(m[1], m[2], m[3]) for m in members[4:]] == [(tarfile.REGTYPE, 0o644, 0)] * 2


def test_a_file_that_shrank_after_it_was_hashed_fails_the_upload(data: Path) -> None:
    local = up.collect([str(data)], IMAGE)
    data.write_bytes(b"{")
    with pytest.raises(OperationFailed) as failed:
        b"".join(up.tar_stream(up.tar_parts(local), lambda n: None))
    assert (failed.value.message, failed.value.hint) == (f"{data} shrank while it was uploaded", "re-run the command")


class ShowsPhases(RecordingReporter):
    """Also keeps what each redraw says of the Upload phase (reason, message)."""

    def __init__(self) -> None:
        super().__init__()
        self.upload: list[tuple[str, str]] = []

    def phases(self, records: list[Any]) -> None:
        super().phases(records)
        self.upload += [(r.reason, r.message) for r in records if r.name == up.UPLOAD]


def test_the_upload_phase_says_what_the_pod_waits_for(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(up, "time", Clock())

    class Pending(FakeKube):
        """The upload pod waits for its container once, then runs."""

        def get(self, path: str) -> Any:
            found = super().get(path)
            if found is not None and path == POD and self.calls.count(("get", POD)) == 2:
                waiting = {"waiting": {"reason": "ContainerCreating"}}
                found["status"] = {"phase": "Pending", "containerStatuses": [{"state": waiting}]}
            return found

    kube = Pending(on_apply=[pods_run], exec_handler=Volume())
    local = up.collect([str(data)], IMAGE)
    spec = helpers.tune_spec("phi-3", name="t", namespace=NS, labels=["apps=phi"], input_files_digest=local.digest)
    opts = RunOptions(no_pool=True, upload=local)
    plan = plan_for(spec, opts, helpers.catalog(), where())
    job = next(o for o in render_plan(plan, helpers.catalog()) if o["kind"] == "Job")
    reporter = ShowsPhases()
    progress = Progress(reporter, [up.UPLOAD], clock=lambda: 0.0)
    up.upload_inputs(Run(kube, opts, plan, progress, None, [], 0.0), job, local)
    assert reporter.upload == [
        ("", "starting pod t-upload on the tuning nodes"),
        ("Waiting", "ContainerCreating"),
        ("Uploading", "9 B / 9 B into t-input"),
        ("Uploaded", "1 file(s), 9 B, sha256 checked in the pod"),
    ]
