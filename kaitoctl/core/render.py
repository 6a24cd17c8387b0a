"""Render a plan into Kubernetes objects with the Jinja templates in templates/.

Safety: every `{{ value }}` passes through `yaml_scalar`, which emits a double-quoted (JSON-style) YAML scalar or
a flow collection, so no value can break out of its place in the document. The rendered text is parsed back with
a safe loader and only the parsed objects are used. User values reach containers as argv or env, never inside a
shell string: the scripts in templates/scripts/ are constants that read "$@" and environment variables.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
from functools import cache
from typing import Any

import jinja2
import jinja2.bccache
import yaml

from kaitoctl.core.catalog import Catalog
from kaitoctl.core.data import templates_dir
from kaitoctl.core.naming import (
    COMPONENT_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    MODE_LABEL,
    PLACEMENT_ANNOTATION,
    RECORD_KIND_LABEL,
    SPEC_ANNOTATION,
    WORKSPACE_LABEL,
    WorkspaceNames,
)
from kaitoctl.core.plan import ADAPTER_PVC_SIZE, INPUT_PVC_SIZE, INPUT_SUBPATH, TUNING_OUTPUT_DIR, Plan
from kaitoctl.core.sizing import readiness_timeout_s
from kaitoctl.core.spec import ANNOTATION_ENABLE_LB, Inference

# YAML (1.1, as PyYAML reads it) treats these as line breaks or refuses them: escape them inside scalars.
_NEEDS_ESCAPE = re.compile("[^\x09\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


# Kaito's startup probe is its post-load benchmark (exec, 600 s); kaitoctl does not run the benchmark and probes
# /health like Kaito with kaito.sh/disable-benchmark. The kubelet's default 1 s is too short for a server that is
# compiling CUDA graphs or already taking requests; 10 s (one probe period) is what such a server meets.
STARTUP_PROBE_TIMEOUT_S = 10


def yaml_scalar(value: Any) -> str:
    """Any value as a self-delimiting YAML flow node. Strings always come out double-quoted."""
    if isinstance(value, jinja2.Undefined):
        raise jinja2.UndefinedError("undefined template value")
    text = json.dumps(value, ensure_ascii=False, sort_keys=False)
    return _NEEDS_ESCAPE.sub(_escape_char, text)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {**base, **extra}


class _BytecodeCache(jinja2.FileSystemBytecodeCache):
    """Jinja2's own cache of compiled templates, in its private per-user directory (created 0700 and checked):
    compiling the templates costs more than rendering them, on every run. A cache that cannot be written (a full or
    read-only disk) only means the next run compiles again."""

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    try:
        return _BytecodeCache()
    except (OSError, RuntimeError):  # no safe directory for it: compile every time
        return None


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        bytecode_cache=_bytecode_cache(),
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        finalize=yaml_scalar,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["merge"] = _merge
    return env


@cache
def script(name: str) -> str:
    """A constant shell script from templates/scripts/ (passed as one argv element, never interpolated).
    Its leading comment block documents the file, not the pod, and is dropped."""
    lines = (templates_dir() / "scripts" / name).read_text(encoding="utf-8").splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "".join(lines)


def render_template(name: str, **context: Any) -> list[dict[str, Any]]:
    text = _environment().get_template(name).render(**context)
    # The C parser when PyYAML has it: the same safe constructors, a tenth of the time.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [doc for doc in yaml.load_all(text, Loader=loader) if doc is not None]


def k8s_name(*parts: str, limit: int = 63) -> str:
    """A DNS-1123 label built from parts; long names keep a hash suffix so they stay unique."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-')}-{digest}"


# ---- context ------------------------------------------------------------------------------------------------


def _labels(plan: Plan, component: str) -> dict[str, str]:
    return {
        MANAGED_BY_LABEL: MANAGED_BY,
        WORKSPACE_LABEL: plan.spec.name,
        COMPONENT_LABEL: component,
    }


def _tolerations() -> list[dict[str, str]]:
    return [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
        {"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal", "value": "spot", "effect": "NoSchedule"},
    ]


