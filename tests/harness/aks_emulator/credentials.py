"""A fake `az` on PATH and an AZURE_CONFIG_DIR, so the REAL azure-identity credentials work offline.

azure-identity's AzureCliCredential runs `az account get-access-token --output json --resource <url>` (plus
`--tenant`/`--subscription` when set) from /bin with PATH searched for `az` (azure-identity 1.27.0 _credentials/azure_cli.py). The fake answers that
and `az account show` from the profile in $AZURE_CONFIG_DIR/azureProfile.json, which starts with a UTF-8 BOM
like the real CLI's file (Azure/azure-cli#13980). A file `logged-out` beside the script makes it answer like
an `az` that was never logged in.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

_SCRIPT = r'''#!__PYTHON__
"""Fake Azure CLI written by the kaitoctl ARM emulator (tests only). Knows two commands."""
import datetime, json, os, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = __TOKEN__
CONFIG_DIR = os.environ.get("AZURE_CONFIG_DIR") or __CONFIG_DIR__

def fail(msg, code=1):
    sys.stderr.write(msg + "\n")
    sys.exit(code)

def profile():
    with open(os.path.join(CONFIG_DIR, "azureProfile.json"), encoding="utf-8-sig") as f:
        subs = json.load(f).get("subscriptions", [])
    for sub in subs:
        if sub.get("isDefault"):
            return sub
    fail("ERROR: Please run 'az login' to setup account.")

def option(args, *names):
    for i, a in enumerate(args):
        if a in names and i + 1 < len(args):
            return args[i + 1]
    return None

args = sys.argv[1:]
if os.path.exists(os.path.join(HERE, "logged-out")):
    fail("ERROR: Please run 'az login' to setup account.")
if args[:2] == ["account", "get-access-token"]:
    sub = profile()
    expires = time.time() + 3600
    print(json.dumps({
        "accessToken": TOKEN,
        "expiresOn": datetime.datetime.fromtimestamp(expires).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "expires_on": int(expires),
        "subscription": option(args, "--subscription") or sub["id"],
        "tenant": option(args, "--tenant") or sub["tenantId"],
        "tokenType": "Bearer",
    }, indent=2))
elif args[:2] == ["account", "show"]:
    sub = profile()
    query = option(args, "--query")
    out = option(args, "--output", "-o") or "json"
    value = sub.get(query) if query else sub
    if out == "tsv":
        print(value if not isinstance(value, (dict, list)) else json.dumps(value))
    else:
        print(json.dumps(value, indent=2))
elif args[:1] == ["version"] or args[:1] == ["--version"]:
    print(json.dumps({"azure-cli": "2.79.0", "extensions": {}}))
else:
    fail("ERROR: the kaitoctl ARM emulator's fake az does not know: az " + " ".join(args), 2)
'''


def write_fake_az(bin_dir: Path, *, token: str, config_dir: Path) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = (
        _SCRIPT.replace("__PYTHON__", sys.executable)
        .replace("__TOKEN__", json.dumps(token))
        .replace("__CONFIG_DIR__", json.dumps(str(config_dir)))
    )
    path = bin_dir / "az"
    path.write_text(script)
    path.chmod(0o755)
    return path


def write_azure_profile(config_dir: Path, *, subscription: str, tenant: str) -> Path:
    """azureProfile.json as `az login` leaves it: one default subscription, UTF-8 with a BOM."""
    config_dir.mkdir(parents=True, exist_ok=True)
    profile = {
        "installationId": "00000000-aaaa-bbbb-cccc-000000000000",
        "subscriptions": [
            {
                "id": subscription,
                "name": "kaitoctl emulator subscription",
                "state": "Enabled",
                "user": {"name": "dev@example.com", "type": "user"},
                "isDefault": True,
                "tenantId": tenant,
                "environmentName": "AzureCloud",
                "homeTenantId": tenant,
                "tenantDefaultDomain": "example.onmicrosoft.com",
                "tenantDisplayName": "Emulator",
                "managedByTenants": [],
            }
        ],
    }
    path = config_dir / "azureProfile.json"
    path.write_text(json.dumps(profile, indent=2), encoding="utf-8-sig")
    return path
