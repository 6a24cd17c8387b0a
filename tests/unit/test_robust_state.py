"""Local and cluster state kaitoctl reads back can be corrupt (issue 10, item 17): the price cache and workspace
records. A bad one is ignored or reported as broken; it never crashes the command for everything else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kaitoctl.adapters import aks
from kaitoctl.core.errors import OperationFailed
from kaitoctl.core.naming import SPEC_ANNOTATION
from kaitoctl.ops.chat import find_workspace
from kaitoctl.ops.cluster import BrokenRecord, list_all_records
from kaitoctl.ops.status import collect
from tests.unit.fakes import FakeKube
from tests.unit.test_ops_status import NS, deploy, write


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "kaitoctl" / "prices.json"


@pytest.mark.parametrize(
    "content",
    [
        "[]",
        "null",
        '"x"',
        "{",
        '{"eastus/standard_nc24ads_a100_v4": []}',
        '{"eastus/standard_nc24ads_a100_v4": {}}',
        '{"eastus/standard_nc24ads_a100_v4": {"at": "x", "usd_per_hour": 1}}',
        '{"eastus/standard_nc24ads_a100_v4": {"at": 1e400, "usd_per_hour": "nan"}}',
        "\udcff",
    ],
)
def test_corrupt_price_cache_is_a_miss_and_gets_rewritten(cache_dir: Path, content: str) -> None:
    cache_dir.parent.mkdir(parents=True)
    cache_dir.write_text(content, encoding="utf-8", errors="surrogateescape")
    assert aks.cached_price("Standard_NC24ads_A100_v4", "eastus") is None
    aks._write_price_cache("eastus/standard_nc24ads_a100_v4", 3.67)
    assert json.loads(cache_dir.read_text())["eastus/standard_nc24ads_a100_v4"]["usd_per_hour"] == 3.67
    assert aks.cached_price("Standard_NC24ads_A100_v4", "eastus") == 3.67


def test_price_cache_write_is_atomic(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    aks._write_price_cache("eastus/a", 1.0)
    before = cache_dir.read_text()

    def crash(*_: Any, **__: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(aks.json, "dump", crash)
    aks._write_price_cache("eastus/b", 2.0)  # fails mid-write: swallowed, the old file stays whole
    assert cache_dir.read_text() == before
    assert [p.name for p in cache_dir.parent.iterdir()] == ["prices.json"]  # no temporary file left behind


BAD_SPECS = [
    "not json",
    "[]",
    '{"version": 1, "workspace": []}',
    '{"version": 1, "workspace": {"name": "x", "resource": {}}}',  # neither inference nor tuning
    '{"version": 1, "workspace": {"name": ["x"], "resource": {}, "inference": {"preset": "phi-3"}}}',
    '{"version": 1, "workspace": {"name": "x", "resource": {"bogus": 1}, "inference": {"preset": "phi-3"}}}',
    '{"version": 1, "workspace": {"name": "x", "resource": {}, "inference": {"preset": "p", "adapters": ["s"]}}}',
    '{"version": 2}',
]


@pytest.mark.parametrize("bad", BAD_SPECS)
def test_one_broken_record_does_not_hide_the_others(bad: str) -> None:
    kube = FakeKube()
    write(kube, deploy("good"))
    [bad_record] = [o for o in write(kube, deploy("bad")) if o["metadata"]["name"] == "bad-workspace"]
    bad_record["metadata"]["annotations"][SPEC_ANNOTATION] = bad
    kube.put(bad_record)

    records, broken = list_all_records(kube, NS)
    assert [r.name for r in records] == ["good"]
    assert broken == [BrokenRecord("bad-workspace", NS, broken[0].problem)]
    problems: list[BrokenRecord] = []
    assert [s.name for s in collect(kube, NS, None, problems)] == ["good"]
    assert [b.name for b in problems] == ["bad-workspace"]
    with pytest.raises(OperationFailed, match="workspace good is not ready"):  # chat gets to the good one
        find_workspace(kube, NS, "good")


def test_broken_status_json_and_placement_are_ignored() -> None:
    kube = FakeKube()
    [record] = [o for o in write(kube, deploy("w")) if o["metadata"]["name"] == "w-workspace"]
    record["data"] = {"status.json": "[1, 2]"}
    record["metadata"]["annotations"]["kaitoctl.io/placement"] = "[]"
    kube.put(record)
    (status,) = collect(kube, NS, "w")
    assert status.record.status == {}
