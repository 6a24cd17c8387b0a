"""What the pods do on a real GPU node, compared with what Kaito v0.12.0's controller creates (issue 9, runtime
fidelity). Each test names the Kaito source file (tag v0.12.0) whose behaviour it pins. The scripts from
templates/scripts/ run here under /bin/sh with stand-ins for skopeo and oras on PATH; each stand-in answers only the
call the script is expected to make and fails loudly on any other."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import os
import subprocess
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from kaitoctl.core.builders import CommonOptions, apply_overrides, spec_for_deploy, spec_from_kaito
from kaitoctl.core.errors import InvalidInput
from kaitoctl.core.render import render_device_plugin, script
from kaitoctl.core.sizing import readiness_timeout_s
from kaitoctl.core.spec import spec_from_record
from tests.unit.helpers import FIXTURES, by_kind, catalog, deploy_spec, one, plan_of, render, tune_spec

MULTI_NODE = {"instance_type": "Standard_NC24ads_A100_v4"}  # llama-3.3-70b needs 3 of these


def _main(objects: list[dict[str, Any]]) -> dict[str, Any]:
    sts = one(objects, "StatefulSet")
    return sts["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def _pod(objects: list[dict[str, Any]], kind: str = "StatefulSet") -> dict[str, Any]:
    return one(objects, kind)["spec"]["template"]["spec"]  # type: ignore[no-any-return]


# ---- 1. --max-model-len=auto ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{"config": "my-inference-config"}, {"max_model_len": 8192}])
def test_vllm_always_passes_max_model_len_auto_and_the_config_file_comes_after(kwargs: dict[str, Any]) -> None:
    # pkg/workspace/inference/preset_inferences.go (v0.12.0): MaxModelLenAuto for every vLLM workload;
    # presets/workspace/inference/vllm/inference_api.py appends the config file's vllm keys after the CLI flags,
    # so the file's max-model-len wins when it has one.
    args = _main(render(deploy_spec("phi-3", **kwargs)))["args"]
    assert "--max-model-len=auto" in args
    assert args.index("--max-model-len=auto") < args.index("--kaito-config-file=/mnt/config/inference_config.yaml")


def test_transformers_gets_no_max_model_len() -> None:
    args = _main(render(deploy_spec("phi-3", runtime="transformers", config="my-inference-config")))["args"]
    assert not any(a.startswith("--max-model-len") for a in args)


# ---- 2 and 11b. probes ---------------------------------------------------------------------------------------


def test_multi_node_has_kaitos_distributed_startup_liveness_and_readiness_probes() -> None:
    # preset_inferences.go (v0.12.0) SetDistributedInferenceProbe / buildDistributedStartupProbe.
    objects = render(deploy_spec("llama-3.3-70b-instruct", **MULTI_NODE))
    container = _main(objects)
    leader = "--leader-address=llama-3-3-70b-instruct-0.llama-3-3-70b-instruct-headless.default.svc.cluster.local"
    check = ["python3", "/workspace/vllm/multi-node-health-check.py"]
    budget = readiness_timeout_s(catalog().presets["llama-3.3-70b-instruct"].weights_gib)

    startup = container["startupProbe"]
    assert startup["exec"]["command"] == [*check, "readiness", leader, "--vllm-port=5000"]
    assert startup["periodSeconds"] == 10
    assert startup["failureThreshold"] == math.ceil(budget / 10)
    assert startup["timeoutSeconds"] >= 10  # kaitoctl's choice: a loaded leader answers within it (README)

    liveness = container["livenessProbe"]
    assert liveness["exec"]["command"] == [*check, "liveness", leader, "--ray-port=6379"]
    assert (liveness["initialDelaySeconds"], liveness["periodSeconds"]) == (60, 10)
    assert (liveness["timeoutSeconds"], liveness["failureThreshold"]) == (5, 1)
    assert liveness["terminationGracePeriodSeconds"] == 1

    readiness = container["readinessProbe"]
    assert readiness["exec"]["command"] == [*check, "readiness", leader, "--vllm-port=5000"]
    assert (readiness["periodSeconds"], readiness["timeoutSeconds"], readiness["failureThreshold"]) == (10, 1, 1)


@pytest.mark.parametrize("runtime", ["vllm", "transformers"])
def test_single_node_probes_are_kaitos_with_a_startup_timeout_a_loaded_server_meets(runtime: str) -> None:
    # preset_inferences.go (v0.12.0) buildStartupProbe / defaultLivenessProbe / defaultReadinessProbe: the set Kaito
    # renders when the post-load benchmark is off (kaito.sh/disable-benchmark), which kaitoctl never runs.
    container = _main(render(deploy_spec("phi-3", runtime=runtime)))
    budget = readiness_timeout_s(catalog().presets["phi-3-mini-128k-instruct"].weights_gib)
    health = {"path": "/health", "port": 5000}
    startup = container["startupProbe"]
    assert startup["httpGet"] == health and startup["periodSeconds"] == 10
    assert startup["failureThreshold"] == math.ceil(budget / 10)
    assert startup["timeoutSeconds"] == 10
    readiness, liveness = container["readinessProbe"], container["livenessProbe"]
    assert readiness == {"httpGet": health, "initialDelaySeconds": 30, "periodSeconds": 10}
    assert liveness["httpGet"] == health and liveness["periodSeconds"] == 10 and liveness["failureThreshold"] == 3


# ---- 3. KV-cache CPU offload ---------------------------------------------------------------------------------


def test_multi_node_turns_the_kv_cache_cpu_offload_off() -> None:
    # pkg/model/interface.go (v0.12.0) configureParallelism: LMCache offload is not supported across nodes.
    args = _main(render(deploy_spec("llama-3.3-70b-instruct", **MULTI_NODE)))["args"]
    assert args.count("--kaito-kv-cache-cpu-memory-utilization=0") == 1
    single = _main(render(deploy_spec("phi-3", instance_type="Standard_NC24ads_A100_v4")))["args"]
    assert not any(a.startswith("--kaito-kv-cache-cpu-memory-utilization") for a in single)


# ---- 4. presetOptions.image ----------------------------------------------------------------------------------


def _workspace_with_preset_image(mode: str) -> dict[str, Any]:
    if mode == "inference":
        doc = yaml.safe_load((FIXTURES / "v1beta1-inference-phi-4-mini.yaml").read_text())
        doc["inference"]["preset"]["presetOptions"] = {"image": "mcr.microsoft.com/aks/kaito/kaito-phi-4-mini:0.0.2"}
    else:
        doc = yaml.safe_load((FIXTURES / "v1beta1-tuning-pvc.yaml").read_text())
        doc["tuning"]["preset"]["presetOptions"] = {"image": "mcr.microsoft.com/aks/kaito/kaito-phi-3:0.0.2"}
    return doc  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", ["inference", "tuning"])
def test_deprecated_preset_options_image_is_ignored_with_a_warning(mode: str) -> None:
    # pkg/workspace/inference/preset_inferences.go and pkg/workspace/tuning/preset_tuning.go (v0.12.0) always run
    # kaito-base (GetBaseImageName / GetTuningImageInfo); presetOptions.image is deprecated in v1beta1.
    spec = spec_from_kaito(_workspace_with_preset_image(mode), catalog())
    plan = plan_of(spec)
    kind = "StatefulSet" if mode == "inference" else "Job"
    pod = _pod(render(spec), kind)
    main = next(c for c in pod["containers"] if c["name"] == spec.name)
    assert main["image"] == catalog().defaults.base_image
    warning = " ".join(plan.warnings)
    assert "presetOptions.image" in warning and "ignored" in warning and "--image" in warning


def test_image_flag_still_overrides_the_runtime_image() -> None:
    spec = spec_from_kaito(_workspace_with_preset_image("inference"), catalog())
    spec = apply_overrides(spec, CommonOptions(image="myacr.azurecr.io/kaito-base:custom"))
    assert _main(render(spec))["image"] == "myacr.azurecr.io/kaito-base:custom"
    assert spec_from_record(json.loads(spec.to_json())) == spec


# ---- 5. weights init container ---------------------------------------------------------------------------------


def test_weights_downloader_runs_oras_pull_as_its_command() -> None:
    # pkg/workspace/manifests/manifests.go (v0.12.0) GenerateModelPullerContainer: Command oras pull IMAGE -o DIR.
    init = _pod(render(tune_spec()), "Job")["initContainers"][0]
    assert init["name"] == "model-weights-downloader"
    assert init["command"] == [
        "oras",
        "pull",
        "mcr.microsoft.com/aks/kaito/kaito-phi-3-mini-128k-instruct:0.2.0",
        "-o",
        "/workspace/weights",
    ]
    assert "args" not in init


# ---- 6. private adapters given by flags -------------------------------------------------------------------------


def test_private_adapter_given_by_flags_hands_the_pull_secret_to_the_puller() -> None:
    spec = deploy_spec("phi-3", adapters=["mine=myacr.azurecr.io/adapters/phi-3:0.0.1"], image_pull_secrets=["acr"])
    pod = _pod(render(spec))
    puller = one([{"kind": "c", **c} for c in pod["initContainers"]], "c")
    auth_dir = puller["args"][2]
    mounts = {m["mountPath"]: m["name"] for m in puller["volumeMounts"]}
    assert auth_dir in mounts, "the puller's auth directory is not mounted: skopeo would pull anonymously"
    volume = next(v for v in pod["volumes"] if v["name"] == mounts[auth_dir])
    sources = volume["projected"]["sources"]
    assert [s["secret"]["name"] for s in sources] == ["acr"]
    assert sources[0]["secret"]["items"] == [{"key": ".dockerconfigjson", "path": "acr.json"}]
    assert {"name": "acr"} in pod["imagePullSecrets"]


# ---- 7. the puller's layer order ------------------------------------------------------------------------------

# skopeo-inspect(1): `--format` applies a Go template to the inspect output, whose Layers are the manifest's layer
# digests in manifest order. The stand-in answers exactly the template Kaito's puller uses
# (pkg/workspace/image/puller.sh, v0.12.0) and nothing else.
_FAKE_SKOPEO = r"""#!/bin/sh
set -eu
cmd="$1"; shift
for last in "$@"; do :; done
case "$cmd" in
copy)
  mkdir -p "${last#dir:}"
  cp -R "$FAKE_IMAGE_DIR/." "${last#dir:}/"
  ;;
