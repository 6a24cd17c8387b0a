"""adapters/kubeconfig.py reads static-credential kubeconfigs as the official library does, and hands everything
else to it. Each case loads the same file both ways and compares the resulting client configuration."""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kaitoctl.adapters import kubeconfig
from kaitoctl.adapters.k8s import Kube, _load_with_library
from kaitoctl.core.errors import InvalidInput

CA, CERT, KEY = b"-----CA-----\n", b"-----CERT-----\n", b"-----KEY-----\n"


def b64(data: bytes) -> str:
    return base64.standard_b64encode(data).decode()


def write(tmp_path: Path, config: dict[str, Any], name: str = "config") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def config(
    cluster: dict[str, Any], user: dict[str, Any] | None, *, namespace: str | None = None, extra: int = 0
) -> dict[str, Any]:
    context: dict[str, Any] = {"cluster": "c"}
    if user is not None:
        context["user"] = "u"
    if namespace:
        context["namespace"] = namespace
    contexts = [{"name": "main", "context": context}]
    contexts += [{"name": f"other{i}", "context": {"cluster": "c", "namespace": f"ns{i}"}} for i in range(extra)]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user or {}}],
        "contexts": contexts,
        "current-context": "main",
    }


def effective(loaded: kubeconfig.Loaded) -> dict[str, Any]:
    """What reaches the wire: host, auth header, TLS settings, and the bytes of every certificate file."""
    c = loaded.configuration

    def content(path: str | None) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return {
        "context": loaded.context,
        "namespace": loaded.namespace,
        "host": c.host,
        "auth": c.auth_settings(),
        "verify_ssl": c.verify_ssl,
        "tls_server_name": c.tls_server_name,
        "proxy": c.proxy,
        "ca": content(c.ssl_ca_cert),
        "cert": content(c.cert_file),
        "key": content(c.key_file),
    }


STATIC = {
    "token and CA data, trailing slash": (
        {"server": "https://api.example.test:6443/", "certificate-authority-data": b64(CA)},
        {"token": "s3cr3t"},
        "team-a",
    ),
    "client certificate data (what the test clusters and `az aks get-credentials --admin` write)": (
        {"server": "https://10.0.0.1", "certificate-authority-data": b64(CA)},
        {"client-certificate-data": b64(CERT), "client-key-data": b64(KEY), "token": "t"},
        None,
    ),
    "files relative to the kubeconfig": (
        {"server": "https://h", "certificate-authority": "pki/ca.crt"},
        {"client-certificate": "pki/client.crt", "client-key": "pki/client.key"},
        None,
    ),
    "insecure with a TLS server name": (
        {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True, "tls-server-name": "kubernetes"},
        {"token": "t"},
        "x",
    ),
    "verify explicitly on": ({"server": "https://h", "insecure-skip-tls-verify": False}, {"token": "t"}, None),
    "plain http reads no certificate": (
        {"server": "http://localhost:8080", "certificate-authority": "missing.crt"},
        {"client-certificate": "also-missing.crt"},
        None,
    ),
    "data preferred over a file": (
        {"server": "https://h", "certificate-authority": "nope.crt", "certificate-authority-data": b64(CA)},
        None,
        None,
    ),
    "extensions are ignored": (
        {"server": "https://h", "extensions": [{"name": "x", "extension": {}}]},
        {"token": "t", "extensions": []},
        None,
    ),
}


@pytest.mark.parametrize("case", list(STATIC))
def test_static_credentials_are_read_as_the_library_reads_them(tmp_path: Path, case: str) -> None:
    cluster, user, namespace = STATIC[case]
    (tmp_path / "pki").mkdir()
    for name, data in (("ca.crt", CA), ("client.crt", CERT), ("client.key", KEY)):
        (tmp_path / "pki" / name).write_bytes(data)
    path = write(tmp_path, config(cluster, user, namespace=namespace))
    ours = effective(kubeconfig.load_static(path, None))
    assert ours == effective(_load_with_library(path, None))
    # and not vacuously: the fields carry the file's values
    assert ours["host"] == cluster["server"].rstrip("/")
    assert ours["namespace"] == namespace


def test_the_token_becomes_the_bearer_header(tmp_path: Path) -> None:
    path = write(tmp_path, config({"server": "https://h"}, {"token": "abc"}))
    auth = kubeconfig.load_static(path, None).configuration.auth_settings()
    assert auth == {"BearerToken": {"type": "api_key", "in": "header", "key": "authorization", "value": "Bearer abc"}}


