"""`kaitoctl export`: the Kaito Workspace for a workspace kaitoctl ran, from its record (one read, no writes)."""

from __future__ import annotations

from dataclasses import replace

from kaitoctl.core.catalog import Catalog
from kaitoctl.core.errors import NotFound
from kaitoctl.core.export import Export, to_kaito_workspace
from kaitoctl.core.naming import WorkspaceNames
from kaitoctl.ops import cluster
from kaitoctl.ops.interfaces import KubeApi


def export_workspace(kube: KubeApi, namespace: str, name: str, catalog: Catalog) -> Export:
    """The v1beta1 Workspace of the spec kaitoctl recorded (as planned: SKU and runtime filled in)."""
    record = cluster.get_record(kube, namespace, WorkspaceNames(name).record)
    if record is None:
        raise NotFound(f"no kaitoctl workspace {name!r} in namespace {namespace}", hint="`kaitoctl status` lists them")
    placement = record.placement
    # A record without its placement (written before kaitoctl stored one): named nodes mean existing nodes.
    provisioned = placement.mode == "pool" if placement is not None else not record.spec.resource.preferred_nodes
    return to_kaito_workspace(
        replace(record.spec, namespace=namespace),
        provisioned=provisioned,
        default_dataset_url=catalog.defaults.tuning_dataset_url,
        spot=placement is not None and placement.spot,
    )
