"""The plan: every decision kaitoctl makes for a workspace, before it renders or writes anything.

Pure: spec + catalog in, Plan out. The plan carries its reasons (fit arithmetic, why this SKU, what the node pool
will do) so that `--dry-run` can show them and `-o json` can hand them to a script.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from kaitoctl.core.catalog import Catalog, Preset, Sku
from kaitoctl.core.conditions import PlacementInfo
from kaitoctl.core.errors import CloudError, InvalidInput
from kaitoctl.core.fields import Fields
from kaitoctl.core.naming import WORKSPACE_LABEL, WORKSPACE_NAMESPACE_LABEL, WorkspaceNames, pool_name
from kaitoctl.core.ranking import Market, Ranking, rank_offers
from kaitoctl.core.redact import redact_urls
from kaitoctl.core.sizing import (
    DEFAULT_MAX_MODEL_LEN,
    InferenceFit,
    TuningEstimate,
    candidate_skus,
    estimate_inference,
    estimate_tuning,
    transformers_fit,
)
from kaitoctl.core.spec import ANNOTATION_BYPASS_CHECKS, WorkspaceSpec
from kaitoctl.core.validation import aks_reserved_labels, effective_labels, validate_spec

PlacementMode = Literal["pool", "nodes", "selector"]
DEFAULT_NAMESPACE = "default"
TUNING_OUTPUT_DIR = "/mnt/results"
ADAPTER_PVC_SIZE = "10Gi"
# --input-file's claim: the 8 GiB upload limit (core/upload.py) plus filesystem overhead. Fixed, so a re-run with
# other files never asks to resize a claim (not every StorageClass can).
INPUT_PVC_SIZE = "10Gi"
INPUT_SUBPATH = "data"  # the uploaded files' directory in that claim, mounted as the trainer's /mnt/data


@dataclass(frozen=True)
class Placement:
    """Where the pods run. pool: an AKS agent pool kaitoctl creates or scales for this workspace; nodes: named
    existing nodes; selector: existing nodes that match the label selector (no cloud calls)."""

    mode: PlacementMode
    nodes: int
    pool_name: str | None = None
    node_names: tuple[str, ...] = ()
    # Node affinity terms the pods get: label -> allowed values.
    affinity: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Labels the agent pool puts on its nodes (pool mode).
    pool_labels: dict[str, str] = field(default_factory=dict)
    # pool mode: a Spot pool (evictable nodes at the Spot price)
    spot: bool = False


@dataclass(frozen=True)
class Plan:
    spec: WorkspaceSpec  # resolved: namespace, instance type and runtime filled in
    preset: Preset
    sku: Sku
    sku_choice: str  # why this SKU: "given" or "smallest current SKU that fits"
    placement: Placement
    runtime: str | None  # inference only
    inference_fit: InferenceFit | None
    tuning_estimate: TuningEstimate | None
    warnings: list[str]
    notes: list[str]
    alternatives: list[str]  # current SKUs that fit, when the given one is retired or does not fit
    # Problems that let a dry run render but stop a real apply before its first write.
    blockers: list[InvalidInput] = field(default_factory=list)
    # How the SKU was chosen when none was given (prices, quota), and what the chosen nodes cost per hour.
    ranking: Ranking | None = None
    market: Market | None = None

    @property
    def usd_per_hour(self) -> float | None:
        """All nodes of the plan, per hour, at the market's (cached or live) price; None when it has none."""
        if self.market is None:
            return None
        price = self.market.prices.get(self.sku.name.lower())
        return None if price is None else price * self.placement.nodes

    def price_summary(self) -> dict[str, Any] | None:
        if self.market is None:
            return None
        price = self.usd_per_hour
        return {
            "usdPerHour": None if price is None else round(price, 4),
            "region": self.market.region,
            "spot": self.market.spot,
            "source": self.market.source,
        }

    @property
    def namespace(self) -> str:
        return self.spec.namespace or DEFAULT_NAMESPACE

    @property
    def names(self) -> WorkspaceNames:
        return WorkspaceNames(self.spec.name)

    @property
    def action(self) -> str:
        return "tune" if self.spec.tuning else "deploy"

    @property
    def gpus_per_node(self) -> int:
        return self.sku.gpus

    def placement_info(self) -> PlacementInfo:
        """What `status` and the waiter need to find this workspace's nodes."""
        p = self.placement
        if p.mode == "pool":
            selector = {WORKSPACE_LABEL: self.spec.name, WORKSPACE_NAMESPACE_LABEL: self.namespace}
        elif p.mode == "selector":
            selector = {k: v[0] for k, v in p.affinity.items() if len(v) == 1}
        else:
            selector = {}
        return PlacementInfo(
            mode=p.mode,
            node_count=p.nodes,
            gpus_per_node=self.sku.gpus,
            instance_type=self.sku.name,
            pool=p.pool_name,
            node_names=p.node_names,
            selector=selector,
            spot=p.spot,
        )

    def _data_summary(self) -> dict[str, Any]:
        if self.spec.tuning is None:
            assert self.spec.inference is not None
            return {"adapters": [a.name for a in self.spec.inference.adapters]}
        src, out = self.spec.tuning.input, self.spec.tuning.output
        return {
            "input": {
                "urls": redact_urls(src.urls),
                "image": src.image,
                "volume": _volume_text(src.volume),
                "defaultDataset": src.default_dataset,
            },
            "output": {**self.output_location(), "createdByKaitoctl": out.managed_pvc is not None},
        }

    def output_location(self) -> dict[str, Any]:
        """Where a tuning run puts the adapter: {image, pushSecret} or {volume: "pvc:NAME", claimName}."""
        assert self.spec.tuning is not None
        out = self.spec.tuning.output
        if out.image:
            return {"image": out.image, "pushSecret": out.image_push_secret}
        claim = out.managed_pvc or ((out.volume or {}).get("persistentVolumeClaim") or {}).get("claimName")
        return {"volume": f"pvc:{claim}" if claim else "volume", "claimName": claim}

    def summary(self) -> dict[str, Any]:
        """JSON-able plan (for -o json and the progress header)."""
        fit: dict[str, Any] = {}
        if self.inference_fit is not None:
            f = self.inference_fit
            fit = {
                "fits": f.fits,
                "nodes": f.nodes,
                "minGPUs": f.min_gpus,
                "maxModelLen": f.max_model_len,
                "explanation": f.explain(),
            }
        if self.tuning_estimate is not None:
            t = self.tuning_estimate
            fit = {
                "fits": t.fits,
                "estimatedGiBPerGPU": round(t.total_gib, 2),
                "parts": {k: round(v, 2) for k, v in t.parts_gib.items()},
                "explanation": t.explain(),
                "assumptions": t.assumptions,
            }
        return {
            "workspace": self.spec.name,
            "namespace": self.namespace,
            "action": self.action,
            "preset": self.preset.name,
            "runtime": self.runtime,
            "method": self.spec.tuning.method if self.spec.tuning else None,
            "instanceType": self.sku.name,
            "instanceTypeChoice": self.sku_choice,
            "gpusPerNode": self.sku.gpus,
            "nodes": self.placement.nodes,
            "placement": {
                "mode": self.placement.mode,
                "pool": self.placement.pool_name,
                "nodeNames": list(self.placement.node_names),
            },
            "spot": self.placement.spot,
            "price": self.price_summary(),
            "ranking": [
                {
                    "instanceType": o.sku.name,
                    "nodes": o.nodes,
                    "usdPerHour": None if o.usd_per_hour is None else round(o.usd_per_hour, 4),
                    "quota": o.quota,
                }
                for o in (self.ranking.offers if self.ranking else [])
            ],
            "fit": fit,
            **self._data_summary(),
            "warnings": self.warnings,
            "notes": self.notes,
            "alternatives": self.alternatives,
            "blockers": [b.message for b in self.blockers],
        }


