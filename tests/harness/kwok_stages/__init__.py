"""kwok Stage objects that give pods (and volumes) their behaviour in the local cluster.

How exactly one stage applies (kwok v0.8.0 `pkg/utils/lifecycle/lifecycle.go` `Lifecycle.Match`): every stage
whose selector matches the pod is a candidate; if any candidate has weight > 0, one of the candidates with
weight > 0 is drawn in proportion to its weight and weight-0 candidates are never chosen. So:

* default stages (node-initialize, heartbeat, pod-ready, job-complete, pod-delete) have weight 0;
* a behaviour's stages have weight 1 and are mutually exclusive: each matches one pod state, scoped to one
  namespace and to one *scope* (pods with/without the behaviour label, optionally one owner kind); the
  harness removes any behaviour with an overlapping scope before it creates a new one.

A weight-1 stage without steps is a *hold*: it wins the draw and does nothing, so a state is kept (a Job pod
that stays Running, a pod stuck in ImagePullBackOff). Terminating pods are never matched by a behaviour, so
kwok's own pod-delete stage always finishes deletions.

Stages are matched when kwok sees a pod event, so a behaviour must exist before the pods it should affect.
Status patches are JSON merge patches of the full container list, so no stale `running` state survives.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent

# Pod label that narrows a behaviour to some pods of a namespace (the harness's own tests use it; pods
# rendered by kaitoctl never carry it, so they get the namespace-wide behaviour).
BEHAVIOR_LABEL = "harness.kaitoctl.io/behavior"
# Labels on the Stage objects, so cleanup can find them.
NAMESPACE_KEY = "harness.kaitoctl.io/namespace"
SCOPE_KEY = "harness.kaitoctl.io/scope"
DEFAULT_KEY = "harness.kaitoctl.io/default"

BEHAVIORS = (
    "ready",  # explicit default: Running and Ready (Job pods still complete after the default delay)
    "job-succeed",  # Job pods: Running, then Succeeded after delay_s
    "job-fail",  # Job pods: Running, then a container exits exit_code (phase Failed if restartPolicy Never)
    "job-running",  # Job pods: stay Running (delay_s=None), or `then` ("succeed"/"fail") after delay_s
    "image-pull-backoff",  # Pending, waiting ErrImagePull, then ImagePullBackOff; stays there
    "crash-loop",  # waiting CrashLoopBackOff, restartCount growing, lastState terminated exit_code
    "oom-killed",  # like crash-loop with reason OOMKilled, exit 137 (Failed if restartPolicy Never)
    "not-ready",  # Running, containers running but not ready (a readiness probe that never passes)
    "container-creating",  # stays Pending with waiting ContainerCreating
)

JOB_BEHAVIORS = frozenset({"job-succeed", "job-fail", "job-running"})

POD_REF = {"apiGroup": "v1", "kind": "Pod"}

NOT_DELETING = {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}


def _expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    out: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        out["values"] = list(values)
    return out


def _phase(*phases: str) -> dict[str, Any]:
    return _expr(".status.phase", "In", *phases)


def _owned_by(kind: str) -> dict[str, Any]:
    return _expr(".metadata.ownerReferences.[].kind", "In", kind)


def _container_query(container: str | None, path: str) -> str:
    """jq over the status of one named container, or of all containers."""
    sel = f" | select(.name == {json.dumps(container)})" if container else ""
    return f".status.containerStatuses.[]{sel} | {path}"


def _stage(name: str, labels: Mapping[str, str], selector: list[dict[str, Any]], *, weight: int,
           steps: list[dict[str, Any]] | None = None, delay_ms: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "resourceRef": dict(POD_REF),
        "selector": {"matchExpressions": selector},
        "weight": weight,
        "steps": steps or [],
    }
    if delay_ms:
        spec["delay"] = {"durationMilliseconds": delay_ms}
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": spec,
    }


# --- Go templates (kwok renders them with the pod as JSON; sprig functions are available) ---------------

_PRELUDE = """\
{{- $now := Now -}}
{{- $root := . -}}
{{- $target := %(target)s -}}
"""

# One container status. Expects $c (spec container), $prev (its previous status or an empty dict),
# $hit (whether it is a target container). %(target_state)s / %(other_state)s are YAML fragments.
_CONTAINER = """\
{{- range $i, $c := .spec.containers }}
{{- $prev := dict }}
{{- range ($root.status.containerStatuses | default list) }}{{ if eq .name $c.name }}{{ $prev = . }}{{ end }}{{ end }}
{{- $restarts := atoi (toString (default 0 $prev.restartCount)) }}
{{- $started := dig "state" "running" "startedAt" $now $prev }}
{{- $cid := printf "containerd://%%s" (sha256sum (printf "%%s/%%s/%%d" $root.metadata.uid $c.name $restarts)) }}
{{- $hit := or (eq $target "") (eq $c.name $target) }}
- name: {{ $c.name | Quote }}
  image: {{ $c.image | Quote }}
  imageID: ""
{{- if $hit }}
%(target_state)s
{{- else }}
%(other_state)s
{{- end }}
{{- end }}
"""

_RUNNING_READY = """\
  containerID: {{ $cid | Quote }}
  ready: true
  started: true
  restartCount: {{ $restarts }}
  state:
    running:
      startedAt: {{ $started | Quote }}"""

_RUNNING_NOT_READY = _RUNNING_READY.replace("ready: true", "ready: false")

_WAITING = """\
  ready: false
  started: false
  restartCount: {{ $restarts }}
  state:
    waiting:
      reason: %(reason)s
      message: %(message)s"""

_TERMINATED = """\
  containerID: {{ $cid | Quote }}
  ready: false
  started: false
  restartCount: {{ $restarts }}
  state:
    terminated:
      exitCode: %(exit_code)d
      reason: %(reason)s
      startedAt: {{ $started | Quote }}
      finishedAt: {{ $now | Quote }}"""

# The kubelet's back-off doubles from 10 s up to 5 min; the message names the next back-off.
_CRASHED = """\
  {{- $n := add1 $restarts }}
  {{- $backoff := index (list "10s" "20s" "40s" "1m20s" "2m40s" "5m0s") (min (sub $n 1) 5) }}
  containerID: {{ $cid | Quote }}
  ready: false
  started: false
  restartCount: {{ $n }}
  state:
    waiting:
      reason: CrashLoopBackOff
      message: {{ printf "back-off %%s restarting failed container=%%s pod=%%s_%%s(%%s)" $backoff $c.name $root.metadata.name $root.metadata.namespace $root.metadata.uid | Quote }}
  lastState:
    terminated:
      containerID: {{ $cid | Quote }}
      exitCode: %(exit_code)d
      reason: %(reason)s
      startedAt: {{ $started | Quote }}
      finishedAt: {{ $now | Quote }}"""

_CONDITIONS = """\
{{- $unready := list }}
{{- range .spec.containers }}{{ if or (eq $target "") (eq .name $target) }}{{ $unready = append $unready .name }}{{ end }}{{ end }}
conditions:
{{- range (.status.conditions | default list) }}{{ if eq .type "PodScheduled" }}
- {{ toJson . }}{{ end }}{{ end }}
- type: PodReadyToStartContainers
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
- type: Initialized
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
- type: Ready
  status: %(ready)s
  lastTransitionTime: {{ $now | Quote }}
  {{- if eq %(ready)s "False" }}
  reason: %(reason)s
  message: {{ printf "containers with unready status: [%%s]" (join " " $unready) | Quote }}
  {{- end }}
