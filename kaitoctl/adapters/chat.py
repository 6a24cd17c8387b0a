"""Talking to the model: the OpenAI-compatible API of current Kaito runtimes, or the legacy `POST /chat`.

Timeouts suit LLMs: a long read timeout (a first token can take minutes on a cold server), short connect.
Streams are parsed by httpx-sse (the SSE format of the HTML standard), and a stream only counts as a complete
answer when it ends with `data: [DONE]` (OpenAI's stream terminator, which vLLM's OpenAI server also sends:
vllm/entrypoints/openai/serving_chat.py, `chat_completion_stream_generator`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from kaitoctl.core.errors import OperationFailed

log = logging.getLogger("kaitoctl.chat")

TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=30.0, pool=10.0)
# 429: Kaito's vLLM wrapper answers it while its request queue is full; 503: a server still loading or
# overloaded. Both heal by waiting, so they are retried (honouring Retry-After, RFC 9110 §10.2.3).
RETRY_STATUSES = (429, 503)
RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0)
MAX_RETRY_AFTER_S = 60.0


@dataclass
class ChatRequest:
    messages: list[dict[str, str]]
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None


@dataclass
class StreamResult:
    """What a streamed completion adds up to (the shape of a non-streamed response)."""

    id: str = ""
    model: str = ""
    content: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    chunks: int = 0
    done: bool = False  # the [DONE] terminator arrived
    raw: list[dict[str, Any]] = field(default_factory=list)


def normalize_base_url(url: str) -> str:
    """What users paste: http://host:port, http://host:port/, http://host:port/v1 or .../v1/ all mean the same
    server; requests add /v1/... themselves. A path prefix (an ingress route) is kept."""
    base = url.rstrip("/")
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    return base


def _error_detail(body: Any) -> str | None:
    """The message of an OpenAI-style error body: {"error": {"message"}} (OpenAI, newer vLLM) or
    {"object": "error", "message"} (vLLM's ErrorResponse, vllm/entrypoints/openai/protocol.py)."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or json.dumps(error)[:300])
    if isinstance(error, str):
        return error
    if body.get("object") == "error":
        return str(body.get("message") or "unknown error")
    return None


def _raise_for(response: httpx.Response, model: str | None) -> None:
    if response.is_success:
        return
    try:
        response.read()
        body = response.json()
        detail = _error_detail(body) or body.get("message") or body.get("detail") or json.dumps(body)[:300]
    except (ValueError, httpx.ResponseNotRead, AttributeError):
        detail = response.text[:300] if response.is_stream_consumed else ""
    status = response.status_code
    if status in (401, 403):
        raise OperationFailed(
            f"the model server refused the request: authentication failed (HTTP {status}): {detail}",
            reason="Unauthorized",
            hint="pass --api-key KEY (or set OPENAI_API_KEY), or the header your ingress wants with "
            "--header 'Name: value'",
        )
    if status == 429:
        raise OperationFailed(
            f"the model server is busy (HTTP 429): {detail}",
            reason="RateLimited",
            hint="retry in a moment (Kaito's vLLM wrapper returns 429 while its queue is full)",
        )
    if status == 404:
        raise OperationFailed(
            f"model {model!r} is not served here (HTTP 404): {detail}",
            reason="ModelNotFound",
            hint="see the served models with `kaitoctl chat --list-models`, choose one with --model",
        )
    if status >= 500:
        raise OperationFailed(
            f"the model server failed (HTTP {status}): {detail}",
            reason="ServerError",
            hint="`kaitoctl logs WORKSPACE` shows the server's log",
        )
    raise OperationFailed(f"the model server answered HTTP {status}: {detail}", reason=f"HTTP{status}")


def _retry_after(response: httpx.Response, attempt: int) -> float:
    header = response.headers.get("retry-after")
    if header is not None:
        try:
            return min(max(float(header), 0.0), MAX_RETRY_AFTER_S)
        except ValueError:
            pass  # an HTTP date: fall back to our own backoff
    return RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]


def check_finish(finish_reason: str | None) -> None:
    """An answer cut by the token limit is not a complete answer: say so (the partial text is already out)."""
    if finish_reason == "length":
        raise OperationFailed(
            "the answer was cut off at the token limit (finish_reason: length)",
            reason="Truncated",
            hint="ask for a longer answer with --max-tokens N (or lower the server's max-model-len use)",
        )


