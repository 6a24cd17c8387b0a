"""Golden files of rendered workloads that cannot change silently.

- Only the workload objects are kept (Services, StatefulSet, Job, ConfigMaps of the run). The workspace record
  ConfigMap and the spec annotation it shares with the workloads are left out: their content is pinned by
  tests/unit/test_record.py, so a change of the record format does not rewrite every golden file.
- KAITOCTL_UPDATE_GOLDEN=1 rewrites the files that differ, deletes golden files that no test declares, and prints a
  unified diff of every change at the end of the session. It refuses to run under CI (tests/unit/conftest.py).
- Every golden name must be declared up front (`GoldenDir.declare`); `test_render.py` fails on a file on disk
  that no test declares, so a renamed preset or matrix entry cannot leave a stale file behind.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kaitoctl.core.manifests import to_yaml
from kaitoctl.core.naming import RECORD_KIND_LABEL, SPEC_ANNOTATION

GOLDEN_ROOT = Path(__file__).resolve().parent.parent / "golden"
UPDATE_ENV = "KAITOCTL_UPDATE_GOLDEN"
# What the spec annotation shows in a golden file: its presence is pinned, its content is tested elsewhere.
SPEC_PLACEHOLDER = "<workspace spec JSON: pinned by tests/unit/test_record.py>"


def update_requested() -> bool:
    return os.environ.get(UPDATE_ENV) == "1"


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def workloads_only(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects without the workspace record, with the spec annotation replaced by a placeholder."""
    kept: list[dict[str, Any]] = []
    for obj in objects:
        meta = obj.get("metadata", {})
        if RECORD_KIND_LABEL in (meta.get("labels") or {}):
            continue
        annotations = meta.get("annotations") or {}
        if SPEC_ANNOTATION in annotations:
            obj = {**obj, "metadata": {**meta, "annotations": {**annotations, SPEC_ANNOTATION: SPEC_PLACEHOLDER}}}
        kept.append(obj)
    return kept


@dataclass
class GoldenDir:
    root: Path
    update: bool
    declared: set[str] = field(default_factory=set)
    # (relative name, unified diff) for every file rewritten or removed in this session.
    changes: list[tuple[str, str]] = field(default_factory=list)

    def declare(self, *names: str) -> None:
        self.declared.update(names)

    def check(self, name: str, objects: list[dict[str, Any]]) -> None:
        """Compare the workloads of `objects` with golden file `name`; rewrite it (and record the diff) on update."""
        if name not in self.declared:
            raise AssertionError(f"golden file {name} is not declared; add it to the declared set in test_render.py")
        path = self.root / name
        text = to_yaml(workloads_only(objects))
        old = path.read_text() if path.exists() else None
        if text == old:
            return
        if not self.update:
            if old is None:
                raise AssertionError(f"missing golden file {path}; run with {UPDATE_ENV}=1 and review the diff")
            diff = _diff(name, old, text)
            raise AssertionError(f"{name} differs from its golden file ({UPDATE_ENV}=1 to accept):\n{diff}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.changes.append((name, _diff(name, old or "", text)))

    def on_disk(self) -> set[str]:
        return {p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()}

    def undeclared(self) -> set[str]:
        """Golden files that no test reads. On update they are deleted (and reported)."""
        stale = self.on_disk() - self.declared
        if self.update:
            for name in sorted(stale):
                path = self.root / name
                self.changes.append((name, _diff(name, path.read_text(), "")))
                path.unlink()
            return set()
        return stale


def _diff(name: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/tests/golden/{name}",
            tofile=f"b/tests/golden/{name}",
        )
    )


# The session's golden directory, shared by test_render.py and the summary hook in tests/unit/conftest.py.
GOLDEN = GoldenDir(GOLDEN_ROOT, update=update_requested())
