#!/usr/bin/env python3
"""Stand-in for Hugging Face's `accelerate launch` in the real node's kaito-base image.

Kaito runs the transformers server and the trainer through `accelerate launch [options] SCRIPT [script args]`
(Kaito v0.12.0: pkg/workspace/tuning/preset_tuning.go, the tuning command; pkg/workspace/inference for the
transformers runtime). With one process there is nothing to coordinate, so this stand-in drops accelerate's
own options and runs SCRIPT with python3 in place (same argv and environment).
"""
import os
import sys

argv = sys.argv[1:]
if not argv or argv[0] != "launch":
    sys.exit("usage: accelerate launch [--option=value ...] SCRIPT [ARGS...]")
rest = argv[1:]
while rest and rest[0].startswith("--") and not rest[0].endswith(".py"):
    opt = rest.pop(0)
    if "=" not in opt and rest and not rest[0].startswith("--") and not rest[0].endswith(".py"):
        rest.pop(0)  # "--option value"
if not rest:
    sys.exit("accelerate launch: no script given")
os.execv(sys.executable, [sys.executable, *rest])