- type: ContainersReady
  status: %(ready)s
  lastTransitionTime: {{ $now | Quote }}
  {{- if eq %(ready)s "False" }}
  reason: %(reason)s
  message: {{ printf "containers with unready status: [%%s]" (join " " $unready) | Quote }}
  {{- end }}
"""

# Pod IPs exactly as kwok's own pod-ready stage assigns them (from the node's podCIDR or kwok's --cidr).
_IPS = """\
{{- $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
{{- with $podIPs }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{- range . }}
- ip: {{ . | Quote }}
{{- end }}
{{- end }}
startTime: {{ or .status.startTime $now | Quote }}
"""


def _q(s: str) -> str:
    """A Go template string literal (JSON quoting is valid Go quoting for these strings)."""
    return json.dumps(s)


def _status_template(*, target: str | None, phase: str, target_state: str, other_state: str, ready: bool,
                     not_ready_reason: str = "ContainersNotReady", ips: bool = True) -> str:
    ready_s = '"True"' if ready else '"False"'
    return (
        _PRELUDE % {"target": _q(target or "")}
        + _CONDITIONS % {"ready": ready_s, "reason": not_ready_reason}
        + "containerStatuses:\n"
        + _CONTAINER % {"target_state": target_state, "other_state": other_state}
        + (_IPS if ips else "")
        + f"phase: {phase}\n"
    )


def _patch_step(template: str) -> dict[str, Any]:
    return {"patch": {"subresource": "status", "root": "status", "type": "merge", "template": template}}


def _event(type_: str, reason: str, message: str) -> dict[str, Any]:
    return {"event": {"type": type_, "reason": reason, "message": message}}


def _failure_template(*, target: str | None, reason: str, exit_code: int) -> str:
    """A container exits: pods that restart crash-loop (phase Running); restartPolicy Never pods fail."""
    crashed = _CRASHED % {"exit_code": exit_code, "reason": reason}
    terminated = _TERMINATED % {"exit_code": exit_code, "reason": reason}
    completed = _TERMINATED % {"exit_code": 0, "reason": "Completed"}
    restart = _status_template(target=target, phase="Running", target_state=crashed, other_state=_RUNNING_READY,
                               ready=False)
    fail = _status_template(target=target, phase="Failed", target_state=terminated, other_state=completed,
                            ready=False, not_ready_reason="PodFailed")
    return f'{{{{- if eq .spec.restartPolicy "Never" }}}}\n{fail}{{{{- else }}}}\n{restart}{{{{- end }}}}\n'


def succeeded_template() -> str:
    completed = _TERMINATED % {"exit_code": 0, "reason": "Completed"}
    return _status_template(target=None, phase="Succeeded", target_state=completed, other_state=completed,
                            ready=False, not_ready_reason="PodCompleted")


# --- scopes -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Which pods of a namespace a behaviour applies to."""

    namespace: str
    label: str | None = None  # value of the BEHAVIOR_LABEL pod label; None = pods without that label
    owner_kind: str | None = None  # e.g. "Job", "ReplicaSet", "StatefulSet"; None = any

    def overlaps(self, other: Scope) -> bool:
        return (
            self.namespace == other.namespace
            and self.label == other.label
            and (self.owner_kind is None or other.owner_kind is None or self.owner_kind == other.owner_kind)
        )

    @property
    def key(self) -> str:
        raw = f"{self.namespace}\0{self.label or ''}\0{self.owner_kind or ''}"
        return hashlib.sha256(raw.encode()).hexdigest()[:12]

    def selector(self) -> list[dict[str, Any]]:
        label_q = f".metadata.labels[{json.dumps(BEHAVIOR_LABEL)}]"
        out = [_expr(".metadata.namespace", "In", self.namespace), NOT_DELETING]
        out.append(_expr(label_q, "In", self.label) if self.label else _expr(label_q, "DoesNotExist"))
        if self.owner_kind:
            out.append(_owned_by(self.owner_kind))
        return out

    def annotations(self) -> dict[str, str]:
        return {"label": self.label or "", "owner_kind": self.owner_kind or ""}


def behavior_stages(
    scope: Scope,
    behavior: str,
    *,
    container: str | None = None,
    delay_s: float | None = None,
    exit_code: int | None = None,
    then: str | None = None,
    message: str | None = None,
    restart_interval_s: float = 10.0,
) -> list[dict[str, Any]]:
    """The Stage objects (weight 1, mutually exclusive) that implement `behavior` for `scope`."""
    if behavior not in BEHAVIORS:
        raise ValueError(f"unknown pod behaviour {behavior!r}; known: {', '.join(BEHAVIORS)}")
    if behavior in JOB_BEHAVIORS and scope.owner_kind not in (None, "Job"):
        raise ValueError(f"{behavior} applies to Job pods only (owner_kind={scope.owner_kind!r})")
    if behavior in JOB_BEHAVIORS:
        scope = Scope(scope.namespace, scope.label, "Job")

    labels = {NAMESPACE_KEY: scope.namespace, SCOPE_KEY: scope.key}
    base = scope.selector()
    prefix = f"hb-{scope.key}"
    delay_ms = round((delay_s or 0) * 1000)
    loop_ms = round(restart_interval_s * 1000)

    def stage(step: str, selector: list[dict[str, Any]], steps: list[dict[str, Any]] | None = None,
              delay: int | None = None) -> dict[str, Any]:
        s = _stage(f"{prefix}-{step}", labels, base + selector, weight=1, steps=steps, delay_ms=delay)
        s["metadata"]["annotations"] = {f"harness.kaitoctl.io/{k}": v for k, v in scope.annotations().items()}
        s["metadata"]["annotations"]["harness.kaitoctl.io/behavior"] = behavior
        return s

    waiting_q = _container_query(container, ".state.waiting.reason")

    if behavior == "ready":
        # Only the Pending step is needed; later states fall through to the defaults.
        tpl = _status_template(target=container, phase="Running", target_state=_RUNNING_READY,
                               other_state=_RUNNING_READY, ready=True)
        return [stage("ready", [_phase("Pending")], [_patch_step(tpl)], delay_ms or None)]

    if behavior in ("job-succeed", "job-fail", "job-running"):
        outcome = {"job-succeed": "succeed", "job-fail": "fail"}.get(behavior, then)
        running = [_phase("Running"), _expr(waiting_q, "NotIn", "CrashLoopBackOff")]
        if outcome is None:
            if delay_s is not None:
                raise ValueError("job-running with delay_s needs then='succeed' or then='fail'")
            return [stage("hold", running)]
        if outcome == "succeed":
            return [stage("succeed", running, [_patch_step(succeeded_template())], delay_ms or None)]
        if outcome != "fail":
            raise ValueError(f"then must be 'succeed', 'fail' or None, not {then!r}")
        code = 1 if exit_code is None else exit_code
        fail_tpl = _failure_template(target=container, reason="Error", exit_code=code)
        crashing = [_phase("Running"), _expr(waiting_q, "In", "CrashLoopBackOff")]
        return [
            stage("fail", running, [_patch_step(fail_tpl)], delay_ms or None),
            # restartPolicy OnFailure: keeps restarting; kube's Job controller counts the restarts.
            stage("restart", crashing, [_patch_step(fail_tpl)], loop_ms),
        ]

    if behavior in ("crash-loop", "oom-killed"):
        reason = "OOMKilled" if behavior == "oom-killed" else "Error"
        code = exit_code if exit_code is not None else (137 if behavior == "oom-killed" else 1)
        tpl = _failure_template(target=container, reason=reason, exit_code=code)
        backoff = _event("Warning", "BackOff", "Back-off restarting failed container")
        # With a delay: Running and Ready first (via the default pod-ready stage), then the crash.
        first = [_phase("Running"), _expr(waiting_q, "DoesNotExist")] if delay_ms else [_phase("Pending")]
        crashing = [_phase("Running"), _expr(waiting_q, "In", "CrashLoopBackOff")]
        return [
            stage("crash", first, [_patch_step(tpl), backoff], delay_ms or None),
            stage("restart", crashing, [_patch_step(tpl), backoff], loop_ms),
        ]

    if behavior == "image-pull-backoff":
        image_msg = message or 'failed to pull and unpack image "%s": not found'
        # The message may name the image with %s (the container's image).
        msg_expr = f"{{{{ printf {_q(image_msg)} $c.image | Quote }}}}" if "%s" in image_msg else _q(image_msg)
        err = _WAITING % {"reason": "ErrImagePull", "message": msg_expr}
        backoff_msg = '{{ printf "Back-off pulling image %s" (Quote $c.image) | Quote }}'
        back = _WAITING % {"reason": "ImagePullBackOff", "message": backoff_msg}
        pulling = [_phase("Pending"), _expr(waiting_q, "NotIn", "ErrImagePull", "ImagePullBackOff")]
        return [
            stage("errimagepull", pulling, [
                _patch_step(_status_template(target=container, phase="Pending", target_state=err,
                                             other_state=_RUNNING_READY, ready=False)),
                _event("Warning", "Failed", "Error: ErrImagePull"),
            ]),
            stage("backoff", [_phase("Pending"), _expr(waiting_q, "In", "ErrImagePull")], [
                _patch_step(_status_template(target=container, phase="Pending", target_state=back,
                                             other_state=_RUNNING_READY, ready=False)),
                _event("Normal", "BackOff", "Back-off pulling image"),
                _event("Warning", "Failed", "Error: ImagePullBackOff"),
            ], 1000),
            stage("hold", [_phase("Pending"), _expr(waiting_q, "In", "ImagePullBackOff")]),
        ]

    if behavior == "not-ready":
        tpl = _status_template(target=container, phase="Running", target_state=_RUNNING_NOT_READY,
                               other_state=_RUNNING_READY, ready=False)
        ready_q = '.status.conditions.[] | select(.type == "Ready") | .status'
        return [
            stage("start", [_phase("Pending")], [_patch_step(tpl)], delay_ms or None),
            stage("hold", [_phase("Running"), _expr(ready_q, "In", "False")]),
        ]

    # container-creating
    creating = _WAITING % {"reason": "ContainerCreating", "message": '""'}
    tpl = _status_template(target=container, phase="Pending", target_state=creating, other_state=creating,
                           ready=False, ips=False)
    return [
        stage("creating", [_phase("Pending"), _expr(waiting_q, "NotIn", "ContainerCreating")], [_patch_step(tpl)]),
        stage("hold", [_phase("Pending"), _expr(waiting_q, "In", "ContainerCreating")]),
    ]


# --- defaults -----------------------------------------------------------------------------------------

UPSTREAM_DEFAULTS = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-delete.yaml",
)


def default_stages(upstream_stage_dir: Path, *, job_delay_s: float) -> list[dict[str, Any]]:
    """kwok's own fast stages (weight 0), a Job-complete stage with a delay, and the volume provisioner."""
    labels = {DEFAULT_KEY: "true"}
    out: list[dict[str, Any]] = []
    for rel in UPSTREAM_DEFAULTS:
        doc = yaml.safe_load((upstream_stage_dir / rel).read_text())
        doc["metadata"] = {"name": f"kaitoctl-default-{doc['metadata']['name']}", "labels": dict(labels)}
        doc["spec"]["weight"] = 0
        out.append(doc)
    # kwok's pod-complete finishes Job pods at once; a delay lets tests see Running first.
    job_running = [NOT_DELETING, _phase("Running"), _owned_by("Job")]
    out.append(_stage("kaitoctl-default-job-complete", labels, job_running, weight=0,
                      steps=[_patch_step(succeeded_template())], delay_ms=int(job_delay_s * 1000) or None))
    for doc in yaml.safe_load_all((HERE / "storage.yaml").read_text()):
        if doc and doc.get("kind") == "Stage":
            doc["metadata"].setdefault("labels", {}).update(labels)
            out.append(doc)
    return out


def storage_objects() -> list[dict[str, Any]]:
    """The StorageClasses (non-Stage objects of storage.yaml)."""
    return [d for d in yaml.safe_load_all((HERE / "storage.yaml").read_text()) if d and d.get("kind") != "Stage"]
