"""Reading untrusted YAML (a user's Workspace file) in bounded time and memory.

PyYAML's safe loader still expands aliases (a few hundred bytes of nested anchors become gigabytes once anything
walks the result), recurses once per nesting level (RecursionError), and lets a duplicate key silently win.
Kubernetes' own decoder (sigs.k8s.io/yaml, strict mode as used by `kubectl apply --validate=strict`) refuses
duplicate fields; kaitoctl refuses them always. Aliases have no use in a Workspace, so they are refused too.

The document is first walked as a stream of parser events (libyaml when present): that pass sees every alias,
the nesting depth and every scalar's length without building anything. Only a document that passes is built.
"""

from __future__ import annotations

from typing import Any

import yaml

from kaitoctl.core.errors import InvalidInput

MAX_FILE_BYTES = 1024 * 1024  # 1 MiB: a Workspace is a few hundred bytes; the apiserver's own limit is ~1.5 MiB
MAX_DEPTH = 32  # a Workspace nests 7 levels deep (tuning.input.volumeSource.persistentVolumeClaim.claimName)
MAX_SCALAR_CHARS = 8192  # longest legitimate value: a pre-signed URL (a few KiB)
MAX_NODES = 100_000

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def clip(text: str, limit: int = 80) -> str:
    """A value as shown in a message: at most `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _StrictLoader(_Loader):  # type: ignore[misc]
    """The safe loader, refusing duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key (a list or mapping as key): refused below by PyYAML
                continue
            if duplicate:
                mark = key_node.start_mark
                raise _Refused(f"key {clip(str(key))!r} appears twice", mark, "keep one of them")
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping)


class _Refused(Exception):
    def __init__(self, problem: str, mark: Any, fix: str) -> None:
        super().__init__(problem)
        self.problem, self.mark, self.fix = problem, mark, fix


def _where(mark: Any) -> str:
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""


def _scan(text: str) -> None:
    """Walk the parser events; refuse aliases, deep nesting, huge scalars and huge node counts."""
    depth = nodes = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(
                f"uses a YAML alias (*{clip(str(event.anchor), 40)})",
                event.start_mark,
                "write the value out in full; anchors and aliases are not accepted in a Workspace",
            )
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            nodes += 1
            if depth > MAX_DEPTH:
                raise _Refused(f"nests deeper than {MAX_DEPTH} levels", event.start_mark, "a Workspace is shallow")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.ScalarEvent):
            nodes += 1
            if len(event.value) > MAX_SCALAR_CHARS:
                raise _Refused(
                    f"holds a value of {len(event.value)} characters (at most {MAX_SCALAR_CHARS})",
                    event.start_mark,
                    "shorten it",
                )
        if nodes > MAX_NODES:
            raise _Refused(f"holds more than {MAX_NODES} values", event.start_mark, "a Workspace is small")


def decode(data: bytes, source: str, field: str = "--filename") -> str:
    """Bytes of a YAML file as text: UTF-8 (a BOM is allowed), at most MAX_FILE_BYTES, no NUL bytes."""
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(
            field, f"{clip(source)} is larger than {MAX_FILE_BYTES // 1024} KiB", "a Workspace file is a few KiB"
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data:
        raise InvalidInput(field, f"{clip(source)} is not UTF-8 text (UTF-16 or binary)", "save the file as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            field, f"{clip(source)} is not UTF-8 text (byte {exc.start} is not valid UTF-8)", "save the file as UTF-8"
        ) from None


def load_documents(text: str, source: str, field: str = "--filename") -> list[Any]:
    """The non-empty YAML documents of `text`, or InvalidInput naming the line and the fix."""
    if len(text) > MAX_FILE_BYTES:
        raise InvalidInput(field, f"{clip(source)} is larger than {MAX_FILE_BYTES // 1024} KiB", None)
    try:
        _scan(text)
        return [d for d in yaml.load_all(text, Loader=_StrictLoader) if d is not None]
    except _Refused as exc:
        raise InvalidInput(field, f"{clip(source)} {exc.problem}{_where(exc.mark)}", exc.fix) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None)
        detail = f": {clip(str(problem))}" if problem else ""
        raise InvalidInput(
            field, f"{clip(source)} is not valid YAML{_where(mark)}{detail}", "fix the YAML syntax"
        ) from None
    except (RecursionError, ValueError, TypeError, OverflowError) as exc:
        # constructor errors PyYAML does not wrap (e.g. a timestamp out of range)
        raise InvalidInput(
            field, f"{clip(source)} holds a value YAML cannot represent ({type(exc).__name__})", None
        ) from None
