"""Where a tuning run pushes its adapter (core/render.docker_reference, Docker's own normalisation), and the cache
of compiled templates: written when it can be, and a disk that cannot take it only costs a compile."""

from __future__ import annotations

from pathlib import Path

import jinja2
import jinja2.bccache
import pytest

from kaitoctl.core.render import _BytecodeCache, docker_reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("image", "full"),
    [
        ("ubuntu", "docker.io/library/ubuntu:latest"),
        ("myorg/adapter:1", "docker.io/myorg/adapter:1"),
        ("myorg/sub/adapter", "docker.io/myorg/sub/adapter:latest"),
        ("myacr.azurecr.io/adapters/phi:0.1", "myacr.azurecr.io/adapters/phi:0.1"),
        ("localhost/team/adapter", "localhost/team/adapter:latest"),
        ("localhost:5000/x/y", "localhost:5000/x/y:latest"),
        ("MyRegistry/x:1", "MyRegistry/x:1"),  # an upper-case first component is a host, as Docker reads it
        (f"reg.io/a/b@{DIGEST}", f"reg.io/a/b@{DIGEST}"),
        (f"ubuntu@{DIGEST}", f"docker.io/library/ubuntu@{DIGEST}"),
        (f"reg.io/a:1@{DIGEST}", f"reg.io/a:1@{DIGEST}"),
    ],
)
def test_an_image_reference_in_full(image: str, full: str) -> None:
    assert docker_reference(image) == full


def _bucket() -> jinja2.bccache.Bucket:
    bucket = jinja2.bccache.Bucket(jinja2.Environment(), "k" * 8, "checksum")
    bucket.code = compile("x = 1", "<template>", "exec")
    return bucket


def test_compiled_templates_are_cached_and_read_back(tmp_path: Path) -> None:
    cache = _BytecodeCache(str(tmp_path))
    cache.dump_bytecode(_bucket())
    assert [p.name for p in tmp_path.iterdir()] == ["__jinja2_kkkkkkkk.cache"]
    again = jinja2.bccache.Bucket(jinja2.Environment(), "k" * 8, "checksum")
    cache.load_bytecode(again)
    assert again.code is not None
    namespace: dict[str, int] = {}
    exec(again.code, namespace)
    assert namespace["x"] == 1


def test_a_cache_that_cannot_be_written_is_no_error(tmp_path: Path) -> None:
    _BytecodeCache(str(tmp_path / "missing" / "dir")).dump_bytecode(_bucket())
    assert list(tmp_path.iterdir()) == []
