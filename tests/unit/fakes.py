"""In-memory fakes of OUR adapter interfaces (kaitoctl.ops.interfaces.KubeApi / AksApi), for unit tests of ops/.

They are not a mock of the kubernetes client or the Azure SDK: they implement the few verbs ops calls, keep objects
by API path, and record every write in order (`calls`), so a test can assert what was written, in which order, and
that nothing was written at all. mypy checks them against the Protocols (see the assignments at the bottom).

Simplifications, on purpose: apply merges maps and replaces lists (close to server-side apply for one manager);
deleting an object deletes its ownerReferences dependents at once (the garbage collector, without the delay); no
admission, no defaulting. A watch ends after `watch_idle_s` without events, as a server's timeoutSeconds would.
Errors are scripted per collection (`fail_list`, `fail_watch`) and raised in order.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kaitoctl.adapters.k8s import KubeContext, object_path
from kaitoctl.ops.interfaces import AksApi, KubeApi, Obj

# ---- Kubernetes ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Where:
    """An API path, parsed: the collection (prefix + plural), the namespace (None: all or cluster-scoped), a name."""

    collection: str
    namespace: str | None
    name: str | None


def parse_path(path: str) -> Where:
    parts = path.strip("/").split("/")
    prefix_len = 2 if parts[0] == "api" else 3  # /api/v1 | /apis/group/version
    prefix, rest = "/" + "/".join(parts[:prefix_len]), parts[prefix_len:]
    if rest[0] == "namespaces" and len(rest) >= 3:
        return Where(f"{prefix}/{rest[2]}", rest[1], rest[3] if len(rest) > 3 else None)
    return Where(f"{prefix}/{rest[0]}", None, rest[1] if len(rest) > 1 else None)


def _lookup(obj: Obj, dotted: str) -> str:
    value: Any = obj
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def matches(obj: Obj, label_selector: str | None, field_selector: str | None) -> bool:
    """Equality-based selectors (`k=v`, `k!=v`, comma-separated), as kaitoctl uses them."""
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, (label_selector or "").split(",")):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key) != value:
                return False
        else:
            raise ValueError(f"fake selector does not support {term!r}")
    for term in filter(None, (field_selector or "").split(",")):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if _lookup(obj, key) == value:
                return False
        else:
            key, value = term.split("=", 1)
            if _lookup(obj, key) != value:
                return False
    return True


def _merge(old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict):
        out = dict(old)
        for key, value in new.items():
            out[key] = _merge(old.get(key), value)
        return out
    return copy.deepcopy(new)


@dataclass
class Event:
    rv: int
    type: str
    obj: Obj
    where: Where


@dataclass
class FakeKube:
    """A cluster in memory. `calls` lists every write (and watch/log request) in order."""

    context: KubeContext = field(default_factory=lambda: KubeContext("fake", "default", "https://fake.invalid:6443"))
    objects: dict[tuple[str, str | None, str], Obj] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    # Run after every stored apply (a controller's reaction): hook(kube, obj).
    on_apply: list[Callable[[FakeKube, Obj], None]] = field(default_factory=list)
    # Exceptions to raise, in order, on the next list/watch of a collection (e.g. "/api/v1/pods").
    fail_list: dict[str, list[BaseException]] = field(default_factory=dict)
    fail_watch: dict[str, list[BaseException]] = field(default_factory=dict)
    # Exceptions to raise on apply of an object path (the API server refusing it).
    fail_apply: dict[str, BaseException] = field(default_factory=dict)
    pod_logs: dict[tuple[str, str, str | None], list[str]] = field(default_factory=dict)
    # Answers exec requests: (kube, namespace, pod, command, stdin bytes or None) -> (exit code, stdout, stderr).
    exec_handler: Callable[[FakeKube, str, str, Sequence[str], bytes | None], tuple[int, str, str]] | None = None
    watch_idle_s: float = 0.05
    events: list[Event] = field(default_factory=list)
    # every log request with all its parameters, in order
    log_requests: list[dict[str, Any]] = field(default_factory=list)
    _rv: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _uids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _cond: threading.Condition = field(default_factory=threading.Condition)
    rv: int = 0

    # -- test helpers -----------------------------------------------------------------------------------------------

    def put(self, obj: Obj) -> Obj:
        """Store an object as a controller or another client would (not recorded in `calls`)."""
        with self._cond:
            return self._store(copy.deepcopy(obj))

    def remove(self, path: str) -> bool:
        with self._cond:
            return self._remove(parse_path(path))

    def obj(self, path: str) -> Obj | None:
        where = parse_path(path)
        assert where.name is not None
        found = self.objects.get((where.collection, where.namespace, where.name))
        return copy.deepcopy(found) if found is not None else None

    def bookmark(self, collection_path: str) -> int:
        """A BOOKMARK on a collection's watches: a newer resourceVersion, no object change."""
        with self._cond:
            self.rv = next(self._rv)
            obj = {"metadata": {"resourceVersion": str(self.rv)}}
            self.events.append(Event(self.rv, "BOOKMARK", obj, parse_path(collection_path)))
            self._cond.notify_all()
            return self.rv

    def writes(self) -> list[tuple[Any, ...]]:
        """The recorded calls that change something (dry runs excluded)."""
        return [c for c in self.calls if c[0] in ("apply", "delete", "ensure_namespace") and c[-1] != "dry-run"]

    def _store(self, obj: Obj) -> Obj:
        where = parse_path(object_path(obj))
        assert where.name is not None
        key = (where.collection, where.namespace, where.name)
        old = self.objects.get(key)
        merged = _merge(old, obj) if old is not None else obj
        meta = merged.setdefault("metadata", {})
        meta["uid"] = (old or {}).get("metadata", {}).get("uid") or f"uid-{next(self._uids)}"
        self.rv = next(self._rv)
        meta["resourceVersion"] = str(self.rv)
        self.objects[key] = merged
        self.events.append(Event(self.rv, "MODIFIED" if old else "ADDED", copy.deepcopy(merged), where))
        self._cond.notify_all()
        return copy.deepcopy(merged)

    def _remove(self, where: Where) -> bool:
        assert where.name is not None
        gone = self.objects.pop((where.collection, where.namespace, where.name), None)
        if gone is None:
            return False
        self.rv = next(self._rv)
        gone = copy.deepcopy(gone)
        gone["metadata"]["resourceVersion"] = str(self.rv)
        self.events.append(Event(self.rv, "DELETED", gone, where))
        uid = gone["metadata"]["uid"]
        for key, dependent in list(self.objects.items()):
            owners = dependent.get("metadata", {}).get("ownerReferences") or []
            if any(o.get("uid") == uid for o in owners):
                self._remove(Where(*key))
        self._cond.notify_all()
        return True

    def _select(self, where: Where, label_selector: str | None, field_selector: str | None) -> list[Obj]:
        return [
            copy.deepcopy(obj)
            for (collection, namespace, name), obj in sorted(self.objects.items(), key=lambda kv: str(kv[0]))
            if collection == where.collection
            and (where.namespace is None or namespace == where.namespace)
            and (where.name is None or name == where.name)
            and matches(obj, label_selector, field_selector)
        ]

    # -- KubeApi ----------------------------------------------------------------------------------------------------

    def get(self, path: str) -> Obj | None:
        self.calls.append(("get", path))
        return self.obj(path)

    def list(
        self, path: str, *, label_selector: str | None = None, field_selector: str | None = None
    ) -> tuple[list[Obj], str]:
        self.calls.append(("list", path, label_selector, field_selector))
        where = parse_path(path)
        scripted = self.fail_list.get(where.collection)
        if scripted:
            raise scripted.pop(0)
        with self._cond:
            return self._select(where, label_selector, field_selector), str(self.rv)

    def apply(self, obj: Obj, *, dry_run: bool = False, force: bool = False, field_manager: str = "kaitoctl") -> Obj:
        path = object_path(obj)
        self.calls.append(("apply", path, field_manager, "dry-run" if dry_run else "write"))
        if path in self.fail_apply:
            raise self.fail_apply[path]
        if dry_run:
            return copy.deepcopy(obj)
        with self._cond:
            stored = self._store(copy.deepcopy(obj))
        for hook in self.on_apply:
            hook(self, stored)
        return stored

    def delete(self, path: str, *, propagation: str = "Background") -> bool:
        self.calls.append(("delete", path, propagation))
        with self._cond:
            return self._remove(parse_path(path))

    def watch(
        self,
        path: str,
        *,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_s: int = 290,
    ) -> Iterator[Obj]:
        self.calls.append(("watch", path, resource_version))
        where = parse_path(path)
        scripted = self.fail_watch.get(where.collection)
        if scripted:
            raise scripted.pop(0)
        return self._watch(where, int(resource_version or 0), label_selector, field_selector)

    def _watch(self, where: Where, since: int, label_selector: str | None, field_selector: str | None) -> Iterator[Obj]:
        scanned = since
        while True:
            with self._cond:
                seen = scanned
                if self.rv <= seen and not self._cond.wait_for(lambda: self.rv > seen, self.watch_idle_s):  # noqa: B023
                    return  # the server ends an idle watch (timeoutSeconds)
                pending = [
                    e
                    for e in self.events
                    if e.rv > scanned
                    and e.where.collection == where.collection
                    and (where.namespace is None or e.where.namespace == where.namespace)
                    and (e.type == "BOOKMARK" or matches(e.obj, label_selector, field_selector))
                ]
                scanned = self.rv
            for event in pending:
                yield {"type": event.type, "object": copy.deepcopy(event.obj)}

    def logs(
        self,
        namespace: str,
        pod: str,
        *,
        container: str | None = None,
        tail_lines: int | None = None,
        previous: bool = False,
        follow: bool = False,
        timestamps: bool = False,
        since_seconds: int | None = None,
    ) -> Iterator[str]:
        self.calls.append(("logs", namespace, pod, container, tail_lines, previous, follow))
        self.log_requests.append(
            {
                "pod": f"{namespace}/{pod}",
                "container": container,
                "tail_lines": tail_lines,
                "previous": previous,
                "follow": follow,
                "timestamps": timestamps,
                "since_seconds": since_seconds,
            }
        )
        lines = self.pod_logs.get((namespace, pod, container), [])
        return iter(lines[-tail_lines:] if tail_lines else lines)

    def exec(
        self,
        namespace: str,
        pod: str,
        command: Sequence[str],
        *,
        stdin: Iterable[bytes] | None = None,
        container: str | None = None,
    ) -> tuple[int, str, str]:
        """What `exec_handler(kube, namespace, pod, command, stdin bytes)` answers (a test's stand-in for the
        container); without one, the command is not found (exit 127)."""
        data = b"".join(stdin) if stdin is not None else None
        self.calls.append(("exec", namespace, pod, tuple(command)))
        if self.exec_handler is None:
            return 127, "", f"{command[0]}: not found"
        return self.exec_handler(self, namespace, pod, command, data)

    def ensure_namespace(self, namespace: str) -> bool:
        if self.obj(f"/api/v1/namespaces/{namespace}") is not None:
            return False
        self.calls.append(("ensure_namespace", namespace))
        self.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        return True


