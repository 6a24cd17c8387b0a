"""--cloud: each cloud's ARM endpoint, token scope and login host (adapters/aks.py; no network)."""

from __future__ import annotations

import pytest

from kaitoctl.adapters.aks import CLOUDS, Aks, AksTarget


@pytest.mark.parametrize(
    ("cloud", "endpoint", "login"),
    [
        ("azurecloud", "https://management.azure.com", "login.microsoftonline.com"),
        ("azurechinacloud", "https://management.chinacloudapi.cn", "login.chinacloudapi.cn"),
        ("azureusgovernment", "https://management.usgovcloudapi.net", "login.microsoftonline.us"),
    ],
)
def test_each_cloud_has_its_endpoint_and_scope(cloud: str, endpoint: str, login: str) -> None:
    target = AksTarget("sub", "rg", "aks", cloud)
    aks = Aks(target, poll_interval=0)
    assert target.arm_endpoint == endpoint
    assert aks._scopes() == [f"{endpoint}/.default"]
    assert aks._client_kwargs()["base_url"] == endpoint
    assert CLOUDS[cloud] == (endpoint, login)  # the login host handed to DefaultAzureCredential(authority=...)


def test_a_custom_endpoint_keeps_the_clouds_scope() -> None:
    target = AksTarget("sub", "rg", "aks", "azurechinacloud", endpoint="https://127.0.0.1:8443", ca_bundle="/ca.pem")
    aks = Aks(target, poll_interval=0)
    kwargs = aks._client_kwargs()
    assert (kwargs["base_url"], kwargs["connection_verify"]) == ("https://127.0.0.1:8443", "/ca.pem")
    assert aks._scopes() == ["https://management.chinacloudapi.cn/.default"]
