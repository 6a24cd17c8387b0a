"""Running the real kaitoctl CLI as a subprocess against the local control plane (and the ARM emulator)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def validate_document(document: Any) -> None:
    import jsonschema

    with open(os.path.join(REPO, "schema", "kaitoctl.schema.json"), encoding="utf-8") as f:
        validator = jsonschema.Draft202012Validator(json.load(f))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "not a kaitoctl.io/v1 document: " + "; ".join(
        f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]
    )


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> Any:
        """stdout as JSON, checked against the published schema (every -o json document kaitoctl prints)."""
        document = json.loads(self.stdout)
        validate_document(document)
        return document

    def check(self, code: int = 0) -> Result:
        assert self.returncode == code, (
            f"kaitoctl {' '.join(self.args)} exited {self.returncode}, expected {code}\n"
            f"--- stderr\n{self.stderr[-4000:]}\n--- stdout\n{self.stdout[-2000:]}"
        )
        return self


def base_env(cluster: Any, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **cluster.env()}
    env.pop("AZURE_SUBSCRIPTION_ID", None)
    env.pop("AZURE_RESOURCE_GROUP", None)
    env.pop("KAITOCTL_AKS_CLUSTER", None)
    env["NO_COLOR"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run(args: list[str], env: dict[str, str], *, timeout: float = 180, stdin: str | None = None) -> Result:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "kaitoctl", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=REPO,
        input=stdin,
    )
    return Result(args, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


class Background:
    """A kaitoctl process to interrupt or watch: lines of stdout and stderr are read as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        import selectors

        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kaitoctl", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.lines: list[str] = []  # stderr
        self.out_lines: list[str] = []  # stdout
        self._pending = {"stdout": "", "stderr": ""}
        self._scanned = {"stdout": 0, "stderr": 0}
        self._open = {"stdout", "stderr"}
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.proc.stdout.fileno(), selectors.EVENT_READ, "stdout")
        self._selector.register(self.proc.stderr.fileno(), selectors.EVENT_READ, "stderr")

    def _read_some(self, timeout: float) -> bool:
        """Read what is available within `timeout`; False when nothing more can come."""
        if not self._open:
            return False
        for key, _ in self._selector.select(timeout=timeout):
            stream = key.data
            data = os.read(key.fd, 65536)
            if not data:
                self._selector.unregister(key.fd)
                self._open.discard(stream)
                continue
            self._pending[stream] += data.decode(errors="replace")
            target = self.out_lines if stream == "stdout" else self.lines
            while "\n" in self._pending[stream]:
                line, self._pending[stream] = self._pending[stream].split("\n", 1)
                target.append(line + "\n")
        return True

    def wait_for_line(self, needle: str, timeout: float = 60, *, stream: str = "stderr") -> str:
        """Read until a line of `stream` (after the last one matched there) contains `needle`."""
        lines = self.out_lines if stream == "stdout" else self.lines
        deadline = time.monotonic() + timeout
        while True:
            for line in lines[self._scanned[stream] :]:
                self._scanned[stream] += 1
                if needle in line:
                    return line
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if not self._read_some(min(left, 1.0)):  # both pipes closed: the process is ending
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise AssertionError(
            f"no {stream} line containing {needle!r} within {timeout}s (exit code {self.proc.poll()}); got:\n"
            f"--- stderr\n{''.join(self.lines)}\n--- stdout\n{''.join(self.out_lines)}"
        )

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def terminate(self) -> None:
        """SIGTERM, as a CI runner cancelling the job sends it."""
        self.proc.send_signal(signal.SIGTERM)

    def finish(self, timeout: float = 60) -> Result:
        deadline = time.monotonic() + timeout
        while self._open and time.monotonic() < deadline:
            self._read_some(min(deadline - time.monotonic(), 1.0))
        self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        self._selector.close()
        return Result(
            self.args,
            self.proc.returncode,
            "".join(self.out_lines) + self._pending["stdout"],
            "".join(self.lines) + self._pending["stderr"],
            0.0,
        )


def wait_until(condition: Any, what: str, timeout: float = 60, interval: float = 0.2) -> Any:
    """Poll `condition()` until it returns something truthy (returned); fail after a generous `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _labelled(cluster: Any, namespace: str, selector: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind/name, the object as the API serialises it) of each object kaitoctl creates that matches `selector`,
    read with the harness's own client, so these requests never count as kaitoctl's in the audit log."""
    from kubernetes import client

    api = cluster.api_client()
    core, apps, batch = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)
    lists = {
        "ConfigMap": core.list_namespaced_config_map,
        "Service": core.list_namespaced_service,
        "PersistentVolumeClaim": core.list_namespaced_persistent_volume_claim,
        "StatefulSet": apps.list_namespaced_stateful_set,
        "Job": batch.list_namespaced_job,
        "Pod": core.list_namespaced_pod,
    }
    for kind, fn in lists.items():
        for item in fn(namespace, label_selector=selector).items:
            yield f"{kind}/{item.metadata.name}", api.sanitize_for_serialization(item)


def objects_in(cluster: Any, namespace: str, workspace: str | None = None) -> dict[str, str]:
    """kind/name -> resourceVersion of everything kaitoctl labelled in a namespace."""
    selector = "app.kubernetes.io/managed-by=kaitoctl" + (f",kaitoctl.io/workspace={workspace}" if workspace else "")
    return {key: obj["metadata"]["resourceVersion"] for key, obj in _labelled(cluster, namespace, selector)}


def written_state(cluster: Any, namespace: str) -> dict[str, str]:
    """kind/name -> what a client writes of each object kaitoctl labelled: uid, labels, annotations, spec or data, and
    the managedFields entries of kaitoctl's field managers. Unlike the resourceVersion, it does not change when a
    controller updates a status (a StatefulSet's availableReplicas can land after `deploy` returned), so "equal
    before and after" means "nobody but the controllers wrote" without racing them."""
    state: dict[str, str] = {}
    for key, obj in _labelled(cluster, namespace, "app.kubernetes.io/managed-by=kaitoctl"):
        meta = obj["metadata"]
        kind = key.split("/", 1)[0]
        ours = [m for m in meta.get("managedFields") or [] if str(m.get("manager", "")).startswith("kaitoctl")]
        written = {
            "uid": meta["uid"],
            "labels": meta.get("labels"),
            "annotations": meta.get("annotations"),
            "managedFields": ours,
            "content": obj.get("data") if kind == "ConfigMap" else obj.get("spec") if kind != "Pod" else None,
        }
        state[key] = json.dumps(written, sort_keys=True)
    return state
