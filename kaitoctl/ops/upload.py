"""`tune --input-file`: local files into the tuning input volume, before the Job starts.

The files are checked (names, count, the 8 GiB limit) before anything is hashed or written, then hashed
(sha256). After the claim is applied, a short-lived pod mounting it runs on the nodes the Job will run on (same
affinity and tolerations, so a ReadWriteOnce disk is attached where the trainer needs it). If the volume's manifest
(`.kaitoctl-manifest.json`) is the one these files make, nothing is sent. Otherwise one tar stream goes through the
API server (pods/exec, stdin; no kubectl), the pod unpacks it, `sha256sum -c` checks every file against the
checksums sent along, and only then is the manifest written. The pod is deleted afterwards, whatever happened.

The script the pod runs is a constant: file names travel inside the tar and the checksum file, the stream's size
as an argument, never as shell text.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kaitoctl.core.errors import InvalidInput, OperationFailed, WaitTimeout
from kaitoctl.core.naming import COMPONENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL, WORKSPACE_LABEL
from kaitoctl.core.plan import INPUT_SUBPATH
from kaitoctl.core.upload import (
    CHECKSUMS_NAME,
    MANIFEST_NAME,
    MAX_TOTAL_BYTES,
    InputFile,
    check_files,
    checksums,
    human_size,
    manifest,
)
from kaitoctl.ops.interfaces import KubeApi, Obj

if TYPE_CHECKING:
    from kaitoctl.ops.run import Run

UPLOAD = "Upload"
MOUNT = "/data"
# The files go under data/ in the claim, which the trainer mounts as /mnt/data (subPath): kaitoctl's manifest and
# checksums stay beside it, where Kaito's trainer (which takes the first file under /mnt/data whose name contains
# csv/json/parquet/arrow) never sees them.
DATA_DIR = INPUT_SUBPATH
CHUNK = 256 * 1024
# Runs in the pod: replace the volume's content with the stream ($1 bytes), check every file, then record the
# manifest. `head -c` ends the stream for tar even where stdin cannot be closed (exec protocols before v5).
SCRIPT = (
    "set -eu; cd /data; "
    f"rm -f {MANIFEST_NAME}; rm -rf {DATA_DIR} {CHECKSUMS_NAME} {MANIFEST_NAME}.new; "
    'head -c "$1" | tar -x -f -; '
    f"sha256sum -c {CHECKSUMS_NAME} >/dev/null || {{ sha256sum -c {CHECKSUMS_NAME} | grep -v ': OK$' >&2; exit 3; }}; "
    f"mv {MANIFEST_NAME}.new {MANIFEST_NAME}"
)


@dataclass(frozen=True)
class LocalInput:
    """The files to upload, checked and hashed, and what the volume will say it holds."""

    files: tuple[tuple[InputFile, Path], ...]
    manifest: str
    image: str  # runs tar and sha256sum in the pod (the catalog's data downloader: an Alpine image)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.manifest.encode()).hexdigest()

    @property
    def total(self) -> int:
        return sum(f.size for f, _ in self.files)


def _walk(raw: str) -> list[tuple[str, Path]]:
    """(name in the volume, local path) for a file (its name) or a directory (its name, then its tree)."""
    path = Path(raw).expanduser()
    if path.is_file():
        return [(path.name, path)]
    if not path.is_dir():
        raise InvalidInput("--input-file", f"{raw}: no such file or directory", "check the path")
    base = path.resolve().name
    found = []
    for root, dirs, names in os.walk(path, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            local = Path(root) / name
            if local.is_file():  # regular files (and links to them); sockets, fifos, broken links are left out
                found.append(("/".join((base, *local.relative_to(path).parts)), local))
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def collect(paths: list[str], image: str, *, limit: int = MAX_TOTAL_BYTES) -> LocalInput:
    """Walk, check (before reading any content), hash. Raises InvalidInput (exit 2) before anything is written."""
    entries = [entry for raw in paths for entry in _walk(raw)]
    try:
        sized = [(InputFile(name, local.stat().st_size), local) for name, local in entries]
    except OSError as exc:
        raise InvalidInput("--input-file", f"cannot read {exc.filename}: {exc.strerror}", "check the path") from None
    check_files([f for f, _ in sized], limit=limit)
    try:
        hashed = tuple((InputFile(f.name, f.size, _sha256(local)), local) for f, local in sized)
    except OSError as exc:
        raise InvalidInput("--input-file", f"cannot read {exc.filename}: {exc.strerror}", "check the path") from None
    return LocalInput(hashed, manifest([f for f, _ in hashed]), image)


# ---- the tar stream ---------------------------------------------------------------------------------------------


def _header(name: str, size: int, *, directory: bool = False) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = (0, 0o755, 0) if directory else (size, 0o644, 0)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _pad(size: int) -> bytes:
    return b"\0" * (-size % tarfile.BLOCKSIZE)


def tar_parts(upload: LocalInput) -> list[tuple[bytes, Path | bytes, int]]:
    """(header, content, size) per member: parent directories first, the files, the checksums, the manifest."""
    parts: list[tuple[bytes, Path | bytes, int]] = []
    made: set[str] = {DATA_DIR}
    parts.append((_header(DATA_DIR + "/", 0, directory=True), b"", 0))
    for f, local in upload.files:
        segments = [DATA_DIR, *f.name.split("/")[:-1]]
        for depth in range(1, len(segments) + 1):
            directory = "/".join(segments[:depth])
            if directory not in made:
                made.add(directory)
                parts.append((_header(directory + "/", 0, directory=True), b"", 0))
        parts.append((_header(f"{DATA_DIR}/{f.name}", f.size), local, f.size))
    listed = checksums([InputFile(f"{DATA_DIR}/{f.name}", f.size, f.sha256) for f, _ in upload.files])
    for name, text in ((CHECKSUMS_NAME, listed), (f"{MANIFEST_NAME}.new", upload.manifest)):
        data = text.encode()
        parts.append((_header(name, len(data)), data, len(data)))
    return parts


def stream_size(parts: list[tuple[bytes, Path | bytes, int]]) -> int:
    return sum(len(h) + size + len(_pad(size)) for h, _, size in parts) + 2 * tarfile.BLOCKSIZE


def tar_stream(parts: list[tuple[bytes, Path | bytes, int]], sent: Callable[[int], None]) -> Iterator[bytes]:
    """The archive, in chunks; `sent(n)` after each chunk of a file's content (n: its bytes; headers, directories,
    the checksums and the manifest are not counted), so the counts add up to the files' total. A file that changed
    size since it was hashed fails (the checksum check in the pod would fail later anyway)."""
    for header, content, size in parts:
        yield header
        if isinstance(content, bytes):
            yield content
        else:
            left = size
            with content.open("rb") as f:
                while left:
                    block = f.read(min(CHUNK, left))
                    if not block:
                        raise OperationFailed(f"{content} shrank while it was uploaded", hint="re-run the command")
                    left -= len(block)
                    yield block
                    sent(len(block))
        yield _pad(size)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


# ---- the pod ------------------------------------------------------------------------------------------------------


def uploader_pod(job: Obj, claim: str, image: str) -> Obj:
    """A pod on the Job's nodes (its affinity, tolerations and pull secrets) that mounts the input claim."""
    meta = job["metadata"]
    template = job["spec"]["template"]["spec"]
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 1,
        "activeDeadlineSeconds": 6 * 3600,  # if kaitoctl dies before deleting it
        "containers": [
            {
                "name": "upload",
                "image": image,
                "command": ["sleep", "21600"],
                "volumeMounts": [{"name": "data", "mountPath": MOUNT}],
            }
        ],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
    }
    for key in ("affinity", "tolerations", "imagePullSecrets"):
        if template.get(key):
            spec[key] = template[key]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{meta['name'][:56]}-upload",
            "namespace": meta["namespace"],
            "labels": {MANAGED_BY_LABEL: MANAGED_BY, WORKSPACE_LABEL: meta["name"], COMPONENT_LABEL: "upload"},
        },
        "spec": spec,
    }


