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


def redact(text: str) -> str:
    return _SECRET.sub(lambda m: (m.group(1) or m.group(3) or "") + "REDACTED", text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def quiet() -> None:
    """Default: third-party loggers say nothing (azure-identity's multi-line credential dumps included);
    kaitoctl's own errors already say what failed and what to do."""
    for name in ("azure", "msal", "urllib3", "kubernetes", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def setup(level: int, *, debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("azure", "msal", "urllib3", "kubernetes", "httpx", "httpcore"):
        # --verbose: kaitoctl's own messages; --debug: HTTP requests of the Azure SDK, the API server and the model
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.WARNING)
    if debug:
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.DEBUG)
