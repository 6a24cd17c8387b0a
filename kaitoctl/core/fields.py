"""Field names in error messages: a Workspace YAML path, or the CLI flag the user actually typed."""

from __future__ import annotations

from kaitoctl.core.spec import Source

# Workspace YAML path -> the flag that sets it.
_FLAG_FOR = {
    "metadata.name": "--name",
    "metadata.namespace": "--namespace",
    "resource.instanceType": "--instance-type",
    "resource.count": "--count",
    "resource.labelSelector.matchLabels": "--label",
    "resource.labelSelector": "--label",
    "resource.preferredNodes": "--node",
    "inference.preset.name": "PRESET",
    "tuning.preset.name": "PRESET",
    "inference.runtime": "--runtime",
    "inference.adapters": "--adapter",
    "inference.config": "--config",
    "inference.maxModelLen": "--max-model-len",
    "tuning.config": "--config",
    "tuning.method": "--method",
    "tuning.input": "--input-url/--input-image/--input-pvc",
    "tuning.input.urls": "--input-url",
    "tuning.input.image": "--input-image",
    "tuning.input.imagePullSecrets": "--image-pull-secret",
    "tuning.input.volumeSource": "--input-pvc",
    "tuning.output": "--output-image/--output-pvc",
    "tuning.output.image": "--output-image",
    "tuning.output.imagePushSecret": "--push-secret",
    "tuning.output.volumeSource": "--output-pvc",
    "presetOptions.image": "--image",
    "presetOptions.imagePullSecrets": "--image-pull-secret",
    "presetOptions.modelAccessSecret": "--model-access-secret",
}

# Where kaitoctl-level settings live in a Workspace YAML.
_YAML_FOR = {
    "inference.runtime": 'metadata.annotations["kaito.sh/runtime"]',
    "inference.maxModelLen": "--max-model-len",
}


class Fields:
    """Maps a field path to what the user knows it as: a flag for CLI input, the YAML path for a file."""

    def __init__(self, source: Source, mode: str = "inference") -> None:
        self.source = source
        self.mode = mode

    def __call__(self, path: str, index: int | None = None) -> str:
        yaml_path = f"{self.mode}.preset.{path}" if path.startswith("presetOptions.") else _YAML_FOR.get(path, path)
        if self.source == "flags":
            flag = _FLAG_FOR.get(path)
            if flag:
                return flag
            return yaml_path
        return f"{yaml_path}[{index}]" if index is not None else yaml_path
