"""Small builders shared by the unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kaitoctl.core.builders import CommonOptions, spec_for_deploy, spec_for_tune
from kaitoctl.core.catalog import Catalog, load_catalog
from kaitoctl.core.plan import Plan, build_plan
from kaitoctl.core.render import render_plan
from kaitoctl.core.spec import WorkspaceSpec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def catalog() -> Catalog:
    return load_catalog()


def tune_spec(preset: str = "phi-3", method: str = "qlora", **kwargs: Any) -> WorkspaceSpec:
    common = CommonOptions(**{k: kwargs.pop(k) for k in list(kwargs) if k in CommonOptions.__dataclass_fields__})
    args: dict[str, Any] = {
        "input_urls": [],
        "input_image": None,
        "input_pvc": None,
        "output_image": None,
        "push_secret": None,
        "output_pvc": None,
        "config": None,
    }
    args.update(kwargs)
    return spec_for_tune(catalog(), preset, method=method, common=common, **args)


def deploy_spec(preset: str = "phi-3", **kwargs: Any) -> WorkspaceSpec:
    common = CommonOptions(**{k: kwargs.pop(k) for k in list(kwargs) if k in CommonOptions.__dataclass_fields__})
    args: dict[str, Any] = {"runtime": None, "adapters": [], "config": None, "max_model_len": None}
    args.update(kwargs)
    return spec_for_deploy(catalog(), preset, common=common, **args)


def plan_of(spec: WorkspaceSpec, **kwargs: Any) -> Plan:
    return build_plan(spec, catalog(), **kwargs)


def render(spec: WorkspaceSpec, **kwargs: Any) -> list[dict[str, Any]]:
    return render_plan(plan_of(spec, **kwargs), catalog())


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]