def _vllm_args(plan: Plan, *, adapters: bool, config_file: bool) -> list[str]:
    preset, sku = plan.preset, plan.sku
    nodes = plan.placement.nodes
    fit = plan.inference_fit
    # Kaito v0.12 always lets vLLM size the context (pkg/workspace/inference/preset_inferences.go, MaxModelLenAuto);
    # a config file's max-model-len still wins: inference_api.py appends its vllm keys after these flags.
    args = [f"--served-model-name={preset.served_name}", "--max-model-len=auto"]
    utilization = "0.82" if sku.gpu_model == "NVIDIA A10" else "0.84"
    args += [
        f"--gpu-memory-utilization={utilization}",
        '--kv-events-config={"enable_kv_cache_events":true}',
        "--compilation-config.pass_config.fuse_allreduce_rms=False",
    ]
    small_model = fit is not None and fit.weights_gib < 0.5 * sku.gpu_memory_gib
    if nodes == 1 and small_model and sku.gpus > 1:
        args += [f"--data-parallel-size={sku.gpus}", "--tensor-parallel-size=1"]
        args.append("--kaito-kv-cache-cpu-memory-utilization=0")
    else:
        args.append(f"--tensor-parallel-size={sku.gpus}")
    if nodes > 1:
        # LMCache's CPU offload does not work across nodes (pkg/model/interface.go v0.12.0, configureParallelism).
        args += [
            "--kaito-kv-cache-cpu-memory-utilization=0",
            f"--pipeline-parallel-size={nodes}",
            "--distributed-executor-backend=ray",
        ]
    args += [f"--model={preset.hf_repo}", "--download-dir=/workspace/weights"]
    revision = model_revision(plan)
    if revision:
        args.append(f"--revision={revision}")
    # Kaito passes these three as auto unless the model needs otherwise (mistral's own formats, deepseek tokenizer).
    formats = {"load_format": "auto", "config_format": "auto", "tokenizer_mode": "auto"}
    extra = dict(preset.vllm.extra_args)
    for key in formats:
        formats[key] = extra.pop(key, formats[key])
    args += ["--trust-remote-code", f"--dtype={preset.vllm.dtype}"]
    args += [f"--{key}={value}" for key, value in formats.items()]
    if preset.vllm.chat_template:
        args.append(f"--chat-template=/workspace/chat_templates/{preset.vllm.chat_template}")
    if preset.vllm.tool_call_parser:
        args += [f"--tool-call-parser={preset.vllm.tool_call_parser}", "--enable-auto-tool-choice"]
    if preset.vllm.reasoning_parser:
        args.append(f"--reasoning-parser={preset.vllm.reasoning_parser}")
    present = {arg.split("=", 1)[0] for arg in args}
    for key in sorted(extra):
        if f"--{key}" not in present:
            args.append(f"--{key}={extra[key]}" if extra[key] else f"--{key}")
    if adapters:
        args.append("--enable-lora")
    if config_file:
        args.append("--kaito-config-file=/mnt/config/inference_config.yaml")
    return args


def _transformers_args(plan: Plan) -> list[str]:
    preset = plan.preset
    args = [
        "--num_processes=1",
        "--num_machines=1",
        "--machine_rank=0",
        "--gpu_ids=all",
        "/workspace/tfs/inference_api.py",
    ]
    for key, value in (preset.transformers_args or {}).items():
        args.append(f"--{key}={value}" if value else f"--{key}")
    args += [
        f"--served_model_name={preset.served_name}",
        f"--pretrained_model_name_or_path={preset.hf_repo}",
        "--allow_remote_files",
    ]
    revision = model_revision(plan)
    if revision:
        args.append(f"--revision={revision}")
    return args


def docker_reference(image: str) -> str:
    """A Docker image reference in full (docker.io/library/ubuntu:latest for `ubuntu`), as Kaito's pusher normalises
    it (distribution/reference ParseDockerRef, pkg/workspace/image/pusher.go v0.12.0): oras reads the first path
    component as the registry, so `myorg/adapter:1` would otherwise go to a host called `myorg`."""
    name, at, digest = image.partition("@")
    first, slash, rest = name.partition("/")
    if not slash or (not any(c in first for c in ".:") and first != "localhost" and first == first.lower()):
        # No registry host: Docker Hub, and a one-part name lives under library/.
        first, rest = "docker.io", name if "/" in name else f"library/{name}"
    if not at and ":" not in rest.rsplit("/", 1)[-1]:
        rest = f"{rest}:latest"
    return f"{first}/{rest}{at}{digest}"


