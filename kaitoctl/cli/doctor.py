"""kaitoctl doctor: one table of readiness checks (cluster, RBAC, Azure, quota, GPUs), each with its fix."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from kaitoctl.cli import options as o
from kaitoctl.cli.output import check_output_format, document, print_json, reporting, stderr
from kaitoctl.cli.table import print_table


@dataclass(frozen=True, kw_only=True)
class DoctorArgs:
    output: o.JsonOutput = None
    conn: o.ClusterFlags = field(default_factory=o.ClusterFlags)
    azure: o.AzureFlags = field(default_factory=o.AzureFlags)


@o.verb
def doctor(args: DoctorArgs) -> None:
    """Check that kaitoctl can work here: kube context, RBAC, Azure, vCPU quota, device plugin, free GPUs.

    Each row is ok, warn (a feature is limited), fail (a blocker) or skip, with the fix. Exit code 0 when nothing
    fails (warnings allowed), 5 when a check fails.

    Examples:

      kaitoctl doctor
      kaitoctl doctor -n team-a --resource-group rg --cluster aks -o json
    """
    with reporting():
        from kaitoctl.cli.workspace_run import run_options
        from kaitoctl.core.catalog import load_catalog
        from kaitoctl.core.errors import Blocked
        from kaitoctl.ops.doctor import diagnose

        fmt = check_output_format(args.output, ("json",))
        opts = run_options(o.RunFlags(output=fmt), args.conn, ws=o.WorkspaceFlags(), azure=args.azure)
        report = diagnose(opts, load_catalog(), namespace=args.conn.namespace)
        if fmt == "json":
            print_json(
                document(
                    "DoctorReport",
                    checks=[c.to_dict() for c in report.checks],
                    blockers=len(report.blockers),
                    warnings=len(report.warnings),
                )
            )
        else:
            rows = [[c.name, c.status.upper(), c.detail, c.fix or "-"] for c in report.checks]
            print_table(["CHECK", "STATUS", "DETAIL", "FIX"], rows)
            sys.stdout.flush()
            if not report.blockers:
                stderr().print(
                    f"no blockers ({len(report.warnings)} warning(s))" if report.warnings else "all checks passed"
                )
        if report.blockers:
            raise Blocked([c.name for c in report.blockers])
