"""Tuning input URLs (core/validation.check_input_url) and names, labels and image references, refused with the
exact message and fix the user reads: each rule of the URL check (scheme, port, host forms, private, NAT64 and
platform addresses, cluster-internal names), with secrets redacted in the message."""

from __future__ import annotations

import pytest

from kaitoctl.core.errors import InvalidInput
from kaitoctl.core.validation import (
    check_dns1123_label,
    check_dns1123_subdomain,
    check_image_ref,
    check_input_url,
    check_label,
)

PUBLIC = "use a URL the training pod can reach on a public host"
ADDRESS = "use a public host name or address"
PRIVATE = "is a loopback, private or link-local address"
NAT = "is a NAT64 or 6to4 address (it reaches an IPv4 address through a translator)"
NUMERIC = "is a numeric host in a form curl reads as an IPv4 address; write the dotted address or a name"
INTERNAL = "is not allowed: it names a cluster-internal or private-network service"


@pytest.mark.parametrize(
    ("url", "problem", "fix"),
    [
        ("http://127.0.0.1/x", f"'http://127.0.0.1/x': 127.0.0.1 {PRIVATE}", ADDRESS),
        (
            "https://u:p@10.0.0.1/x?sig=s",
            f"'https://u:REDACTED@10.0.0.1/x?sig=REDACTED': 10.0.0.1 {PRIVATE}",
            ADDRESS,
        ),
        ("http://[::ffff:10.0.0.1]/x", f"'http://[::ffff:10.0.0.1]/x': 10.0.0.1 {PRIVATE}", ADDRESS),
        ("http://[64:ff9b::a00:1]/x", f"'http://[64:ff9b::a00:1]/x': 64:ff9b::a00:1 {NAT}", ADDRESS),
        ("http://[2002:a9fe:a9fe::]/", f"'http://[2002:a9fe:a9fe::]/': 2002:a9fe:a9fe:: {NAT}", ADDRESS),
        (
            "http://168.63.129.16/x",
            "'http://168.63.129.16/x': 168.63.129.16 is Azure's WireServer/platform endpoint",
            ADDRESS,
        ),
        (
            "http://224.0.0.1/x",
            "'http://224.0.0.1/x': 224.0.0.1 is not a public unicast address (shared, reserved or multicast)",
            ADDRESS,
        ),
        ("http://[fe80::1%eth0]/x", f"'http://[fe80::1%eth0]/x': fe80::1 {PRIVATE}", ADDRESS),
        (
            "http://[zz]/x",
            "'http://REDACTED' is not a valid URL ('zz' does not appear to be an IPv4 or IPv6 address)",
            "use an http(s) URL",
        ),
        (
            "https://example.com:99999/x",
            "'https://REDACTED' is not a valid URL (Port out of range 0-65535)",
            "use an http(s) URL",
        ),
        ("http://010.0.0.1/x", f"'http://010.0.0.1/x': host '010.0.0.1' {NUMERIC}", PUBLIC),
        ("http://2852039166/x", f"'http://2852039166/x': host '2852039166' {NUMERIC}", PUBLIC),
        ("http://0xa9fea9fe/x", f"'http://0xa9fea9fe/x': host '0xa9fea9fe' {NUMERIC}", PUBLIC),
        ("http://1.2.3.4.5/x", f"'http://1.2.3.4.5/x': host '1.2.3.4.5' {NUMERIC}", PUBLIC),
        ("http://256.1.1.1/x", "'http://256.1.1.1/x': host '256.1.1.1' is not a valid IPv4 address", PUBLIC),
        (
            "http://bücher.de/x",
            "'http://bücher.de/x': host 'bücher.de' is not ASCII (internationalised names and full-width dots are "
            "read differently by curl)",
            PUBLIC,
        ),
        ("http://bad host/x", "'http://bad host/x' contains whitespace or control characters", "percent-encode them"),
        ("ftp://example.com/x", "'ftp://example.com/x': scheme 'ftp' is not allowed", "use an http:// or https:// URL"),
        ("example.com/x", "'example.com/x': scheme '(none)' is not allowed", "use an http:// or https:// URL"),
        ("https:///x", "'https:///x' has no host", "use a full URL such as https://host/path/data.parquet"),
        (
            "http://metadata.google.internal/x",
            "'http://metadata.google.internal/x': host 'metadata.google.internal' is not allowed",
            PUBLIC,
        ),
        ("http://localhost/x", "'http://localhost/x': host 'localhost' is not allowed", PUBLIC),
        ("http://a.LOCALHOST./x", "'http://a.LOCALHOST./x': host 'a.localhost' is not allowed", PUBLIC),
        (
            "http://intranet/x",
            "'http://intranet/x': host 'intranet' is a single-label name, which resolves inside the cluster or the "
            "node's network",
            PUBLIC,
        ),
        (
            "http://svc.default.svc.cluster.local/x",
            f"'http://svc.default.svc.cluster.local/x': host 'svc.default.svc.cluster.local' {INTERNAL}",
            PUBLIC,
        ),
        ("http://x.internal/x", f"'http://x.internal/x': host 'x.internal' {INTERNAL}", PUBLIC),
        ("http://example.local/x", f"'http://example.local/x': host 'example.local' {INTERNAL}", PUBLIC),
        ("https://-bad-.com/x", "'https://-bad-.com/x': host '-bad-.com' is not a valid host name", PUBLIC),
    ],
)
def test_a_refused_input_url_says_why_and_what_to_use(url: str, problem: str, fix: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_input_url(url, "--input-url")
    assert (refused.value.field, refused.value.problem, refused.value.fix) == ("--input-url", problem, fix)


@pytest.mark.parametrize(
    "url", ["http://a_b.com/x", "http://example.com./x", "http://EXAMPLE.com/x", "https://20.62.1.2:8443/d.jsonl"]
)
def test_public_names_and_addresses_in_any_case_pass(url: str) -> None:
    check_input_url(url, "tuning.input.urls[0]")


def _refusal(check, *args) -> tuple[str, str, str | None]:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as refused:
        check(*args)
    return refused.value.field, refused.value.problem, refused.value.fix


def test_names_labels_and_images_are_refused_with_the_rule() -> None:
    assert _refusal(check_dns1123_label, "A", "--name", "workspace name") == (
        "--name",
        "'A' is not a valid workspace name",
        "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
    )
    assert _refusal(check_dns1123_label, "a" * 64, "--name") == (
        "--name",
        f"'{'a' * 64}' is not a valid name",
        "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
    )
    assert _refusal(check_dns1123_subdomain, "a..b", "--node", "node name") == (
        "--node",
        "'a..b' is not a valid node name",
        "use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
    )
    assert _refusal(check_dns1123_subdomain, "a" * 254, "--node")[1] == f"'{'a' * 254}'"[:79] + "… is not a valid name"
    assert _refusal(check_label, "a/b/c", "x", "--label") == (
        "--label",
        "'a/b/c' is not a valid label key",
        "use [prefix/]name: name ≤ 63 characters of letters, digits, '-', '_' and '.'; prefix a DNS subdomain",
    )
    assert _refusal(check_label, "apps", "v:w", "--label") == (
        "--label",
        "'v:w' is not a valid value for label 'apps'",
        "use at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    )
    assert _refusal(check_image_ref, "upper/Case", "--image") == (
        "--image",
        "'upper/Case' is not a valid image reference",
        "use registry/repository[:tag][@sha256:digest], e.g. myacr.azurecr.io/adapters/phi-3:0.0.1",
    )
    too_long = "r.io/" + "a" * 508
    assert _refusal(check_image_ref, too_long, "--image")[0] == "--image"
    check_image_ref("r.io/" + "a" * 507, "--image")  # 512 characters is the longest accepted