def model_revision(plan: Plan) -> str | None:
    """The Hugging Face revision the server loads: --revision, else the preset's pinned commit; None for `main`
    (what Kaito v0.12 loads: its generator's version URL carries no commit, so it passes no revision)."""
    inf = plan.spec.inference
    revision = (inf.revision if inf is not None else None) or plan.preset.revision
    return None if not revision or revision == "main" else revision


def _inference_context(plan: Plan, catalog: Catalog) -> dict[str, Any]:
    spec = plan.spec
    inf = spec.inference
    assert inf is not None
    runtime = plan.runtime or "vllm"
    nodes = plan.placement.nodes
    multi_node = nodes > 1
    inference_config, generated_config = _inference_config(inf, plan.names)
    use_config = runtime == "vllm" and inference_config is not None
    image_adapters, volume_adapters = _adapter_contexts(inf, spec.image_pull_secrets)
    leader = f"{plan.names.first_pod}.{plan.names.headless_service}.{plan.namespace}.svc.cluster.local"
    command, args = _inference_command(plan, runtime, multi_node, use_config)
    timeout = readiness_timeout_s(plan.preset.weights_gib)
    pull_secrets = list(
        dict.fromkeys([*spec.image_pull_secrets, *(s for a in inf.adapters for s in a.image_pull_secrets)])
    )
    return {
        "runtime": runtime,
        "nodes": nodes,
        "multi_node": multi_node,
        "leader_address": leader,
        "image": spec.image or catalog.defaults.base_image,
        "puller_image": catalog.defaults.images["puller"],
        "puller_script": script("pull-image-data.sh"),
        "command": command,
        "args": args,
        "env": _inference_env(plan, runtime, leader),
        "gpus": str(plan.sku.gpus),
        "startup_failure_threshold": math.ceil(timeout / 10),
        "startup_timeout": STARTUP_PROBE_TIMEOUT_S,
        "service_type": "LoadBalancer"
        if spec.annotations.get(ANNOTATION_ENABLE_LB, "").lower() == "true"
        else "ClusterIP",
        "image_adapters": image_adapters,
        "volume_adapters": volume_adapters,
        "config_map": inference_config if use_config else None,
        "generated_config": generated_config if use_config else None,
        "image_pull_secrets": pull_secrets,
    }


def _inference_config(inf: Inference, names: WorkspaceNames) -> tuple[str | None, str | None]:
    """The inference ConfigMap's name, and its text when kaitoctl generates it (--max-model-len)."""
    if inf.max_model_len is None:
        return inf.config, None
    generated = yaml.safe_dump(
        {"vllm": {"cpu-offload-gb": 0, "max-model-len": inf.max_model_len}},
        sort_keys=False,
        default_flow_style=False,
    )
    return names.inference_config, generated


def _adapter_contexts(
    inf: Inference, workspace_secrets: tuple[str, ...]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Adapters pulled from images (an init container each) and adapters mounted from volumes."""
    image_adapters = []
    volume_adapters = []
    for adapter in inf.adapters:
        if adapter.image:
            # The puller (skopeo) reads registry credentials only from its mounted auth directory, never from the
            # pod's imagePullSecrets: an adapter without secrets of its own (given by --adapter with
            # --image-pull-secret) gets the workspace's. skopeo tries anonymous access first, then each file.
            secrets = list(adapter.image_pull_secrets or workspace_secrets)
            image_adapters.append(
                {
                    "container": k8s_name("puller", adapter.name),
                    "image": adapter.image,
                    "secrets_volume": k8s_name("docker-config", adapter.name, "inference-adapter") if secrets else None,
                    "secrets": secrets,
                    "secrets_dir": f"/root/.docker/config.d/{adapter.name}-inference-adapter",
                    "target": f"/mnt/adapter/{adapter.name}",
                }
            )
        else:
            volume_adapters.append(
                {
                    "volume": k8s_name("adapter-volume", adapter.name),
                    "source": adapter.volume or {},
                    "mount": f"/mnt/adapter/{adapter.name}",
                }
            )
    return image_adapters, volume_adapters


def _inference_env(plan: Plan, runtime: str, leader: str) -> list[dict[str, Any]]:
    """vLLM's switches, the HF token, adapter strengths, and the multi-node rendezvous."""
    spec = plan.spec
    assert spec.inference is not None
    env: list[dict[str, Any]] = []
    if runtime == "vllm":
        env += [{"name": "VLLM_USE_FLASHINFER_SAMPLER", "value": "0"}, {"name": "VLLM_USE_DEEP_GEMM", "value": "0"}]
    if spec.model_access_secret:
        env.append(
            {
                "name": "HF_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": spec.model_access_secret, "key": "HF_TOKEN", "optional": True}},
            }
        )
    for adapter in spec.inference.adapters:
        if adapter.strength is not None:
            env.append({"name": adapter.name, "value": adapter.strength})
    if plan.placement.nodes > 1:
        env += [
            {
                "name": "POD_INDEX",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}},
            },
            {"name": "RAY_CLUSTER_SIZE", "value": str(plan.placement.nodes)},
            {"name": "LEADER_ADDRESS", "value": leader},
        ]
    return env