def _volume_text(volume: dict[str, Any] | None) -> str | None:
    if volume is None:
        return None
    pvc = volume.get("persistentVolumeClaim")
    if isinstance(pvc, dict) and "claimName" in pvc:
        return f"pvc:{pvc['claimName']}"
    return "volume"


def _fits(spec: WorkspaceSpec, preset: Preset, catalog: Catalog, runtime: str | None) -> list[tuple[Sku, int]]:
    """Every current NVIDIA SKU the workload fits on, with its node count."""
    out: list[tuple[Sku, int]] = []
    max_len = spec.inference.max_model_len if spec.inference else None
    for sku in candidate_skus(catalog.skus.values()):
        if spec.tuning is not None:
            if estimate_tuning(preset, sku, spec.tuning.method).fits:
                out.append((sku, 1))
            continue
        fit = (
            estimate_inference(preset, sku, max_model_len=max_len)
            if (runtime or "vllm") == "vllm"
            else transformers_fit(preset, sku, spec.resource.count or 1)
        )
        if fit.fits:
            out.append((sku, fit.nodes))
    return out


def _pick_sku(
    spec: WorkspaceSpec,
    preset: Preset,
    catalog: Catalog,
    runtime: str | None,
    f: Fields,
    market: Market | None,
    no_market: str | None,
) -> tuple[Sku, str, Ranking | None]:
    if spec.resource.instance_type:
        sku = catalog.sku(spec.resource.instance_type)
        assert sku is not None  # validate_spec checked it
        return sku, "given", None
    max_len = spec.inference.max_model_len if spec.inference else None
    fits = _fits(spec, preset, catalog, runtime)
    if not fits:
        if spec.tuning is not None:
            raise InvalidInput(
                f("resource.instanceType"),
                f"no current GPU SKU fits {spec.tuning.method} tuning of {preset.name}",
                None,
            )
        raise InvalidInput(
            f("resource.instanceType"),
            f"no current GPU SKU fits {preset.name}" + (f" at max-model-len {max_len}" if max_len else ""),
            "lower --max-model-len" if max_len else None,
        )
    ranking = rank_offers(fits, market, reason=no_market)
    chosen = ranking.chosen
    if chosen is None:
        assert market is not None  # without a market no offer is short of quota
        first = ranking.offers[0]
        raise CloudError(
            f"no SKU that fits {preset.name} has enough free vCPU quota in {market.region}: "
            + "; ".join(str(o.quota_detail) for o in ranking.offers[:3]),
            code="QuotaExceeded",
            hint=f"request more vCPU quota for {first.sku.quota_family or first.sku.name} in {market.region} "
            "(portal: Quotas → Compute, or `az quota update`), or pass --instance-type",
        )
    return chosen.sku, ranking.basis, ranking


