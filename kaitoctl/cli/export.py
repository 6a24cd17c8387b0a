"""kaitoctl export: print the Kaito Workspace (kaito.sh/v1beta1) that Kaito's operator accepts for a workspace."""

import sys
from typing import Annotated

import typer

from kaitoctl.cli import complete
from kaitoctl.cli import options as o
from kaitoctl.cli.output import reporting


@o.verb
def export(
    name: Annotated[
        str,
        typer.Argument(metavar="NAME", help="Workspace name.", autocompletion=complete.workspaces, show_default=False),
    ],
    output: o.DataOutput = None,
    conn: o.ClusterFlags = o.ClusterFlags(),  # noqa: B008 - a frozen dataclass, expanded by @verb
) -> None:
    """Print the Kaito Workspace (kaito.sh/v1beta1) that Kaito's operator accepts for the same workload.

    Written from the spec kaitoctl recorded, with what its plan chose (instance type, runtime). Settings only
    kaitoctl has (--image, --max-model-len, --revision) are left out, each named in a warning on stderr, with how
    to get the same in Kaito where there is a way; differences in behaviour are printed as notes. Reads one
    object; writes nothing.

    Examples:

      # Move a workspace to the Kaito operator
      kaitoctl export phi-3-mini-128k-instruct -n team-a > workspace.yaml
      kubectl apply -f workspace.yaml

      # What kaitoctl would render from it (the same workloads)
      kaitoctl export phi-3-mini-128k-instruct | kaitoctl apply -f - --dry-run
    """
    with reporting():
        from kaitoctl.cli.output import check_output_format, note, print_json, warn
        from kaitoctl.core import manifests
        from kaitoctl.core.catalog import load_catalog
        from kaitoctl.ops import cluster
        from kaitoctl.ops.export import export_workspace

        fmt = check_output_format(output)
        kube = cluster.connect(conn.kubeconfig, conn.context)
        ns = cluster.resolve_namespace(kube, conn.namespace)
        exported = export_workspace(kube, ns, name, load_catalog())
        for dropped in exported.dropped:
            warn(f"not exported (no Workspace field): {dropped}")
        for text in exported.notes:
            note(text)
        if fmt == "json":
            print_json(exported.workspace)
            return
        sys.stdout.write(manifests.to_yaml([exported.workspace]))
