"""A wire-level ARM emulator for one AKS cluster, driven by the REAL Azure SDK in tests.

It serves, over HTTPS on 127.0.0.1 (a CA made at start; pass `connection_verify=emu.ca_bundle`):

- Microsoft.ContainerService agent pools: GET, LIST (nextLink paging), PUT (create 201 / update or scale 200),
  DELETE (202, 204 when absent), POST .../abort, and the operation-status URLs of those long-running
  operations; the managed cluster GET and POST listClusterUserCredential / listClusterAdminCredential (the
  local cluster's kubeconfig, base64).
- Microsoft.Compute usages for the region (vCPU quota per family and `cores`), from the pools it holds.
- The Azure Retail Prices API shape at /api/retail/prices (made-up prices, marked `isEmulatorPrice`).
- Control endpoints without auth: GET /_emulator/health, GET|DELETE /_emulator/requests, GET|POST|DELETE
  /_emulator/faults, POST /_emulator/reset, GET /_emulator/pools, POST /_emulator/quota
  {"family","limit","current"}, POST /_emulator/config
  {"operation_seconds","nodes_ready_after_s","quota_mode"}, POST /_emulator/az {"logged_in": bool}.

One subscription (default 00000000-0000-0000-0000-000000000000), resource group `rg-local`, cluster
`aks-local` in `eastus`, starting with the System pool `nodepool1` (Standard_D4s_v5 x1). Given a kubeconfig,
pools get kwok nodes named like AKS's and the NVIDIA device plugin is simulated (see kube.py); operations
follow a wall-clock timeline (see state.py).

Python API::

    from tests.harness.aks_emulator import ArmEmulator, Fault

    with ArmEmulator(kubeconfig=None, operation_seconds=0.5) as emu:
        emu.endpoint            # "https://127.0.0.1:PORT"
        emu.ca_bundle           # Path of the CA PEM
        emu.env()               # the env contract for kaitoctl (dict); emu.env(os.environ) for subprocess
        emu.inject(Fault.quota_exceeded())          # also: throttle, server_error, operation_not_allowed,
                                                    # sku_not_available, failed_operation, slow,
                                                    # expired_token, error, forbidden, usages_forbidden
        emu.requests(method="PUT", path="agentPools")  # request log: method, path, query, status, user_agent,
                                                       # client_request_id, timestamp, body
        emu.pools()             # {name: ARM JSON}
        emu.set_quota("StandardNCADSA100v4Family", 24, current=0)  # any spelling; rows keep Azure's
        emu.set_logged_in(False)  # the fake az answers "Please run 'az login'"
        emu.reset()

Constructor options worth knowing: operation_seconds (wall-clock length of every operation), nodes_ready_after_s
(default 80% of it), quota_mode ("async": PUT 201 then the operation fails; "sync": 400 preflight),
gpu_family_limit / regional_cores_limit, device_plugin_preinstalled, strict_tokens (accept only the fake az's
token), list_page_size, latency_s (per ARM answer, default 0.01), node_side_effects (False: the kubeconfig is only
handed out as credentials), pod_subnet (Azure CNI with a pod subnet: nodepool1 has vnetSubnetID/podSubnetID and a
new pool without a pod subnet is refused), port, state_dir. Quota family names are Azure's own (catalog.GPU_FAMILIES,
each cited), not presets.yaml's. Real SDK clients for it: clients.sdk_client(emu), compute_client(emu).

Env contract (`emu.env()`, `hack/aks-emulator env`): AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP,
KAITOCTL_AKS_CLUSTER, KAITOCTL_ARM_ENDPOINT, KAITOCTL_ARM_CA_BUNDLE, KAITOCTL_PRICES_ENDPOINT (append
/api/retail/prices), AZURE_TOKEN_CREDENTIALS=AzureCliCredential, AZURE_CONFIG_DIR (azureProfile.json with a
BOM, default subscription = the emulator's) and PATH with the fake `az` first.

Clients must poll with `polling_interval=0` (or small): the emulator sends `Retry-After: 0`, which the SDK
treats as absent and falls back to its 30 s default (azure-core 1.41.0 azure/core/polling/base_polling.py,
get_retry_after).
"""

from tests.harness.aks_emulator.emulator import ArmEmulator
from tests.harness.aks_emulator.faults import Fault
from tests.harness.aks_emulator.state import ArmError, ArmState

__all__ = ["ArmEmulator", "ArmError", "ArmState", "Fault"]
