"""kaitoctl render -f: the manifests a Workspace YAML becomes (same as apply --dry-run)."""

from __future__ import annotations

from kaitoctl.cli import options as o
from kaitoctl.cli.apply import FileArg, MaxModelLen, Runtime, build_spec
from kaitoctl.cli.output import reporting
from kaitoctl.cli.workspace_run import RunOptions, execute


def render(
    filename: FileArg,
    runtime: Runtime = None,
    max_model_len: MaxModelLen = None,
    name: o.Name = None,
    instance_type: o.InstanceType = None,
    count: o.Count = None,
    label: o.Labels = None,
    node: o.Nodes = None,
    image: o.Image = None,
    image_pull_secret: o.ImagePullSecrets = None,
    model_access_secret: o.ModelAccessSecret = None,
    namespace: o.Namespace = None,
    bypass_resource_checks: o.BypassChecks = False,
    no_pool: o.NoPool = False,
    output: o.Output = None,
) -> None:
    """Print the plan (stderr) and the manifests (stdout) for a Kaito Workspace YAML. Touches nothing."""
    with reporting():
        common = {
            "name": name,
            "namespace": namespace,
            "instance_type": instance_type,
            "count": count,
            "labels": label or [],
            "nodes": node or [],
            "image": image,
            "image_pull_secrets": image_pull_secret or [],
            "model_access_secret": model_access_secret,
        }
        spec = build_spec(filename, common, runtime, max_model_len)
        execute(
            spec,
            RunOptions(dry_run=True, output=output, no_pool=no_pool, bypass_resource_checks=bypass_resource_checks),
        )
