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


def parse_record(obj: dict[str, Any]) -> WorkspaceRecord | None:
    meta = obj.get("metadata", {})
    annotations = meta.get("annotations") or {}
    try:
        spec = spec_from_record(json.loads(annotations[SPEC_ANNOTATION]))
    except (KeyError, ValueError, TypeError):
        return None
    placement = None
    if PLACEMENT_ANNOTATION in annotations:
        try:
            placement = PlacementInfo.from_json(annotations[PLACEMENT_ANNOTATION])
        except (KeyError, ValueError, TypeError):
            placement = None
    data = obj.get("data") or {}
    status: dict[str, Any] = {}
    if "status.json" in data:
        try:
            status = json.loads(data["status.json"])
        except ValueError:
            status = {}
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
    """All kaitoctl workspaces in a namespace (None: all namespaces), one list call."""
    path = resource_path("v1", "ConfigMap", namespace)
    items, _ = kube.list(path, label_selector=f"{ownership_selector()},{RECORD_KIND_LABEL}=workspace")
    records = [r for r in map(parse_record, items) if r is not None]
    return sorted(records, key=lambda r: (r.namespace, r.name))


def get_record(kube: KubeApi, namespace: str, record_name: str) -> WorkspaceRecord | None:
    obj = kube.get(resource_path("v1", "ConfigMap", namespace, record_name))
    return parse_record(obj) if obj else None
