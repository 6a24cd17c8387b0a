"""`tune --input-file` (core/upload.py, ops/upload.py): which files go into the input volume under which names,
the limits (exit 2 before anything is written), the tar stream and its checksums, and the upload step of a run
against the in-memory cluster, whose exec answers as the pod's shell would (tests/unit/fakes.py)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from kaitoctl.core.errors import InvalidInput, OperationFailed
from kaitoctl.core.upload import CHECKSUMS_NAME, MANIFEST_NAME, InputFile, check_files, manifest
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.run import run_workspace
from kaitoctl.ops.upload import collect, stream_size, tar_parts, tar_stream
from tests.unit import helpers
from tests.unit.fakes import FakeKube, RecordingReporter, gpu_node, job_controller

NS = "default"
IMAGE = "curlimages/curl:8.11.1"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    (tmp_path / "train.jsonl").write_bytes(b'{"a": 1}\n')
    (tmp_path / "more" / "sub").mkdir(parents=True)
    (tmp_path / "more" / "b.csv").write_bytes(b"x,y\n1,2\n")
    (tmp_path / "more" / "sub" / "c.parquet").write_bytes(b"PAR1")
    return tmp_path


# ---- which files, under which names ------------------------------------------------------------------------------


def test_a_file_keeps_its_name_and_a_directory_its_tree(dataset: Path) -> None:
    upload = collect([str(dataset / "train.jsonl"), str(dataset / "more")], IMAGE)
    assert [(f.name, f.size, f.sha256) for f, _ in upload.files] == [
        ("train.jsonl", 9, sha(b'{"a": 1}\n')),
        ("more/b.csv", 8, sha(b"x,y\n1,2\n")),
        ("more/sub/c.parquet", 4, sha(b"PAR1")),
    ]
    assert upload.total == 21 and upload.image == IMAGE
    assert json.loads(upload.manifest) == {
        "version": 1,
        "files": [
            {"name": "more/b.csv", "sha256": sha(b"x,y\n1,2\n"), "size": 8},
            {"name": "more/sub/c.parquet", "sha256": sha(b"PAR1"), "size": 4},
            {"name": "train.jsonl", "sha256": sha(b'{"a": 1}\n'), "size": 9},
        ],
    }


def test_the_digest_follows_the_content_not_the_order(dataset: Path) -> None:
    one = collect([str(dataset / "train.jsonl"), str(dataset / "more")], IMAGE)
    other = collect([str(dataset / "more"), str(dataset / "train.jsonl")], IMAGE)
    assert one.digest == other.digest == sha(one.manifest.encode())
    (dataset / "train.jsonl").write_bytes(b'{"a": 2}\n')  # same size, other content
    assert collect([str(dataset / "train.jsonl"), str(dataset / "more")], IMAGE).digest != one.digest


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ([], "no files found"),
        ([InputFile("a.csv", 1), InputFile("a.csv", 2)], "two files would both be 'a.csv' in the volume"),
        ([InputFile("bad\nname.csv", 1)], "'bad\\nname.csv' cannot be a file name in the volume"),
        ([InputFile("../up.csv", 1)], "'../up.csv' cannot be a file name in the volume"),
        ([InputFile(MANIFEST_NAME, 1)], f"{MANIFEST_NAME} is a name kaitoctl uses in the volume"),
        (
            [InputFile("big.parquet", 1025)],
            "1.0 KiB in total, more than the 1.0 KiB kaitoctl uploads through the API server",
        ),
    ],
)
def test_bad_inputs_are_refused_with_exit_2(files: list[InputFile], problem: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_files(files, limit=1024)
    assert refused.value.exit_code == 2 and refused.value.field == "--input-file"
    assert refused.value.problem == problem


def test_the_size_limit_is_8_gib_and_refused_before_any_file_is_read(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_files([InputFile("ok", 8 * 1024**3)])
    with pytest.raises(InvalidInput) as refused:
        check_files([InputFile("a", 4 * 1024**3), InputFile("b", 4 * 1024**3 + 1)])
    assert (
        refused.value.fix == "put the dataset in blob storage and pass --input-url, or in a volume and pass --input-pvc"
    )

    def no_reading(path: Path) -> str:
        raise AssertionError("hashed before the size check")

    monkeypatch.setattr("kaitoctl.ops.upload._sha256", no_reading)
    with pytest.raises(InvalidInput):
        collect([str(dataset)], IMAGE, limit=10)


def test_a_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as refused:
        collect([str(tmp_path / "nope.jsonl")], IMAGE)
    assert refused.value.problem == f"{tmp_path / 'nope.jsonl'}: no such file or directory"


# ---- the stream --------------------------------------------------------------------------------------------------


def test_the_stream_holds_the_files_under_data_the_checksums_and_the_manifest(dataset: Path) -> None:
    upload = collect([str(dataset / "train.jsonl"), str(dataset / "more")], IMAGE)
    parts = tar_parts(upload)
    counted: list[int] = []
    data = b"".join(tar_stream(parts, counted.append))
    assert len(data) == stream_size(parts)  # what `head -c` is told to read in the pod
    assert sum(counted) == upload.total  # the progress counts the files' bytes, not the tar headers
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        content = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    assert names == [
        "data",
        "data/train.jsonl",
        "data/more",
        "data/more/b.csv",
        "data/more/sub",
        "data/more/sub/c.parquet",
        CHECKSUMS_NAME,
        f"{MANIFEST_NAME}.new",
    ]
    assert content["data/more/sub/c.parquet"] == b"PAR1"
    assert content[CHECKSUMS_NAME].decode() == "".join(
        f"{sha(content['data/' + n])}  data/{n}\n" for n in ("more/b.csv", "more/sub/c.parquet", "train.jsonl")
    )
    assert content[f"{MANIFEST_NAME}.new"].decode() == upload.manifest


# ---- the upload step of a run --------------------------------------------------------------------------------------


class Volume:
    """The input claim as the pod's shell sees it: `cat` the manifest, or unpack the stream and check it."""

    def __init__(self, *, corrupt: bool = False) -> None:
        self.files: dict[str, bytes] = {}
        self.corrupt = corrupt
        self.uploads = 0

    def __call__(
        self, kube: FakeKube, namespace: str, pod: str, command: Sequence[str], stdin: bytes | None
    ) -> tuple[int, str, str]:
        stored = kube.obj(f"/api/v1/namespaces/{namespace}/pods/{pod}")
        assert stored is not None and stored["status"]["phase"] == "Running"
        if list(command) == ["cat", f"/data/{MANIFEST_NAME}"]:
            found = self.files.get(MANIFEST_NAME)
            return (0, found.decode(), "") if found is not None else (1, "", "No such file or directory")
        assert command[:2] == ["sh", "-c"] and stdin is not None and len(stdin) == int(command[4])
        self.uploads += 1
        self.files = {}
        with tarfile.open(fileobj=io.BytesIO(stdin)) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    self.files[member.name] = tar.extractfile(member).read()  # type: ignore[union-attr]
        if self.corrupt:
            self.files["data/train.jsonl"] = b"flipped"
        for line in self.files[CHECKSUMS_NAME].decode().splitlines():
            digest, name = line.split("  ", 1)
            if sha(self.files[name]) != digest:
                return 3, "", f"{name}: FAILED\n"
        self.files[MANIFEST_NAME] = self.files.pop(f"{MANIFEST_NAME}.new")
        return 0, "", ""


