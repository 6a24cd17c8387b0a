"""Finding the AKS cluster like az and kubectl do: flags, environment, az's default subscription, and the kube
context's API server (resolved to resource group and name through the real SDK against the emulator)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from kaitoctl.core.errors import InvalidInput
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.pool import az_default_subscription, resolve_target

pytestmark = pytest.mark.azure


@pytest.fixture
def emu(make_arm_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    emulator = make_arm_emulator(None)
    for key, value in emulator.env().items():
        monkeypatch.setenv(key, value)
    return emulator


def kube_at(server: str) -> Any:
    return SimpleNamespace(context=SimpleNamespace(server=server))


def test_not_azure_when_nothing_points_there(emu: Any) -> None:
    assert resolve_target(RunOptions(), kube_at("https://127.0.0.1:6443")) is None


def test_flags_win(emu: Any) -> None:
    target = resolve_target(RunOptions(subscription="sub-1", resource_group="rg", aks_cluster="c"), None)
    assert target is not None and (target.subscription, target.resource_group, target.cluster) == ("sub-1", "rg", "c")
    assert target.endpoint == emu.endpoint and target.ca_bundle == str(emu.ca_bundle)


def test_az_default_subscription_is_read_with_its_bom(emu: Any) -> None:
    assert az_default_subscription() == emu.subscription
    target = resolve_target(RunOptions(resource_group="rg-local", aks_cluster="aks-local"), None)
    assert target is not None and target.subscription == emu.subscription


def test_an_aks_kube_context_names_the_cluster(emu: Any) -> None:
    server = f"https://{emu.state.fqdn}:443"  # what `az aks get-credentials` puts in the kubeconfig
    target = resolve_target(RunOptions(subscription=emu.subscription), kube_at(server))
    assert target is not None and (target.resource_group, target.cluster) == ("rg-local", "aks-local")


def test_partial_names_are_an_error(emu: Any) -> None:
    with pytest.raises(InvalidInput) as err:
        resolve_target(RunOptions(subscription="s", aks_cluster="only-name"), kube_at("https://127.0.0.1:6443"))
    assert err.value.field == "--resource-group"


def test_unknown_cloud_is_an_error(emu: Any) -> None:
    with pytest.raises(InvalidInput) as err:
        resolve_target(RunOptions(cloud="Mars", resource_group="a", aks_cluster="b"), None)
    assert err.value.field == "--cloud"