_HOPELESS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError")


def _wait_running(kube: KubeApi, path: str, deadline: float, report: Callable[[str, str], None]) -> None:
    """Poll the pod until it runs (it first waits for the nodes, like the Job would)."""
    while True:
        pod = kube.get(path) or {}
        status = pod.get("status") or {}
        phase = str(status.get("phase") or "Pending")
        if phase == "Running":
            return
        waiting = [(c.get("state") or {}).get("waiting") or {} for c in status.get("containerStatuses") or []]
        reason = next((str(w.get("reason")) for w in waiting if w.get("reason")), "")
        unscheduled = next(
            (
                c
                for c in status.get("conditions") or []
                if c.get("type") == "PodScheduled" and c.get("status") == "False"
            ),
            None,
        )
        if phase in ("Failed", "Succeeded") or reason in _HOPELESS:
            message = next((str(w.get("message") or "") for w in waiting if w.get("reason") == reason), "")
            raise OperationFailed(
                f"the upload pod {path.rsplit('/', 1)[-1]} did not start: {reason or phase} {message}".strip(),
                reason=reason or phase,
                hint="check the image and pull secrets (`kubectl describe pod`)",
            )
        report("Waiting", reason or (f"{unscheduled.get('reason')}: waiting for a node" if unscheduled else phase))
        if time.monotonic() > deadline:
            raise WaitTimeout(UPLOAD, 0, last_reason=reason or phase, hint="the upload pod runs on the Job's nodes")
        time.sleep(0.5)