def test_certificate_data_goes_to_private_files_that_are_removed(tmp_path: Path) -> None:
    path = write(tmp_path, config({"server": "https://h"}, {"client-key-data": b64(KEY)}))
    key_file = kubeconfig.load_static(path, None).configuration.key_file
    assert Path(key_file).read_bytes() == KEY
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    kubeconfig._remove_temp_files()
    assert not Path(key_file).exists()


def test_a_named_context_and_kubeconfig_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, config({"server": "https://h"}, {"token": "t"}, extra=2))
    spec = f"{tmp_path / 'absent'}{os.pathsep}{path}"  # a missing file in the list is skipped, as the library does
    monkeypatch.setenv("KUBECONFIG", spec)
    loaded = kubeconfig.load_static(None, "other1")
    assert (loaded.context, loaded.namespace, loaded.configuration.auth_settings()) == ("other1", "ns1", {})
    # the library reads $KUBECONFIG once, when it is imported: give it the same list explicitly
    assert effective(loaded) == effective(_load_with_library(Path(spec), "other1"))


UNSUPPORTED = {
    "exec plugin (kubelogin)": ({"server": "https://h"}, {"exec": {"command": "kubelogin"}}),
    "auth provider": ({"server": "https://h"}, {"auth-provider": {"name": "oidc"}}),
    "basic auth": ({"server": "https://h"}, {"username": "a", "password": "b"}),
    "token file": ({"server": "https://h"}, {"tokenFile": "/var/run/token"}),
    "impersonation": ({"server": "https://h"}, {"token": "t", "as": "admin"}),
    "proxy": ({"server": "https://h", "proxy-url": "http://proxy:3128"}, {"token": "t"}),
    "insecure as a string": ({"server": "https://h", "insecure-skip-tls-verify": "true"}, {"token": "t"}),
    "empty token": ({"server": "https://h"}, {"token": ""}),
    "no server": ({"certificate-authority-data": b64(CA)}, {"token": "t"}),
    "certificate data that is not base64": ({"server": "https://h", "certificate-authority-data": "%%%"}, None),
    "a certificate file that does not exist": ({"server": "https://h", "certificate-authority": "none.crt"}, None),
}


@pytest.mark.parametrize("case", list(UNSUPPORTED))
def test_everything_else_is_left_to_the_library(tmp_path: Path, case: str) -> None:
    cluster, user = UNSUPPORTED[case]
    with pytest.raises(kubeconfig.Unsupported):
        kubeconfig.load_static(write(tmp_path, config(cluster, user)), None)


def test_files_the_library_merges_or_refuses_are_left_to_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = write(tmp_path, config({"server": "https://h"}, {"token": "t"}), "one")
    two = write(tmp_path, config({"server": "https://h2"}, {"token": "t"}), "two")
    monkeypatch.setenv("KUBECONFIG", f"{one}{os.pathsep}{two}")
    with pytest.raises(kubeconfig.Unsupported, match="not exactly one"):
        kubeconfig.load_static(None, None)
    doubled = config({"server": "https://h"}, {"token": "t"})
    doubled["contexts"].append(dict(doubled["contexts"][0]))
    with pytest.raises(kubeconfig.Unsupported, match="2 entries named 'main'"):
        kubeconfig.load_static(write(tmp_path, doubled), None)
    for broken in ("", "- a list\n", "clusters: {}\n"):
        (tmp_path / "broken").write_text(broken)
        with pytest.raises(kubeconfig.Unsupported):
            kubeconfig.load_static(tmp_path / "broken", None)
    with pytest.raises(kubeconfig.Unsupported, match=r"contexts: 0 entries named 'absent'"):
        kubeconfig.load_static(one, "absent")


def test_an_exec_plugin_runs_through_the_library(tmp_path: Path) -> None:
    plugin = tmp_path / "plugin.py"
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": "from-the-plugin"}}  # fmt: skip
    plugin.write_text(f"import json\nprint(json.dumps({credential!r}))\n")
    exec_user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                          "args": [str(plugin)], "interactiveMode": "Never"}}  # fmt: skip
    path = write(tmp_path, config({"server": "https://h"}, exec_user, namespace="ns"))
    kube = Kube.connect(kubeconfig=path)
    assert kube.configuration.auth_settings()["BearerToken"]["value"] == "Bearer from-the-plugin"
    assert (kube.context.name, kube.context.namespace, kube.context.server) == ("main", "ns", "https://h")


def test_connect_names_the_known_contexts_for_an_unknown_one(tmp_path: Path) -> None:
    path = write(tmp_path, config({"server": "https://h"}, {"token": "t"}, extra=1))
    with pytest.raises(InvalidInput) as caught:
        Kube.connect(kubeconfig=path, context="prod")
    assert (caught.value.field, caught.value.fix) == ("--context", "use one of: main, other0")
    assert Kube.connect(kubeconfig=path).context.namespace == "default"
