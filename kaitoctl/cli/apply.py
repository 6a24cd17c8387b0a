"""kaitoctl apply -f: Kaito Workspace YAML (kaito.sh/v1alpha1 or v1beta1), unchanged, with optional overrides.

Like `kubectl apply -f`: a file may hold several documents, a directory contributes its .yaml/.yml/.json files
(not recursing), '-' reads stdin; every Workspace is checked first, then each is run in turn.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kaitoctl.cli import complete
from kaitoctl.cli import options as o
from kaitoctl.cli.output import reporting

if TYPE_CHECKING:
    from kaitoctl.core.builders import CommonOptions
    from kaitoctl.core.spec import WorkspaceSpec

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True, kw_only=True)
class WorkspaceFileArgs:
    """What apply and render share: the file(s), and the flags that override fields of the Workspace."""

    filename: o.Filename
    runtime: o.RuntimeOverride = None
    max_model_len: o.MaxModelLen = None
    revision: o.Revision = None
    name: o.NameOverride = None
    count: o.AnyCount = None
    ws: o.WorkspaceFlags = field(default_factory=o.WorkspaceFlags)


@dataclass(frozen=True, kw_only=True)
class ApplyArgs:
    file: WorkspaceFileArgs
    cleanup: Annotated[
        str,
        typer.Option(
            "--cleanup",
            metavar="on-success|always|never",
            help="Tuning: remove the Job and its GPU nodes afterwards.",
            rich_help_panel=o.RUN,
            autocompletion=complete.cleanup,
        ),
    ] = "on-success"
    conn: o.ClusterFlags = field(default_factory=o.ClusterFlags)
    azure: o.AzureFlags = field(default_factory=o.AzureFlags)
    pool: o.PoolFlags = field(default_factory=o.PoolFlags)
    run: o.RunFlags = field(default_factory=o.RunFlags)


def _read_bounded(path: Path) -> bytes:
    from kaitoctl.core import yamlsafe

    with path.open("rb") as fh:  # a bounded read: -f /dev/zero or a FIFO never fills memory
        return fh.read(yamlsafe.MAX_FILE_BYTES + 1)


def _read(source: str) -> list[tuple[str, bytes]]:
    """(where, bytes) of every file a -f value names; reads are bounded (core/yamlsafe.py)."""
    import sys

    from kaitoctl.core import yamlsafe
    from kaitoctl.core.errors import InvalidInput

    shown = yamlsafe.clip(source)
    if source == "-":
        return [("stdin", sys.stdin.buffer.read(yamlsafe.MAX_FILE_BYTES + 1))]
    path = Path(source)
    try:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
            if not files:
                raise InvalidInput(
                    "--filename", f"directory {shown} holds no .yaml, .yml or .json file", "check the path"
                )
            return [(yamlsafe.clip(str(p)), _read_bounded(p)) for p in files]
        return [(shown, _read_bounded(path))]
    except OSError as exc:
        raise InvalidInput("--filename", f"cannot read {shown}: {exc.strerror}", "check the path") from None


def load_workspace_docs(filenames: list[str]) -> list[tuple[str, Any]]:
    """Every YAML document of every file, with where it came from ("file" or "file#2" for the second one),
    loaded by the strict bounded loader (no aliases, no duplicate keys, size and depth caps)."""
    from kaitoctl.core import yamlsafe
    from kaitoctl.core.errors import InvalidInput

    docs: list[tuple[str, Any]] = []
    for source in filenames:
        for where, data in _read(source):
            found = yamlsafe.load_documents(yamlsafe.decode(data, where), where)
            docs.extend((where if len(found) == 1 else f"{where}#{i + 1}", d) for i, d in enumerate(found))
    if not docs:
        raise InvalidInput("--filename", f"{', '.join(filenames)} holds no document", "give a Kaito Workspace YAML")
    return docs


def build_specs(args: WorkspaceFileArgs, common: "CommonOptions") -> "list[WorkspaceSpec]":
    """Every Workspace as a spec with the flags applied. Errors name the document; --name needs a single one."""
    from kaitoctl.core.builders import apply_overrides, spec_from_kaito
    from kaitoctl.core.catalog import load_catalog
    from kaitoctl.core.errors import InvalidInput

    catalog = load_catalog()
    docs = load_workspace_docs(args.filename)
    if args.name is not None and len(docs) > 1:
        raise InvalidInput("--name", f"{len(docs)} Workspaces were given; --name renames one", "drop --name")
    specs = []
    for where, doc in docs:
        try:
            spec = spec_from_kaito(doc, catalog)
        except InvalidInput as error:
            if len(docs) > 1:
                error.message = f"{where}: {error.message}"
            raise
        specs.append(
            apply_overrides(
                spec, common, runtime=args.runtime, max_model_len=args.max_model_len, revision=args.revision
            )
        )
    seen: set[tuple[str | None, str]] = set()
    for spec in specs:
        key = (spec.namespace, spec.name)
        if key in seen:
            raise InvalidInput("metadata.name", f"Workspace {spec.name} is given twice", "give each one once")
        seen.add(key)
    return specs


@o.verb
def apply(args: ApplyArgs) -> None:
    """Apply Kaito Workspace YAML as kaitoctl would run it: same spec, flags override the file.

    Several Workspaces (a multi-document file, a directory, several -f) are all checked first, then run in
    turn; with -o json a single Workspace gives one RunResult, several give a List of them.

    Examples:

      # The Phi-3 cookbook's tuning Workspace, with a current GPU size
      kaitoctl apply -f workspace-tuning-phi-3.yaml --instance-type Standard_NC24ads_A100_v4

      # Every Workspace in a directory
      kaitoctl apply -f workspaces/

      # From stdin, printed only
      cat ws.yaml | kaitoctl apply -f - --dry-run
    """
    from kaitoctl.cli import output
    from kaitoctl.cli.workspace_run import DryRun, common_options, new_result, preflight, run, run_options

    json_out = args.run.output == "json" and not args.run.dry_run
    results: list[dict[str, Any]] = []
    current = new_result() if json_out else None
    with reporting(current, previous=results):
        from kaitoctl.core.catalog import load_catalog

        opts = run_options(args.run, args.conn, ws=args.file.ws, azure=args.azure, pool=args.pool, cleanup=args.cleanup)
        specs = build_specs(
            args.file, common_options(args.file.ws, args.conn, name=args.file.name, count=args.file.count)
        )
        catalog = load_catalog()
        if opts.dry_run:
            dry = DryRun()
            for spec in specs:
                dry.add(spec, opts, catalog)
            dry.finish(opts.output)
            return
        for spec in specs:
            preflight(spec, opts, catalog)
        for spec in specs:
            done = run(spec, opts, catalog, current)
            if current is None:
                output.print_result(done, json_output=False)
                continue
            results.append(dict(current))
            current.clear()  # reporting() holds this object: it becomes the next workspace's document
            current.update(new_result())
        if json_out:
            output.print_json(results[0] if len(results) == 1 else output.document("List", items=results))
