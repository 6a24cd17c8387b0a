"""`kaitoctl chat`: find a ready inference workspace, reach it from here, and pick the model to ask."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from kaitoctl.adapters.chat import ChatRequest, ModelClient, StreamResult, check_finish
from kaitoctl.core import conditions as cond
from kaitoctl.core.errors import InvalidInput, KaitoctlError, NotFound, OperationFailed
from kaitoctl.core.redact import redact_url
from kaitoctl.core.yamlsafe import clip
from kaitoctl.ops import cluster
from kaitoctl.ops.interfaces import KubeApi
from kaitoctl.ops.status import WorkspaceStatus, collect

SERVER_PORT = 5000  # Kaito's runtimes listen on 5000 in the pod (the Service maps 80 -> 5000)


@dataclass
class Session:
    """An open connection to a model server, and what to ask it for."""

    client: ModelClient
    workspace: str | None
    model: str | None  # None: legacy /chat API
    models: list[str] | None
    via: str  # "port-forward to ns/pod" or the --endpoint URL
    base: str | None = None  # the workspace's base model (served name); None with --endpoint
    adapters: list[str] = field(default_factory=list)  # the workspace's adapters; empty with --endpoint

    def role(self, model: str) -> str:
        if model == self.base:
            return "base"
        return "adapter" if model in self.adapters else "model"


def _not_ready_message(status: WorkspaceStatus) -> str:
    for kind in (cond.RESOURCE_READY, cond.INFERENCE_READY):
        found = status.conditions.get(kind)
        if found is not None and not found.true:
            reason = f"{found.reason}: {found.message}" if found.message else found.reason
            if status.diagnosis is not None:
                reason = f"{status.diagnosis.reason}: {status.diagnosis.message}"
            return f"workspace {status.name} is not ready: {kind} is {found.status} ({reason})"
    return f"workspace {status.name} is not ready"


def find_workspace(kube: KubeApi, namespace: str, name: str | None) -> WorkspaceStatus:
    statuses = [s for s in collect(kube, namespace, name) if s.mode == "inference"]
    if name is not None:
        if not statuses:
            raise NotFound(
                f"no kaitoctl inference workspace {name!r} in namespace {namespace}",
                hint="`kaitoctl status` lists them",
            )
        status = statuses[0]
        if status.state != "Ready":
            raise OperationFailed(
                _not_ready_message(status),
                reason="NotReady",
                hint=f"`kaitoctl status {name}` and `kaitoctl logs {name}`",
            )
        return status
    ready = [s for s in statuses if s.state == "Ready"]
    if len(ready) == 1:
        return ready[0]
    if not ready:
        if statuses:
            newest = max(statuses, key=lambda s: s.created)
            raise OperationFailed(_not_ready_message(newest), reason="NotReady", hint="`kaitoctl status` shows why")
        raise NotFound(
            f"no kaitoctl inference workspace in namespace {namespace}",
            hint="deploy one (`kaitoctl deploy`), pick a namespace with -n, or pass --endpoint URL",
        )
    ready.sort(key=lambda s: s.created, reverse=True)
    raise InvalidInput(
        "--workspace",
        f"{len(ready)} ready inference workspaces in namespace {namespace}",
        f"choose one, e.g. --workspace {ready[0].name} (the most recent)",
        choices=[f"{s.name} ({s.preset})" for s in ready],
    )


def ready_pod(status: WorkspaceStatus) -> str:
    ready = sorted(
        p["metadata"]["name"] for p in status.pods if cond.pod_ready(p) and p["status"].get("phase") == "Running"
    )
    if not ready:
        raise OperationFailed(f"workspace {status.name} has no ready pod", reason="NotReady", hint="`kaitoctl status`")
    leader = f"{status.name}-0"  # multi-node: pod 0 serves
    return leader if leader in ready else ready[0]


def choose_model(models: list[str] | None, wanted: str | None, adapters: list[str], base: str | None) -> str | None:
    """--model, else the workspace's adapter, else the base model (or the only model served)."""
    if models is None:
        return None
    if wanted is not None:
        if models and wanted not in models:
            raise InvalidInput("--model", f"{wanted!r} is not served", f"served: {', '.join(models)}", choices=models)
        return wanted
    for adapter in adapters:
        if adapter in models:
            return adapter
    if base and base in models:
        return base
    if models:
        return models[0]
    raise OperationFailed("the model server lists no models (/v1/models is empty)", reason="NoModel")