def _inference_command(plan: Plan, runtime: str, multi_node: bool, use_config: bool) -> tuple[list[str], list[str]]:
    """The server's command and arguments: vLLM (one node, or Ray across nodes) or transformers."""
    if runtime != "vllm":
        return ["accelerate", "launch"], _transformers_args(plan)
    assert plan.spec.inference is not None
    args = _vllm_args(plan, adapters=bool(plan.spec.inference.adapters), config_file=use_config)
    if multi_node:
        return ["/bin/sh", "-c", script("vllm-multi-node.sh"), "vllm-multi-node"], args
    return ["python3", "/workspace/vllm/inference_api.py"], args


def _training_config(quantization: dict[str, Any]) -> dict[str, Any]:
    # Kaito's lora-params-template / qlora-params-template (kaito v0.12.0, charts/kaito/workspace/templates/
    # lora-params.yaml and qlora-params.yaml), key training_config.yaml: they differ only in QuantizationConfig.
    return {
        "ModelConfig": {"torch_dtype": "bfloat16", "local_files_only": True, "device_map": "auto"},
        "QuantizationConfig": quantization,
        "LoraConfig": {"r": 8, "lora_alpha": 8, "lora_dropout": 0.0},
        "TrainingArguments": {
            "output_dir": TUNING_OUTPUT_DIR,
            "ddp_find_unused_parameters": False,
            "save_strategy": "no",
            "per_device_train_batch_size": 1,
        },
        "DataCollator": {"mlm": True},
        "DatasetConfig": {"shuffle_dataset": True, "train_test_split": 1},
    }


# Built on each call, not once at import: a change to _training_config must reach every test that renders a tuning
# Job (bench/mutation switches a mutant on only after import).
_QUANTIZATION: dict[str, dict[str, Any]] = {
    "lora": {"load_in_4bit": False},
    "qlora": {
        "load_in_4bit": True,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_compute_dtype": "bfloat16",
        "bnb_4bit_use_double_quant": True,
    },
}


def training_config_yaml(method: str) -> str:
    return yaml.safe_dump({"training_config": _training_config(dict(_QUANTIZATION[method]))}, sort_keys=False)


