"""kaitoctl render -f: the manifests Workspace YAML becomes (same as apply --dry-run); a CI lint step."""

from dataclasses import dataclass

from kaitoctl.cli import options as o
from kaitoctl.cli.apply import WorkspaceFileArgs
from kaitoctl.cli.output import reporting


@dataclass(frozen=True, kw_only=True)
class RenderArgs:
    file: WorkspaceFileArgs
    namespace: o.Namespace = None
    no_pool: o.NoPool = False
    output: o.ManifestOutput = None


@o.verb
def render(args: RenderArgs) -> None:
    """Print the plan (stderr) and the manifests (stdout) for Kaito Workspace YAML. Touches nothing.

    Exits 2 when a real run would be refused (retired GPU size, a model that does not fit, a bad field), after
    printing the manifests, so it works as a CI lint step.

    Examples:

      # Lint every Workspace of a repository in CI
      kaitoctl render -f deploy/workspaces/ > /dev/null

      # Render for kubectl (a v1 List)
      kaitoctl render -f ws.yaml -o json | kubectl create --dry-run=client -f -
    """
    from kaitoctl.cli.workspace_run import DryRun, common_options, run_options

    with reporting():
        from kaitoctl.core.catalog import load_catalog

        conn = o.ClusterFlags(namespace=args.namespace)
        opts = run_options(
            o.RunFlags(dry_run=True, output=args.output), conn, ws=args.file.ws, pool=o.PoolFlags(no_pool=args.no_pool)
        )
        from kaitoctl.cli.apply import build_specs

        specs = build_specs(args.file, common_options(args.file.ws, conn, name=args.file.name, count=args.file.count))
        catalog = load_catalog()
        dry = DryRun()
        for spec in specs:
            dry.add(spec, opts, catalog)
        dry.finish(opts.output)