# ---- AKS ----------------------------------------------------------------------------------------------------------


@dataclass
class FakePoller:
    op: str  # put | delete
    pool: str
    body: Obj | None = None


@dataclass
class FakeAks:
    """One AKS cluster's agent pools in memory. An operation happens when `wait` is called on its poller."""

    location: str = "eastus"
    pools: dict[str, Obj] = field(default_factory=dict)
    quota: dict[str, tuple[int, int]] = field(default_factory=dict)
    clusters: list[Obj] = field(default_factory=list)
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    fail_wait: BaseException | None = None  # raised by the next wait (the LRO failing)
    statuses: list[str] = field(default_factory=lambda: ["InProgress"])  # reported to on_status while waiting
    on_done: list[Callable[[FakePoller], None]] = field(default_factory=list)  # e.g. nodes joining the cluster
    poll_interval: float = 0.0
    pool_profiles: list[Obj] = field(default_factory=list)  # the cluster's agentPoolProfiles
    usages_forbidden: bool = False  # the usages GET answers 403

    def cluster(self) -> Obj:
        self.calls.append(("cluster",))
        props = {"fqdn": "aks.hcp.eastus.azmk8s.io", "agentPoolProfiles": copy.deepcopy(self.pool_profiles)}
        return {"name": "aks", "location": self.location, "properties": props}

    def list_clusters(self) -> list[Obj]:
        self.calls.append(("list_clusters",))
        return copy.deepcopy(self.clusters)

    def get_pool(self, name: str) -> Obj | None:
        self.calls.append(("get_pool", name))
        pool = self.pools.get(name)
        return copy.deepcopy(pool) if pool is not None else None

    def list_pools(self) -> list[Obj]:
        self.calls.append(("list_pools",))
        return [copy.deepcopy(p) for p in self.pools.values()]

    def begin_put_pool(self, name: str, body: Obj) -> FakePoller:
        self.calls.append(("begin_put_pool", name, copy.deepcopy(body)))
        return FakePoller("put", name, copy.deepcopy(body))

    def begin_delete_pool(self, name: str) -> FakePoller:
        self.calls.append(("begin_delete_pool", name))
        return FakePoller("delete", name)

    def wait(self, poller: Any, action: str, on_status: Callable[[str], None] | None = None) -> Any:
        self.calls.append(("wait", action))
        for status in self.statuses:
            if on_status is not None:
                on_status(status)
        if self.fail_wait is not None:
            error, self.fail_wait = self.fail_wait, None
            raise error
        if poller.op == "put":
            props = dict(poller.body["properties"], provisioningState="Succeeded")
            self.pools[poller.pool] = {"name": poller.pool, "properties": props}
        else:
            self.pools.pop(poller.pool, None)
        for hook in self.on_done:
            hook(poller)
        return self.pools.get(poller.pool)

    def usages(self, location: str) -> dict[str, tuple[int, int]] | None:
        self.calls.append(("usages", location))
        return None if self.usages_forbidden else dict(self.quota)


