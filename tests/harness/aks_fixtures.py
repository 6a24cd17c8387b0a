"""pytest fixtures for the ARM emulator (tests/harness/aks_emulator). Register with
`pytest_plugins = ["tests.harness.aks_fixtures"]` in tests/conftest.py.

- `arm_emulator`: a fresh ArmEmulator per test, no Kubernetes side effects, operations 0.2 s long. If the test
  also requests the `cluster` fixture (tests/conftest.py, session-scoped, `.kubeconfig: Path`), the emulator
  gets that kubeconfig: pools then make kwok nodes, and listClusterUserCredential hands out that kubeconfig.
- `make_arm_emulator`: a factory for other settings, `make_arm_emulator(operation_seconds=2, ...)`; every
  emulator it made is stopped at teardown.
- `aks_client`: a ContainerServiceClient (the REAL SDK) for `arm_emulator`: static token, the emulator's CA,
  polling_interval=0 and retry_total=0. `tests.harness.aks_emulator.clients.sdk_client(emu, **kw)` builds
  others (retries on, another credential); `compute_client(emu)` the Compute one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.aks_emulator import ArmEmulator
from tests.harness.aks_emulator.clients import sdk_client

DEFAULT_OPERATION_SECONDS = 0.2


def _cluster_kubeconfig(request: pytest.FixtureRequest) -> Path | None:
    if "cluster" not in request.fixturenames:
        return None
    cluster = request.getfixturevalue("cluster")
    return Path(cluster.kubeconfig)


@pytest.fixture
def make_arm_emulator(request: pytest.FixtureRequest) -> Iterator[Callable[..., ArmEmulator]]:
    made: list[ArmEmulator] = []

    def make(kubeconfig: Path | None = None, **kwargs: Any) -> ArmEmulator:
        kwargs.setdefault("operation_seconds", DEFAULT_OPERATION_SECONDS)
        emu = ArmEmulator(kubeconfig or _cluster_kubeconfig(request), **kwargs).start()
        made.append(emu)
        return emu

    yield make
    for emu in reversed(made):
        emu.stop()


@pytest.fixture
def arm_emulator(make_arm_emulator: Callable[..., ArmEmulator]) -> ArmEmulator:
    return make_arm_emulator()


@pytest.fixture
def aks_client(arm_emulator: ArmEmulator) -> Any:
    return sdk_client(arm_emulator)
