"""kaitoctl chat --endpoint against the stand-in model server (real HTTP and SSE on localhost, no cluster): a
failure is never hidden, what users paste as an endpoint works, auth and retries (issue 13, items 7 and 8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.harness.model_server import ModelServer

BASE = "phi-3-mini-128k-instruct"
NO_CLUSTER = {"KUBECONFIG": "/nonexistent/kubeconfig"}


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer(models=[BASE], chunk_delay_s=0.0) as srv:
        yield srv


def chat(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "kaitoctl", "chat", *args],
        capture_output=True,
        text=True,
        env={**clean, **NO_CLUSTER, **(env or {})},
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_a_complete_stream_exits_0(server: ModelServer) -> None:
    result = chat("hello there", "--endpoint", server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "echo: hello there\n"


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("error", "reported an error mid-answer: CUDA out of memory"),
        ("truncate", "ended before [DONE]"),
        ("malformed", "malformed chunk"),
        ("length", "cut off at the token limit"),
    ],
)
def test_a_broken_stream_exits_1_and_keeps_the_partial_answer(server: ModelServer, fault: str, message: str) -> None:
    server.config.stream_fault = fault
    result = chat("one two three", "--endpoint", server.url)
    assert result.returncode == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith("echo:")  # what arrived stays on stdout
    if fault == "length":
        assert "--max-tokens" in result.stderr and result.stdout == "echo: one two three\n"


def test_token_limit_without_streaming_is_reported_too(server: ModelServer) -> None:
    server.config.stream_fault = "length"
    result = chat("q", "--endpoint", server.url, "--no-stream")
    assert result.returncode == 1 and "finish_reason: length" in result.stderr
    assert result.stdout == "echo: q\n"


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_endpoint_with_or_without_v1(server: ModelServer, suffix: str) -> None:
    result = chat("q", "--endpoint", server.url + suffix)
    assert result.returncode == 0, result.stderr
    assert {r.path for r in server.requests} == {"/v1/models", "/v1/chat/completions"}


def test_api_key_from_flag_or_env_and_auth_failure(server: ModelServer) -> None:
    server.config.api_key = "s3cret"
    refused = chat("q", "--endpoint", server.url)
    assert refused.returncode == 1
    assert "authentication failed (HTTP 401)" in refused.stderr and "--api-key" in refused.stderr
    assert chat("q", "--endpoint", server.url, "--api-key", "s3cret").returncode == 0
    via_env = chat("q", "--endpoint", server.url, env={"OPENAI_API_KEY": "s3cret"})
    assert via_env.returncode == 0 and "s3cret" not in via_env.stderr + via_env.stdout
    wrong = chat("q", "--endpoint", server.url, "--api-key", "nope")
    assert wrong.returncode == 1 and "nope" not in wrong.stderr


def test_extra_headers(server: ModelServer) -> None:
    result = chat("q", "--endpoint", server.url, "--header", "X-Team: ml", "-H", "X-Trace:1")
    assert result.returncode == 0, result.stderr
    sent = server.requests[-1].headers
    assert sent.get("X-Team") == "ml" and sent.get("X-Trace") == "1"
    bad = chat("q", "--endpoint", server.url, "--header", "no-colon-secret")
    assert bad.returncode == 2 and "--header" in bad.stderr and "no-colon-secret" not in bad.stderr


def test_busy_server_is_retried_with_a_message(server: ModelServer) -> None:
    server.config.retry_after = "0"
    server.fail_next(429, 503)
    result = chat("q", "--endpoint", server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "echo: q\n"
    assert "busy (HTTP 429); retrying" in result.stderr and "unavailable (HTTP 503); retrying" in result.stderr
    server.fail_next(*[429] * 5)
    gave_up = chat("q", "--endpoint", server.url, "--no-stream")
    assert gave_up.returncode == 1 and "busy (HTTP 429)" in gave_up.stderr


def test_json_is_a_chat_result_document(server: ModelServer) -> None:
    result = chat("q", "--endpoint", server.url, "-o", "json")
    data = json.loads(result.stdout)
    assert (data["apiVersion"], data["kind"]) == ("kaitoctl.io/v1", "ChatResult")
    assert data["content"] == "echo: q" and data["finishReason"] == "stop" and data["model"] == BASE


def test_request_timeout_bounds_a_slow_answer(server: ModelServer) -> None:
    server.config.chunk_delay_s = 3.0
    result = chat("a b c d", "--endpoint", server.url, "--request-timeout", "1s")
    assert result.returncode == 1 and "stopped answering" in result.stderr


def test_debug_shows_http_requests_without_secrets(server: ModelServer) -> None:
    quiet = chat("q", "--endpoint", server.url, "--api-key", "s3cret")
    assert "HTTP Request" not in quiet.stderr  # no logging by default
    loud = chat("q", "--endpoint", server.url, "--api-key", "s3cret", "--debug")
    assert loud.returncode == 0, loud.stderr
    assert f"POST {server.url}/v1/chat/completions" in loud.stderr
    assert "s3cret" not in loud.stderr


def test_verbose_shows_one_line_per_request(server: ModelServer) -> None:
    result = chat("q", "--endpoint", server.url, "-v")
    assert result.returncode == 0, result.stderr
    assert f'HTTP Request: POST {server.url}/v1/chat/completions "HTTP/1.1 200 OK"' in result.stderr
    assert "httpcore" not in result.stderr  # the library's internals only with --debug
