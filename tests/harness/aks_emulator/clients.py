"""Real Azure SDK clients pointed at an ArmEmulator, set up the way tests need them
(connection_verify=<ca>, polling_interval=0, retry_total=0: azure-core 1.41.0 pipeline and polling options)."""

from __future__ import annotations

import time
from typing import Any

from tests.harness.aks_emulator.emulator import ArmEmulator


class StaticToken:
    """A credential that always returns the same bearer token (the emulator accepts any by default)."""

    def __init__(self, token: str = "test-token") -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)


def sdk_client(emu: ArmEmulator, credential: Any = None, **kwargs: Any) -> Any:
    """ContainerServiceClient against `emu`. Defaults: polling_interval=0, retry_total=0 (override by kwargs)."""
    from azure.mgmt.containerservice import ContainerServiceClient

    options: dict[str, Any] = {"polling_interval": 0, "retry_total": 0, **kwargs}
    return ContainerServiceClient(
        credential or StaticToken(),
        emu.subscription,
        base_url=emu.endpoint,
        connection_verify=str(emu.ca_bundle),
        **options,
    )


def compute_client(emu: ArmEmulator, credential: Any = None, **kwargs: Any) -> Any:
    """ComputeManagementClient against `emu` (for the usages API)."""
    from azure.mgmt.compute import ComputeManagementClient

    options: dict[str, Any] = {"retry_total": 0, **kwargs}
    return ComputeManagementClient(
        credential or StaticToken(),
        emu.subscription,
        base_url=emu.endpoint,
        connection_verify=str(emu.ca_bundle),
        **options,
    )
