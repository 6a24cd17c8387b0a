"""Fast commands stay fast: what `--help`, presets, render and dry-runs may import (deterministic, not timed).

Each command runs in a fresh interpreter with stderr on a pipe (not a terminal) and `-X importtime` lists every
module it imported. The heavy ones (cloud clients, pydantic through Typer's coercion, rich for plain output,
jinja2 and PyYAML where nothing is rendered or parsed) stay off these paths; bench/startup measures the time.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.unit.helpers import FIXTURES

# Never on a fast path: cloud and HTTP clients, and pydantic (Typer's coercion; kaitoctl.cli.coercion avoids it).
HEAVY = ("kubernetes", "azure", "httpx", "msal", "urllib3", "requests", "pydantic", "pydantic_core")
VERB_MODULES = {f"kaitoctl.cli.{v}" for v in ("tune", "deploy", "apply", "render", "status", "logs", "delete", "chat")}

# args, the verb module it needs (None: none), whether it renders templates
COMMANDS: list[tuple[list[str], str | None, bool]] = [
    (["--help"], None, False),
    (["--version"], None, False),
    (["tune", "--help"], "kaitoctl.cli.tune", False),
    (["deploy", "--help"], "kaitoctl.cli.deploy", False),
    (["presets"], "kaitoctl.cli.presets", False),
    (["presets", "skus"], "kaitoctl.cli.presets", False),
    (["presets", "show", "phi-3"], "kaitoctl.cli.presets", False),
    (["tune", "phi-3", "--method", "qlora", "--dry-run"], "kaitoctl.cli.tune", True),
    (["deploy", "phi-3", "--dry-run", "-o", "json"], "kaitoctl.cli.deploy", True),
    (["deploy", "phi-3", "--dry-run", "--count", "1", "--label", "a=b", "--kubeconfig", "/nonexistent"], None, True),
    (["apply", "-f", str(FIXTURES / "cookbook-tuning-phi-3.yaml"), "--dry-run"], "kaitoctl.cli.apply", True),
    # render shares apply's options and spec loading.
    (["render", "-f", str(FIXTURES / "v1beta1-inference-phi-4-mini.yaml")], "kaitoctl.cli.render", True),
]


def imported_modules(args: list[str]) -> set[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kaitoctl", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    # 2: the cookbook YAML's dry run says a real run would be refused (its placeholders); it still renders
    assert proc.returncode in (0, 2) and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    modules = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip())
    assert modules, "no -X importtime output"
    return modules


def tops(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.mark.parametrize(("args", "verb_module", "renders"), COMMANDS, ids=[" ".join(c[0][:3]) for c in COMMANDS])
def test_fast_commands_stay_light(args: list[str], verb_module: str | None, renders: bool) -> None:
    modules = imported_modules(args)
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == [], f"kaitoctl {' '.join(args)} imported {heavy[:10]}"
    if args[0] != "--help" and "--help" not in args:
        # Plain output on a pipe: rich is for terminals (and Typer's help screens).
        assert "rich" not in tops(modules), f"kaitoctl {' '.join(args)} imported rich"
    if not renders:
        assert "jinja2" not in tops(modules), f"kaitoctl {' '.join(args)} imported jinja2 without rendering"
    if args[0] in ("--help", "--version") or "--help" in args:
        assert "yaml" not in tops(modules)
    # Only the verb on the command line is imported and built.
    if verb_module is not None:
        allowed = {verb_module, "kaitoctl.cli.apply"} if verb_module == "kaitoctl.cli.render" else {verb_module}
        others = (VERB_MODULES - allowed) & modules
        assert not others, f"kaitoctl {' '.join(args)} imported other verbs: {sorted(others)}"
    if args[0] in ("--help", "--version"):
        assert not VERB_MODULES & modules


# Parts of the kubernetes package its __init__ would import and kaitoctl never uses (nor their dependencies).
UNUSED_KUBERNETES = ("kubernetes.dynamic", "kubernetes.watch", "kubernetes.informer", "kubernetes.leaderelection")


def test_a_real_run_imports_only_the_parts_of_kubernetes_it_uses(tmp_path: os.PathLike[str]) -> None:
    """The `kubernetes` package is registered without running its __init__ (kaitoctl/adapters/__init__.py): a real
    run imports the client's REST layer, not the dynamic client (and jsonschema through it), the
    watch helper, informers or leader election."""
    kubeconfig = os.path.join(str(tmp_path), "kubeconfig")
    with open(kubeconfig, "w", encoding="utf-8") as fh:
        fh.write(
            "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
            "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
            "contexts: [{name: x, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
        )
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kaitoctl", "status", "--kubeconfig", kubeconfig],
        capture_output=True,
        text=True,
        env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=60,
    )
    assert proc.returncode == 1 and "cannot reach the API server" in proc.stderr, proc.stderr[-2000:]
    modules = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert {"kubernetes.client.rest", "kubernetes.client.configuration"} <= modules  # it did connect
    unused = sorted(m for m in modules if m.startswith(UNUSED_KUBERNETES) or m.split(".")[0] == "jsonschema")
    assert unused == []
    # A static-credential kubeconfig is read by kaitoctl/adapters/kubeconfig.py: none of the library's OIDC, exec
    # and model imports (kubernetes.config, the generated ApiClient and pydantic, requests, oauthlib, dateutil).
    auth = ("kubernetes.config", "kubernetes.client.api_client", "pydantic", "requests", "oauthlib", "dateutil")
    assert sorted(m for m in modules if m.startswith(auth)) == []


def test_the_rest_of_kubernetes_still_imports_on_demand() -> None:
    """A submodule the package's __init__ did not import is imported on first use (port-forward's stream, a test's
    watch), and the client works as usual."""
    code = (
        "import kaitoctl.adapters.k8s, sys\n"
        "assert 'kubernetes.watch' not in sys.modules\n"
        "from kubernetes import watch, client\n"
        "from kubernetes.stream import portforward\n"
        "assert callable(watch.Watch) and callable(portforward) and callable(client.CoreV1Api)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