def _fitting_alternatives(spec: WorkspaceSpec, preset: Preset, catalog: Catalog, runtime: str | None) -> list[str]:
    names = []
    for sku in catalog.current_skus():
        if not sku.nvidia:
            continue
        if spec.tuning is not None:
            ok = estimate_tuning(preset, sku, spec.tuning.method).fits
        elif runtime == "transformers":
            ok = transformers_fit(preset, sku, spec.resource.count or 1).fits
        else:
            ok = estimate_inference(
                preset, sku, max_model_len=spec.inference.max_model_len if spec.inference else None
            ).fits
        if ok:
            names.append(sku.name)
    return names


def _does_not_fit(message: str, alternatives: list[str], otherwise: str, f: Fields, bypass: bool) -> str:
    """Raise the no-fit error naming the smallest SKU that fits; with the checks bypassed, return a warning."""
    if not bypass:
        raise InvalidInput(
            f("resource.instanceType"),
            message,
            f"use --instance-type {alternatives[0]} (the smallest that fits)" if alternatives else otherwise,
            choices=alternatives,
        )
    return message + " (resource checks bypassed)"


def build_plan(
    spec: WorkspaceSpec,
    catalog: Catalog,
    *,
    placement_mode: PlacementMode | None = None,
    bypass_resource_checks: bool = False,
    sku_override: Sku | None = None,
    market: Market | None = None,
    no_market: str | None = None,
    spot: bool = False,
) -> Plan:
    """Validate the spec and decide SKU, node count and placement. Raises InvalidInput; never does I/O.

    Without --instance-type the SKU is the first of the ranking: by price × nodes within the free quota when
    `market` has prices, by GPU memory otherwise (`no_market` says why there is no market)."""
    findings = validate_spec(spec, catalog)
    warnings = findings.warnings
    f = Fields(spec.source, spec.mode)
    preset = catalog.resolve_preset(spec.preset)
    namespace = spec.namespace or DEFAULT_NAMESPACE
    bypass = bypass_resource_checks or ANNOTATION_BYPASS_CHECKS in spec.annotations
    notes: list[str] = []

    runtime: str | None = None
    if spec.inference is not None:
        runtime = spec.inference.runtime or ("vllm" if "vllm" in preset.runtimes else preset.runtimes[0])

    ranking: Ranking | None = None
    if sku_override is not None:
        # Existing nodes decide the GPU configuration (their instance type, or GPU feature discovery labels).
        sku, sku_choice = sku_override, "the chosen nodes'"
    else:
        sku, sku_choice, ranking = _pick_sku(spec, preset, catalog, runtime, f, market, no_market)
    if ranking is not None:
        notes.extend(ranking.notes)
    alternatives: list[str] = []
    if not sku.current:
        alternatives = _fitting_alternatives(spec, preset, catalog, runtime)
        warnings.append(
            f"{sku.name} is {sku.status} ({sku.note}); current SKUs that fit: {', '.join(alternatives) or 'none'}; "
            "choose one with --instance-type"
        )
        for blocker in findings.blockers:
            if blocker.field == f("resource.instanceType") and alternatives:
                blocker.hint = f"use --instance-type {alternatives[0]} (the smallest current SKU that fits)"

    fit = _size(spec, preset, catalog, runtime, sku, f, bypass, alternatives, warnings, notes)
    placement = _placement(spec, namespace, placement_mode, fit.nodes, findings.blockers, f)
    if spot and placement.mode == "pool":
        placement = replace(placement, spot=True)
        if spec.tuning is not None:
            warnings.append(
                "--spot: Azure may evict Spot nodes at any time; an evicted tuning Job loses the progress since its "
                "last checkpoint (re-run the same command to start again)"
            )
        else:
            warnings.append("--spot: Azure may evict Spot nodes at any time; the model is down until nodes return")
    elif spot:
        warnings.append("--spot applies to the AKS node pool kaitoctl creates; ignored on existing nodes")

    resolved = replace(spec, namespace=namespace, resource=replace(spec.resource, instance_type=sku.name))
    if resolved.inference is not None:
        resolved = replace(resolved, inference=replace(resolved.inference, runtime=runtime))
    return Plan(
        spec=resolved,
        preset=preset,
        sku=sku,
        sku_choice=sku_choice,
        placement=placement,
        runtime=runtime,
        inference_fit=fit.inference,
        tuning_estimate=fit.tuning,
        warnings=warnings,
        notes=notes,
        alternatives=fit.alternatives,
        blockers=findings.blockers,
        ranking=ranking,
        market=market,
    )


