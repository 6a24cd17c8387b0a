"""The kaitoctl command tree. Only registers verbs: each lives in its own module, and each imports the heavy
machinery (kubernetes, azure, jinja2, httpx) inside its body, so `kaitoctl --help` stays fast.

`main` builds only the verb on the command line (its module, its options): Typer turns every parameter of every
registered command into a click parameter up front, which for nine verbs costs more than a dry run's own work.
With no verb (`kaitoctl --help`, `--version`, a typo) it registers stand-ins that carry only each verb's summary,
which is all the root help and "No such command" show; tests/unit/test_cli.py checks that the root help is the
same either way. The tests use `app`, the whole tree.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import sys
from typing import Annotated, Any

import typer
import typer.core

from kaitoctl.cli.coercion import Group

# name -> (module, attribute, summary). Order is the order of `kaitoctl --help`; the summary is the first paragraph
# of the verb's docstring (a unit test keeps them equal).
VERBS: dict[str, tuple[str, str, str]] = {
    "tune": (
        "kaitoctl.cli.tune",
        "tune",
        "Fine-tune PRESET (LoRA/QLoRA) as a Kubernetes Job and keep the adapter.",
    ),
    "deploy": ("kaitoctl.cli.deploy", "deploy", "Serve PRESET on GPU nodes and wait until it answers."),
    "apply": (
        "kaitoctl.cli.apply",
        "apply",
        "Apply Kaito Workspace YAML as kaitoctl would run it: same spec, flags override the file.",
    ),
    "render": (
        "kaitoctl.cli.render",
        "render",
        "Print the plan (stderr) and the manifests (stdout) for Kaito Workspace YAML. Touches nothing.",
    ),
    "status": (
        "kaitoctl.cli.status",
        "status",
        "Show workspaces with Kaito's columns: RESOURCEREADY, INFERENCEREADY, JOBSTARTED, WORKSPACESUCCEEDED.",
    ),
    "logs": (
        "kaitoctl.cli.logs",
        "logs",
        "Print a workspace's logs: the inference server (pod 0) or the trainer, by default.",
    ),
    "delete": (
        "kaitoctl.cli.delete",
        "delete",
        "Delete workspaces: every object kaitoctl created (found by its labels) and their AKS node pools.",
    ),
    "stop": (
        "kaitoctl.cli.stop",
        "stop",
        "Stop paying for a workspace's GPUs: scale it and its node pool to 0; `kaitoctl start` resumes it.",
    ),
    "start": (
        "kaitoctl.cli.start",
        "start",
        "Resume a stopped workspace: the same plan as its run (pool size, replicas), then wait until it answers.",
    ),
    "export": (
        "kaitoctl.cli.export",
        "export",
        "Print the Kaito Workspace (kaito.sh/v1beta1) that Kaito's operator accepts for the same workload.",
    ),
    "chat": (
        "kaitoctl.cli.chat",
        "chat",
        "Ask a deployed model. Streams the answer; reaches the cluster through the API server (port-forward).",
    ),
    "eval": (
        "kaitoctl.cli.eval",
        "evaluate",
        "Score a workspace's base model and adapters on a JSONL dataset: accuracy, latency, tokens/s.",
    ),
    "endpoint": (
        "kaitoctl.cli.endpoint",
        "endpoint",
        "Serve a workspace's OpenAI API on 127.0.0.1 until Ctrl-C (through the API server, like chat).",
    ),
    "doctor": (
        "kaitoctl.cli.doctor",
        "doctor",
        "Check that kaitoctl can work here: kube context, RBAC, Azure, vCPU quota, device plugin, free GPUs.",
    ),
    "version": (
        "kaitoctl.cli.version",
        "version",
        "Print kaitoctl's version and the Kaito release whose presets and manifests it follows.",
    ),
    # A group: presets, presets show, presets skus.
    "presets": (
        "kaitoctl.cli.presets",
        "app",
        "List model presets (Kaito's catalog); `presets show NAME` for one, `presets skus` for GPU sizes.",
    ),
}
COMPLETE_VAR = "_KAITOCTL_COMPLETE"  # set by the shell's completion script (click's convention: _PROG_COMPLETE)


def _plain_types() -> None:
    """Help shows what a value is (the metavar: SKU, DURATION, yaml|json), never typer's Python types (<bool>,
    <list[str]>): flags and arguments get an empty type column, their name already says it."""

    def argument_type(self: typer.core.TyperArgument, ctx: object) -> str | None:
        return None

    original = typer.core.TyperOption.display_type_rich

    def option_type(self: typer.core.TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else original(self, ctx)

    typer.core.TyperArgument.display_type_rich = argument_type  # type: ignore[method-assign,assignment]
    typer.core.TyperOption.display_type_rich = option_type  # type: ignore[method-assign]


_plain_types()


def _version(value: bool) -> None:
    if value:
        from kaitoctl.cli.version import print_version

        print_version(None)
        raise typer.Exit()


def root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and the Kaito release and exit."
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say more (one line per HTTP request).")] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Everything, including the libraries' HTTP logs (secrets redacted).")
    ] = False,
) -> None:
    """kaitoctl: Kaito's presets, imperatively."""
    from kaitoctl.cli.options import LogFlags, configure_logging

    configure_logging(LogFlags(verbose=verbose, debug=debug))


