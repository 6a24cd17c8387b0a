"""Connecting to the cluster like kubectl does, and reading kaitoctl's workspace records back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kaitoctl.adapters.k8s import Kube, resource_path
from kaitoctl.core.conditions import PlacementInfo
from kaitoctl.core.naming import (
    PLACEMENT_ANNOTATION,
    RECORD_KIND_LABEL,
    SPEC_ANNOTATION,
    ownership_selector,
)
from kaitoctl.core.spec import WorkspaceSpec, spec_from_record
from kaitoctl.ops.interfaces import KubeApi


def connect(kubeconfig: Path | None, context: str | None) -> Kube:
    return Kube.connect(kubeconfig, context)


def resolve_namespace(kube: KubeApi, explicit: str | None) -> str:
    """-n wins, then the Workspace YAML's namespace (already in `explicit`), then the context's, then default."""
    return explicit or kube.context.namespace or "default"


@dataclass
class WorkspaceRecord:
    """A workspace as kaitoctl stored it: the spec it applied, where its pods go, and what happened."""

    name: str
    namespace: str
    spec: WorkspaceSpec
    placement: PlacementInfo | None
    status: dict[str, Any]
    created: str
    raw: dict[str, Any]

    @property
    def mode(self) -> str:
        return self.spec.mode


# What a hand-edited or foreign record can raise while being read back: it is then reported as broken, and
# the other workspaces of the namespace are still listed, shown, chatted with and deleted.
_MALFORMED = (KeyError, ValueError, TypeError, AttributeError, IndexError, RecursionError)


def record_problem(obj: dict[str, Any]) -> str | None:
    """Why a record ConfigMap cannot be read back (None: it can)."""
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict) or not isinstance(annotations.get(SPEC_ANNOTATION), str):
        return f"annotation {SPEC_ANNOTATION} is missing"
    try:
        spec_from_record(json.loads(annotations[SPEC_ANNOTATION]))
    except _MALFORMED as exc:
        return f"annotation {SPEC_ANNOTATION} is malformed ({type(exc).__name__})"
    return None


def parse_record(obj: dict[str, Any]) -> WorkspaceRecord | None:
    """The record, or None when it cannot be read back (record_problem says why)."""
    try:
        return _parse_record(obj)
    except _MALFORMED:
        return None


def _parse_record(obj: dict[str, Any]) -> WorkspaceRecord | None:
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    spec = spec_from_record(json.loads(annotations[SPEC_ANNOTATION]))
    if not isinstance(spec.name, str) or not isinstance(spec.resource.match_labels, dict):
        return None
    placement = None
    if PLACEMENT_ANNOTATION in annotations:
        try:
            placement = PlacementInfo.from_json(annotations[PLACEMENT_ANNOTATION])
        except _MALFORMED:
            placement = None
    data = obj.get("data") or {}
    status: dict[str, Any] = {}
    if "status.json" in data:
        try:
            loaded = json.loads(data["status.json"])
        except _MALFORMED:
            loaded = {}
        status = loaded if isinstance(loaded, dict) else {}
    return WorkspaceRecord(
        name=spec.name,
        namespace=meta.get("namespace", ""),
        spec=spec,
        placement=placement,
        status=status,
        created=str(meta.get("creationTimestamp", "")),
        raw=obj,
    )


def list_records(kube: KubeApi, namespace: str | None) -> list[WorkspaceRecord]:
    """All kaitoctl workspaces in a namespace (None: all namespaces), one list call. Unreadable records are left
    out (list_broken_records names them)."""
    return list_all_records(kube, namespace)[0]


@dataclass(frozen=True)
class BrokenRecord:
    name: str  # the ConfigMap's name
    namespace: str
    problem: str


def list_all_records(kube: KubeApi, namespace: str | None) -> tuple[list[WorkspaceRecord], list[BrokenRecord]]:
    """The readable records and the broken ones, from one list call."""
    path = resource_path("v1", "ConfigMap", namespace)
    items, _ = kube.list(path, label_selector=f"{ownership_selector()},{RECORD_KIND_LABEL}=workspace")
    records: list[WorkspaceRecord] = []
    broken: list[BrokenRecord] = []
    for item in items:
        record = parse_record(item)
        if record is not None:
            records.append(record)
            continue
        meta = item.get("metadata") or {}
        broken.append(
            BrokenRecord(
                str(meta.get("name", "?")), str(meta.get("namespace", "")), record_problem(item) or "unreadable"
            )
        )
    return sorted(records, key=lambda r: (r.namespace, r.name)), broken


def get_record(kube: KubeApi, namespace: str, record_name: str) -> WorkspaceRecord | None:
    obj = kube.get(resource_path("v1", "ConfigMap", namespace, record_name))
    return parse_record(obj) if obj else None


def namespace_names(kube: KubeApi) -> list[str]:
    """Namespace names (for shell completion)."""
    items, _ = kube.list(resource_path("v1", "Namespace"))
    return [str(n["metadata"]["name"]) for n in items]