def pods_run(kube: FakeKube, obj: dict[str, Any]) -> None:
    """on_apply hook: the uploader pod is scheduled and runs (a pod being deleted stays as it is)."""
    if obj["kind"] == "Pod" and not obj["metadata"].get("deletionTimestamp"):
        kube.put({**obj, "status": {"phase": "Running"}})


def tune_run(dataset: Path, volume: Volume, kube: FakeKube | None = None) -> tuple[FakeKube, dict[str, Any]]:
    kube = kube or FakeKube(on_apply=[pods_run, job_controller])
    kube.exec_handler = volume
    if kube.obj("/api/v1/nodes/gpu-1") is None:
        kube.put(gpu_node("gpu-1", labels={"apps": "phi"}))
    upload = collect([str(dataset / "train.jsonl")], IMAGE)
    spec = helpers.tune_spec("phi-3", name="t", namespace=NS, labels=["apps=phi"], input_files_digest=upload.digest)
    opts = RunOptions(no_pool=True, cleanup="never", upload=upload)
    return kube, run_workspace(spec, opts, helpers.catalog(), RecordingReporter(), kube=kube)


def test_the_files_are_in_the_volume_before_the_job_exists(dataset: Path) -> None:
    volume = Volume()
    kube, result = tune_run(dataset, volume)
    assert result["state"] == "Succeeded"
    assert volume.files["data/train.jsonl"] == b'{"a": 1}\n'
    writes = [
        (c[0], [c[1], c[2]] if c[0] == "exec" else c[1].rsplit("/", 2)[-2:])
        for c in kube.calls
        if c[0] in ("apply", "delete", "exec") and c[-1] != "dry-run"
    ]
    order = [w for w in writes if w[1][0] in ("persistentvolumeclaims", "pods", "jobs") or w[0] == "exec"]
    assert order == [
        ("apply", ["persistentvolumeclaims", "t-adapter"]),
        ("apply", ["persistentvolumeclaims", "t-input"]),
        ("apply", ["pods", "t-upload"]),
        ("exec", [NS, "t-upload"]),
        ("exec", [NS, "t-upload"]),
        ("delete", ["pods", "t-upload"]),
        ("apply", ["jobs", "t"]),
    ]
    phases = {p["name"]: (p["status"], p["reason"]) for p in result["phases"]}
    assert phases["Upload"] == ("True", "Uploaded")
    pod = next(c for c in kube.events if c.obj.get("kind") == "Pod" and c.obj["metadata"]["name"] == "t-upload").obj
    job = kube.obj(f"/apis/batch/v1/namespaces/{NS}/jobs/t")
    assert job is not None
    template = job["spec"]["template"]["spec"]
    assert pod["spec"]["affinity"] == template["affinity"] and pod["spec"]["tolerations"] == template["tolerations"]
    assert pod["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "t-input"}}]
    trainer = template["containers"][0]
    assert {"name": "data-volume", "mountPath": "/mnt/data", "subPath": "data"} in trainer["volumeMounts"]


def test_a_rerun_with_the_same_files_sends_nothing(dataset: Path) -> None:
    volume = Volume()
    kube, _ = tune_run(dataset, volume)
    kube.remove(f"/apis/batch/v1/namespaces/{NS}/jobs/t")
    record = kube.obj(f"/api/v1/namespaces/{NS}/configmaps/t-workspace")
    assert record is not None
    kube.put({**record, "data": {"status.json": json.dumps({"state": "Failed"})}})  # trains again, same files
    kube.calls.clear()
    _, result = tune_run(dataset, volume, kube)
    assert volume.uploads == 1
    phases = {p["name"]: (p["status"], p["reason"]) for p in result["phases"]}
    assert phases["Upload"] == ("True", "Unchanged")
    assert [c for c in kube.calls if c[0] == "exec"] == [("exec", NS, "t-upload", ("cat", f"/data/{MANIFEST_NAME}"))]


def test_a_checksum_mismatch_fails_and_records_no_manifest(dataset: Path) -> None:
    volume = Volume(corrupt=True)
    with pytest.raises(OperationFailed) as failed:
        tune_run(dataset, volume)
    assert failed.value.reason == "ChecksumMismatch" and "data/train.jsonl: FAILED" in failed.value.message
    assert MANIFEST_NAME not in volume.files


def test_the_upload_pod_goes_also_when_the_upload_fails(dataset: Path) -> None:
    kube = FakeKube(on_apply=[pods_run, job_controller])
    with pytest.raises(OperationFailed):
        tune_run(dataset, Volume(corrupt=True), kube)
    assert kube.obj(f"/api/v1/namespaces/{NS}/pods/t-upload") is None
    assert kube.obj(f"/apis/batch/v1/namespaces/{NS}/jobs/t") is None  # the Job never started


def test_input_file_excludes_the_other_inputs() -> None:
    with pytest.raises(InvalidInput) as refused:
        helpers.tune_spec("phi-3", input_urls=["https://example.com/d.jsonl"], input_files_digest="0" * 64)
    assert refused.value.field == "--input-file"


def test_the_record_of_a_run_without_input_files_is_unchanged() -> None:
    record = helpers.tune_spec("phi-3").to_record()
    assert "managed_pvc" not in record["workspace"]["tuning"]["input"]
    assert "upload_digest" not in record["workspace"]["tuning"]["input"]


def test_the_manifest_is_canonical() -> None:
    files = [InputFile("b", 2, "bb"), InputFile("a", 1, "aa")]
    assert manifest(files) == (
        '{"files":[{"name":"a","sha256":"aa","size":1},{"name":"b","sha256":"bb","size":2}],"version":1}'
    )


def test_no_wait_reports_the_upload_that_happened(dataset: Path) -> None:
    kube = FakeKube(on_apply=[pods_run])
    kube.exec_handler = Volume()
    kube.put(gpu_node("gpu-1", labels={"apps": "phi"}))
    upload = collect([str(dataset / "train.jsonl")], IMAGE)
    spec = helpers.tune_spec("phi-3", name="t", namespace=NS, labels=["apps=phi"], input_files_digest=upload.digest)
    opts = RunOptions(no_pool=True, no_wait=True, upload=upload)
    result = run_workspace(spec, opts, helpers.catalog(), RecordingReporter(), kube=kube)
    phases = {p["name"]: (p["status"], p["reason"]) for p in result["phases"]}
    assert phases["Upload"] == ("True", "Uploaded") and phases["JobStarted"][0] == "Skipped"


def test_the_cli_refuses_bad_input_files_before_it_connects(tmp_path: Path) -> None:
    # KUBECONFIG points nowhere: an error about it would mean kaitoctl tried the cluster before checking the files.
    import os
    import subprocess
    import sys

    env = {**os.environ, "KUBECONFIG": str(tmp_path / "none")}
    for extra, problem in (
        ([str(tmp_path / "nope.jsonl")], f"error: --input-file: {tmp_path / 'nope.jsonl'}: no such file or directory"),
        ([str(tmp_path), "--input-url", "https://example.com/a.jsonl"], "error: --input-file: cannot be combined"),
    ):
        (tmp_path / "a.jsonl").write_text("{}\n")
        args = [sys.executable, "-m", "kaitoctl", "tune", "phi-3", "--method", "qlora", "--input-file", *extra]
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
        assert done.returncode == 2 and done.stderr.startswith(problem), done.stderr


def test_an_earlier_upload_pod_still_terminating_is_waited_out(dataset: Path) -> None:
    # Seen on the real node: a re-run seconds after a run found that run's upload pod terminating (phase Failed).
    kube = FakeKube(on_apply=[pods_run, job_controller])
    old = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "t-upload", "namespace": NS, "deletionTimestamp": "2026-12-02T17:24:00Z"},
        "status": {"phase": "Failed"},
    }
    kube.put(old)
    volume = Volume()
    _, result = tune_run(dataset, volume, kube)
    assert result["state"] == "Succeeded" and volume.uploads == 1
    pod_writes = [c[0] for c in kube.calls if c[0] in ("apply", "delete") and c[1].endswith("/pods/t-upload")]
    assert pod_writes == ["delete", "apply", "delete"]