def _stand_in() -> None:
    """Never runs: main registers stand-ins only when the command line names no verb."""


def build_app(only: str | None = None, *, stand_ins: bool = False) -> typer.Typer:
    """The command tree with every verb, or with just `only` (a name from VERBS), or with stand-ins that have
    only each verb's summary (enough for the root help)."""
    app = typer.Typer(
        name="kaitoctl",
        help="Deploy and fine-tune Kaito model presets on AKS GPU nodes, with no in-cluster operator.\n\n"
        'Everyday flow: `kaitoctl tune phi-3 --method qlora`, `kaitoctl deploy`, `kaitoctl chat "question"`.',
        cls=Group,
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(root)
    for name, (module, attribute, summary) in VERBS.items():
        if only is not None and name != only:
            continue
        if stand_ins:
            app.command(name, help=summary)(_stand_in)
            continue
        target = getattr(importlib.import_module(module), attribute)
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)
    return app


def verb_of(args: list[str]) -> str | None:
    """The verb a command line runs, when it names one (the root takes only flags, none with a value)."""
    for index, arg in enumerate(args):
        if arg == "--":
            following = args[index + 1 : index + 2]
            return following[0] if following and following[0] in VERBS else None
        if not arg.startswith("-"):
            return arg if arg in VERBS else None
    return None


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole tree, for tests and tools; built on first use
        return build_app()
    raise AttributeError(name)


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM (CI cancelling a job) stops at the same safe points as Ctrl-C. A second SIGTERM (a runner that
    repeats it before its SIGKILL) is ignored, so the first one's stop completes: the failed phase is recorded
    and `-o json` prints its one object instead of a traceback."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def handle_sigterm() -> None:
    """SIGTERM is handled like Ctrl-C: the run stops where it is, -o json still prints its one object (exit 130),
    and a re-run converges."""
    import signal

    signal.signal(signal.SIGTERM, _terminated)


_exit_status: list[int] = []  # main()'s exit status, once it is known


def _is_program() -> bool:
    """kaitoctl is the process (its console script, or `python -m kaitoctl`), not a call from another program."""
    argv0 = sys.argv[0] if sys.argv else ""
    return os.path.basename(argv0) == "kaitoctl" or argv0.endswith(os.path.join("kaitoctl", "__main__.py"))


def _leave_without_teardown() -> None:
    """The last atexit handler (registered first): the other handlers have run (the kubernetes client's removal of
    its temporary certificate files, logging's flush); the output is flushed and the process ends without tearing
    down every imported module one by one, which after a real run costs about 0.1 s once the result is printed."""
    if not _exit_status:
        return  # main() did not finish (an uncaught exception): Python's own ending
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`| head`): nothing more can be written
            stream.flush()
    os._exit(_exit_status[0])


def main() -> None:
    if _is_program():
        atexit.register(_leave_without_teardown)
        from kaitoctl.core import collector

        collector.off_during_startup()  # start-up allocates ~1M long-lived objects (core/collector.py)
    handle_sigterm()
    try:
        if COMPLETE_VAR in os.environ:  # shell completion: the words are in the environment, the whole tree answers
            build_app()(prog_name="kaitoctl")
        else:
            args = sys.argv[1:]
            verb = verb_of(args)
            build_app(verb, stand_ins=verb is None)(args=args, prog_name="kaitoctl")
    except SystemExit as done:
        # sys.exit's meaning: None is 0, a number is the status, anything else is printed and means 1
        code = done.code
        _exit_status.append(0 if code is None else code if isinstance(code, int) else 1)
        raise
    _exit_status.append(0)
