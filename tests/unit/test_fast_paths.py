"""What the start-up shortcuts must not change: option values, messages for bad input, help, plain stderr."""

from __future__ import annotations

import inspect
import io
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from rich.console import Console
from rich.markup import escape as rich_escape
from typer.testing import CliRunner

from kaitoctl.cli import app as app_module
from kaitoctl.cli.app import VERBS, build_app, verb_of
from kaitoctl.cli.coercion import DirectParam, install
from kaitoctl.cli.output import PlainConsole, clean, escape, plain

runner = CliRunner()


def _probe_app() -> typer.Typer:
    """A small tree with every kind of parameter kaitoctl uses, echoing what its command received."""
    from kaitoctl.cli.coercion import Group

    probe = typer.Typer(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})

    @probe.callback()
    def root() -> None:
        """Probe."""

    @probe.command("run")
    def run(
        name: str,
        count: int | None = None,
        ratio: float | None = None,
        label: list[str] | None = typer.Option(None, "--label"),  # noqa: B008
        config: Path | None = None,
        must: Path | None = typer.Option(None, "--must", exists=True),  # noqa: B008
        flag: bool = False,
    ) -> None:
        typer.echo(repr((name, count, ratio, label, config, must, flag)))

    return probe


def test_plain_values_pass_straight_through() -> None:
    result = runner.invoke(
        _probe_app(),
        [
            "run",
            "x",
            "--count",
            "-3",
            "--ratio",
            "0.7",
            "--label",
            "a=b",
            "--label",
            "c",
            "--config",
            "k.yaml",
            "--flag",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == repr(("x", -3, 0.7, ["a=b", "c"], Path("k.yaml"), None, True))
    defaults = runner.invoke(_probe_app(), ["run", "y"])
    assert defaults.stdout.strip() == repr(("y", None, None, None, None, None, False))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "two"], "Input should be a valid integer"),
        (["--count", "1.5"], "Input should be a valid integer"),
        (["--ratio", "warm"], "Input should be a valid number"),
        (["--must", "/nonexistent/kaitoctl"], "does not exist"),
    ],
)
def test_bad_values_get_typers_own_message(args: list[str], message: str) -> None:
    result = runner.invoke(_probe_app(), ["run", "x", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())


def test_every_parameter_of_kaitoctl_is_coerced_without_pydantic() -> None:
    """A new option of another type would bring pydantic back into every run: name it here if it must."""
    group = typer.main.get_command(build_app())
    missing = []

    def walk(command: object, path: str) -> None:
        for param in getattr(command, "params", []):
            if not isinstance(getattr(param, "_runtime_param", None), DirectParam):
                missing.append(f"{path} {param.name}")
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, f"{path} {name}")

    walk(group, "kaitoctl")
    assert missing == []
    assert install(group, ["-h", "--help"]) == 0  # already done once, when the group was made


def test_verb_of_finds_the_verb_click_will_run() -> None:
    assert verb_of(["tune", "phi-3", "--dry-run"]) == "tune"
    assert verb_of(["-h"]) is None and verb_of([]) is None
    assert verb_of(["--version", "deploy"]) == "deploy"
    assert verb_of(["tnue"]) is None  # a typo gets the whole list and click's "did you mean"
    assert verb_of(["--", "status"]) == "status"


def test_root_help_from_stand_ins_is_the_full_trees() -> None:
    full = runner.invoke(build_app(), ["--help"], env={"COLUMNS": "100"})
    light = runner.invoke(build_app(stand_ins=True), ["--help"], env={"COLUMNS": "100"})
    assert full.exit_code == light.exit_code == 0
    assert light.stdout == full.stdout
    typo = runner.invoke(build_app(stand_ins=True), ["tnue"])
    assert typo.exit_code == 2 and "tune" in typo.stderr


def test_verb_summaries_are_the_docstrings() -> None:
    import importlib

    for name, (module, attribute, summary) in VERBS.items():
        target = getattr(importlib.import_module(module), attribute)
        doc = target.info.help if isinstance(target, typer.Typer) else inspect.getdoc(target)
        assert doc is not None and doc.split("\n\n")[0].replace("\n", " ") == summary, name


def test_main_runs_only_the_named_verb() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kaitoctl", "presets", "skus"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.startswith("NAME")
    assert "app" not in vars(app_module)  # `app` is built on demand only


MARKUP = [
    "a [b] c",
    "x\\[bold] y",
    "[bold]hi[/] there",
    "path C:\\dir\\",
    "list [1, 2] and [#fff]",
    "weird \\\\[red]z[/red]",
    "control\rchars\x07 stay out",
    "[dim]note:[/] [link=x]y[/link]",
]


@pytest.mark.parametrize("markup", MARKUP)
def test_plain_output_is_what_rich_prints_off_a_terminal(markup: str) -> None:
    for text in (markup, escape(markup), f"[yellow]warning:[/] {escape(markup)}"):
        buf = io.StringIO()
        Console(file=buf, highlight=False, soft_wrap=True, emoji=False, color_system=None).print(text)
        assert plain(text) + "\n" == buf.getvalue()
    assert escape(markup) == rich_escape(clean(markup))  # escape also drops control characters (issue 10)


def test_plain_console_writes_to_the_current_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    PlainConsole().print("[bold red]error:[/] " + escape("bad [value]"))
    assert capsys.readouterr().err == "error: bad [value]\n"
