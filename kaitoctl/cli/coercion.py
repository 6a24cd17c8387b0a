"""Option values without pydantic on the fast paths.

Typer (0.2x) coerces every non-bool parameter through a pydantic TypeAdapter, and building the first one
imports pydantic: about 100 ms of CPU here, more than everything else a dry run does. kaitoctl's parameters are
plain bool, str, int, float, Path and list[str]. For those, a value that is already acceptable as it is passes
straight through; any other value, and every other annotation, goes to Typer's own coercion, so what users see
for bad input (the message, the exit code 2) is Typer's unchanged.

This hooks a private attribute of Typer's parameters (`_runtime_param`, filled lazily by Typer itself). Should
Typer move it, `install` does nothing: kaitoctl stays correct, only slower, and tests/unit/test_import_budget.py
fails because pydantic shows up again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

from typer._click import Context
from typer.core import TyperGroup

try:
    from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
except ImportError:  # another Typer: keep its own coercion
    RuntimeParam = None  # type: ignore[assignment,misc]

_DIGITS = frozenset("0123456789")
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _plain_int(text: str) -> bool:
    body = text[1:] if text[:1] in ("+", "-") else text
    return bool(body) and _DIGITS.issuperset(body)


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class DirectParam(RuntimeParam):
        """bool, str, int, float, Path or list[str], taken as given when the value already has the right shape."""

        kind: str
        descriptor: TypeDescriptor

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            kind = self.kind
            if kind == "bool" and type(value) is bool:
                return value
            if kind == "str" and type(value) is str:
                return value
            if kind == "list[str]" and isinstance(value, (list, tuple)) and all(type(v) is str for v in value):
                return list(value)
            if kind == "int" and type(value) is str and _plain_int(value):
                return int(value)
            if kind == "int" and type(value) is int:
                return value
            if kind == "float" and type(value) is str and _DECIMAL.fullmatch(value):
                return float(value)
            if kind == "Path" and type(value) is str and value:
                from typer._param_types import coerce_cli_path

                return coerce_cli_path(Path(value), self.parameter_info, path_type=Path, param=param, ctx=ctx)
            return build_runtime_param(self.descriptor)._coerce_value(value, param, ctx)


def _kind(descriptor: Any) -> str | None:
    info = descriptor.parameter_info
    if getattr(info, "parser", None) is not None or descriptor.is_choice or descriptor.is_file:
        return None
    if getattr(info, "min", None) is not None or getattr(info, "max", None) is not None:
        return None
    annotation = descriptor.annotation
    if annotation is bool:
        return "bool"
    if annotation is str:
        return "str"
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    if annotation is Path and getattr(info, "path_type", None) in (None, Path):
        return "Path"
    if get_origin(annotation) is list and get_args(annotation) == (str,):
        return "list[str]"
    return None


def _install_param(param: Any) -> int:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or getattr(param, "_runtime_param", False) is not None:
        return 0
    kind = _kind(descriptor)
    if kind is None:
        return 0
    param._runtime_param = DirectParam(
        parameter_info=descriptor.parameter_info, annotation=descriptor.annotation, kind=kind, descriptor=descriptor
    )
    return 1


def install(command: Any, help_option_names: list[str]) -> int:
    """Give every plain parameter of `command` and its subcommands a DirectParam. Returns how many it set.

    The help option is made on first use; it is made here instead (the same object is then cached), with the
    names the root context hands down to every subcommand."""
    if RuntimeParam is None:
        return 0
    count = sum(_install_param(param) for param in getattr(command, "params", []))
    help_option = command.get_help_option(Context(command, help_option_names=help_option_names))
    if help_option is not None:
        count += _install_param(help_option)
    for sub in (getattr(command, "commands", None) or {}).values():
        count += install(sub, help_option_names)
    return count


class _Params(list[Any]):
    """The root's parameter list: Typer appends its --install-completion/--show-completion options after it made
    the group (typer.main.get_command), so each appended parameter is given its DirectParam here."""

    def append(self, param: Any) -> None:
        _install_param(param)
        super().append(param)


class Group(TyperGroup):
    """The root command group: installs DirectParam on the whole tree once it is built."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.params = _Params(self.params)
        install(self, list(self.context_settings.get("help_option_names") or ["--help"]))
