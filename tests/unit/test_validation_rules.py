"""The validation rules called directly, at their edges: name and label grammar and lengths, image references,
the SSRF ranges of tuning input URLs, adapter strength and volumes, reserved labels, counts and expressions."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kaitoctl.core.errors import InvalidInput
from kaitoctl.core.spec import Adapter, Resource
from kaitoctl.core.validation import (
    RESERVED_LABEL_KEYS,
    _check_strength,
    _check_volume,
    check_dns1123_label,
    check_dns1123_subdomain,
    check_image_ref,
    check_input_url,
    check_label,
    effective_labels,
    validate_spec,
)
from tests.unit.helpers import catalog, deploy_spec, tune_spec


def _refuses(check, *args) -> InvalidInput:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as err:
        check(*args)
    return err.value


@pytest.mark.parametrize("name", ["a", "a-b", "a1", "1a", "a" * 63])
def test_dns1123_labels_accepted(name: str) -> None:
    check_dns1123_label(name, "--name")


@pytest.mark.parametrize("name", ["", "A", "a_b", "-a", "a-", "a.b", "a" * 64])
def test_dns1123_labels_refused(name: str) -> None:
    err = _refuses(check_dns1123_label, name, "--name", "workspace name")
    assert err.field == "--name" and err.message.endswith(" is not a valid workspace name")


@pytest.mark.parametrize("name", ["a.b", "a-b.c1", "a" * 253, ("a" * 63 + ".") * 3 + "a"])
def test_dns1123_subdomains_accepted(name: str) -> None:
    check_dns1123_subdomain(name, "--node")


@pytest.mark.parametrize("name", ["", "a..b", ".a", "a.", "A.b", "a" * 254])
def test_dns1123_subdomains_refused(name: str) -> None:
    err = _refuses(check_dns1123_subdomain, name, "--node", "node name")
    assert err.field == "--node" and err.message.endswith(" is not a valid node name")


@pytest.mark.parametrize(
    ("key", "value"),
    [("apps", "x"), ("a.b/c", "X_y.z-1"), ("example.com/" + "n" * 63, "v" * 63), ("k", ""), ("a", "1")],
)
def test_labels_accepted(key: str, value: str) -> None:
    check_label(key, value, "--label")


@pytest.mark.parametrize(
    ("key", "value", "bad"),
    [
        ("", "x", "key"),
        ("a/b/c", "x", "key"),
        ("Bad_Prefix/x", "x", "key"),
        ("p/" + "n" * 64, "x", "key"),
        ("p" * 254 + "/n", "x", "key"),
        ("-a", "x", "key"),
        ("a", "v" * 64, "value"),
        ("a", "-v", "value"),
        ("a", "v:w", "value"),
    ],
)
def test_labels_refused(key: str, value: str, bad: str) -> None:
    err = _refuses(check_label, key, value, "--label")
    assert err.field == "--label"
    assert err.message.endswith(
        " is not a valid label key" if bad == "key" else f" is not a valid value for label {key!r}"
    )


@pytest.mark.parametrize(
    "ref",
    [
        "busybox",
        "myacr.azurecr.io/adapters/phi-3:0.0.1",
        "localhost:5000/a/b:tag",
        "[::1]:5000/a",
        "a/b@sha256:" + "0" * 64,
        "mcr.microsoft.com/aks/kaito/kaito-base:0.5.0",
        "a:" + "t" * 128,
    ],
)
def test_image_refs_accepted(ref: str) -> None:
    check_image_ref(ref, "--image")


@pytest.mark.parametrize("ref", ["", "upper/Case", "a b", "a:" + "t" * 129, "a@sha256:abc", "a/" * 300 + "b", "a:-x"])
def test_image_refs_refused(ref: str) -> None:
    err = _refuses(check_image_ref, ref, "--image")
    assert err.field == "--image" and err.message.endswith(" is not a valid image reference")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://127.1.2.3/x",
        "http://10.0.0.1/x",
        "http://172.16.0.1/x",
        "http://172.31.255.255/x",
        "http://192.168.1.1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/x",
        "http://[::1]/x",
        "http://[fe80::1]/x",
        "http://[fc00::1]/x",
        "http://[::]/x",
    ],
)
def test_non_public_addresses_are_refused(url: str) -> None:
    err = _refuses(check_input_url, url, "--input-url")
    assert err.message.endswith("is a loopback, private or link-local address")


@pytest.mark.parametrize(
    "url", ["http://224.0.0.1/x", "http://239.255.255.250/x", "http://[ff02::1]/x", "http://100.64.0.1/x"]
)
def test_multicast_and_shared_addresses_are_refused(url: str) -> None:
    err = _refuses(check_input_url, url, "--input-url")
    assert err.message.endswith("is not a public unicast address (shared, reserved or multicast)")


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/d.parquet",
        "http://8.8.8.8/x",
        "http://172.32.0.1/x",
        "http://[2001:4860::8888]/x",
        "https://a.b:8443/x?y=1",
    ],
)
def test_public_urls_pass(url: str) -> None:
    check_input_url(url, "--input-url")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://localhost/x", "host 'localhost' is not allowed"),
        ("http://LOCALHOST./x", "host 'localhost' is not allowed"),
        ("http://a.localhost/x", "host 'a.localhost' is not allowed"),
        ("http://metadata.google.internal/x", "host 'metadata.google.internal' is not allowed"),
        ("http://instance-data.ec2.internal/x", "host 'instance-data.ec2.internal' is not allowed"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("//host/x", "scheme '(none)' is not allowed"),
        ("http:///x", "has no host"),
        ("http://h:99999/x", "is not a valid URL"),
        ("http://h/\x7f", "contains whitespace or control characters"),
        ("http://h/\tx", "contains whitespace or control characters"),
    ],
)
def test_url_rules(url: str, message: str) -> None:
    assert message in _refuses(check_input_url, url, "--input-url").message


@pytest.mark.parametrize("strength", [None, "0", "1", "0.5", "1.0"])
def test_strength_in_range(strength: str | None) -> None:
    _check_strength(Adapter("a", strength=strength), "f")


@pytest.mark.parametrize("strength", ["-0.1", "1.01", "x", "nan"])
def test_strength_out_of_range(strength: str) -> None:
    err = _refuses(_check_strength, Adapter("a", strength=strength), "f")
    assert err.message == f"f: strength {strength!r} is not a number in [0, 1]"


def test_volume_sources() -> None:
    _check_volume({"nfs": {"server": "s", "path": "/p"}}, "f")
    _check_volume({"persistentVolumeClaim": {"claimName": "ok"}}, "f")
    assert _refuses(_check_volume, {}, "f").message == "f: volumeSource must be a Kubernetes volume source"
    assert _refuses(_check_volume, ["x"], "f").message == "f: volumeSource must be a Kubernetes volume source"
    bad = _refuses(_check_volume, {"persistentVolumeClaim": {"claimName": "Bad_Name"}}, "f")
    assert bad.message == "f.persistentVolumeClaim.claimName: 'Bad_Name' is not a valid PersistentVolumeClaim name"


def test_reserved_labels_are_dropped_with_a_warning() -> None:
    spec = deploy_spec("phi-3", labels=["apps=x", "kaito.sh/workspace=y"])
    assert effective_labels(spec) == (
        {"apps": "x"},
        ["label 'kaito.sh/workspace' is reserved by Kaito and was ignored"],
    )
    assert len(RESERVED_LABEL_KEYS) == 8 and "karpenter.kaito.sh/inferenceset-namespace" in RESERVED_LABEL_KEYS
    findings = validate_spec(spec, catalog())
    assert "label 'kaito.sh/workspace' is reserved by Kaito and was ignored" in findings.warnings


def test_count_and_match_expression_rules() -> None:
    base = deploy_spec("phi-3")
    for count, ok in ((0, False), (-1, False), (1, True), (3, True)):
        spec = replace(base, resource=replace(base.resource, count=count))
        if ok:
            validate_spec(spec, catalog())
        else:
            assert (
                _refuses(validate_spec, spec, catalog()).message
                == f"--count: count must be between 1 and 64, got {count}"
            )
    tune = tune_spec()
    validate_spec(replace(tune, resource=replace(tune.resource, count=1)), catalog())
    good = {"key": "apps", "operator": "In", "values": ["a", "b"]}
    validate_spec(replace(base, resource=Resource(match_expressions=(good,))), catalog())
    for expr in ({**good, "operator": "NotIn"}, {**good, "key": ""}, {**good, "values": []}):
        err = _refuses(validate_spec, replace(base, resource=Resource(match_expressions=(expr,))), catalog())
        assert "only 'In' expressions with a key and values are supported" in err.message
    bad_value = {**good, "values": ["a b"]}
    err = _refuses(validate_spec, replace(base, resource=Resource(match_expressions=(bad_value,))), catalog())
    assert err.message.endswith("'a b' is not a valid value for label 'apps'")


def test_retired_instance_type_is_a_blocker_not_an_error() -> None:
    spec = replace(deploy_spec("phi-3"), resource=Resource(instance_type="Standard_NC6s_v3"))
    findings = validate_spec(spec, catalog())
    assert [b.field for b in findings.blockers] == ["--instance-type"]
    assert findings.blockers[0].message.startswith("--instance-type: Standard_NC6s_v3 cannot be used: ")


def test_secret_and_image_fields_are_checked() -> None:
    base = deploy_spec("phi-3")
    assert (
        "is not a valid image reference" in _refuses(validate_spec, replace(base, image="Bad Image"), catalog()).message
    )
    bad_pull = _refuses(validate_spec, replace(base, image_pull_secrets=("Bad",)), catalog())
    assert bad_pull.message == "--image-pull-secret: 'Bad' is not a valid Secret name"
    bad_token = _refuses(validate_spec, replace(base, model_access_secret="Bad"), catalog())
    assert bad_token.message == "--model-access-secret: 'Bad' is not a valid Secret name"
    bad_node = _refuses(validate_spec, replace(base, resource=Resource(preferred_nodes=("ok", "Bad"))), catalog())
    assert bad_node.message == "--node: 'Bad' is not a valid node name"
    bad_ns = _refuses(validate_spec, replace(base, namespace="Bad"), catalog())
    assert bad_ns.message == "--namespace: 'Bad' is not a valid namespace"
    neither = _refuses(validate_spec, replace(base, inference=None), catalog())
    assert neither.message == "inference/tuning: a workspace needs exactly one of inference and tuning"