inspect)
  [ "$1" = "--format" ] && [ "$2" = '{{ range .Layers }}{{ slice . 7 }} {{ end }}' ] || { echo "fake skopeo: unexpected inspect $*" >&2; exit 2; }
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/manifest.json")); print(" ".join(l["digest"][7:] for l in m["layers"]))' "${last#dir:}"
  ;;
*) echo "fake skopeo: unexpected $cmd" >&2; exit 2 ;;
esac
"""


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _image_dir(root: Path) -> Path:
    """A skopeo `dir:` layout of two layers whose manifest order is the reverse of their file-name order: the
    first layer writes adapter_config.json, the second overwrites it."""
    pad = 0
    while True:
        first = _tar({"data/adapter_config.json": b"base", "data/pad": b"x" * pad})
        second = _tar({"data/adapter_config.json": b"top", "data/adapter_model.safetensors": b"w"})
        d1, d2 = hashlib.sha256(first).hexdigest(), hashlib.sha256(second).hexdigest()
        if d1 > d2:
            break
        pad += 1
    image = root / "image"
    image.mkdir()
    (image / d1).write_bytes(first)
    (image / d2).write_bytes(second)
    manifest = {"layers": [{"digest": f"sha256:{d1}"}, {"digest": f"sha256:{d2}"}]}
    (image / "manifest.json").write_text(json.dumps(manifest))
    return image


def _stand_in(root: Path, name: str, text: str) -> Path:
    bin_dir = root / "bin"
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text(text)
    tool.chmod(0o755)
    return bin_dir


def test_puller_extracts_layers_in_manifest_order(tmp_path: Path) -> None:
    # pkg/workspace/image/puller.sh (v0.12.0) expand(): layers in the order `skopeo inspect` lists them.
    bin_dir = _stand_in(tmp_path, "skopeo", _FAKE_SKOPEO)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_IMAGE_DIR": str(_image_dir(tmp_path))}
    target = tmp_path / "adapter"
    run = subprocess.run(
        ["/bin/sh", "-c", script("pull-image-data.sh"), "puller", "myacr.azurecr.io/a:1", str(target), ""],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert (target / "adapter_config.json").read_text() == "top"
    assert (target / "adapter_model.safetensors").read_text() == "w"


# ---- 8. presets Kaito cannot tune ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_mistral_7b_tuning_is_refused_with_kaitos_reason(method: str) -> None:
    # presets/workspace/models/vllm_model.go (v0.12.0) GetTuningParameters: MustGet("mistral-7b-v0.3") panics, as
    # supported_models.yaml names the preset mistral-7b; Kaito never creates the Job.
    with pytest.raises(InvalidInput) as refused:
        tune_spec("mistral-7b", method)
        plan_of(tune_spec("mistral-7b", method))
    error = refused.value
    assert error.field in ("PRESET", "tuning.preset.name")
    assert "mistral-7b-v0.3" in error.message and "cannot" in error.message
    assert error.hint is not None and "phi-3-mini-128k-instruct" in error.hint
    assert "mistral-7b" not in (error.hint or "").replace("mistral-7b-instruct", "")


def test_tunable_presets_keep_their_tuning_and_the_catalog_says_why_mistral_has_none() -> None:
    presets = catalog().presets
    mistral = presets["mistral-7b"]
    assert mistral.tuning is None and mistral.tuning_refusal and "mistral-7b-v0.3" in mistral.tuning_refusal
    for name in ("phi-3-mini-128k-instruct", "phi-4", "qwen2.5-coder-7b-instruct"):
        assert presets[name].tuning is not None and presets[name].tuning_refusal is None


# ---- 9. LoadBalancer -----------------------------------------------------------------------------------------


def test_load_balancer_service_publishes_only_the_http_port() -> None:
    spec = replace(deploy_spec("phi-3"), annotations={"kaito.sh/enablelb": "True"})
    services = {s["metadata"]["name"]: s for s in by_kind(render(spec), "Service")}
    lb = services["phi-3-mini-128k-instruct"]["spec"]
    assert lb["type"] == "LoadBalancer"
    assert lb["ports"] == [{"name": "http", "port": 80, "targetPort": 5000, "protocol": "TCP"}]
    in_cluster = one([s for s in by_kind(render(deploy_spec("phi-3")), "Service") if "type" in s["spec"]], "Service")
    assert {p["name"] for p in in_cluster["spec"]["ports"]} == {"http", "ray", "dashboard", "kv-events"}


# ---- 10. device plugin and image pins --------------------------------------------------------------------------


def test_device_plugin_passes_device_specs() -> None:
    # charts/kaito/workspace/templates/nvidia-device-plugin-ds.yaml (v0.12.0).
    ds = one(render_device_plugin(catalog().defaults.images["device_plugin"]), "DaemonSet")
    env = {e["name"]: e["value"] for e in ds["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env == {"FAIL_ON_INIT_ERROR": "false", "PASS_DEVICE_SPECS": "true"}


def _images(obj: Any) -> list[str]:
    if isinstance(obj, dict):
        found = [obj["image"]] if isinstance(obj.get("image"), str) else []
        return found + [i for k, v in obj.items() if k != "image" for i in _images(v)]
    if isinstance(obj, list):
        return [i for v in obj for i in _images(v)]
    return []


def _pinned(image: str) -> bool:
    name = image.split("@", 1)[0]
    tag = name.rsplit("/", 1)[-1].partition(":")[2]
    return "@sha256:" in image or (bool(tag) and tag != "latest")


def test_every_image_kaitoctl_runs_is_pinned_by_tag() -> None:
    defaults = catalog().defaults
    unpinned = [f"defaults.images.{k}: {v}" for k, v in defaults.images.items() if not _pinned(v)]
    assert _pinned(defaults.base_image)
    rendered: list[dict[str, Any]] = []
    for i, o in (("urls", "image"), ("image", "default"), ("volume", "volume")):
        kwargs: dict[str, Any] = {
            "input_urls": ["https://example.com/d.parquet"] if i == "urls" else [],
            "input_image": "myacr.azurecr.io/d:1" if i == "image" else None,
            "input_pvc": "data" if i == "volume" else None,
            "output_image": "myacr.azurecr.io/a:1" if o == "image" else None,
            "push_secret": "push" if o == "image" else None,
            "output_pvc": "out" if o == "volume" else None,
        }
        rendered += render(tune_spec(**kwargs))
    rendered += render(deploy_spec("phi-3", adapters=["a=myacr.azurecr.io/a:1"]))
    rendered += render(deploy_spec("llama-3.3-70b-instruct", **MULTI_NODE))
    rendered += render_device_plugin(defaults.images["device_plugin"])
    unpinned += [image for image in _images(rendered) if not _pinned(image)]
    assert not unpinned


# ---- 11a. the adapter image kaitoctl pushes ------------------------------------------------------------------

# The stand-in oras keeps a copy of every file the script hands it, and its argv, under $FAKE_LOG.
_FAKE_ORAS = r"""#!/bin/sh
set -eu
n=$(ls "$FAKE_LOG" | wc -l)
dir="$FAKE_LOG/$n"
mkdir -p "$dir"
printf '%s\n' "$@" >"$dir/argv"
printf '%s' "$PWD" >"$dir/cwd"
for arg in "$@"; do
  file="${arg%%:application/*}"
  case "$arg" in /*|*.gz:*|*.json) ;; *) continue ;; esac
  [ -f "$file" ] && cp "$file" "$dir/$(basename "$file")" || true
done
"""


def test_pusher_annotates_the_model_name_and_pushes_through_an_oci_layout(tmp_path: Path) -> None:
    # pkg/workspace/image/pusher.sh and pkg/workspace/tuning/preset_tuning.go (v0.12.0) SetTrainingOutputImagePush.
    objects = render(tune_spec(output_image="myacr.azurecr.io/adapters/phi-3:0.0.1", push_secret="acr-push"))
    pusher = next(c for c in _pod(objects, "Job")["containers"] if c["name"] == "pusher")
    env = {e["name"]: e["value"] for e in pusher["env"]}
    annotations = json.loads(env["ANNOTATIONS"])
    assert annotations == {"$manifest": {"sh.kaito.model.name": "phi-3-mini-128k-instruct"}}

    results = tmp_path / "results"
    results.mkdir()
    (results / "adapter_config.json").write_text("{}")
    (results / "adapter_model.safetensors").write_bytes(b"weights")
    (results / "fine_tuning_completed.txt").write_text("done")
    log = tmp_path / "log"
    log.mkdir()
    bin_dir = _stand_in(tmp_path, "oras", _FAKE_ORAS)
    run = subprocess.run(
        [*pusher["command"], *pusher["args"]],
        env={
            **os.environ,
            **env,
            "OUTPUT_DIR": str(results),
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "FAKE_LOG": str(log),
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    push, copy = sorted(log.iterdir(), key=lambda p: int(p.name))
    push_argv = (push / "argv").read_text().splitlines()
    assert push_argv[0] == "push" and "--oci-layout" in push_argv and "--disable-path-validation" in push_argv
    layout = push_argv[push_argv.index("--oci-layout") + 1]
    assert json.loads((push / "annotations.json").read_text()) == annotations
    assert push_argv[-1] == "layer.tar.gz:application/vnd.oci.image.layer.v1.tar+gzip"
    layer = (push / "layer.tar.gz").read_bytes()
    tar_bytes = gzip.decompress(layer)
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        assert sorted(tar.getnames()) == ["data", "data/adapter_config.json", "data/adapter_model.safetensors"]
    config = json.loads((push / "config.json").read_text())
    assert config == {"rootfs": {"diff_ids": [f"sha256:{hashlib.sha256(tar_bytes).hexdigest()}"]}}
    assert (copy / "argv").read_text().splitlines() == [
        "cp",
        "--from-oci-layout",
        "--",
        layout,
        "myacr.azurecr.io/adapters/phi-3:0.0.1",
    ]


# ---- 12. the Hugging Face revision ----------------------------------------------------------------------------


def test_the_pinned_revision_is_the_default_and_revision_main_drops_it() -> None:
    pinned = catalog().presets["phi-3-mini-128k-instruct"].revision
    assert pinned
    assert f"--revision={pinned}" in _main(render(deploy_spec("phi-3")))["args"]
    for runtime in ("vllm", "transformers"):
        args = _main(render(deploy_spec("phi-3", runtime=runtime, revision="main")))["args"]
        assert not any(a.startswith("--revision") for a in args), runtime
    other = _main(render(deploy_spec("phi-3", revision="refs/pr/12")))["args"]
    assert "--revision=refs/pr/12" in other and f"--revision={pinned}" not in other


def test_revision_overrides_a_workspace_yaml_and_survives_the_record() -> None:
    doc = yaml.safe_load((FIXTURES / "v1beta1-inference-phi-4-mini.yaml").read_text())
    spec = apply_overrides(spec_from_kaito(doc, catalog()), CommonOptions(), revision="main")
    assert spec.inference is not None and spec.inference.revision == "main"
    assert spec_from_record(json.loads(spec.to_json())) == spec


@pytest.mark.parametrize("bad", ["", "-x", "a b", "main;rm", "x" * 300])
def test_a_malformed_revision_is_refused_before_anything_is_written(bad: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        spec_for_deploy(
            catalog(),
            "phi-3",
            runtime=None,
            adapters=[],
            config=None,
            max_model_len=None,
            revision=bad,
            common=CommonOptions(),
        )
    assert refused.value.field == "--revision"


def test_revision_on_a_tuning_file_is_refused() -> None:
    doc = yaml.safe_load((FIXTURES / "v1beta1-tuning-pvc.yaml").read_text())
    with pytest.raises(InvalidInput) as refused:
        apply_overrides(spec_from_kaito(doc, catalog()), CommonOptions(), revision="main")
    assert refused.value.field == "--revision"


@pytest.mark.parametrize(
    "argv",
    [
        ["deploy", "phi-3"],
        ["render", "-f", str(FIXTURES / "v1beta1-inference-phi-4-mini.yaml")],
        ["apply", "-f", str(FIXTURES / "v1beta1-inference-phi-4-mini.yaml")],
    ],
)
def test_revision_flag_reaches_the_server(argv: list[str]) -> None:
    from typer.testing import CliRunner

    from kaitoctl.cli.app import app

    def server_args(extra: list[str]) -> list[str]:
        result = CliRunner().invoke(app, [*argv, *extra, "--dry-run"] if argv[0] != "render" else [*argv, *extra])
        assert result.exit_code == 0, result.output
        sts = next(d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "StatefulSet")
        return sts["spec"]["template"]["spec"]["containers"][0]["args"]  # type: ignore[no-any-return]

    assert any(a.startswith("--revision=") for a in server_args([]))
    assert not any(a.startswith("--revision") for a in server_args(["--revision", "main"]))
    assert "--revision=v2" in server_args(["--revision", "v2"])


@pytest.mark.parametrize(
    ("given", "pushed"),
    [
        ("myorg/adapter:1", "docker.io/myorg/adapter:1"),
        ("adapter", "docker.io/library/adapter:latest"),
        ("localhost:5000/adapter", "localhost:5000/adapter:latest"),
        ("myacr.azurecr.io/adapters/phi-3:0.0.1", "myacr.azurecr.io/adapters/phi-3:0.0.1"),
        ("ghcr.io/me/adapter@sha256:" + "a" * 64, "ghcr.io/me/adapter@sha256:" + "a" * 64),
    ],
)
def test_pusher_gets_the_image_reference_in_full(given: str, pushed: str) -> None:
    # pkg/workspace/image/pusher.go (v0.12.0) normalises with distribution/reference ParseDockerRef: oras would read
    # `myorg` in `myorg/adapter:1` as a registry host.
    objects = render(tune_spec(output_image=given, push_secret="push"))
    pusher = next(c for c in _pod(objects, "Job")["containers"] if c["name"] == "pusher")
    assert pusher["args"] == [pushed]
