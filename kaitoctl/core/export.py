"""A workspace kaitoctl ran, as the Kaito Workspace (kaito.sh/v1beta1) that Kaito v0.12's operator accepts for the
same workload: the inverse of builders.spec_from_kaito, plus what the plan decided (the SKU, the runtime).

Field rules followed (kaito-project/kaito v0.12.0 api/v1beta1/workspace_types.go, workspace_validation.go; see
/work/shared/reference/kaito.md §1):
- `resource.labelSelector` is a required key. A workspace with no labels of its own on a pool kaitoctl created gets
  `kaitoctl.io/workspace: NAME`, the label kaitoctl already puts on that pool's nodes and in the pods' affinity:
  Kaito puts matchLabels on the nodes it provisions, so it selects them there too, and kaitoctl renders the same
  workloads from it.
- Node auto-provisioning (kaitoctl's pool): `instanceType` is required, so the SKU the plan chose is written.
  Existing nodes (`--node`, `--no-pool`): Kaito's bring-your-own mode wants `instanceType` empty.
- kaitoctl-only settings with no Workspace field are left out and named in `dropped` (the CLI prints each as a
  warning on stderr): the Workspace must stay one Kaito's webhook accepts, so nothing is smuggled into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kaitoctl.core.naming import WORKSPACE_LABEL
from kaitoctl.core.redact import REDACTED
from kaitoctl.core.spec import ANNOTATION_RUNTIME, Adapter, WorkspaceSpec

API_VERSION = "kaito.sh/v1beta1"


@dataclass
class Export:
    workspace: dict[str, Any]
    dropped: list[str] = field(default_factory=list)  # kaitoctl-only settings the Workspace cannot carry
    notes: list[str] = field(default_factory=list)  # differences in behaviour a team moving to Kaito should know


def _preset(name: str, spec: WorkspaceSpec) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if spec.ignored_image:  # as the file had it; ignored by Kaito v0.12 as by kaitoctl
        options["image"] = spec.ignored_image
    if spec.image_pull_secrets:
        options["imagePullSecrets"] = list(spec.image_pull_secrets)
    if spec.model_access_secret:
        options["modelAccessSecret"] = spec.model_access_secret
    return {"name": name, **({"presetOptions": options} if options else {})}


def _adapter(adapter: Adapter) -> dict[str, Any]:
    source: dict[str, Any] = {"name": adapter.name}
    if adapter.image:
        source["image"] = adapter.image
    if adapter.image_pull_secrets:
        source["imagePullSecrets"] = list(adapter.image_pull_secrets)
    if adapter.volume is not None:
        source["volumeSource"] = adapter.volume
    return {"source": source, **({"strength": adapter.strength} if adapter.strength is not None else {})}


def _resource(spec: WorkspaceSpec, provisioned: bool, out: Export) -> dict[str, Any]:
    res = spec.resource
    resource: dict[str, Any] = {}
    if res.count is not None:
        resource["count"] = res.count
    if provisioned and res.instance_type:
        resource["instanceType"] = res.instance_type
    labels = dict(res.match_labels)
    if provisioned and not labels and not res.match_expressions:
        labels = {WORKSPACE_LABEL: spec.name}
    selector: dict[str, Any] = {}
    if labels:
        selector["matchLabels"] = labels
    if res.match_expressions:
        selector["matchExpressions"] = [dict(e) for e in res.match_expressions]
    resource["labelSelector"] = selector
    if res.preferred_nodes:
        resource["preferredNodes"] = list(res.preferred_nodes)
        out.notes.append(
            "resource.preferredNodes: Kaito v0.12 ignores it and schedules on any node matching labelSelector "
            "(kaitoctl pins the pods to the named nodes); label those nodes and select that label"
        )
    if not provisioned and not labels and not res.match_expressions:
        out.notes.append(
            "resource.labelSelector is empty: in Kaito's bring-your-own-nodes mode it must match your GPU nodes; "
            "label them and add the label"
        )
    return resource


def _dropped(spec: WorkspaceSpec, out: Export) -> None:
    """kaitoctl-only settings: named, with how to get the same in Kaito where there is a way."""
    if spec.image:
        out.dropped.append(f"--image {spec.image}: Kaito v0.12 runs every preset on its kaito-base image")
    inf = spec.inference
    if inf is not None and inf.max_model_len is not None:
        out.dropped.append(
            f"--max-model-len {inf.max_model_len}: set vllm.max-model-len in a ConfigMap's inference_config.yaml and "
            "name it in inference.config"
        )
    if inf is not None and inf.revision is not None:
        out.dropped.append(f"--revision {inf.revision}: Kaito loads the weights' Hugging Face main branch")


def to_kaito_workspace(
    spec: WorkspaceSpec, *, provisioned: bool, default_dataset_url: str | None = None, spot: bool = False
) -> Export:
    """The v1beta1 Workspace for `spec` as kaitoctl stored it (its plan already chose the SKU and the runtime).

    `provisioned`: the workspace ran on a pool kaitoctl created (Kaito: node auto-provisioning); else on existing
    nodes (Kaito: bring your own nodes). `default_dataset_url`: the catalog's dataset, for a tuning run that used
    it (the record holds it with its query values redacted, like every URL). `spot`: the pool was a Spot pool."""
    out = Export({})
    metadata: dict[str, Any] = {"name": spec.name}
    if spec.namespace:
        metadata["namespace"] = spec.namespace
    annotations = dict(spec.annotations)
    if spec.inference is not None and spec.inference.runtime:
        annotations[ANNOTATION_RUNTIME] = spec.inference.runtime
    if annotations:
        metadata["annotations"] = dict(sorted(annotations.items()))
    doc: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Workspace",
        "metadata": metadata,
        "resource": _resource(spec, provisioned, out),
    }
    if spec.inference is not None:
        inf = spec.inference
        inference: dict[str, Any] = {"preset": _preset(inf.preset, spec)}
        if inf.config:
            inference["config"] = inf.config
        if inf.adapters:
            inference["adapters"] = [_adapter(a) for a in inf.adapters]
        doc["inference"] = inference
    else:
        assert spec.tuning is not None
        doc["tuning"] = _tuning(spec, out, default_dataset_url)
    _dropped(spec, out)
    if spot:
        # Kaito v0.12's ResourceSpec has no priority field (kaito-project/kaito@v0.12.0
        # api/v1beta1/workspace_types.go: count, instanceType, labelSelector, preferredNodes, partition).
        out.dropped.append("--spot: a Workspace has no Spot setting; Kaito provisions regular (pay-as-you-go) nodes")
    out.workspace = doc
    return out


def _tuning(spec: WorkspaceSpec, out: Export, default_dataset_url: str | None) -> dict[str, Any]:
    tun = spec.tuning
    assert tun is not None
    src, dst = tun.input, tun.output
    data_in: dict[str, Any] = {}
    if src.name:
        data_in["name"] = src.name
    if src.default_dataset and default_dataset_url:
        data_in["urls"] = [default_dataset_url]
    elif src.urls:
        data_in["urls"] = list(src.urls)
        if any(REDACTED in url for url in src.urls):
            out.notes.append(
                "tuning.input.urls: kaitoctl stores URLs with their secrets (password, query values) replaced by "
                f"{REDACTED}; put the real URLs back before applying"
            )
    if src.image:
        data_in["image"] = src.image
    if src.image_pull_secrets:
        data_in["imagePullSecrets"] = list(src.image_pull_secrets)
    if src.volume is not None:
        data_in["volumeSource"] = src.volume
    if src.managed_pvc:
        out.notes.append(
            f"tuning.input: claim {src.managed_pvc} holds the files `--input-file` uploaded under data/, with "
            "kaitoctl's manifest beside them; Kaito mounts a claim's root as /mnt/data: copy the files to the root "
            "of a claim of their own"
        )
    data_out: dict[str, Any] = {}
    if dst.image:
        data_out["image"] = dst.image
    if dst.image_push_secret:
        data_out["imagePushSecret"] = dst.image_push_secret
    if dst.volume is not None:
        data_out["volumeSource"] = dst.volume
    elif dst.managed_pvc:
        data_out["volumeSource"] = {"persistentVolumeClaim": {"claimName": dst.managed_pvc}}
        out.notes.append(
            f"tuning.output: claim {dst.managed_pvc} was created by kaitoctl (Kaito creates none) and "
            f"`kaitoctl delete {spec.name}` deletes it; keep it, or create one of that name first"
        )
    tuning: dict[str, Any] = {"preset": _preset(tun.preset, spec), "method": tun.method}
    if tun.config:
        tuning["config"] = tun.config
    tuning["input"] = data_in
    tuning["output"] = data_out
    return tuning
