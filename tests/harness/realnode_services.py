"""Small servers the real node runs on its bridge address (started by tests/harness/realnode.py):

    python -m tests.harness.realnode_services dns --address IP --record NAME=IP ...
        the pods' DNS (the kubelet's clusterDNS) on IP:53: A records for the given names (the registry names and
        the data host, all on the node's bridge); NXDOMAIN for everything else, so nothing resolves outside.
    python -m tests.harness.realnode_services https --address IP --port N --dir DIR --cert C --key K
        a static HTTPS file server for `tune --input-url` (TLS from the real node's CA); /slow/<s>/<file>
        answers after s seconds.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import ssl
import sys
import time
from typing import Any


def serve_dns(address: str, records: list[str]) -> None:
    from dnslib import QTYPE, RCODE, RR, A
    from dnslib.server import BaseResolver, DNSServer

    zone = {n.rstrip(".").lower(): ip for n, _, ip in (r.partition("=") for r in records)}

    class Resolver(BaseResolver):  # type: ignore[misc]
        def resolve(self, request: Any, handler: Any) -> Any:
            reply = request.reply()
            qname = str(request.q.qname).rstrip(".").lower()
            if qname in zone:
                if request.q.qtype in (QTYPE.A, QTYPE.ANY):
                    reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(zone[qname]), ttl=30))
                # AAAA and others: an empty answer (NOERROR), so clients fall back to the A record.
            else:
                reply.header.rcode = RCODE.NXDOMAIN
            return reply

    servers = [DNSServer(Resolver(), address=address, port=53, tcp=tcp) for tcp in (False, True)]
    for s in servers:
        s.start_thread()
    print(f"dns on {address}:53 for {sorted(zone)}", flush=True)
    while all(s.isAlive() for s in servers):
        time.sleep(1)
    sys.exit(1)


class _Files(http.server.SimpleHTTPRequestHandler):
    """Static files; /slow/<seconds>/<file> answers <file> after that delay (a download that is still running
    when a test interrupts kaitoctl)."""

    def do_GET(self) -> None:
        parts = self.path.split("/")
        if len(parts) > 3 and parts[1] == "slow" and parts[2].isdigit():
            time.sleep(min(int(parts[2]), 600))
            self.path = "/" + "/".join(parts[3:])
        super().do_GET()


def serve_https(address: str, port: int, directory: str, cert: str, key: str) -> None:
    handler = functools.partial(_Files, directory=directory)
    httpd = http.server.ThreadingHTTPServer((address, port), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    print(f"https on {address}:{port} serving {directory}", flush=True)
    httpd.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dns")
    d.add_argument("--address", required=True)
    d.add_argument("--record", action="append", default=[], help="NAME=IPv4 (repeatable)")
    h = sub.add_parser("https")
    h.add_argument("--address", required=True)
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--dir", required=True)
    h.add_argument("--cert", required=True)
    h.add_argument("--key", required=True)
    args = ap.parse_args()
    if args.cmd == "dns":
        serve_dns(args.address, args.record)
    else:
        serve_https(args.address, args.port, args.dir, args.cert, args.key)


if __name__ == "__main__":
    main()
