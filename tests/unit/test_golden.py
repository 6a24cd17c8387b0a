"""The golden-file mechanism itself (tests/unit/golden.py): a mismatch fails with its diff, an update rewrites and
reports, a stale file is caught, and an update under CI is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.golden import SPEC_PLACEHOLDER, GoldenDir

REPO = Path(__file__).resolve().parents[2]

RECORD = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "w-workspace", "labels": {"kaitoctl.io/record": "workspace"}, "annotations": {"x": "1"}},
}


def _job(image: str) -> dict[str, object]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "w", "annotations": {"kaitoctl.io/spec": '{"v":1}', "keep": "me"}},
        "spec": {"image": image},
    }


def test_a_mismatch_fails_with_the_diff_and_leaves_the_file(tmp_path: Path) -> None:
    g = GoldenDir(tmp_path, update=False)
    g.declare("a.yaml")
    (tmp_path / "a.yaml").write_text("old: text\n")
    with pytest.raises(AssertionError) as e:
        g.check("a.yaml", [_job("new")])
    assert "-old: text" in str(e.value) and "+  image: new" in str(e.value)
    assert (tmp_path / "a.yaml").read_text() == "old: text\n"
    assert g.changes == []


def test_a_missing_file_fails_without_update(tmp_path: Path) -> None:
    g = GoldenDir(tmp_path, update=False)
    g.declare("a.yaml")
    with pytest.raises(AssertionError, match="missing golden file"):
        g.check("a.yaml", [_job("x")])
    assert not (tmp_path / "a.yaml").exists()


def test_update_rewrites_only_what_differs_and_reports_each_diff(tmp_path: Path) -> None:
    g = GoldenDir(tmp_path, update=True)
    g.declare("a.yaml", "sub/b.yaml")
    g.check("a.yaml", [RECORD, _job("one")])
    g.check("sub/b.yaml", [_job("two")])
    first = (tmp_path / "a.yaml").read_text()
    # The record is left out and the spec annotation is a placeholder; other annotations stay.
    assert "w-workspace" not in first and SPEC_PLACEHOLDER in first and "keep: me" in first
    assert [name for name, _ in g.changes] == ["a.yaml", "sub/b.yaml"]
    assert "+++ b/tests/golden/a.yaml" in g.changes[0][1] and "+  image: one" in g.changes[0][1]
    g.changes.clear()
    g.check("a.yaml", [_job("one")])  # unchanged: not rewritten, not reported
    g.check("sub/b.yaml", [_job("three")])
    assert [name for name, _ in g.changes] == ["sub/b.yaml"]
    assert "-  image: two" in g.changes[0][1] and "+  image: three" in g.changes[0][1]


def test_an_undeclared_check_is_an_error(tmp_path: Path) -> None:
    g = GoldenDir(tmp_path, update=True)
    with pytest.raises(AssertionError, match="not declared"):
        g.check("a.yaml", [_job("x")])
    assert not (tmp_path / "a.yaml").exists()


def test_stale_files_fail_and_update_deletes_them_with_a_diff(tmp_path: Path) -> None:
    (tmp_path / "keep.yaml").write_text("k: 1\n")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "gone.yaml").write_text("g: 1\n")
    g = GoldenDir(tmp_path, update=False)
    g.declare("keep.yaml")
    assert g.undeclared() == {"old/gone.yaml"}
    u = GoldenDir(tmp_path, update=True)
    u.declare("keep.yaml")
    assert u.undeclared() == set()
    assert not (tmp_path / "old" / "gone.yaml").exists() and (tmp_path / "keep.yaml").exists()
    assert [name for name, _ in u.changes] == ["old/gone.yaml"] and "-g: 1" in u.changes[0][1]


def test_update_is_refused_under_ci() -> None:
    env = {**os.environ, "CI": "true", "KAITOCTL_UPDATE_GOLDEN": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--co", "-q", "tests/unit/test_golden.py"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "KAITOCTL_UPDATE_GOLDEN=1 under CI" in proc.stdout + proc.stderr
