"""Logging for -v/--verbose and --debug: one handler on stderr; secrets never reach it."""

from __future__ import annotations

import contextlib
import logging
import re
import sys

# Authorization headers, bearer tokens, client secrets and SAS signatures, wherever a library logs them; the
# password of a URL's userinfo (httpx and kaitoctl log request URLs as given: `--endpoint http://u:pw@host`).
_SECRET = re.compile(
    r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|basic)?\s*)([^'\"\s,}]+)"
    r"|((?:[\w-]*(?:secret|token|password|passwd|sig|signature|credential|key))['\"]?\s*[:=]\s*['\"]?)"
    r"([^'\"&\s,}]+)"
    r"|(://[^/\s:@'\"]*:)([^@\s/'\"]+)(?=@)"
)


NOISY = ("azure", "msal", "urllib3", "kubernetes", "httpx", "httpcore")


def redact(text: str) -> str:
    return _SECRET.sub(lambda m: (m.group(1) or m.group(3) or m.group(5) or "") + "REDACTED", text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A record that cannot be written or formatted (a closed stream, a library's bad format string) is reported
    in one line without its message: logging's default handleError prints the raw message and arguments, where
    no formatter redacts them."""

    def handleError(self, record: logging.LogRecord) -> None:
        if not logging.raiseExceptions:
            return
        with contextlib.suppress(OSError, ValueError):  # stderr itself is gone: nothing to tell
            sys.stderr.write(f"--- logging error in {record.name} ({record.levelname}); message withheld ---\n")


def quiet() -> None:
    """Default: third-party loggers say nothing (azure-identity's multi-line credential dumps included);
    kaitoctl's own errors already say what failed and what to do."""
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def setup(level: int, *, debug: bool) -> None:
    """-v (INFO): one line per HTTP request to the API server, Azure and the model, and kaitoctl's own notes.
    --debug: everything the libraries log as well (azure-identity, urllib3, httpcore), secrets redacted."""
    handler = RedactingHandler(sys.stderr)
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
