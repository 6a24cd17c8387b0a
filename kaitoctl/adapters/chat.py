"""Talking to the model: the OpenAI-compatible API of current Kaito runtimes, or the legacy `POST /chat`.

Timeouts suit LLMs: a long read timeout (a first token can take minutes on a cold server), short connect.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from kaitoctl.core.errors import OperationFailed

TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=30.0, pool=10.0)


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
    raw: list[dict[str, Any]] = field(default_factory=list)

    def as_response(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion",
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.content},
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": self.usage,
        }


def _raise_for(response: httpx.Response, model: str | None) -> None:
    if response.is_success:
        return
    try:
        response.read()
        body = response.json()
        detail = body.get("error", {}).get("message") if isinstance(body.get("error"), dict) else None
        detail = detail or body.get("message") or body.get("detail") or json.dumps(body)[:300]
    except (ValueError, httpx.ResponseNotRead, AttributeError):
        detail = response.text[:300] if response.is_stream_consumed else ""
    status = response.status_code
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


class ModelClient:
    def __init__(self, base_url: str, *, headers: dict[str, str] | None = None, verify: bool | str = True) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=TIMEOUT, headers=headers or {}, verify=verify)

    def close(self) -> None:
        self.http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise OperationFailed(f"no answer from {self.base_url}{path} in time", reason="Timeout") from None
        except httpx.HTTPError as exc:
            raise OperationFailed(
                f"cannot reach the model server at {self.base_url}: {exc}",
                reason="Unreachable",
                hint="check the workspace (`kaitoctl status`) or --endpoint",
            ) from None

    def models(self) -> list[str] | None:
        """Served model ids (base and adapters), or None when the server has no OpenAI API (legacy /chat)."""
        response = self._request("GET", "/v1/models")
        if response.status_code in (404, 405):
            return None
        _raise_for(response, None)
        data = response.json().get("data") or []
        return [str(m.get("id")) for m in data if m.get("id")]

    def complete(self, request: ChatRequest) -> dict[str, Any]:
        body = self._body(request, stream=False)
        response = self._request("POST", "/v1/chat/completions", json=body)
        _raise_for(response, request.model)
        result: dict[str, Any] = response.json()
        return result

    def stream(self, request: ChatRequest, result: StreamResult) -> Iterator[str]:
        """Yield content deltas as they arrive (Server-Sent Events); fill `result` on the way."""
        body = self._body(request, stream=True)
        try:
            with self.http.stream("POST", "/v1/chat/completions", json=body) as response:
                _raise_for(response, request.model)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    chunk = json.loads(payload)
                    result.chunks += 1
                    result.raw.append(chunk)
                    result.id = chunk.get("id", result.id)
                    result.model = chunk.get("model", result.model)
                    if chunk.get("usage"):
                        result.usage = chunk["usage"]
                    for choice in chunk.get("choices") or []:
                        if choice.get("finish_reason"):
                            result.finish_reason = choice["finish_reason"]
                        delta = (choice.get("delta") or {}).get("content")
                        if delta:
                            result.content += delta
                            yield delta
        except httpx.TimeoutException:
            raise OperationFailed(f"the model server stopped answering ({self.base_url})", reason="Timeout") from None
        except httpx.HTTPError as exc:
            raise OperationFailed(f"the stream from {self.base_url} broke: {exc}", reason="Unreachable") from None

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
        result: dict[str, Any] = response.json()
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