class ModelClient:
    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        verify: bool | str = True,
        timeout: float | None = None,
        retries: int = len(RETRY_DELAYS_S),
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.retries = retries
        self.on_retry = on_retry or (lambda message: None)
        http_timeout = TIMEOUT if timeout is None else httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self.http = httpx.Client(base_url=self.base_url, timeout=http_timeout, headers=headers or {}, verify=verify)

    def close(self) -> None:
        self.http.close()

    def _unreachable(self, path: str, exc: httpx.HTTPError) -> OperationFailed:
        if isinstance(exc, httpx.TimeoutException):
            return OperationFailed(
                f"no answer from {self.base_url}{path} in time",
                reason="Timeout",
                hint="a cold server can take minutes for its first token; raise --request-timeout",
            )
        return OperationFailed(
            f"cannot reach the model server at {self.base_url}: {exc}",
            reason="Unreachable",
            hint="check the workspace (`kaitoctl status`) or --endpoint",
        )

    def _should_retry(self, response: httpx.Response, attempt: int) -> bool:
        if response.status_code not in RETRY_STATUSES or attempt >= self.retries:
            return False
        delay = _retry_after(response, attempt)
        what = "busy" if response.status_code == 429 else "unavailable"
        self.on_retry(
            f"the model server is {what} (HTTP {response.status_code}); retrying in {delay:g}s "
            f"({attempt + 1}/{self.retries})"
        )
        response.close()
        time.sleep(delay)
        return True

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                raise self._unreachable(path, exc) from None
            log.debug("%s %s%s -> %s", method, self.base_url, path, response.status_code)
            if not self._should_retry(response, attempt):
                return response
            attempt += 1

    def models(self) -> list[str] | None:
        """Served model ids (base and adapters), or None when the server has no OpenAI API (legacy /chat)."""
        response = self._request("GET", "/v1/models")
        if response.status_code in (404, 405):
            return None
        _raise_for(response, None)
        try:
            data = response.json().get("data") or []
        except (ValueError, AttributeError):
            raise OperationFailed(
                f"{self.base_url}/v1/models did not answer with JSON", reason="MalformedResponse"
            ) from None
        return [str(m.get("id")) for m in data if isinstance(m, dict) and m.get("id")]

    def complete(self, request: ChatRequest) -> dict[str, Any]:
        body = self._body(request, stream=False)
        response = self._request("POST", "/v1/chat/completions", json=body)
        _raise_for(response, request.model)
        try:
            result = response.json()
        except ValueError:
            raise OperationFailed("the model server's answer is not JSON", reason="MalformedResponse") from None
        detail = _error_detail(result)
        if detail is not None:
            raise OperationFailed(f"the model server reported an error: {detail}", reason="ServerError")
        if not isinstance(result, dict):
            raise OperationFailed("the model server's answer is not a JSON object", reason="MalformedResponse")
        return result

    def stream(self, request: ChatRequest, result: StreamResult) -> Iterator[str]:
        """Yield content deltas as they arrive (Server-Sent Events); fill `result` on the way.

        Raises OperationFailed for an error event, a malformed chunk, or a stream that ends before [DONE]; the
        deltas already yielded stay with the caller. finish_reason "length" is left to `check_finish`."""
        from httpx_sse import EventSource, SSEError

        body = self._body(request, stream=True)
        path = "/v1/chat/completions"
        attempt = 0
        try:
            while True:
                with self.http.stream("POST", path, json=body) as response:
                    log.debug("POST %s%s -> %s (stream)", self.base_url, path, response.status_code)
                    if self._should_retry(response, attempt):
                        attempt += 1
                        continue
                    _raise_for(response, request.model)
                    for event in EventSource(response).iter_sse():
                        if event.data.strip() == "[DONE]":
                            result.done = True
                            return
                        yield from self._chunk(event.data, result)
                    raise OperationFailed(
                        f"the stream from {self.base_url} ended before [DONE]: the answer may be incomplete",
                        reason="IncompleteStream",
                        hint="`kaitoctl logs WORKSPACE` shows whether the server restarted",
                    )
        except SSEError as exc:
            raise OperationFailed(
                f"the model server did not answer with an event stream: {exc}", reason="MalformedResponse"
            ) from None
        except httpx.TimeoutException:
            raise OperationFailed(
                f"the model server stopped answering ({self.base_url})",
                reason="Timeout",
                hint="raise --request-timeout, or check `kaitoctl logs WORKSPACE`",
            ) from None
        except httpx.HTTPError as exc:
            raise OperationFailed(
                f"the stream from {self.base_url} broke: {exc}: the answer may be incomplete", reason="Unreachable"
            ) from None

    @staticmethod
    def _chunk(data: str, result: StreamResult) -> Iterator[str]:
        try:
            chunk = json.loads(data)
        except ValueError:
            raise OperationFailed(
                f"the model server sent a malformed chunk: {data[:120]!r}", reason="MalformedResponse"
            ) from None
        if not isinstance(chunk, dict):
            raise OperationFailed(
                f"the model server sent a malformed chunk: {data[:120]!r}", reason="MalformedResponse"
            )
        detail = _error_detail(chunk)
        if detail is not None:  # vLLM reports errors during generation as an event in the stream
            raise OperationFailed(
                f"the model server reported an error mid-answer: {detail}",
                reason="StreamError",
                hint="`kaitoctl logs WORKSPACE` shows the server's log",
            )
        result.chunks += 1
        result.raw.append(chunk)
        result.id = chunk.get("id", result.id)
        result.model = chunk.get("model", result.model)
        if chunk.get("usage"):
            result.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            if choice.get("finish_reason"):
                result.finish_reason = choice["finish_reason"]
            delta = (choice.get("delta") or {}).get("content")
            if delta:
                result.content += delta
                yield delta

    def legacy_chat(self, prompt: str, *, max_tokens: int | None, temperature: float | None) -> dict[str, Any]:
        """Kaito ≤ v0.9 transformers runtime: POST /chat {"prompt": ...} -> {"Result": ...}."""
        generate: dict[str, Any] = {}
        if max_tokens is not None:
            generate["max_new_tokens"] = max_tokens
        if temperature is not None:
            generate["temperature"] = temperature
        body: dict[str, Any] = {"prompt": prompt, "return_full_text": False}
        if generate:
            body["generate_kwargs"] = generate
        response = self._request("POST", "/chat", json=body)
        _raise_for(response, None)
        try:
            result: dict[str, Any] = response.json()
        except ValueError:
            raise OperationFailed("the model server's answer is not JSON", reason="MalformedResponse") from None
        return result

    @staticmethod
    def _body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": request.model, "messages": request.messages, "stream": stream}
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body
