"""`kaitoctl deploy` with no preset: the base model of the namespace's successful tuning run, with its adapter."""

from __future__ import annotations

from kaitoctl.adapters.k8s import resource_path
from kaitoctl.core.conditions import job_succeeded
from kaitoctl.core.errors import InvalidInput, NotFound
from kaitoctl.core.naming import ownership_selector
from kaitoctl.core.spec import Adapter
from kaitoctl.ops import cluster
from kaitoctl.ops.cluster import WorkspaceRecord
from kaitoctl.ops.interfaces import KubeApi
from kaitoctl.ops.options import RunOptions


def _adapter_of(record: WorkspaceRecord) -> Adapter:
    tuning = record.spec.tuning
    assert tuning is not None
    out = tuning.output
    if out.image:
        secrets = (out.image_push_secret,) if out.image_push_secret else ()
        return Adapter(name=record.name, image=out.image, image_pull_secrets=secrets)
    if out.managed_pvc:
        return Adapter(name=record.name, volume={"persistentVolumeClaim": {"claimName": out.managed_pvc}})
    return Adapter(name=record.name, volume=out.volume)


def tuned_base_and_adapter(
    opts: RunOptions, namespace: str | None, name: str | None, *, kube: KubeApi | None = None
) -> tuple[str, Adapter]:
    """The (preset, adapter) to serve. One successful tuning run, or the one named with --from-tuning.
    `kube` stands in for the cluster adapter (tests)."""
    kube = kube if kube is not None else cluster.connect(opts.kubeconfig, opts.context)
    ns = cluster.resolve_namespace(kube, namespace)
    records = [r for r in cluster.list_records(kube, ns) if r.mode == "tuning"]
    jobs, _ = kube.list(resource_path("batch/v1", "Job", ns), label_selector=ownership_selector())
    succeeded_jobs = {j["metadata"]["name"] for j in jobs if job_succeeded(j)}
    done = [r for r in records if r.status.get("state") == "Succeeded" or r.name in succeeded_jobs]
    done.sort(key=lambda r: str(r.status.get("finishedAt") or r.created), reverse=True)
    if name is not None:
        chosen = next((r for r in records if r.name == name), None)
        if chosen is None:
            raise NotFound(
                f"no kaitoctl tuning workspace {name!r} in namespace {ns}", hint="`kaitoctl status` lists them"
            )
        if chosen not in done:
            raise InvalidInput(
                "--from-tuning", f"tuning workspace {name} has not succeeded", "wait for it: `kaitoctl status`"
            )
        return chosen.spec.preset, _adapter_of(chosen)
    if not done:
        running = ", ".join(r.name for r in records) or "none"
        raise InvalidInput(
            "PRESET",
            f"no successful kaitoctl tuning run in namespace {ns} to deploy (tuning workspaces: {running})",
            "name a preset (`kaitoctl deploy phi-3`), or run `kaitoctl tune` first",
        )
    if len(done) > 1:
        raise InvalidInput(
            "PRESET",
            f"{len(done)} successful tuning runs in namespace {ns}; choose one",
            f"kaitoctl deploy --from-tuning {done[0].name} (the most recent)",
            choices=[
                f"{r.name}: {r.spec.preset} {r.spec.tuning.method if r.spec.tuning else ''}, "
                f"finished {r.status.get('finishedAt') or '?'}"
                for r in done
            ],
        )
    return done[0].spec.preset, _adapter_of(done[0])