def open_session(
    stack: ExitStack,
    *,
    kubeconfig: Any,
    context: str | None,
    namespace: str | None,
    workspace: str | None,
    endpoint: str | None,
    model: str | None,
    headers: dict[str, str] | None = None,
    request_timeout: float | None = None,
    on_retry: Callable[[str], None] | None = None,
) -> Session:
    """Port-forward through the API server to a ready pod (or use --endpoint), then discover the models."""
    adapters: list[str] = []
    base: str | None = None
    forward: Any = None  # the LocalForward, when there is one
    if endpoint is not None:
        if not endpoint.startswith(("http://", "https://")):
            raise InvalidInput(
                "--endpoint", f"{clip(redact_url(endpoint))!r} is not an http(s) URL", "e.g. http://20.1.2.3:80"
            )
        url, via, name = endpoint, redact_url(endpoint), workspace  # `via` is printed: no password, no token
    else:
        kube = cluster.connect(kubeconfig, context)
        kube.request_timeout = request_timeout
        ns = cluster.resolve_namespace(kube, namespace)
        status = find_workspace(kube, ns, workspace)
        spec = status.record.spec
        if spec.inference is not None:
            adapters = [a.name for a in spec.inference.adapters]
            from kaitoctl.core.catalog import load_catalog

            base = load_catalog().resolve_preset(spec.preset).served_name
        pod = ready_pod(status)
        from kaitoctl.adapters.portforward import LocalForward

        forward = stack.enter_context(LocalForward(kube, ns, pod, SERVER_PORT))
        url, via, name = forward.url, f"port-forward to {ns}/{pod}:{SERVER_PORT}", status.name
    client = ModelClient(url, headers=headers, timeout=request_timeout, on_retry=on_retry)
    stack.callback(client.close)
    try:
        models = client.models()
    except OperationFailed as error:  # "Server disconnected": say that the pod refused, and why, if it did
        refused = forward.refusal(name or "WORKSPACE") if forward is not None else None
        raise (refused or error) from None
    return Session(client, name, choose_model(models, model, adapters, base), models, via, base, adapters)


def compared_models(session: Session) -> list[str]:
    """`chat --compare`, `eval`: the base model and each adapter the server serves (with --endpoint, where the
    workspace is unknown: every served model, in the server's order, which for vLLM is the base first)."""
    if session.models is None:
        raise InvalidInput("--compare", "the server has the legacy /chat API (one model)", "compare needs /v1 models")
    known = [m for m in [session.base, *session.adapters] if m]
    chosen = [m for m in known if m in session.models] if known else list(session.models)
    if len(chosen) < 2:
        raise InvalidInput(
            "--compare",
            f"only one model is served ({', '.join(chosen) or 'none'}): nothing to compare with",
            "deploy the workspace with an adapter (--adapter NAME=IMAGE)",
        )
    return chosen


@dataclass
class Answer:
    """One model's streamed answer to a compared question."""

    model: str
    result: StreamResult = field(default_factory=StreamResult)
    error: KaitoctlError | None = None
    seconds: float = 0.0


def ask_each(
    client: ModelClient,
    request: ChatRequest,
    models: list[str],
    on_delta: Callable[[int, str], None] = lambda index, delta: None,
) -> list[Answer]:
    """The same request to each model at once (one stream each), deltas reported as they come; a failed answer
    keeps what arrived and its error, and the others go on."""
    answers = [Answer(model) for model in models]

    def ask(index: int) -> None:
        answer = answers[index]
        started = time.monotonic()
        try:
            for delta in client.stream(
                ChatRequest(request.messages, answer.model, request.max_tokens, request.temperature), answer.result
            ):
                on_delta(index, delta)
            check_finish(answer.result.finish_reason)
        except KaitoctlError as error:
            answer.error = error
        finally:
            answer.seconds = time.monotonic() - started

    threads = [threading.Thread(target=ask, args=(i,), daemon=True) for i in range(len(models))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers
