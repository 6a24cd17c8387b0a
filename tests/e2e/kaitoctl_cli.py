"""Running the real kaitoctl CLI as a subprocess against the local control plane (and the ARM emulator)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.stdout)

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
    """A kaitoctl process to interrupt or watch: lines of stderr are read as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kaitoctl", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        self.lines: list[str] = []
        self.pending = ""
        self.scanned = 0

    def wait_for_line(self, needle: str, timeout: float = 60) -> str:
        """Read stderr (unbuffered, straight from the pipe) until a line contains `needle`."""
        import selectors

        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        deadline = time.monotonic() + timeout
        selector = selectors.DefaultSelector()
        selector.register(fd, selectors.EVENT_READ)
        for line in self.lines[self.scanned :]:
            self.scanned += 1
            if needle in line:
                return line
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            data = os.read(fd, 65536)
            if not data:
                break
            self.pending += data.decode(errors="replace")
            while "\n" in self.pending:
                line, self.pending = self.pending.split("\n", 1)
                self.lines.append(line + "\n")
            for line in self.lines[self.scanned :]:
                self.scanned += 1
                if needle in line:
                    return line
        raise AssertionError(f"no line containing {needle!r} within {timeout}s; got:\n{''.join(self.lines)}")

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def finish(self, timeout: float = 60) -> Result:
        stdout, stderr = self.proc.communicate(timeout=timeout)
        return Result(self.args, self.proc.returncode, stdout, "".join(self.lines) + self.pending + stderr, 0.0)


def objects_in(cluster: Any, namespace: str, workspace: str | None = None) -> dict[str, str]:
    """kind/name -> resourceVersion of everything kaitoctl labelled in a namespace (read with the harness's own
    client, so these requests never count as kaitoctl's in the audit log)."""
    from kubernetes import client

    api = cluster.api_client()
    core, apps, batch = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)
    selector = "app.kubernetes.io/managed-by=kaitoctl" + (f",kaitoctl.io/workspace={workspace}" if workspace else "")
    lists = {
        "ConfigMap": core.list_namespaced_config_map,
        "Service": core.list_namespaced_service,
        "PersistentVolumeClaim": core.list_namespaced_persistent_volume_claim,
        "StatefulSet": apps.list_namespaced_stateful_set,
        "Job": batch.list_namespaced_job,
        "Pod": core.list_namespaced_pod,
    }
    found: dict[str, str] = {}
    for kind, fn in lists.items():
        for item in fn(namespace, label_selector=selector).items:
            found[f"{kind}/{item.metadata.name}"] = item.metadata.resource_version
    return found