def _gone(kube: KubeApi, path: str, deadline: float) -> bool:
    """Delete the pod and wait until it is gone (a 1 s grace period); False if it is still there at the deadline."""
    if kube.get(path) is None:
        return True
    kube.delete(path)
    while kube.get(path) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def _clear(kube: KubeApi, path: str, deadline: float) -> None:
    """An upload pod of an earlier run may still be terminating (or left by a killed kaitoctl): applying over it
    would find that pod, not start a new one. It goes first."""
    if not _gone(kube, path, deadline):
        raise WaitTimeout(UPLOAD, 0, last_reason="an earlier upload pod is still terminating")


def upload_inputs(run: Run, job: Obj, upload: LocalInput) -> str:
    """Make the input volume hold exactly `upload`'s files. Returns "unchanged" or "uploaded"."""
    progress, kube = run.progress, run.kube
    spec = run.plan.spec
    assert spec.tuning is not None and spec.tuning.input.managed_pvc is not None
    claim = spec.tuning.input.managed_pvc
    from kaitoctl.adapters.k8s import resource_path

    pod = uploader_pod(job, claim, upload.image)
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    path = resource_path("v1", "Pod", ns, name)
    progress.start(UPLOAD, f"starting pod {name} on the tuning nodes")
    deadline = time.monotonic() + (run.opts.timeout_s or 30 * 60)
    _clear(kube, path, deadline)
    kube.apply(pod)
    try:
        _wait_running(kube, path, deadline, lambda reason, message: progress.update(UPLOAD, reason, message))
        code, current, _ = kube.exec(ns, name, ["cat", f"{MOUNT}/{MANIFEST_NAME}"])
        if code == 0 and current.strip() == upload.manifest:
            progress.done(UPLOAD, "Unchanged", f"{len(upload.files)} file(s) already in {claim}: nothing sent")
            return "unchanged"
        parts = tar_parts(upload)
        size = stream_size(parts)
        done = [0]
        last = [0.0]

        def sent(n: int) -> None:
            done[0] += n
            now = time.monotonic()
            if now - last[0] >= 0.5 or done[0] >= upload.total:
                last[0] = now
                progress.update(UPLOAD, "Uploading", f"{human_size(done[0])} / {human_size(upload.total)} into {claim}")

        code, out, err = kube.exec(ns, name, ["sh", "-c", SCRIPT, "upload", str(size)], stdin=tar_stream(parts, sent))
        if code != 0:
            detail = (err or out).strip().splitlines()[-5:]
            raise OperationFailed(
                f"uploading into {claim} failed (exit {code})" + (": " + "; ".join(detail) if detail else ""),
                reason="ChecksumMismatch" if code == 3 else "UploadFailed",
                details=detail,
                hint="re-run the command (the volume is only recorded as holding the files once all checked)",
            )
        progress.done(
            UPLOAD, "Uploaded", f"{len(upload.files)} file(s), {human_size(upload.total)}, sha256 checked in the pod"
        )
        return "uploaded"
    finally:
        # Gone before the Job is applied: the waiter reads every pod of the workspace, and a killed upload pod
        # (exit 137) would read as the tuning run failing.
        if not _gone(kube, path, time.monotonic() + 60):
            progress.warn(f"upload pod {name} is still terminating")
