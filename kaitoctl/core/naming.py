"""Names, ownership labels and annotations kaitoctl puts on what it creates."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "kaitoctl"
WORKSPACE_LABEL = "kaitoctl.io/workspace"
WORKSPACE_NAMESPACE_LABEL = "kaitoctl.io/workspace-namespace"  # on pool nodes: names are only unique per namespace
COMPONENT_LABEL = "app.kubernetes.io/component"
MODE_LABEL = "kaitoctl.io/mode"  # inference | tuning, on the workspace record
SPEC_ANNOTATION = "kaitoctl.io/spec"
PLACEMENT_ANNOTATION = "kaitoctl.io/placement"  # how to find the workspace's nodes (PlacementInfo JSON)
RECORD_KIND_LABEL = "kaitoctl.io/record"

# AKS agent pool tags that mark kaitoctl's ownership (Azure tags, not Kubernetes labels).
POOL_TAG_MANAGED_BY = "managed-by"
POOL_TAG_WORKSPACE = "kaitoctl-workspace"  # "<namespace>/<name>"
# On a pool kaitoctl adopted (--adopt) instead of the managed-by tag: the node count it had before, which kaitoctl
# never goes below and restores on cleanup. The pool's other tags (its own managed-by included) stay.
POOL_TAG_ADOPTED = "kaitoctl-adopted-count"
# On the workspace record: an adopted pool as it was before ({"pool", "count", "tags", "nodeLabels"} JSON).
ADOPTED_ANNOTATION = "kaitoctl.io/adopted-pool"

GPU_TAINT_KEY = "sku"
GPU_TAINT_VALUE = "gpu"


def ownership_selector(workspace: str | None = None) -> str:
    """Label selector for everything kaitoctl created (for one workspace, or all)."""
    selector = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
    if workspace:
        selector += f",{WORKSPACE_LABEL}={workspace}"
    return selector


def pool_name(namespace: str, workspace: str) -> str:
    """A valid AKS agent pool name (^[a-z][a-z0-9]{0,11}$), stable for namespace/workspace.

    'kc' + 10 hex digits of sha256: 40 bits, so collisions are rare; a pool of that name owned by another workspace
    is refused by the pool preflight (its tags say whose it is), never silently renamed.
    """
    # "#0" stays in the hashed text so that pools created by earlier versions keep their names.
    digest = hashlib.sha256(f"{namespace}/{workspace}#0".encode()).hexdigest()
    return "kc" + digest[:10]


@dataclass(frozen=True)
class WorkspaceNames:
    """Object names for one workspace. Kaito's names where Kaito has one (kaito-project/kaito v0.12.0
    pkg/workspace/manifests/manifests.go)."""

    workspace: str

    @property
    def workload(self) -> str:  # StatefulSet (inference) or Job (tuning); also the main container's name
        return self.workspace

    @property
    def service(self) -> str:
        return self.workspace

    @property
    def headless_service(self) -> str:
        return f"{self.workspace}-headless"

    @property
    def record(self) -> str:  # ConfigMap that stands in for the Workspace object
        return f"{self.workspace}-workspace"

    @property
    def inference_config(self) -> str:
        return f"{self.workspace}-config"

    @property
    def tuning_config(self) -> str:
        return f"{self.workspace}-params"

    @property
    def first_pod(self) -> str:
        return f"{self.workspace}-0"
