"""Where kaitoctl's own data lives: presets.yaml and templates/.

In a wheel they are packaged as kaitoctl/_data/; in a source checkout they sit at the repo's top level. Reading the
program's own data files is the only file access core/ does.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


@cache
def data_dir() -> Path:
    packaged = _PACKAGE_DIR / "_data"
    if (packaged / "presets.yaml").is_file():
        return packaged
    source_tree = _PACKAGE_DIR.parent
    if (source_tree / "presets.yaml").is_file():
        return source_tree
    raise FileNotFoundError("kaitoctl data files (presets.yaml, templates/) are missing: reinstall kaitoctl")


def presets_path() -> Path:
    return data_dir() / "presets.yaml"


def templates_dir() -> Path:
    return data_dir() / "templates"