def test_the_upload_pod_is_gone_before_the_job_is_applied(dataset: Path) -> None:
    # Seen on the real node: the waiter read the killed upload pod (exit 137) as the tuning run failing.
    class GracefulKube(FakeKube):
        """A deleted pod terminates for two more reads before it is gone (its grace period)."""

        terminating: dict[str, int]

        def delete(self, path: str, *, propagation: str = "Background") -> bool:
            if "/pods/" not in path:
                return super().delete(path, propagation=propagation)
            self.calls.append(("delete", path, propagation))
            self.terminating[path] = 2
            return self.obj(path) is not None

        def get(self, path: str) -> dict[str, Any] | None:
            if path in self.terminating:
                self.terminating[path] -= 1
                if self.terminating[path] < 0:
                    del self.terminating[path]
                    self.remove(path)
            return super().get(path)

    kube = GracefulKube(on_apply=[pods_run, job_controller])
    kube.terminating = {}
    seen: list[str] = []

    def job_sees(kube: FakeKube, obj: dict[str, Any]) -> None:
        if obj["kind"] == "Job":
            seen.extend(p["metadata"]["name"] for p in kube.list(f"/api/v1/namespaces/{NS}/pods")[0])

    kube.on_apply.insert(0, job_sees)
    tune_run(dataset, Volume(), kube)
    assert seen == []
