"""Serialising rendered objects for people and for kubectl: YAML streams and JSON lists, deterministically."""

from __future__ import annotations

import json
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """Block style, no aliases; multi-line strings (scripts, embedded config files) as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # U+0085 (NEL): a YAML loader reads it as a line break in a block or single-quoted scalar and returns "\n" in
    # its place; only the double-quoted style's escape (\N) keeps it.
    if "\x85" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    # Literal style only where it round-trips exactly: no trailing spaces on lines, no tabs, printable text.
    if "\n" in value and not any(line != line.rstrip(" ") for line in value.split("\n")) and "\t" not in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str_representer)


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """A multi-document stream that `kubectl apply -f -` accepts.

    No line folding (huge width): PyYAML's folding of long double-quoted scalars can mangle rare characters
    such as U+0085, and a manifest must parse back to exactly what was rendered."""
    return yaml.dump_all(
        objects, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=120
    )


def to_json(objects: list[dict[str, Any]]) -> str:
    return json.dumps(objects, indent=2, ensure_ascii=False) + "\n"


def object_ref(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"
