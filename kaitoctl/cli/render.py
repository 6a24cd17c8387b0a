"""kaitoctl render -f: the manifests a Workspace YAML becomes (same as apply --dry-run)."""

from __future__ import annotations

from kaitoctl.cli import options as o
from kaitoctl.cli.apply import FileArg, MaxModelLen, Runtime, build_spec
from kaitoctl.cli.output import reporting
from kaitoctl.cli.workspace_run import common_from, execute, options_from


def render(
    filename: FileArg,
    runtime: Runtime = None,
    max_model_len: MaxModelLen = None,
    revision: o.Revision = None,
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
    params = dict(locals())
    with reporting():
        spec = build_spec(filename, common_from(params), runtime, max_model_len, revision)
        execute(spec, options_from({**params, "dry_run": True}, None))
