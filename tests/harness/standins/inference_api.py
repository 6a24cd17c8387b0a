#!/usr/bin/env python3
"""Stand-in for Kaito's model server in the real node's kaito-base image (no GPU, no model).

Imitates (Kaito v0.12.0, presets/workspace/inference/vllm/inference_api.py): the OpenAI-compatible server on
port 5000 that `python3 /workspace/vllm/inference_api.py` starts; `--served-model-name` names the model;
`--kaito-config-file` is read as YAML (KaitoConfig.from_yaml: the `vllm` section's keys become vLLM arguments,
e.g. max-model-len); LoRA adapters are the sub-directories of `--kaito-adapters-dir` (default /mnt/adapter,
load_lora_adapters), each served as a model named after its directory. GET /health answers 200 once serving.
The transformers runtime (presets/workspace/inference/text-generation/inference_api.py, started by
`accelerate launch ... /workspace/tfs/inference_api.py --served_model_name=...`) also serves the legacy
POST /chat, which this stand-in answers too.

Unlike the real servers it answers "echo: <question>", and for an adapter it appends which adapter files it
read and their sha256, so a test can prove that the adapter's bytes reached the server. Unverified: vLLM's exact
log lines; the ones below only say what happened.
"""
import argparse
import hashlib
import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# As PID 1 the process ignores SIGTERM unless it handles it; the real server stops on it (uvicorn).
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
ap = argparse.ArgumentParser()
ap.add_argument("--served-model-name", "--served_model_name", dest="served", default="model")
ap.add_argument("--kaito-config-file", default=None)
ap.add_argument("--kaito-adapters-dir", default="/mnt/adapter")
ap.add_argument("--port", type=int, default=5000)
ap.add_argument("--max-model-len", default=None)
ap.add_argument("--gpu-memory-utilization", type=float, default=0.9)
args, rest = ap.parse_known_args()
print(f"stand-in server: served model {args.served}; other arguments: {' '.join(rest)}", flush=True)
print(f"NVIDIA_VISIBLE_DEVICES={os.environ.get('NVIDIA_VISIBLE_DEVICES', '')}", flush=True)

# The model's context limit (unverified per model; phi-3-mini-128k's is 131072): a larger max-model-len fails
# at start-up, as vLLM does ("User-specified max_model_len ... is greater than the derived max_model_len").
DERIVED_MAX_LEN = 131072
max_len = args.max_model_len
if args.kaito_config_file:
    import yaml

    try:
        with open(args.kaito_config_file) as f:
            config = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        print(f"ERROR: cannot read --kaito-config-file {args.kaito_config_file}: {e}", flush=True)
        sys.exit(1)
    vllm = config.get("vllm") or {}
    print(f"kaito config {args.kaito_config_file}: vllm {json.dumps(vllm, sort_keys=True)}", flush=True)
    max_len = vllm.get("max-model-len", max_len)
    args.gpu_memory_utilization = float(vllm.get("gpu-memory-utilization", args.gpu_memory_utilization))
# vLLM's CacheConfig refuses a utilization above 1 at start-up (message unverified, the check is vLLM's).
if not 0 < args.gpu_memory_utilization <= 1:
    print(f"ValueError: GPU memory utilization must be less than 1.0. Got {args.gpu_memory_utilization}.",
          flush=True)
    sys.exit(1)
if max_len not in (None, "auto") and int(max_len) > DERIVED_MAX_LEN:
    print(f"ValueError: User-specified max_model_len ({max_len}) is greater than the derived max_model_len "
          f"({DERIVED_MAX_LEN})", flush=True)
    sys.exit(1)

adapters = {}
if os.path.isdir(args.kaito_adapters_dir):
    print(f"Loading LoRA adapters from {args.kaito_adapters_dir}", flush=True)
    for name in sorted(os.listdir(args.kaito_adapters_dir)):
        path = os.path.join(args.kaito_adapters_dir, name)
        if not os.path.isdir(path):
            continue
        files = {}
        for fn in sorted(os.listdir(path)):
            fp = os.path.join(path, fn)
            if os.path.isfile(fp):
                with open(fp, "rb") as f:
                    files[fn] = hashlib.sha256(f.read()).hexdigest()
        adapters[name] = files
        print(f"adapter {name}: " + ", ".join(f"{k} sha256={v}" for k, v in files.items()), flush=True)


def answer(model, question):
    text = f"echo: {question}"
    if model in adapters:
        files = "; ".join(f"{k} sha256={v}" for k, v in adapters[model].items())
        text += f" [adapter {model} read {files}]"
    return text


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        if self.path != "/health":
            print(f'{self.address_string()} "{self.command} {self.path}" {a[1] if len(a) > 1 else ""}', flush=True)

    def _json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n)) if n else {}

    def do_GET(self):
        if self.path == "/health":
            self._json(200, {"status": "Healthy"})
        elif self.path == "/v1/models":
            data = [{"id": args.served, "object": "model", "owned_by": "vllm", "root": args.served}]
            data += [{"id": a, "object": "model", "owned_by": "vllm", "root": os.path.join(args.kaito_adapters_dir, a),
                      "parent": args.served} for a in adapters]
            self._json(200, {"object": "list", "data": data})
        else:
            self._json(404, {"detail": "Not Found"})

    def do_POST(self):
        body = self._body()
        if self.path == "/chat":
            prompt = body.get("prompt")
            if not prompt:
                self._json(400, {"detail": "Text generation parameter prompt required"})
            else:
                self._json(200, {"Result": answer(args.served, prompt)})
            return
        if self.path != "/v1/chat/completions":
            self._json(404, {"detail": "Not Found"})
            return
        model = body.get("model")
        if model != args.served and model not in adapters:
            self._json(404, {"error": {"message": f"The model `{model}` does not exist.", "type": "NotFoundError",
                                       "code": 404}})
            return
        question = next((m.get("content", "") for m in reversed(body.get("messages") or [])
                         if m.get("role") == "user"), "")
        words = answer(model, question).split(" ")
        usage = {"prompt_tokens": len(str(question).split()), "completion_tokens": len(words),
                 "total_tokens": len(str(question).split()) + len(words)}
        if not body.get("stream"):
            self._json(200, {"id": "chatcmpl-standin", "object": "chat.completion", "model": model,
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": " ".join(words)},
                                          "finish_reason": "stop"}], "usage": usage})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(obj):
            data = (f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n").encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        for i, word in enumerate(words):
            send({"id": "chatcmpl-standin", "object": "chat.completion.chunk", "model": model,
                  "choices": [{"index": 0, "delta": {"content": word if i == 0 else " " + word},
                               "finish_reason": None}]})
            time.sleep(0.02)
        send({"id": "chatcmpl-standin", "object": "chat.completion.chunk", "model": model,
              "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage})
        send("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class Server(ThreadingHTTPServer):
    daemon_threads = True


httpd = Server(("0.0.0.0", args.port), Handler)
print(f"Uvicorn running on http://0.0.0.0:{args.port} (stand-in)", flush=True)
httpd.serve_forever()
