"""Side effects (the cluster, Azure, the model's HTTP API, port-forwards): imported lazily, never on a fast path."""

from __future__ import annotations

import importlib.util
import sys


def _kubernetes_without_its_init() -> None:
    """`import kubernetes.config` first runs the package's __init__, which imports every part of the client:
    dynamic (and through kubernetes_validate, jsonschema), watch, stream, leader election, informers. kaitoctl
    uses kubernetes.client, kubernetes.config and kubernetes.stream, which import what they need themselves, so
    the package is registered without running its __init__ (a quarter of its import time, measured in bench/deploy).
    `from kubernetes import watch` and the like still work: a submodule is imported on first use."""
    if "kubernetes" in sys.modules:
        return
    spec = importlib.util.find_spec("kubernetes")
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        return  # not installed: the import itself says so
    sys.modules["kubernetes"] = importlib.util.module_from_spec(spec)


_kubernetes_without_its_init()
