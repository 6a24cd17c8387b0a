"""`kaitoctl export` as a caller sees it (ops/export.py): the Workspace exported from the record kaitoctl stored in
the cluster, for each placement the run recorded (or none, for a record written before kaitoctl stored one)."""

from __future__ import annotations

import json

import pytest

from kaitoctl.core.errors import NotFound
from kaitoctl.core.naming import PLACEMENT_ANNOTATION
from kaitoctl.core.plan import build_plan
from kaitoctl.core.render import render_plan
from kaitoctl.core.spec import WorkspaceSpec
from kaitoctl.ops.export import export_workspace
from tests.unit import helpers
from tests.unit.fakes import FakeKube

NS = "team-a"
A100 = "Standard_NC24ads_A100_v4"


def stored(spec: WorkspaceSpec, mode: str, *, placement: bool = True) -> FakeKube:
    """A cluster holding the record of a run of `spec` (without its placement annotation: an old record)."""
    catalog = helpers.catalog()
    sku = catalog.sku(A100) if mode != "pool" else None
    plan = build_plan(spec, catalog, placement_mode=mode, sku_override=sku)  # type: ignore[arg-type]
    record = next(o for o in render_plan(plan, catalog) if o["metadata"]["name"] == plan.names.record)
    if not placement:
        del record["metadata"]["annotations"][PLACEMENT_ANNOTATION]
    kube = FakeKube()
    kube.put(record)
    return kube


def test_a_workspace_on_labelled_nodes_exports_without_an_instance_type() -> None:
    kube = stored(helpers.deploy_spec("phi-3", name="phi", namespace=NS, labels=["apps=phi"]), "selector")
    exported = export_workspace(kube, NS, "phi", helpers.catalog())
    assert exported.workspace["resource"] == {"labelSelector": {"matchLabels": {"apps": "phi"}}}
    assert exported.notes == []
    assert exported.dropped == []


def test_an_old_record_without_placement_on_a_pool_exports_the_sku_kaito_provisions() -> None:
    kube = stored(helpers.deploy_spec("phi-3", name="phi", namespace=NS), "pool", placement=False)
    exported = export_workspace(kube, NS, "phi", helpers.catalog())
    resource = exported.workspace["resource"]
    assert resource["labelSelector"] == {"matchLabels": {"kaitoctl.io/workspace": "phi"}}
    assert set(resource) == {"instanceType", "labelSelector"}
    assert exported.dropped == []


def test_an_old_record_without_placement_on_named_nodes_exports_bring_your_own_nodes() -> None:
    spec = helpers.deploy_spec("phi-3", name="phi", namespace=NS, labels=["apps=phi"], nodes=["gpu-1"])
    kube = stored(spec, "nodes", placement=False)
    exported = export_workspace(kube, NS, "phi", helpers.catalog())
    assert exported.workspace["resource"] == {
        "labelSelector": {"matchLabels": {"apps": "phi"}},
        "preferredNodes": ["gpu-1"],
    }


def test_a_tuning_run_on_the_default_dataset_exports_the_catalog_s_url_unredacted() -> None:
    catalog = helpers.catalog()
    kube = stored(helpers.tune_spec("phi-3", name="t", namespace=NS), "pool")
    # the record itself holds the URL with its query value redacted
    assert "download=true" not in json.dumps(list(kube.objects.values()))
    exported = export_workspace(kube, NS, "t", catalog)
    assert exported.workspace["tuning"]["input"] == {"urls": [catalog.defaults.tuning_dataset_url]}
    assert catalog.defaults.tuning_dataset_url.endswith("?download=true")
    assert not any(n.startswith("tuning.input.urls") for n in exported.notes)


def test_a_workspace_kaitoctl_did_not_run_is_not_found_with_the_hint() -> None:
    kube = stored(helpers.deploy_spec("phi-3", name="phi", namespace=NS), "pool")
    with pytest.raises(NotFound) as caught:
        export_workspace(kube, "other", "phi", helpers.catalog())
    assert str(caught.value) == "no kaitoctl workspace 'phi' in namespace other"
    assert caught.value.hint == "`kaitoctl status` lists them"
    assert kube.writes() == []
