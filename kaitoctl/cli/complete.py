"""Shell completion values (`kaitoctl --install-completion`): presets and SKUs from the catalog, workspaces and
namespaces from the cluster. A completion must never fail or print: every error gives no suggestions."""

from __future__ import annotations

from typing import Any

import typer

CLOUDS = ("AzureCloud", "AzureChinaCloud", "AzureUSGovernment")
RUNTIMES = ("vllm", "transformers")
METHODS = ("lora", "qlora")
CLEANUP = ("on-success", "always", "never")


def _match(values: list[str] | tuple[str, ...], incomplete: str) -> list[str]:
    return sorted(v for v in set(values) if v.startswith(incomplete))


def presets(incomplete: str) -> list[str]:
    try:
        from kaitoctl.core.catalog import load_catalog

        catalog = load_catalog()
        names = [p.name for p in catalog.presets.values() if p.usable] + list(catalog.aliases)
    except Exception:  # completion must not break the shell
        return []
    return _match(names, incomplete)


def skus(incomplete: str) -> list[str]:
    try:
        from kaitoctl.core.catalog import load_catalog

        names = [s.name for s in load_catalog().skus.values() if s.current]
    except Exception:  # completion must not break the shell
        return []
    return _match(names, incomplete)


def runtimes(incomplete: str) -> list[str]:
    return _match(RUNTIMES, incomplete)


def methods(incomplete: str) -> list[str]:
    return _match(METHODS, incomplete)


def cleanup(incomplete: str) -> list[str]:
    return _match(CLEANUP, incomplete)


def clouds(incomplete: str) -> list[str]:
    return _match(CLOUDS, incomplete)


def _kube(ctx: typer.Context) -> Any:
    from kaitoctl.ops import cluster

    return cluster.connect(ctx.params.get("kubeconfig"), ctx.params.get("context"))


def contexts(ctx: typer.Context, incomplete: str) -> list[str]:
    """Context names of the kubeconfig (the first file of KUBECONFIG, as kubectl reads it for contexts)."""
    import os
    from pathlib import Path

    import yaml

    try:
        explicit = ctx.params.get("kubeconfig")
        path = Path(str(explicit)) if explicit else None
        if path is None:
            env = os.environ.get("KUBECONFIG", "")
            path = Path(env.split(os.pathsep)[0]) if env else Path.home() / ".kube" / "config"
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return _match([str(c["name"]) for c in doc.get("contexts") or []], incomplete)
    except Exception:  # completion must not break the shell
        return []


def namespaces(ctx: typer.Context, incomplete: str) -> list[str]:
    try:
        from kaitoctl.ops.cluster import namespace_names

        return _match(namespace_names(_kube(ctx)), incomplete)
    except Exception:  # completion must not break the shell (no cluster, no credentials)
        return []


def workspaces(ctx: typer.Context, incomplete: str) -> list[str]:
    try:
        from kaitoctl.ops import cluster

        kube = _kube(ctx)
        namespace = cluster.resolve_namespace(kube, ctx.params.get("namespace"))
        return _match([r.name for r in cluster.list_records(kube, namespace)], incomplete)
    except Exception:  # completion must not break the shell (no cluster, no credentials)
        return []
