"""Independent reads sent together, each answered when a check asks for it.

Preflight reads objects that do not depend on each other (GPU use on the chosen nodes, the ConfigMaps and Secrets a
workspace refers to, the objects about to be applied). One after another, each costs a round trip to the API server;
sent ahead together they cost about one. The checks still take their answers (or errors) in their own order, so the
first refusal is the one reading one after another would give. A read that was not sent ahead goes out as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from kaitoctl.ops.interfaces import KubeReader, Obj

# (path, label selector, field selector) of a list call.
ListQuery = tuple[str, str | None, str | None]

MAX_IN_FLIGHT = 8
T = TypeVar("T")


class ReadAhead:
    def __init__(self, kube: KubeReader, known: dict[str, Obj | None] | None = None) -> None:
        self.kube = kube
        self.known = dict(known or {})  # path -> the object already read in this run (None: it does not exist)
        self._gets: dict[str, Future[Obj | None]] = {}
        self._lists: dict[ListQuery, Future[tuple[list[Obj], str]]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self.sent = 0  # reads sent ahead (for tests and -v)
        self.direct = 0  # reads that were not sent ahead

    def send(self, gets: Iterable[str] = (), lists: Iterable[ListQuery] = ()) -> ReadAhead:
        for path in gets:
            if path not in self.known and path not in self._gets:
                self._gets[path] = self._submit(self.kube.get, path)
        for query in lists:
            if query not in self._lists:
                path, labels, fields = query
                self._lists[query] = self._submit(
                    lambda p=path, ls=labels, fs=fields: self.kube.list(p, label_selector=ls, field_selector=fs)
                )
        return self

    def _submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT, thread_name_prefix="read-ahead")
        self.sent += 1
        return self._pool.submit(fn, *args)

    def get(self, path: str) -> Obj | None:
        if path in self.known:
            return self.known[path]
        ahead = self._gets.pop(path, None)
        if ahead is not None:
            return ahead.result()
        self.direct += 1
        return self.kube.get(path)

    def list(
        self, path: str, *, label_selector: str | None = None, field_selector: str | None = None
    ) -> tuple[list[Obj], str]:
        ahead = self._lists.pop((path, label_selector, field_selector), None)
        if ahead is not None:
            return ahead.result()
        self.direct += 1
        return self.kube.list(path, label_selector=label_selector, field_selector=field_selector)

    def close(self) -> None:
        """Answers nobody asked for (a check refused first) are dropped; nothing waits for them."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
