"""The rendering helpers the golden files only reach with ordinary values: YAML escaping of every code point that
YAML 1.1 treats as a break or refuses, long-name hashing, undefined template values, script loading."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
import yaml

from kaitoctl.core import render
from kaitoctl.core.render import k8s_name, render_template, script, yaml_scalar


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", '"plain"'),
        ("tab\tkept", '"tab\\tkept"'),
        ("nel\x85", '"nel\\u0085"'),
        ("ls\u2028ps\u2029", '"ls\u2028ps\u2029"'),  # PyYAML reads them back inside double quotes
        ("nonchar\uffff", '"nonchar\\uffff"'),
        ("del\x7f", '"del\\u007f"'),
        ("emoji 🚀", '"emoji 🚀"'),
        ("nbsp\xa0", '"nbsp\xa0"'),
        (3, "3"),
        (None, "null"),
        (True, "true"),
        ({"b": 1, "a": [2]}, '{"b": 1, "a": [2]}'),  # insertion order kept
    ],
)
def test_yaml_scalar_exact_text(value: object, text: str) -> None:
    assert yaml_scalar(value) == text
    assert yaml.safe_load(f"k: {text}") == {"k": value}


def test_yaml_scalar_escapes_astral_control_free_text_only() -> None:
    assert yaml_scalar("\U0001f600") == '"\U0001f600"'  # astral, printable: kept
    assert yaml_scalar("\U000e0001") == '"\U000e0001"'  # astral tag character: allowed by YAML
    assert yaml_scalar("\ud800") == '"\\ud800"'  # a lone surrogate: escaped


def test_undefined_template_values_are_an_error() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render_template("workspace-record.yaml.j2", namespace="n")


@pytest.mark.parametrize(
    ("parts", "name"),
    [
        (("a", "b"), "a-b"),
        (("Phi_3", "Mini"), "phi-3-mini"),
        (("--x--",), "x"),
        (("a" * 63,), "a" * 63),
    ],
)
def test_k8s_name_short(parts: tuple[str, ...], name: str) -> None:
    assert k8s_name(*parts) == name


def test_k8s_name_long_keeps_a_hash_suffix() -> None:
    long = k8s_name("a" * 64)
    assert len(long) == 63 and long.startswith("a" * 54 + "-") and long != k8s_name("a" * 65)
    assert k8s_name("b" * 20, limit=10) == k8s_name("b" * 20, limit=10) and len(k8s_name("b" * 20, limit=10)) == 10
    assert k8s_name("ab-" * 30, limit=12)[:3] == "ab-"


def test_scripts_drop_their_leading_comment_block() -> None:
    text = script("train.sh")
    assert not text.startswith("#") and text.strip()


def test_compiled_templates_are_cached_between_runs(tmp_path: Path) -> None:
    """The second run loads the compiled templates from Jinja2's cache (a private directory under TMPDIR) and
    renders the same manifests."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    argv = [sys.executable, "-m", "kaitoctl", "deploy", "phi-3", "--dry-run", "-o", "yaml"]
    first = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=True)
    (cache_dir,) = tmp_path.iterdir()
    cached = sorted(p.name for p in cache_dir.iterdir())
    assert cached and all(name.endswith(".cache") for name in cached)
    again = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=True)
    assert again.stdout == first.stdout


def test_a_failing_cache_write_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """A full or read-only disk only means the next run compiles again."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "dump_bytecode", refuse)
    cache = render._bytecode_cache()
    assert cache is not None
    cache.dump_bytecode(None)  # type: ignore[arg-type]  # swallowed