@dataclass
class _Fit:
    """How the model fits the SKU, and on how many nodes."""

    inference: InferenceFit | None
    tuning: TuningEstimate | None
    nodes: int
    alternatives: list[str]  # current SKUs that fit (computed when something does not)


def _size(
    spec: WorkspaceSpec,
    preset: Preset,
    catalog: Catalog,
    runtime: str | None,
    sku: Sku,
    f: Fields,
    bypass: bool,
    alternatives: list[str],
    warnings: list[str],
    notes: list[str],
) -> _Fit:
    """The fit on `sku` (a no-fit raises, or warns with the checks bypassed) and the node count."""
    if spec.inference is None:
        assert spec.tuning is not None
        tuning_estimate = estimate_tuning(preset, sku, spec.tuning.method)
        if not tuning_estimate.fits:
            alternatives = alternatives or _fitting_alternatives(spec, preset, catalog, runtime)
            message = (
                f"{spec.tuning.method} tuning of {preset.name} needs ≈ {tuning_estimate.total_gib:.1f} GiB per GPU; "
                f"{sku.name} has {sku.gpu_memory_gib:g} GiB"
            )
            warnings.append(
                _does_not_fit(message, alternatives, "use qlora, or bypass with --bypass-resource-checks", f, bypass)
            )
        return _Fit(None, tuning_estimate, 1, alternatives)
    if runtime == "vllm":
        inference_fit = estimate_inference(preset, sku, max_model_len=spec.inference.max_model_len)
        if spec.inference.max_model_len is None:
            notes.append(
                f"fit assumes max-model-len {DEFAULT_MAX_MODEL_LEN} (Kaito's default); vLLM sizes the context "
                "at start-up — pin it with --max-model-len"
            )
    else:
        inference_fit = transformers_fit(preset, sku, spec.resource.count or 1)
    if not inference_fit.fits:
        alternatives = alternatives or _fitting_alternatives(spec, preset, catalog, runtime)
        message = f"{preset.name} on {sku.name}: {inference_fit.problem}"
        warnings.append(_does_not_fit(message, alternatives, "lower --max-model-len", f, bypass))
    nodes = max(1, inference_fit.nodes)
    count = spec.resource.count
    if runtime == "vllm" and count is not None and count != nodes:
        warnings.append(f"count {count} is ignored for vLLM (as in Kaito v0.12): the estimate needs {nodes} node(s)")
    if runtime == "transformers":
        nodes = count or 1
    return _Fit(inference_fit, None, nodes, alternatives)


