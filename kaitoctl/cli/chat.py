"""kaitoctl chat: ask the deployed model from a laptop or a CI runner (no kubectl, no in-cluster DNS)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kaitoctl.cli import options as o
from kaitoctl.cli.output import check_output_format, clean, escape, print_json, reporting, stderr

if TYPE_CHECKING:
    from kaitoctl.ops.chat import Session

CHAT = "Chat"


def _history_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kaitoctl" / "chat_history"


def _ask(session: Session, messages: list[dict[str, str]], opts: dict[str, Any]) -> str:
    """One question: streamed to stdout by default; the full JSON object with -o json."""
    from kaitoctl.adapters.chat import ChatRequest, StreamResult

    if session.model is None:  # legacy POST /chat (Kaito ≤ v0.9 transformers images): prompt in, Result out
        prompt = "\n".join(m["content"] for m in messages if m["role"] == "user")
        reply = session.client.legacy_chat(prompt, max_tokens=opts["max_tokens"], temperature=opts["temperature"])
        if opts["json"]:
            print_json(reply)
        else:
            sys.stdout.write(clean(str(reply.get("Result", reply))).rstrip("\n") + "\n")
        return str(reply.get("Result", ""))
    request = ChatRequest(messages, session.model, opts["max_tokens"], opts["temperature"])
    if opts["json"] or opts["no_stream"]:
        reply = session.client.complete(request)
        content = str(((reply.get("choices") or [{}])[0].get("message") or {}).get("content") or "")
        if opts["json"]:
            print_json(reply)
        else:
            sys.stdout.write(clean(content).rstrip("\n") + "\n")
        return content
    result = StreamResult()
    for delta in session.client.stream(request, result):
        sys.stdout.write(clean(delta))  # the server's text, never its escape sequences
        sys.stdout.flush()
    sys.stdout.write("\n")
    sys.stdout.flush()
    return result.content


def _repl(session: Session, system: str | None, opts: dict[str, Any]) -> None:
    """Interactive chat with line editing and history (readline); /reset forgets, /exit or Ctrl-D leaves."""
    import readline

    history = _history_file()
    try:
        history.parent.mkdir(parents=True, exist_ok=True)
        if history.exists():
            readline.read_history_file(str(history))
    except OSError:
        pass
    messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    console = stderr()
    console.print(
        f"[dim]chatting with {escape(session.model or 'the model (legacy /chat)')} via {escape(session.via)}; "
        "/reset forgets, /exit or Ctrl-D leaves[/]"
    )
    try:
        while True:
            try:
                line = input("> ")
            except EOFError:
                sys.stdout.write("\n")
                return
            text = line.strip()
            if not text:
                continue
            if text in ("/exit", "/quit"):
                return
            if text == "/reset":
                messages = messages[:1] if system else []
                console.print("[dim]conversation cleared[/]")
                continue
            messages.append({"role": "user", "content": text})
            try:
                answer = _ask(session, messages, opts)
            except KeyboardInterrupt:
                sys.stdout.write("\n")
                console.print("[dim](answer interrupted)[/]")
                messages.pop()
                continue
            messages.append({"role": "assistant", "content": answer})
    except KeyboardInterrupt:
        sys.stdout.write("\n")
    finally:
        with contextlib.suppress(OSError):
            readline.write_history_file(str(history))


def chat(
    question: Annotated[
        str | None, typer.Argument(help="The question; '-' reads it from stdin. None on a terminal: interactive.")
    ] = None,
    workspace: Annotated[
        str | None, typer.Option("--workspace", "-w", help="Inference workspace (default: the only ready one).")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="Use this URL (LoadBalancer, ingress) instead of a port-forward.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Served model or adapter (default: the workspace's adapter, else the base).",
            rich_help_panel=CHAT,
        ),
    ] = None,
    system: Annotated[str | None, typer.Option("--system", help="System prompt.", rich_help_panel=CHAT)] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", help="Answer length limit.", rich_help_panel=CHAT)
    ] = None,
    temperature: Annotated[
        float | None, typer.Option("--temperature", help="Sampling temperature.", rich_help_panel=CHAT)
    ] = None,
    no_stream: Annotated[
        bool, typer.Option("--no-stream", help="Print the answer when complete.", rich_help_panel=CHAT)
    ] = False,
    list_models: Annotated[
        bool, typer.Option("--list-models", help="Print the served models and exit.", rich_help_panel=CHAT)
    ] = False,
    output: o.Output = None,
    kubeconfig: o.Kubeconfig = None,
    context: o.Context = None,
    namespace: o.Namespace = None,
) -> None:
    """Ask a deployed model. Streams the answer; reaches the cluster through the API server (port-forward)."""
    with reporting():
        from contextlib import ExitStack

        from kaitoctl.core.errors import InvalidInput
        from kaitoctl.ops.chat import open_session

        fmt = check_output_format(output, ("json",))
        if max_tokens is not None and max_tokens < 1:
            raise InvalidInput("--max-tokens", f"{max_tokens} must be at least 1", None)
        if temperature is not None and not 0.0 <= temperature <= 2.0:
            raise InvalidInput("--temperature", f"{temperature} is outside 0..2", None)
        interactive = question is None and sys.stdin.isatty() and not list_models
        if question == "-" or (question is None and not sys.stdin.isatty() and not list_models):
            question = sys.stdin.read().strip()
            if not question:
                raise InvalidInput("QUESTION", "stdin was empty", "pipe a question in, or pass it as an argument")
        opts = {"max_tokens": max_tokens, "temperature": temperature, "json": fmt == "json", "no_stream": no_stream}
        with ExitStack() as stack:
            session = open_session(
                stack,
                kubeconfig=kubeconfig,
                context=context,
                namespace=namespace,
                workspace=workspace,
                endpoint=endpoint,
                model=model,
            )
            if list_models:
                if fmt == "json":
                    print_json({"models": session.models, "default": session.model})
                else:
                    for name in session.models or ["(legacy /chat API: one model)"]:
                        sys.stdout.write(clean(name) + ("  (default)" if name == session.model else "") + "\n")
                return
            if stderr().is_terminal and not interactive:
                stderr().print(f"[dim]{escape(session.model or 'legacy /chat')} via {escape(session.via)}[/]")
            if interactive:
                _repl(session, system, opts)
                return
            assert question is not None
            messages = ([{"role": "system", "content": system}] if system else []) + [
                {"role": "user", "content": question}
            ]
            _ask(session, messages, opts)
