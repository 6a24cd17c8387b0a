#!/usr/bin/env python3
"""Stand-in for Kaito's tuning metrics server (Kaito presets/workspace/tuning/text-generation/metrics/
metrics_server.py, read at a later commit than v0.12.0; started in the background by the tuning command): it serves the trainer's progress on the
container's port 5000. Here GET /metrics answers the last `step n/N` line the trainer stand-in wrote."""
import json
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        try:
            with open("/tmp/training_progress") as f:
                progress = f.read().strip()
        except OSError:
            progress = ""
        data = json.dumps({"progress": progress}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


HTTPServer(("0.0.0.0", 5000), Handler).serve_forever()
