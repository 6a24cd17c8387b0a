"""Waiting for a workspace: one deadline, list-then-watch, Kaito's phases, and the first actionable reason.

The waiter never sleeps in a loop: it blocks on the merged watch queue until the next event or the next timer it
owns (a phase deadline, the grace period after which an unschedulable pod counts as stuck). A reason that cannot
heal ends the wait at once with the right exit code.
"""

from __future__ import annotations

import collections
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from kaitoctl.adapters.k8s import resource_path
from kaitoctl.core import conditions as cond
from kaitoctl.core.conditions import Diagnosis, PlacementInfo
from kaitoctl.core.errors import KaitoctlError, OperationFailed, WaitTimeout
from kaitoctl.core.naming import WORKSPACE_LABEL
from kaitoctl.ops.interfaces import KubeApi
from kaitoctl.ops.progress import Progress
from kaitoctl.ops.watch import Cache, Streams, StreamSpec, Update, drain

# How long an Unschedulable pod may wait once its nodes are ready before kaitoctl calls it stuck: the scheduler
# retries a pod within seconds of a node change, so a pod still pending after this will not schedule by itself.
UNSCHEDULABLE_GRACE_S = 15.0
# Warning events on the workload (FailedCreate: quota, admission, missing claim) get the same grace.
FAILED_CREATE_GRACE_S = 15.0
# A workload still without pods after this long may be refused by admission or quota (FailedCreate): only then
# does the waiter read the namespace's Warning events.
EVENTS_AFTER_S = 2.0
# With no timer pending, wake up this often anyway (the watches deliver everything else).
IDLE_WAKE_S = 3600.0

_HINTS = {
    "ImagePullBackOff": "check the image reference and --image-pull-secret",
    "ErrImagePull": "check the image reference and --image-pull-secret",
    "InvalidImageName": "fix the image reference",
    "CrashLoopBackOff": "the last log lines are above; `kaitoctl logs NAME --previous` shows more",
    "OOMKilled": "choose a larger --instance-type, or lower --max-model-len",
    "Unschedulable": "check --label/--node, the nodes' taints, and free nvidia.com/gpu (`kubectl describe nodes`)",
    "JobFailed": "the last log lines are above; fix the input or config and re-run (`kaitoctl logs NAME`)",
    "InitContainerFailed": "the last log lines are above (data or weights download)",
    "FailedCreate": "the controller cannot create the pods; see the message",
}

NODE_POOL = "NodePool"
_STEP = re.compile(r"(\d+)/(\d+) \[")


@dataclass
class WaitTarget:
    name: str
    namespace: str
    mode: str  # inference | tuning
    placement: PlacementInfo
    main_container: str
    phase_timeouts: dict[str, float]
    deadline: float | None = None  # monotonic; from --timeout
    # Existing-node placements: the Ready candidates preflight read. ResourceReady is judged from them (no node
    # watch); None (a pool): the nodes are watched as they come up.
    nodes: list[dict[str, Any]] | None = None


@dataclass
class WaitOutcome:
    training_step: tuple[int, int] | None = None  # the last "step n/N" the trainer printed


# A status line: (reason, message).
Line = tuple[str, str]


@dataclass
class Tick:
    """What one evaluation of the snapshot decided: done (outcome), or the line to show and when to look again."""

    outcome: WaitOutcome | None = None
    line: Line | None = None
    timers: list[float] = field(default_factory=list)  # monotonic times at which the verdict may change