def _tuning_context(plan: Plan, catalog: Catalog, output_dir: str) -> dict[str, Any]:
    spec = plan.spec
    tun = spec.tuning
    assert tun is not None
    preset = plan.preset
    assert preset.tuning is not None
    images = catalog.defaults.images
    src, out = tun.input, tun.output
    env: list[dict[str, Any]] = [
        {"name": "PYTORCH_CUDA_ALLOC_CONF", "value": "expandable_segments:True"},
        {"name": "NUM_PROCESSES", "value": str(plan.sku.gpus)},
        {"name": "OUTPUT_DIR", "value": output_dir},
    ]
    if preset.tuning.target_modules:
        env.append({"name": "DEFAULT_TARGET_MODULES", "value": ",".join(preset.tuning.target_modules)})
    if spec.model_access_secret:
        env.append(
            {
                "name": "HF_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": spec.model_access_secret, "key": "HF_TOKEN", "optional": True}},
            }
        )
    output_volume: dict[str, Any] = {"emptyDir": {}}
    if out.managed_pvc:
        output_volume = {"persistentVolumeClaim": {"claimName": out.managed_pvc}}
    elif out.volume is not None:
        output_volume = out.volume
    pull_secrets = list(
        dict.fromkeys(
            [
                *spec.image_pull_secrets,
                *src.image_pull_secrets,
                *([out.image_push_secret] if out.image_push_secret else []),
            ]
        )
    )
    input_secrets_dir = f"/root/.docker/config.d/{src.name or 'input'}-tuning-input"
    return {
        "image": spec.image or catalog.defaults.base_image,
        "gpus": str(plan.sku.gpus),
        "env": env,
        "weights_image": preset.tuning.weights_image,
        "weights_downloader_image": images["weights_downloader"],
        "data_downloader_image": images["data_downloader"],
        "data_downloader_script": script("download-data.sh"),
        "puller_image": images["puller"],
        "puller_script": script("pull-image-data.sh"),
        "pusher_image": images["pusher"],
        "pusher_script": script("push-adapter.sh"),
        # The manifest annotation Kaito's pusher writes (pkg/workspace/tuning/preset_tuning.go v0.12.0,
        # SetTrainingOutputImagePush), as compact JSON like Go's json.Marshal.
        "pusher_annotations": json.dumps(
            {"$manifest": {"sh.kaito.model.name": preset.name}}, separators=(",", ":"), sort_keys=True
        ),
        "train_script": script("train.sh"),
        "input_kind": src.kind,
        "input_urls": list(src.urls),
        "input_image": src.image,
        "input_secrets": list(src.image_pull_secrets),
        "input_secrets_dir": input_secrets_dir,
        "input_volume": src.volume if src.volume is not None else {"emptyDir": {}},
        "output_kind": out.kind,
        "output_image": docker_reference(out.image) if out.image else None,
        "push_secret": out.image_push_secret,
        "output_volume": output_volume,
        "output_dir": output_dir,
        "managed_pvc": out.managed_pvc,
        "pvc_size": ADAPTER_PVC_SIZE,
        "input_pvc": src.managed_pvc,
        "input_pvc_size": INPUT_PVC_SIZE,
        "input_subpath": INPUT_SUBPATH if src.managed_pvc else None,
        "config_map": tun.config or plan.names.tuning_config,
        "generated_config": None if tun.config else training_config_yaml(tun.method),
        "image_pull_secrets": pull_secrets,
        "share_process_namespace": out.image is not None,
    }


def render_plan(plan: Plan, catalog: Catalog, *, tuning_output_dir: str = TUNING_OUTPUT_DIR) -> list[dict[str, Any]]:
    """All objects of the workspace, in the order they must be applied (dependencies first)."""
    spec_json = plan.spec.to_json()
    mode = plan.spec.mode
    common = {
        "names": plan.names,
        "namespace": plan.namespace,
        "spec_annotation": {SPEC_ANNOTATION: spec_json},
        "record_annotations": {SPEC_ANNOTATION: spec_json, PLACEMENT_ANNOTATION: plan.placement_info().to_json()},
        "affinity": [{"key": k, "values": list(v)} for k, v in plan.placement.affinity.items()],
        "tolerations": _tolerations(),
        "workspace_label": {WORKSPACE_LABEL: plan.spec.name},
        "record_labels": {
            **_labels(plan, "workspace"),
            RECORD_KIND_LABEL: "workspace",
            MODE_LABEL: mode,
        },
        "preset": plan.preset.name,
        "instance_type": plan.sku.name,
    }
    objects = render_template("workspace-record.yaml.j2", **common)
    if mode == "inference":
        ctx = _inference_context(plan, catalog)
        labels = _labels(plan, "inference")
        objects += render_template("inference/workload.yaml.j2", labels=labels, **common, **ctx)
    else:
        ctx = _tuning_context(plan, catalog, tuning_output_dir)
        labels = _labels(plan, "tuning")
        objects += render_template("tuning/job.yaml.j2", labels=labels, **common, **ctx)
    return objects


def render_device_plugin(image: str) -> list[dict[str, Any]]:
    return render_template(
        "device-plugin/daemonset.yaml.j2",
        image=image,
        labels={MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: "nvidia-device-plugin"},
    )
