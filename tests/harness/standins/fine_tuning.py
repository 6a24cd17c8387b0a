#!/usr/bin/env python3
"""Stand-in for Kaito's trainer in the real node's kaito-base image (CPU only, seconds, no model).

Imitates (Kaito v0.12.0, presets/workspace/tuning/text-generation/fine_tuning.py, run by `accelerate launch`
from the tuning Job): it reads the training configuration /mnt/config/training_config.yaml (key
`training_config`: ModelConfig, QuantizationConfig, LoraConfig, TrainingArguments, DataCollator, DatasetConfig),
loads the dataset from every file under /mnt/data (DatasetConfig's local data; JSON lines here), logs its
progress as `step n/N`, saves the adapter with PEFT's file names (adapter_config.json,
adapter_model.safetensors) into TrainingArguments.output_dir (the results volume, /mnt/results), and writes
the completion sentinel fine_tuning_completed.txt there, which the pusher sidecar waits for. A record that is
not valid JSON fails the run (exit 1) with a ValueError, as a dataset that does not parse fails the real one.

The adapter is a valid safetensors file whose single tensor is derived from the data, and adapter_config.json
records the sha256 of every data file read, so a test can trace the data through to the server's answer.
"""
import hashlib
import json
import os
import struct
import sys
import time

import yaml

CONFIG = "/mnt/config/training_config.yaml"
DATA = os.environ.get("DATA_VOLUME_PATH", "/mnt/data")

with open(CONFIG) as f:
    config = (yaml.safe_load(f) or {}).get("training_config") or {}
print(f"training config {CONFIG}: sections {sorted(config)}", flush=True)
args = config.get("TrainingArguments") or {}
lora = config.get("LoraConfig") or {}
quant = config.get("QuantizationConfig") or {}
out = args.get("output_dir") or os.environ.get("OUTPUT_DIR") or "/mnt/results"
print(f"NVIDIA_VISIBLE_DEVICES={os.environ.get('NVIDIA_VISIBLE_DEVICES', '')}", flush=True)

weights = sorted(os.listdir("/workspace/weights")) if os.path.isdir("/workspace/weights") else []
print(f"base weights in /workspace/weights: {weights}", flush=True)

records = 0
data_files = {}
for root, _, files in os.walk(DATA):
    for fn in sorted(files):
        path = os.path.join(root, fn)
        with open(path, "rb") as f:
            raw = f.read()
        data_files[os.path.relpath(path, DATA)] = hashlib.sha256(raw).hexdigest()
        for n, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                json.loads(line)
            except ValueError as e:
                print(f"ValueError: {os.path.relpath(path, DATA)} line {n} is not a JSON record: {e}", flush=True)
                sys.exit(1)
            records += 1
if not records:
    print(f"ValueError: no training records under {DATA}", flush=True)
    sys.exit(1)
print(f"loaded {records} records from {len(data_files)} file(s): {sorted(data_files)}", flush=True)

total = max(1, min(records, int(args.get("max_steps") or 0) or 8))
for step in range(1, total + 1):
    loss = 2.0 / step
    line = f"step {step}/{total} loss={loss:.4f}"
    print(line, flush=True)
    with open("/tmp/training_progress", "w") as f:
        f.write(line)
    time.sleep(0.3)

os.makedirs(out, exist_ok=True)
adapter_config = {
    "peft_type": "LORA", "task_type": "CAUSAL_LM",
    "r": lora.get("r", 8), "lora_alpha": lora.get("lora_alpha", 8), "lora_dropout": lora.get("lora_dropout", 0.0),
    "target_modules": lora.get("target_modules", ["qkv_proj"]),
    "load_in_4bit": bool(quant.get("load_in_4bit", False)),
    "stand_in": {"records": records, "data_files": data_files, "steps": total},
}
with open(os.path.join(out, "adapter_config.json"), "w") as f:
    json.dump(adapter_config, f, indent=1, sort_keys=True)
# safetensors: u64 little-endian header size, JSON header, then the tensor bytes.
digest = hashlib.sha256(json.dumps(data_files, sort_keys=True).encode()).digest()
values = [b / 255.0 for b in digest[:8]]
tensor = struct.pack("<8f", *values)
header = json.dumps({"base_model.lora_A.weight": {"dtype": "F32", "shape": [8], "data_offsets": [0, len(tensor)]},
                     "__metadata__": {"format": "pt"}}).encode()
with open(os.path.join(out, "adapter_model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(header)) + header + tensor)
# The sentinel as fine_tuning.py writes it: into TrainingArguments.output_dir, "Fine-Tuning completed at <time>".
with open(os.path.join(out, "fine_tuning_completed.txt"), "w") as f:
    f.write(f"Fine-Tuning completed at {time.strftime('%Y-%m-%d-%H-%M-%S')}\n")
print(f"saved adapter to {out}", flush=True)
