"""What a tune/deploy/apply run was asked to do, beyond the workspace spec itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class RunOptions:
    dry_run: bool = False
    output: str | None = None
    timeout_s: float | None = None
    no_progress: bool = False
    no_wait: bool = False
    recreate: bool = False
    yes: bool = False
    bypass_resource_checks: bool = False
    cleanup: str | None = None  # tune only: on-success | always | never
    # cluster
    kubeconfig: Path | None = None
    context: str | None = None
    # azure
    subscription: str | None = None
    resource_group: str | None = None
    aks_cluster: str | None = None
    cloud: str | None = None
    no_pool: bool = False
    adopt: bool = False
    no_device_plugin: bool = False
    # tune --input-file: the checked, hashed local files (ops.upload.LocalInput), uploaded before the Job starts.
    upload: Any = None
    spot: bool = False  # the pool kaitoctl creates is a Spot pool
    # The -o json result object being built (None unless -o json on a real run).
    result: dict[str, Any] | None = None
    # Asks the user (a terminal, no -y) before money is spent or a workspace is deleted: the question in, yes/no
    # out. None: proceed without asking (-y, or no terminal, as kubectl and helm do in CI).
    confirm: Callable[[str], bool] | None = None
