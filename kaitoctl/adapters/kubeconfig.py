"""Kubeconfig → `kubernetes.client.Configuration`, for the common case without importing `kubernetes.config`.

`kubernetes.config.kube_config` imports requests, requests-oauthlib, oauthlib, dateutil and (through `ApiClient`)
pydantic at module level, for OIDC, GCP and exec credentials: on a 2-core machine about a third of a deploy's
start-up (bench/deploy). A context whose user holds only static credentials (a bearer token, a client certificate
and key, or nothing) and whose cluster holds only a server, a CA and the TLS flags is read here with the meaning the
library gives it (kubernetes-client/python v37.0.2, kubernetes/config/kube_config.py: `KubeConfigMerger`,
`FileOrData`, `KubeConfigLoader._load_user_token`, `_load_cluster_info`, `_set_config`). Anything else (exec
plugins such as kubelogin, auth-provider, basic auth, tokenFile, proxy-url, impersonation, several files in
KUBECONFIG, a file this reader does not fully understand) is handed to the library itself, so its behaviour and its
errors stay the library's. tests/unit/test_kubeconfig.py checks that both readers give the same Configuration.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client.configuration import Configuration

# Keys this reader understands; any other key in the chosen user or cluster sends the file to the library.
_USER_KEYS = frozenset({"token", "client-certificate", "client-certificate-data", "client-key", "client-key-data"})
_CLUSTER_KEYS = frozenset(
    {"server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify", "tls-server-name"}
)
_IGNORED_KEYS = frozenset({"extensions"})  # metadata the library ignores as well

_temp_files: dict[bytes, str] = {}


@dataclass(frozen=True)
class Loaded:
    """A loaded context: the client configuration, the context's name and its namespace (None when unset)."""

    configuration: Configuration
    context: str | None
    namespace: str | None


class Unsupported(Exception):
    """This kubeconfig needs the library's reader (see the module docstring)."""


def kubeconfig_paths(kubeconfig: Path | None) -> list[str]:
    """The files the library would merge: --kubeconfig, else $KUBECONFIG, else ~/.kube/config; split on the path
    separator, user-expanded, the missing ones dropped (KubeConfigMerger._load_config_from_file_path)."""
    spec = str(kubeconfig) if kubeconfig is not None else os.environ.get("KUBECONFIG", "~/.kube/config")
    paths = [os.path.expanduser(p) for p in spec.split(os.pathsep) if p]
    return [p for p in paths if os.path.exists(p)]


def load_static(kubeconfig: Path | None, context: str | None) -> Loaded:
    """Read a single-file kubeconfig with static credentials; raise Unsupported for anything else."""
    paths = kubeconfig_paths(kubeconfig)
    if len(paths) != 1 or not os.path.isfile(paths[0]):
        raise Unsupported("not exactly one kubeconfig file")
    path = paths[0]
    try:
        with open(path, "rb") as fh:
            document = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError) as exc:
        raise Unsupported(str(exc)) from None
    if not isinstance(document, dict):
        raise Unsupported("not a mapping")
    name = context if context is not None else document.get("current-context")
    chosen = _named(document, "contexts", name)
    ctx = chosen.get("context")
    if not isinstance(ctx, dict) or set(ctx) - {"cluster", "user", "namespace"} - _IGNORED_KEYS:
        raise Unsupported("context")
    cluster = _named(document, "clusters", ctx.get("cluster")).get("cluster")
    user = _named(document, "users", ctx.get("user")).get("user") if "user" in ctx else None
    if not isinstance(cluster, dict) or set(cluster) - _CLUSTER_KEYS - _IGNORED_KEYS:
        raise Unsupported("cluster")
    if user is not None and (not isinstance(user, dict) or set(user) - _USER_KEYS - _IGNORED_KEYS):
        raise Unsupported("user")
    namespace = ctx.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise Unsupported("namespace")
    configuration = Configuration()
    _apply(configuration, cluster, user or {}, os.path.abspath(os.path.dirname(path)))
    return Loaded(configuration, str(chosen["name"]), namespace)


def _named(document: dict[str, Any], section: str, name: object) -> dict[str, Any]:
    """The one entry of `section` called `name` (the library's get_with_name refuses a name given twice)."""
    entries = document.get(section)
    if not isinstance(name, str) or not isinstance(entries, list):
        raise Unsupported(section)
    found = [e for e in entries if isinstance(e, dict) and e.get("name") == name]
    if len(found) != 1 or not all(isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries):
        raise Unsupported(f"{section}: {len(found)} entries named {name!r}")
    return found[0]


def _apply(configuration: Configuration, cluster: dict[str, Any], user: dict[str, Any], base: str) -> None:
    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise Unsupported("server")
    token = user.get("token")
    if "token" in user and (not isinstance(token, str) or not token):
        raise Unsupported("token")
    insecure = cluster.get("insecure-skip-tls-verify", False)
    tls_server_name = cluster.get("tls-server-name")
    if not isinstance(insecure, bool) or not isinstance(tls_server_name, (str, type(None))):
        raise Unsupported("TLS flags")
    host = server.rstrip("/")
    ca = cert = key = None
    if host.startswith("https"):  # the library reads certificates only for https servers
        ca = _file_or_data(cluster, "certificate-authority", base)
        cert = _file_or_data(user, "client-certificate", base)
        key = _file_or_data(user, "client-key", base)
    # What _set_config copies; the token keeps the library's "Bearer " prefix and key name.
    if token:
        configuration.api_key["BearerToken"] = f"Bearer {token}"
    configuration.host = host
    if ca is not None:
        configuration.ssl_ca_cert = ca
    if cert is not None:
        configuration.cert_file = cert
    if key is not None:
        configuration.key_file = key
    if "insecure-skip-tls-verify" in cluster:
        configuration.verify_ssl = not insecure
    if tls_server_name is not None:
        configuration.tls_server_name = tls_server_name


def _file_or_data(obj: dict[str, Any], key: str, base: str) -> str | None:
    """FileOrData(...).as_file(): KEY-data (base64, preferred) into a private temporary file, else KEY as a path
    relative to the kubeconfig's directory. The CA goes to a file too, not Configuration.ca_cert_data: exec and
    port-forward's websocket reads only ssl_ca_cert (kubernetes/stream/ws_client.py, create_websocket)."""
    data, path = obj.get(f"{key}-data"), obj.get(key)
    if f"{key}-data" in obj:
        if not isinstance(data, str) or not data:
            raise Unsupported(f"{key}-data")
        try:
            return _temp_file(base64.b64decode(data.encode(), validate=True))
        except (binascii.Error, ValueError):
            raise Unsupported(f"{key}-data is not base64") from None
    if path is None:
        return None
    if not isinstance(path, str) or not path:
        raise Unsupported(key)
    resolved = os.path.normpath(os.path.join(base, path))
    if not os.path.isfile(resolved):
        raise Unsupported(f"{key}: no such file")  # the library's error names the file
    return resolved


def _temp_file(content: bytes) -> str:
    """A 0600 file holding `content`, removed at exit (the library's _create_temp_file_with_content does the same;
    kaitoctl's own exit runs every atexit handler before it leaves)."""
    if content in _temp_files:
        return _temp_files[content]
    if not _temp_files:
        atexit.register(_remove_temp_files)
    fd, name = tempfile.mkstemp(prefix="kaitoctl-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
    _temp_files[content] = name
    return name


def _remove_temp_files() -> None:
    for name in _temp_files.values():
        with contextlib.suppress(OSError):
            os.remove(name)
    _temp_files.clear()