class Waiter:
    def __init__(
        self, kube: KubeApi, target: WaitTarget, progress: Progress, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.kube = kube
        self.t = target
        self.progress = progress
        self.clock = clock
        self.cache = Cache()
        # Only what the verdict needs is watched (each stream is a list and a watch request): the pods always;
        # the Job (its status decides a tuning run); the nodes only while a pool comes up (existing nodes were read
        # in preflight); Warning events only when pods fail to appear or to schedule (see _want_events).
        specs = [
            StreamSpec(
                "pods",
                resource_path("v1", "Pod", target.namespace),
                label_selector=f"{WORKSPACE_LABEL}={target.name}",
            )
        ]
        if target.nodes is None:
            specs.append(
                StreamSpec("nodes", resource_path("v1", "Node"), label_selector=target.placement.label_selector())
            )
        else:
            self.cache.apply(Update("nodes", "sync", items=list(target.nodes)))
        if target.mode != "inference":
            specs.append(self._workload_spec())
        self.streams = Streams(kube, specs)
        self.resource_ready_at: float | None = None
        self.phase_started: dict[str, float] = {}
        self.log_thread: threading.Thread | None = None
        self.log_tail: collections.deque[str] = collections.deque(maxlen=20)
        self.step: tuple[int, int] | None = None
        self.failed_create_since: float | None = None
        self.last_reason = ""  # what the timeout message names
        self.last_message: dict[str, str] = {}  # reason -> last non-empty message (conditions get rewritten)
        self.no_pods_since: float | None = None  # when the pods list was first seen empty (for _want_events)

    # -- helpers --------------------------------------------------------------------------------------------------

    def _workload_spec(self) -> StreamSpec:
        kind = ("apps/v1", "StatefulSet") if self.t.mode == "inference" else ("batch/v1", "Job")
        return StreamSpec(
            "workload",
            resource_path(*kind, namespace=self.t.namespace),
            field_selector=f"metadata.name={self.t.name}",
        )

    def applied(self, workload: dict[str, Any]) -> None:
        """The StatefulSet as the apply returned it: InferenceReady needs only its spec (replicas), which kaitoctl
        owns, so an inference wait does not watch it."""
        if self.t.mode == "inference" and not self.streams.has("workload"):
            self.cache.apply(Update("workload", "sync", items=[workload]))

    def _want_events(self) -> None:
        """Start the Warning events stream (once). Its list returns the events already there, so starting late
        loses nothing; a healthy run never needs it."""
        if not self.streams.has("events"):
            self.streams.add(
                StreamSpec("events", resource_path("v1", "Event", self.t.namespace), field_selector="type=Warning")
            )

    @property
    def pods(self) -> list[dict[str, Any]]:
        return self.cache.items("pods")

    @property
    def workload(self) -> dict[str, Any] | None:
        return self.cache.one("workload")

    def _begin(self, phase: str, message: str = "") -> None:
        self.phase_started.setdefault(phase, self.clock())
        self.progress.start(phase, message)

    def _phase_deadline(self, phase: str) -> float | None:
        if self.t.deadline is not None:
            return self.t.deadline
        started = self.phase_started.get(phase)
        budget = self.t.phase_timeouts.get(phase)
        return None if started is None or budget is None else started + budget

    def _log_tail(self, diag: Diagnosis) -> list[str]:
        if not diag.pod or not diag.log_container:
            return []
        try:
            return list(
                self.kube.logs(
                    self.t.namespace, diag.pod, container=diag.log_container, tail_lines=20, previous=diag.previous_logs
                )
            )
        except KaitoctlError:
            return list(self.log_tail)

    def _fail(self, phase: str, diag: Diagnosis) -> OperationFailed:
        self.progress.fail(phase, diag.reason, diag.message)
        where = f" (pod {diag.pod}" + (f", container {diag.container})" if diag.container else ")") if diag.pod else ""
        lines = self._log_tail(diag)
        details = [f"log: {line}" for line in lines]
        return OperationFailed(
            f"{diag.reason}: {diag.message}{where}",
            reason=diag.reason,
            hint=_HINTS.get(diag.reason),
            details=details,
        )

    def _follow_training_log(self, pod: str) -> None:
        def run() -> None:
            try:
                for line in self.kube.logs(self.t.namespace, pod, container=self.t.main_container, follow=True):
                    self.streams.queue.put(Update("trainlog", "side", obj={"line": line}))
            except KaitoctlError:
                return  # progress from the log is a nicety; the Job's status decides

        self.log_thread = threading.Thread(target=run, name="training-log", daemon=True)
        self.log_thread.start()

    # -- the loop: intake, evaluate, sleep until the next event or timer ----------------------------------------

    def run(self) -> WaitOutcome:
        self.start()
        try:
            return self._loop()
        finally:
            self.streams.stop()

    def start(self) -> None:
        """The streams start; the workload is watched too unless applied() handed it over."""
        if "workload" not in self.cache.synced and not self.streams.has("workload"):
            self.streams.add(self._workload_spec())
        self.streams.start()

    def _loop(self) -> WaitOutcome:
        self.begin()
        while True:
            now = self.clock()
            tick = self.evaluate(now)
            if tick.outcome is not None:
                return tick.outcome
            self.intake(timeout=min(tick.timers) - now if tick.timers else IDLE_WAKE_S)

    def begin(self) -> None:
        """The first phase starts; pool updates posted before the watches started (during apply) are applied."""
        self._begin(cond.RESOURCE_READY, "waiting for nodes")
        for state in self.cache.take_side("pool"):
            self._pool_update(state)

    def intake(self, timeout: float) -> bool:
        """Apply what the watches (and the side channels) delivered within `timeout`. False if nothing came."""
        if not drain(self.streams, self.cache, timeout=timeout):
            return False
        for entry in self.cache.take_side("trainlog"):
            self._training_line(entry)
        for state in self.cache.take_side("pool"):
            self._pool_update(state)
        return True

    def evaluate(self, now: float) -> Tick:
        """Judge the current snapshot once. Returns the outcome when done, else the status line and the timers to
        wake up for; raises OperationFailed for a reason that will not heal and WaitTimeout past the deadline."""
        tick = Tick()
        if {"nodes", "pods", "workload"} <= self.cache.synced:  # a consistent snapshot to judge from
            tick.line = self._resource_phase(now)
            outcome, line = self._workload_phase()
            if outcome is not None:
                return Tick(outcome=outcome)
            tick.line = line or tick.line
            line, timer = self._diagnosis(now)
            tick.line = line or tick.line
            tick.timers += [timer] if timer is not None else []
            line, timer = self._workload_warning(now)
            tick.line = line or tick.line
            tick.timers += [timer] if timer is not None else []
        tick.line = self._api_errors() or tick.line
        if tick.line is not None:
            self.progress.update(self.progress.current or cond.RESOURCE_READY, *tick.line)
        deadline = self._deadline(now)
        if deadline is not None:
            tick.timers.append(deadline)
        return tick

    @property
    def second_phase(self) -> str:
        return cond.INFERENCE_READY if self.t.mode == "inference" else cond.JOB_STARTED

    def _resource_phase(self, now: float) -> Line | None:
        """ResourceReady: done once the nodes are; until then, its line."""
        rr = cond.resource_ready(self.t.placement, self.cache.items("nodes"))
        if rr.true:
            if self.resource_ready_at is None:
                self.resource_ready_at = now
            self.progress.done(cond.RESOURCE_READY, rr.reason, rr.message)
            self._begin(self.second_phase)
        elif not self.progress.is_done(cond.RESOURCE_READY):
            return (rr.reason, rr.message)
        return None

    def _workload_phase(self) -> tuple[WaitOutcome | None, Line | None]:
        """InferenceReady, or JobStarted then WorkspaceSucceeded. Phases complete in order: before ResourceReady, a
        ready pod on a node we do not count yet proves nothing."""
        if not self.progress.is_done(cond.RESOURCE_READY):
            return None, None
        workload, pods = self.workload, self.pods
        if self.t.mode == "inference":
            inf = cond.inference_ready(workload, pods)
            if inf.true:
                self.progress.done(cond.INFERENCE_READY, inf.reason, inf.message)
                self.progress.done(cond.WORKSPACE_SUCCEEDED, "workspaceSucceeded", inf.message)
                return WaitOutcome(), None
            return None, (inf.reason, inf.message)
        js = cond.job_started(workload, pods)
        if js.true:
            self.progress.done(cond.JOB_STARTED, js.reason, js.message)
            self._begin(cond.WORKSPACE_SUCCEEDED, "training")
            if self.log_thread is None:
                running = next((p for p in pods if p.get("status", {}).get("phase") in ("Running", "Succeeded")), None)
                if running is not None:
                    self._follow_training_log(running["metadata"]["name"])
        if cond.job_succeeded(workload):
            self.progress.done(cond.WORKSPACE_SUCCEEDED, "workspaceSucceeded", "tuning finished")
            return WaitOutcome(training_step=self.step), None
        if not js.true:
            return None, (js.reason, js.message)
        if self.step is not None:
            return None, ("Training", f"step {self.step[0]}/{self.step[1]}")
        return None, ("Training", "the trainer is running")

    def _diagnosis(self, now: float) -> tuple[Line | None, float | None]:
        """The pods' first actionable reason: fail at once when terminal, after a grace when Unschedulable on
        ready nodes (returned as a timer until then), else report it once the nodes are ready."""
        diag = cond.diagnose(self.t.mode, self.workload, self.pods, self.t.main_container)
        if diag is None:
            return None, None
        if diag.reason == "Unschedulable" and diag.pod:
            if self.resource_ready_at is not None:  # the message is shown from now on
                self._want_events()
            # The scheduler's event carries the full message even while the condition is being rewritten.
            event_message = cond.scheduler_message(self.cache.items("events"), diag.pod)
            if event_message and len(event_message) >= len(diag.message):
                diag = replace(diag, message=event_message)
        if diag.message and diag.message != diag.reason:
            self.last_message[diag.reason] = diag.message
        elif diag.reason in self.last_message:
            diag = replace(diag, message=self.last_message[diag.reason])
        if diag.terminal:
            raise self._fail(self.active_phase, diag)
        timer = None
        if diag.reason == "Unschedulable" and self.resource_ready_at is not None:
            stuck_at = self.resource_ready_at + UNSCHEDULABLE_GRACE_S
            if now >= stuck_at:
                raise self._fail(self.active_phase, Diagnosis(diag.reason, diag.message, True, pod=diag.pod))
            timer = stuck_at
        self.last_reason = f"{diag.reason}: {diag.message}"
        if self.progress.is_done(cond.RESOURCE_READY):  # while nodes come up, pending pods are expected
            return (diag.reason, diag.message), timer
        return None, timer

    def _workload_warning(self, now: float) -> tuple[Line | None, float | None]:
        """A Warning event on the workload while it has no pods (FailedCreate: quota, admission, a missing claim)
        fails the wait once it has lasted FAILED_CREATE_GRACE_S; until then it is the line, with a timer."""
        if self.pods:
            self.no_pods_since = None
            return None, None
        if "events" not in self.cache.synced:
            # Pods normally appear within a second of the apply; only when they do not are the events read.
            if self.no_pods_since is None:
                self.no_pods_since = now
            if now < self.no_pods_since + EVENTS_AFTER_S:
                return None, self.no_pods_since + EVENTS_AFTER_S
            self._want_events()
            return None, None
        warning = cond.workload_warning(self.cache.items("events"), self.t.name)
        if warning is None:
            return None, None
        if self.failed_create_since is None:
            self.failed_create_since = now
        if now >= self.failed_create_since + FAILED_CREATE_GRACE_S:
            raise self._fail(self.active_phase, Diagnosis(warning[0], warning[1], True))
        self.last_reason = f"{warning[0]}: {warning[1]}"
        return warning, self.failed_create_since + FAILED_CREATE_GRACE_S

    def _api_errors(self) -> Line | None:
        """A watch that lost the API server says so (its stream reconnects and re-lists by itself)."""
        if not self.cache.errors:
            return None
        error = next(iter(self.cache.errors.values()))
        self.last_reason = f"API server unavailable: {error}"
        return ("APIUnavailable", f"reconnecting ({error})")

    def _deadline(self, now: float) -> float | None:
        """The current phase's deadline (raises WaitTimeout once it has passed); None when it has none."""
        phase = self.progress.current or cond.RESOURCE_READY
        deadline = self._phase_deadline(phase)
        if deadline is None or now < deadline:
            return deadline
        started = self.phase_started.get(phase, now)
        raise WaitTimeout(
            phase,
            now - (started if self.t.deadline is None else min(self.phase_started.values(), default=now)),
            last_reason=self.last_reason or self.progress.records[phase].message,
            hint="raise --timeout, or look at `kaitoctl status` and `kaitoctl logs`",
        )

    @property
    def active_phase(self) -> str:
        return self.progress.current or self.second_phase

    def _pool_update(self, state: dict[str, Any]) -> None:
        """Progress of the agent pool operation, posted (key "pool") by the thread that runs it."""
        error = state.get("error")
        if isinstance(error, KaitoctlError):
            self.progress.fail(NODE_POOL, error.reason or "Failed", error.message)
            raise error
        if state.get("state") == "Succeeded":
            self.progress.done(NODE_POOL, "Succeeded", str(state.get("action", "")))
        else:
            self.progress.update(NODE_POOL, str(state.get("state", "")), str(state.get("action", "")))

    def _training_line(self, obj: dict[str, Any]) -> None:
        line = str(obj.get("line", ""))
        self.log_tail.append(line)
        matches = _STEP.findall(line)
        if matches:
            done, total = matches[-1]
            self.step = (int(done), int(total))
