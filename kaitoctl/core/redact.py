"""Secrets that ride inside URLs (a SAS `sig=`, a token query, `user:pass@`) never reach a terminal, a JSON
result or an object kaitoctl stores. Only the container's argv gets the URL as given."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

REDACTED = "REDACTED"


def redact_url(url: str) -> str:
    """`url` with the password of its userinfo and every query value replaced (names stay, to stay readable).

    Unparseable input is redacted whole after the scheme so a malformed URL cannot smuggle a secret through."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        scheme, sep, _rest = url.partition("://")
        return f"{scheme}://{REDACTED}" if sep else REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{REDACTED}@{hostport}" if ":" in userinfo else f"{REDACTED}@{hostport}"
    query = parts.query
    if query:
        query = "&".join(
            f"{name}={REDACTED}" if sep else name
            for name, sep, _value in (item.partition("=") for item in query.split("&"))
        )
    fragment = REDACTED if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def redact_urls(urls: tuple[str, ...] | list[str]) -> list[str]:
    return [redact_url(u) for u in urls]
