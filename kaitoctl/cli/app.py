"""The kaitoctl command tree. Only registers verbs: each lives in its own module, and each imports the heavy
machinery (kubernetes, azure, jinja2, httpx) inside its body, so `kaitoctl --help` stays fast."""

from __future__ import annotations

from typing import Annotated

import typer

from kaitoctl import __version__
from kaitoctl.cli import apply, chat, delete, deploy, logs, presets, render, status, tune

app = typer.Typer(
    name="kaitoctl",
    help="Deploy and fine-tune Kaito model presets on AKS GPU nodes, with no in-cluster operator.\n\n"
    'Everyday flow: `kaitoctl tune phi-3 --method qlora`, `kaitoctl deploy`, `kaitoctl chat "question"`.',
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kaitoctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """kaitoctl: Kaito's presets, imperatively."""


app.command("tune")(tune.tune)
app.command("deploy")(deploy.deploy)
app.command("apply")(apply.apply)
app.command("render")(render.render)
app.command("status")(status.status)
app.command("logs")(logs.logs)
app.command("delete")(delete.delete)
app.command("chat")(chat.chat)
app.add_typer(presets.app, name="presets")


def main() -> None:
    app(prog_name="kaitoctl")
