"""List-then-watch streams for several resources at once, merged into one queue.

Each stream lists, then watches from the list's resourceVersion. A 410 Gone (history compacted) re-lists; a
dropped connection (API server restart) retries with backoff and re-lists, so the cache a waiter sees is always
a consistent snapshot. No polling: the caller blocks on the queue.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from kaitoctl.adapters.k8s import WatchExpired
from kaitoctl.core.errors import KaitoctlError
from kaitoctl.ops.interfaces import KubeApi


@dataclass
class StreamSpec:
    key: str  # name of the cache, e.g. "pods"
    path: str
    label_selector: str | None = None
    field_selector: str | None = None


@dataclass
class Update:
    key: str
    kind: str  # "sync" (full list), "event", "error", "recovered", "side" (not a Kubernetes object), "crashed"
    event_type: str = ""
    obj: dict[str, Any] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    crash: BaseException | None = None  # kind "crashed": the unexpected exception that ended the stream


class Streams:
    """Background list+watch threads feeding one queue. Daemon threads: Ctrl-C never waits for them."""

    def __init__(self, kube: KubeApi, specs: list[StreamSpec], *, watch_timeout_s: int = 290) -> None:
        self.kube = kube
        self.specs = specs
        self.queue: queue.Queue[Update] = queue.Queue()
        self.stop_event = threading.Event()
        self.watch_timeout_s = watch_timeout_s
        self.threads = [self._thread(spec) for spec in specs]
        self.started = False

    def _thread(self, spec: StreamSpec) -> threading.Thread:
        return threading.Thread(target=self._run, args=(spec,), name=f"watch-{spec.key}", daemon=True)

    def start(self) -> Streams:
        self.started = True
        for thread in self.threads:
            thread.start()
        return self

    def add(self, spec: StreamSpec) -> None:
        """One more stream, e.g. one a waiter needs only in some cases; it starts at once when the others have."""
        self.specs.append(spec)
        self.threads.append(self._thread(spec))
        if self.started:
            self.threads[-1].start()

    def has(self, key: str) -> bool:
        return any(spec.key == key for spec in self.specs)

    def stop(self) -> None:
        self.stop_event.set()

    def _run(self, spec: StreamSpec) -> None:
        """List, then watch from the list's version; re-list after a 410 or an error (with backoff)."""
        backoff = 0.2
        failing = False
        resource_version: str | None = ""
        while not self.stop_event.is_set():
            try:
                if not resource_version:
                    resource_version = self._list(spec, recovered=failing)
                    failing, backoff = False, 0.2
                resource_version = self._follow(spec, resource_version)
                if resource_version is None:
                    return  # stopped
                # The server ended the watch (timeoutSeconds): resume from where we are.
            except WatchExpired:
                resource_version = ""
            except (KaitoctlError, OSError, ValueError) as exc:
                if self.stop_event.is_set():
                    return
                message = exc.message if isinstance(exc, KaitoctlError) else str(exc)
                self.queue.put(Update(spec.key, "error", error=message))
                failing = True
                resource_version = ""  # the server may have restarted: list again for a consistent view
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, 3.0)
            except Exception as exc:
                # Not the network (the adapter turns that into KaitoctlError/OSError above): a bug. Hand it to the
                # waiting thread, which raises it, instead of "reconnecting" until the deadline.
                self.queue.put(Update(spec.key, "crashed", crash=exc))
                return

    def _list(self, spec: StreamSpec, *, recovered: bool) -> str:
        """A full list (a consistent snapshot); returns its resourceVersion."""
        items, resource_version = self.kube.list(
            spec.path, label_selector=spec.label_selector, field_selector=spec.field_selector
        )
        self.queue.put(Update(spec.key, "sync", items=items))
        if recovered:
            self.queue.put(Update(spec.key, "recovered"))
        return resource_version

    def _follow(self, spec: StreamSpec, resource_version: str) -> str | None:
        """One watch from `resource_version` until the server ends it. Returns the last version seen (bookmarks
        included), or None when stopped."""
        for event in self.kube.watch(
            spec.path,
            resource_version=resource_version,
            label_selector=spec.label_selector,
            field_selector=spec.field_selector,
            timeout_s=self.watch_timeout_s,
        ):
            if self.stop_event.is_set():
                return None
            obj = event.get("object") or {}
            resource_version = str(obj.get("metadata", {}).get("resourceVersion", resource_version))
            if event.get("type") != "BOOKMARK":
                self.queue.put(Update(spec.key, "event", event_type=str(event.get("type")), obj=obj))
        return resource_version


class Cache:
    """Objects by name per stream key, kept current from Updates."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = {}
        self.synced: set[str] = set()
        self.errors: dict[str, str] = {}
        self.side: dict[str, list[dict[str, Any]]] = {}

    def take_side(self, key: str) -> list[dict[str, Any]]:
        """Side-channel updates (training log lines, pool progress) since the last call."""
        return self.side.pop(key, [])

    def apply(self, update: Update) -> None:
        if update.kind == "crashed" and update.crash is not None:
            raise update.crash
        if update.kind == "side":
            self.side.setdefault(update.key, []).append(update.obj)
            return
        store = self.objects.setdefault(update.key, {})
        if update.kind == "sync":
            store.clear()
            for item in update.items:
                store[_key(item)] = item
            self.synced.add(update.key)
            self.errors.pop(update.key, None)
        elif update.kind == "event":
            name = _key(update.obj)
            if update.event_type == "DELETED":
                store.pop(name, None)
            else:
                store[name] = update.obj
        elif update.kind == "error":
            self.errors[update.key] = update.error
        elif update.kind == "recovered":
            self.errors.pop(update.key, None)

    def items(self, key: str) -> list[dict[str, Any]]:
        return list(self.objects.get(key, {}).values())

    def one(self, key: str) -> dict[str, Any] | None:
        values = self.items(key)
        return values[0] if values else None


def _key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata", {})
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def drain(streams: Streams, cache: Cache, timeout: float) -> bool:
    """Wait up to `timeout` for the next update, then apply everything queued. False if nothing came."""
    try:
        first = streams.queue.get(timeout=max(0.0, timeout))
    except queue.Empty:
        return False
    cache.apply(first)
    while True:  # apply a burst of events at once, then evaluate once
        try:
            cache.apply(streams.queue.get_nowait())
        except queue.Empty:
            return True
