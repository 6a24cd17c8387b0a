"""Command line: `python -m tests.harness.aks_emulator serve [options]` runs the emulator in the foreground.

hack/aks-emulator wraps this with start/stop/env. The export lines are printed once it serves and are also
written to <state-dir>/env.sh; SIGTERM or SIGINT stops it (and removes the nodes it created).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from tests.harness.aks_emulator.emulator import ArmEmulator
from tests.harness.aks_emulator.state import DEFAULT_SUBSCRIPTION


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aks-emulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run in the foreground until SIGTERM/SIGINT")
    serve.add_argument("--kubeconfig", type=Path, help="local cluster to create the pools' kwok nodes in")
    serve.add_argument("--state-dir", type=Path, required=True, help="TLS files, fake az, env.sh")
    serve.add_argument("--port", type=int, default=0, help="0: an ephemeral port")
    serve.add_argument("--operation-seconds", type=float, default=5.0, help="duration of each pool operation")
    serve.add_argument("--nodes-ready-after", type=float, default=None, help="seconds (default: 80%% of above)")
    serve.add_argument("--subscription", default=DEFAULT_SUBSCRIPTION)
    serve.add_argument("--quota-mode", choices=["async", "sync"], default="async")
    serve.add_argument("--device-plugin-preinstalled", action="store_true")
    serve.add_argument("--strict-tokens", action="store_true", help="accept only the fake az's token")
    serve.add_argument("--pod-subnet", action="store_true", help="Azure CNI with a pod subnet (pools need one)")
    args = parser.parse_args(argv)

    if args.kubeconfig is not None and not args.kubeconfig.is_file():
        parser.error(f"kubeconfig not found: {args.kubeconfig}")
    args.state_dir.mkdir(parents=True, exist_ok=True)
    emulator = ArmEmulator(
        args.kubeconfig.resolve() if args.kubeconfig else None,
        operation_seconds=args.operation_seconds,
        nodes_ready_after_s=args.nodes_ready_after,
        subscription=args.subscription,
        port=args.port,
        state_dir=args.state_dir.resolve(),
        quota_mode=args.quota_mode,
        device_plugin_preinstalled=args.device_plugin_preinstalled,
        strict_tokens=args.strict_tokens,
        pod_subnet=args.pod_subnet,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    emulator.start()
    try:
        sys.stdout.write(emulator.export_lines())
        sys.stdout.flush()
        stop.wait()
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
