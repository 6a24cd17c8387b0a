"""The adapter surface ops depends on, as Protocols.

`kaitoctl.adapters.k8s.Kube` and `kaitoctl.adapters.aks.Aks` implement them; unit tests implement them in memory
(tests/unit/fakes.py), so mypy checks that a fake and the real adapter agree on every method ops calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from kaitoctl.adapters.k8s import KubeContext

# A Kubernetes object as the API sends it (plain JSON).
Obj = dict[str, Any]


class KubeReader(Protocol):
    """Reads only: what preflight checks need (ops.readahead.ReadAhead sends them together)."""

    def get(self, path: str) -> Obj | None: ...

    def list(
        self, path: str, *, label_selector: str | None = None, field_selector: str | None = None
    ) -> tuple[list[Obj], str]: ...


class KubeApi(KubeReader, Protocol):
    """A connected cluster: reads, server-side applies, deletes, watches and logs, by API path."""

    context: KubeContext

    def apply(
        self, obj: Obj, *, dry_run: bool = False, force: bool = False, field_manager: str = "kaitoctl"
    ) -> Obj: ...

    def delete(self, path: str, *, propagation: str = "Background") -> bool: ...

    def watch(
        self,
        path: str,
        *,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_s: int = 290,
    ) -> Iterator[Obj]: ...

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
    ) -> Iterator[str]: ...

    def ensure_namespace(self, namespace: str) -> bool: ...

    # Run a command in a pod's container (no shell unless the command is one); `stdin` is streamed to it and then
    # closed. Returns (exit code, stdout, stderr).
    def exec(
        self,
        namespace: str,
        pod: str,
        command: Sequence[str],
        *,
        stdin: Iterable[bytes] | None = None,
        container: str | None = None,
    ) -> tuple[int, str, str]: ...


class AksApi(Protocol):
    """One AKS cluster's agent pools, plus the regional vCPU quota. Pool bodies are ARM wire-shaped dicts."""

    poll_interval: float

    def cluster(self) -> Obj: ...

    def list_clusters(self) -> list[Obj]: ...

    def get_pool(self, name: str) -> Obj | None: ...

    # Every agent pool of the cluster (ARM has no server-side tag filter for this list: callers filter).
    def list_pools(self) -> list[Obj]: ...

    # The pollers are the SDK's LROPoller; ops only hands them back to `wait`.
    def begin_put_pool(self, name: str, body: Obj) -> Any: ...

    def begin_delete_pool(self, name: str) -> Any: ...

    def wait(self, poller: Any, action: str, on_status: Callable[[str], None] | None = None) -> Any: ...

    # None: the identity may not read the subscription-scope usages (403).
    def usages(self, location: str) -> dict[str, tuple[int, int]] | None: ...
