"""kaitoctl endpoint: a local OpenAI-compatible URL for a deployed workspace, for tools that speak the OpenAI API."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kaitoctl.cli import complete
from kaitoctl.cli import options as o
from kaitoctl.cli.output import escape, reporting, stderr


@o.verb
def endpoint(
    workspace: Annotated[
        str | None,
        typer.Argument(
            metavar="WORKSPACE",
            help="Inference workspace (default: the only ready one).",
            autocompletion=complete.workspaces,
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int,
        typer.Option(
            "--port",
            "-p",
            metavar="PORT",
            help="Local port on 127.0.0.1 (8000: vLLM's own; 0 picks a free one).",
        ),
    ] = 8000,
    conn: o.ClusterFlags = o.ClusterFlags(),  # noqa: B008 - a frozen dataclass, expanded by @verb
) -> None:
    """Serve a workspace's OpenAI API on 127.0.0.1 until Ctrl-C (through the API server, like chat).

    Prints OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 on stdout; point any OpenAI client at it (any API key).
    Many clients may stream at once; when the pod restarts, requests wait for the ready pod and go on there.
    Ctrl-C or SIGTERM stops it (exit 0).

    Examples:

      # In one terminal
      kaitoctl endpoint phi-3-mini-128k-instruct

      # In another
      OPENAI_BASE_URL=http://127.0.0.1:8000/v1 OPENAI_API_KEY=unused python my_app.py
    """
    with reporting():
        from contextlib import ExitStack

        from kaitoctl.core.errors import InvalidInput

        if not 0 <= port <= 65535:
            raise InvalidInput("--port", f"{port} is not a TCP port", "use 1..65535, or 0 for a free one")
        from kaitoctl.adapters.proxy import serve
        from kaitoctl.ops.chat import SERVER_PORT
        from kaitoctl.ops.endpoint import open_endpoint

        console = stderr()
        with ExitStack() as stack:
            opened = open_endpoint(
                stack,
                kubeconfig=conn.kubeconfig,
                context=conn.context,
                namespace=conn.namespace,
                workspace=workspace,
                port=port,
                on_event=lambda message: console.print(f"[yellow]{escape(message)}[/]"),
            )

            def ready() -> None:
                sys.stdout.write(f"OPENAI_BASE_URL={opened.base_url}\n")
                sys.stdout.flush()
                console.print(
                    f"[dim]serving workspace {escape(opened.workspace)} via port-forward to "
                    f"{escape(str(opened.upstream.pod))}:{SERVER_PORT}; Ctrl-C stops[/]"
                )

            try:
                serve(opened.server, on_ready=ready)
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the way a long-running endpoint is meant to end
                console.print("[dim]endpoint stopped[/]")