def _placement(
    spec: WorkspaceSpec,
    namespace: str,
    placement_mode: PlacementMode | None,
    nodes: int,
    blockers: list[InvalidInput],
    f: Fields,
) -> Placement:
    """Where the pods go: the node affinity, and the pool's name and labels (or the named nodes)."""
    labels, _ = effective_labels(spec)
    mode: PlacementMode = placement_mode or ("nodes" if spec.resource.preferred_nodes else "pool")
    affinity: dict[str, tuple[str, ...]] = {k: (v,) for k, v in sorted(labels.items())}
    for expr in spec.resource.match_expressions:
        affinity[str(expr["key"])] = tuple(str(v) for v in expr["values"])
    pool = None
    pool_labels: dict[str, str] = {}
    node_names: tuple[str, ...] = ()
    if mode == "pool":
        reserved = aks_reserved_labels(labels)
        if reserved:
            # The pool's nodes carry the selector's labels; AKS refuses these keys at PUT time.
            blockers.append(
                InvalidInput(
                    f("resource.labelSelector.matchLabels"),
                    f"label {reserved[0]!r} cannot be set on an AKS agent pool: AKS reserves the prefixes "
                    "kubernetes.azure.com/, kubernetes.io/ and topology.kubernetes.io/ and the instance-type label",
                    "choose a label of your own (e.g. apps/gpu=true), or select existing nodes with --no-pool",
                )
            )
        pool = pool_name(namespace, spec.name)
        pool_labels = {**labels, WORKSPACE_LABEL: spec.name, WORKSPACE_NAMESPACE_LABEL: namespace}
        affinity[WORKSPACE_LABEL] = (spec.name,)
        affinity[WORKSPACE_NAMESPACE_LABEL] = (namespace,)
    elif mode == "nodes":
        node_names = tuple(spec.resource.preferred_nodes)
        affinity["kubernetes.io/hostname"] = node_names
    return Placement(
        mode=mode,
        nodes=nodes,
        pool_name=pool,
        node_names=node_names,
        affinity=affinity,
        pool_labels=pool_labels,
    )