# mypy checks the fakes against the interfaces ops depends on.
_kube: KubeApi = FakeKube()
_aks: AksApi = FakeAks()


# ---- objects and controllers --------------------------------------------------------------------------------------


def gpu_node(
    name: str,
    *,
    instance_type: str = "Standard_NC24ads_A100_v4",
    gpus: int = 1,
    ready: bool = True,
    labels: dict[str, str] | None = None,
) -> Obj:
    """A Node as the kubelet and the NVIDIA device plugin report it."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"node.kubernetes.io/instance-type": instance_type, **(labels or {})},
        },
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "allocatable": {"nvidia.com/gpu": str(gpus)},
        },
    }


def pod_of(owner: Obj, index: int, *, phase: str = "Running", ready: bool = True) -> Obj:
    """A pod a StatefulSet or Job controller would create for `owner`."""
    meta = owner["metadata"]
    template = owner["spec"]["template"]
    suffix = f"-{index}" if owner["kind"] == "StatefulSet" else f"-{index}abcde"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": meta["name"] + suffix,
            "namespace": meta["namespace"],
            "labels": dict(template["metadata"].get("labels") or {}),
            "ownerReferences": [{"kind": owner["kind"], "name": meta["name"], "uid": meta["uid"]}],
        },
        "spec": template["spec"],
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def statefulset_controller(kube: FakeKube, obj: Obj) -> None:
    """on_apply hook: a StatefulSet's pods start and become Ready."""
    if obj["kind"] != "StatefulSet":
        return
    replicas = int(obj["spec"].get("replicas") or 1)
    for index in range(replicas):
        kube.put(pod_of(obj, index))
    kube.put({**obj, "status": {"replicas": replicas, "readyReplicas": replicas}})


def job_controller(kube: FakeKube, obj: Obj) -> None:
    """on_apply hook: a Job's pod runs and the Job completes."""
    if obj["kind"] != "Job":
        return
    kube.put(pod_of(obj, 0, phase="Succeeded", ready=False))
    kube.put({**obj, "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}})


@dataclass
class RecordingReporter:
    """A Reporter that keeps what it was shown."""

    snapshots: list[list[tuple[str, str, str]]] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)
    closed: bool = False

    def phases(self, records: list[Any]) -> None:
        self.snapshots.append([(r.name, r.status, r.reason) for r in records])

    def message(self, level: str, text: str) -> None:
        self.messages.append((level, text))

    def close(self) -> None:
        self.closed = True
