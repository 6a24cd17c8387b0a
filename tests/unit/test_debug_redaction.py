"""`--debug` never prints a secret (issue 10, "Nothing leaked"): one test per library that logs HTTP traffic.

Each test turns logging on exactly as `--debug` does (kaitoctl.cli.logsetup.setup), sends a real request that
carries a known secret through the real library to a local server, and then looks for the secret in everything
the process wrote to its stdout and stderr (file descriptors, so http.client's print()-style debug output would be
caught too). The libraries and what they log at DEBUG (versions pinned by the lock file):

- kubernetes client 37 / urllib3 2: urllib3 logs `host "METHOD path?query HTTP/1.1" status`; the kubernetes
  client itself only logs through http.client when Configuration.debug is set (kaitoctl never sets it).
- azure-core 1.41 HttpLoggingPolicy: URL and headers, every header and query parameter not on its allow-lists
  replaced by REDACTED (Authorization is not on it).
- azure-identity 1.27 / msal 1.39: credential choice and token acquisition events (no token values); tested on
  the az login path (AzureCliCredential running the emulator's fake `az`) and the service principal path
  (ClientSecretCredential through msal).
- the kubeconfig's exec plugin (kubelogin on AKS): the ExecCredential token is not logged.
- httpx 0.29 / httpcore 1.0: one "HTTP Request: METHOD URL status" line; httpcore traces request methods and
  response headers, never request headers.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kaitoctl.cli import logsetup
from kaitoctl.cli.app import app

KUBE_TOKEN = "kube-bearer-7f3a9c"
CLIENT_KEY = "CLIENT-KEY-BODY-5d21e8"
SECRET_DATA = "registry-password-c0ffee"
ARM_TOKEN = "arm-access-token-91b2"
CLIENT_SECRET = "sp-client-secret-4e4e"
SAS_SIG = "sas-signature-77aa"
API_KEY = "model-api-key-2b2b"
PASSWORD = "url-password-3c3c"


@pytest.fixture
def debug_logging(capfd: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Logging as `kaitoctl --debug` sets it up, restored afterwards; yields a function returning all output."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    names = (*logsetup.NOISY, "httpx", "azure.core.pipeline.policies.http_logging_policy")
    levels = {name: logging.getLogger(name).level for name in names}
    logsetup.setup(logging.DEBUG, debug=True)
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    logged = io.StringIO()
    handler.setStream(logged)  # the --debug handler itself, formatter and all; only its stream is ours

    def output() -> str:
        captured = capfd.readouterr()  # anything written to the real stdout/stderr (print-style debug output)
        return logged.getvalue() + captured.out + captured.err

    yield output
    root.handlers[:], root.level = saved
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _assert_logged_without(text: str, what: str, *secrets: str) -> None:
    assert what in text, f"the request was not logged at all: the test would prove nothing\n{text[-3000:]}"
    for secret in secrets:
        assert secret not in text, f"{secret!r} leaked into --debug output:\n{text[-3000:]}"


class _Server:
    """A local HTTP(S) server answering every request with `answer(handler) -> (status, headers, body)`."""

    def __init__(self, answer: Any, tls: Any = None) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(length) if length else b""
                status, headers, body = answer(self)
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd: HTTPServer = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls.cert_pem, tls.key_pem)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _json(body: Any, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


# -- kubernetes client + urllib3 --------------------------------------------------------------------------------


def test_kube_requests_log_no_token_no_client_key_no_secret_data(debug_logging: Any, tmp_path: Path) -> None:
    """The kubeconfig's bearer token and client key, and a Secret's data read back (kaitoctl gets image pull and
    model access Secrets), stay out of the log."""
    from kaitoctl.adapters.k8s import Kube

    seen: list[str] = []

    def answer(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        seen.append(handler.headers.get("Authorization") or "")
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "pull", "namespace": "default"},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(SECRET_DATA.encode()).decode()},
        }
        return _json(secret)

    server = _Server(answer)
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server.url}}],
                "users": [
                    {
                        "name": "u",
                        "user": {
                            "token": KUBE_TOKEN,
                            # carried by the kubeconfig loader into a temp file; must not be logged on the way
                            "client-key-data": base64.b64encode(CLIENT_KEY.encode()).decode(),
                        },
                    }
                ],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    try:
        got = Kube.connect(kubeconfig).get("/api/v1/namespaces/default/secrets/pull")
    finally:
        server.close()
    assert got is not None and seen == [f"Bearer {KUBE_TOKEN}"]  # the secrets really travelled
    _assert_logged_without(
        debug_logging(),
        "/api/v1/namespaces/default/secrets/pull",
        KUBE_TOKEN,
        CLIENT_KEY,
        base64.b64encode(CLIENT_KEY.encode()).decode(),
        SECRET_DATA,
        base64.b64encode(SECRET_DATA.encode()).decode(),
    )


def test_kube_exec_plugin_token_is_not_logged(debug_logging: Any, tmp_path: Path) -> None:
    """AKS kubeconfigs get their token from an exec plugin (kubelogin): the ExecCredential it prints
    (client.authentication.k8s.io/v1beta1, status.token) travels as the bearer token and is not logged."""
    import sys

    from kaitoctl.adapters.k8s import Kube

    exec_token = "exec-plugin-token-6a6a"
    seen: list[str] = []

    def answer(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        seen.append(handler.headers.get("Authorization") or "")
        return _json({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})

    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": exec_token},
    }
    server = _Server(answer)
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server.url}}],
                "users": [
                    {
                        "name": "u",
                        "user": {
                            "exec": {
                                "apiVersion": "client.authentication.k8s.io/v1beta1",
                                "command": sys.executable,
                                "args": ["-c", f"print({json.dumps(json.dumps(credential))})"],
                                "interactiveMode": "Never",
                            }
                        },
                    }
                ],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    try:
        Kube.connect(kubeconfig).get("/api/v1/namespaces/default")
    finally:
        server.close()
    assert seen == [f"Bearer {exec_token}"]
    _assert_logged_without(debug_logging(), "/api/v1/namespaces/default", exec_token)


# -- azure-core, azure-identity, msal ---------------------------------------------------------------------------


@pytest.fixture
def tls(tmp_path: Path) -> Any:
    from tests.harness.aks_emulator.certs import write_tls_files

    return write_tls_files(tmp_path / "tls")


def test_arm_requests_log_no_bearer_token(debug_logging: Any, tls: Any) -> None:
    """kaitoctl's AKS adapter (its pipeline options) with the real SDK: the bearer token is not logged, and a SAS
    signature in a query is redacted by azure-core's allow-list (sig is not on it)."""
    from azure.core.rest import HttpRequest

    from kaitoctl.adapters.aks import Aks, AksTarget
    from tests.harness.aks_emulator.clients import StaticToken

    seen: list[str] = []

    def answer(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        seen.append(handler.headers.get("Authorization") or "")
        return _json({"value": []})

    arm = _Server(answer, tls)
    try:
        aks = Aks(
            AksTarget("00000000-0000-0000-0000-000000000001", "rg", "c", endpoint=arm.url, ca_bundle=str(tls.ca_pem))
        )
        aks._credential = StaticToken(ARM_TOKEN)
        assert aks.list_clusters() == []
        response = aks.containers._client.send_request(HttpRequest("GET", f"{arm.url}/blob?sv=2024&sig={SAS_SIG}"))
        assert response.status_code == 200
    finally:
        arm.close()
    assert seen == [f"Bearer {ARM_TOKEN}"] * 2
    _assert_logged_without(debug_logging(), "/providers/Microsoft.ContainerService/managedClusters", ARM_TOKEN, SAS_SIG)


def test_service_principal_login_logs_no_client_secret_no_token(debug_logging: Any, tls: Any) -> None:
    """azure-identity's ClientSecretCredential (what DefaultAzureCredential's EnvironmentCredential uses for
    AZURE_CLIENT_SECRET) through msal against a local Entra ID stand-in, then an ARM call with the token."""
    from azure.identity import ClientSecretCredential

    from kaitoctl.adapters.aks import Aks, AksTarget

    posted: list[bytes] = []
    arm_auth: list[str] = []

    def answer(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        base = f"https://127.0.0.1:{handler.server.server_port}/tenant"
        if handler.path.endswith("/.well-known/openid-configuration"):
            # OpenID Connect Discovery 1.0 §3 metadata; msal reads token_endpoint and authorization_endpoint
            # (msal/oauth2cli/oidc.py, msal/authority.py @1.39.0). Issuer shape as Entra ID's v2.0 document.
            return _json(
                {
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "issuer": f"{base}/v2.0",
                }
            )
        if handler.path.endswith("/oauth2/v2.0/token"):
            posted.append(handler.body)  # type: ignore[attr-defined]
            # RFC 6749 §5.1 access token response (client credentials grant, §4.4.3)
            return _json({"token_type": "Bearer", "expires_in": 3600, "access_token": ARM_TOKEN})
        arm_auth.append(handler.headers.get("Authorization") or "")
        return _json({"value": []})

    server = _Server(answer, tls)
    try:
        credential = ClientSecretCredential(
            "tenant",
            "client-id",
            CLIENT_SECRET,
            authority=server.url,
            disable_instance_discovery=True,  # no call to login.microsoftonline.com for a custom authority
            connection_verify=str(tls.ca_pem),
        )
        aks = Aks(
            AksTarget("00000000-0000-0000-0000-000000000001", "rg", "c", endpoint=server.url, ca_bundle=str(tls.ca_pem))
        )
        aks._credential = credential
        assert aks.list_clusters() == []
    finally:
        server.close()
    assert posted and CLIENT_SECRET.encode() in posted[0] and arm_auth == [f"Bearer {ARM_TOKEN}"]
    _assert_logged_without(debug_logging(), "/oauth2/v2.0/token", CLIENT_SECRET, ARM_TOKEN)


# -- httpx + httpcore (chat) ------------------------------------------------------------------------------------


def test_chat_logs_no_api_key_no_url_password(debug_logging: Any) -> None:
    """`kaitoctl chat --debug` against a model server: --api-key and a password in --endpoint are not in the log
    (httpx's request line, httpcore's trace, kaitoctl's own request line). The URL password leaked before this
    test: httpx and kaitoctl.chat logged `http://user:PASSWORD@host/...`."""
    seen: list[str] = []

    def answer(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        seen.append(f"{handler.command} {handler.path} {handler.headers.get('Authorization')}")
        if handler.path.startswith("/v1/models"):
            return _json({"object": "list", "data": [{"id": "m", "object": "model"}]})
        return _json(
            {
                "id": "c",
                "object": "chat.completion",
                "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            }
        )

    server = _Server(answer)
    with_password = server.url.replace("http://", f"http://user:{PASSWORD}@")
    try:
        keyed = CliRunner().invoke(
            app, ["chat", "q", "--endpoint", server.url, "--api-key", API_KEY, "--no-stream", "--debug"]
        )
        basic = CliRunner().invoke(app, ["chat", "q", "--endpoint", with_password, "--no-stream", "--debug"])
    finally:
        server.close()
    assert keyed.exit_code == 0 and basic.exit_code == 0, keyed.output + basic.output
    assert f"Bearer {API_KEY}" in seen[0] and "Basic " in seen[-1], seen  # the secrets really travelled
    _assert_logged_without(debug_logging() + keyed.output + basic.output, "HTTP Request", API_KEY, PASSWORD)


def test_redaction_patterns() -> None:
    """The redaction itself, on the shapes the libraries log (pins the patterns)."""
    assert logsetup.redact(f"GET http://user:{PASSWORD}@h:80/v1/models") == "GET http://user:REDACTED@h:80/v1/models"
    assert logsetup.redact(f"url='https://h/x?sv=1&sig={SAS_SIG}'") == "url='https://h/x?sv=1&sig=REDACTED'"
    assert logsetup.redact("{'Ocp-Apim-Subscription-Key': 'k123'}") == "{'Ocp-Apim-Subscription-Key': 'REDACTED'}"
    assert logsetup.redact("x-api-key: k123") == "x-api-key: REDACTED"
    assert logsetup.redact("max_tokens=5 tokens: 3 http://h:80/p") == "max_tokens=5 tokens: 3 http://h:80/p"


def test_a_record_that_cannot_be_written_is_not_dumped_raw(capfd: pytest.CaptureFixture[str]) -> None:
    """logging's default handleError prints the record's raw message and arguments to stderr, past the
    redacting formatter: a closed stream or a library's malformed format string would then print the secret
    (seen while writing these tests: a closed stream dumped a `sig=` URL)."""
    handler = logsetup.RedactingHandler(io.StringIO())
    handler.setFormatter(logsetup.RedactingFormatter("%(message)s"))
    handler.stream.close()
    logger = logging.getLogger("test.redaction.closed")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("GET %s", f"https://h/x?sig={SAS_SIG}")
        logger.warning("token=%s %s", KUBE_TOKEN)  # one argument short: formatting fails
    finally:
        logger.removeHandler(handler)
    err = capfd.readouterr().err
    assert "message withheld" in err
    assert SAS_SIG not in err and KUBE_TOKEN not in err


def test_az_login_path_logs_no_token(
    debug_logging: Any, make_arm_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kaitoctl's default credential (DefaultAzureCredential, here narrowed to AzureCliCredential as the
    emulator's environment does) running the emulator's fake `az` (the real subprocess path), then ARM: the token
    that `az account get-access-token` printed is not logged."""
    from kaitoctl.adapters.aks import Aks, AksTarget

    arm_emulator = make_arm_emulator(strict_tokens=True)  # only the fake az's token is accepted
    for name, value in arm_emulator.env().items():
        monkeypatch.setenv(name, value)
    target = AksTarget(
        arm_emulator.subscription,
        arm_emulator.resource_group,
        arm_emulator.cluster,
        endpoint=arm_emulator.endpoint,
        ca_bundle=str(arm_emulator.ca_bundle),
    )
    clusters = Aks(target).list_clusters()
    assert [c["name"] for c in clusters] == [arm_emulator.cluster]  # strict tokens: the az token travelled
    _assert_logged_without(debug_logging(), "AzureCliCredential", arm_emulator.token)
