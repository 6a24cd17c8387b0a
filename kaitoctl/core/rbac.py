"""The Kubernetes access kaitoctl needs, read from rbac/kaitoctl.yaml (the ClusterRoles users bind).

One list for both: `kaitoctl doctor` asks the API server about exactly these (role, verb, group, resource) tuples,
and tests/e2e/test_rbac.py checks that the same file covers every request a run of each verb makes. So the file,
the doctor and the audit cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from kaitoctl.core.data import data_dir

WORKSPACES_ROLE = "kaitoctl-workspaces"  # bound per namespace (RoleBinding)
CLUSTER_ROLE = "kaitoctl-cluster"  # bound cluster-wide (ClusterRoleBinding)


@dataclass(frozen=True)
class Access:
    role: str
    verb: str
    group: str  # "" for the core group
    resource: str  # plural, with "/subresource" when there is one (pods/log)

    @property
    def namespaced(self) -> bool:
        """Asked in the workspace namespace (the per-namespace role), or cluster-wide."""
        return self.role == WORKSPACES_ROLE

    @property
    def text(self) -> str:
        return f"{self.verb} {self.resource}" + (f".{self.group}" if self.group else "")


def rbac_path() -> Path:
    return data_dir() / "rbac" / "kaitoctl.yaml"


def required_access(text: str | None = None) -> list[Access]:
    """Every (role, verb, group, resource) the ClusterRoles grant, in file order, each once."""
    source = rbac_path().read_text(encoding="utf-8") if text is None else text
    out: list[Access] = []
    for doc in yaml.safe_load_all(source):
        if not isinstance(doc, dict) or doc.get("kind") != "ClusterRole":
            continue
        role = str(doc["metadata"]["name"])
        for rule in doc.get("rules") or []:
            for group in rule.get("apiGroups") or [""]:
                for resource in rule.get("resources") or []:
                    for verb in rule.get("verbs") or []:
                        access = Access(role, str(verb), str(group), str(resource))
                        if access not in out:
                            out.append(access)
    return out
