"""Logging for -v/--verbose and --debug: one handler on stderr; secrets never reach it."""

from __future__ import annotations

import logging
import re
import sys

# Authorization headers, bearer tokens, client secrets and SAS signatures, wherever a library logs them.
_SECRET = re.compile(
    r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|basic)?\s*)([^'\"\s,}]+)"
    r"|((?:client_secret|access_token|refresh_token|api[-_]?key|sig|password)['\"]?\s*[:=]\s*['\"]?)([^'\"&\s,}]+)"
)


NOISY = ("azure", "msal", "urllib3", "kubernetes", "httpx", "httpcore")


def redact(text: str) -> str:
    return _SECRET.sub(lambda m: (m.group(1) or m.group(3) or "") + "REDACTED", text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def quiet() -> None:
    """Default: third-party loggers say nothing (azure-identity's multi-line credential dumps included);
    kaitoctl's own errors already say what failed and what to do."""
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def setup(level: int, *, debug: bool) -> None:
    """-v (INFO): one line per HTTP request to the API server, Azure and the model, and kaitoctl's own notes.
    --debug: everything the libraries log as well (azure-identity, urllib3, httpcore), secrets redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.WARNING)
    # Request lines: httpx's "HTTP Request: ..." and azure-core's HttpLoggingPolicy (which redacts headers and
    # query parameters that are not on its allow-list).
    for name in ("httpx", "azure.core.pipeline.policies.http_logging_policy"):
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.INFO)
