"""Validation equal to Kaito's admission webhook, plus kaitoctl's own rules.

Kaito's rules: kaito-project/kaito v0.12.0 api/v1beta1/workspace_validation.go.

Runs before anything touches a cluster or Azure. Errors raise InvalidInput (exit 2) naming the field and the fix;
things that are legal but unwise come back as warnings.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import posixpath
import re
from collections.abc import Callable
from functools import partial
from urllib.parse import urlsplit

import yaml

from kaitoctl.core.catalog import RUNTIMES, TUNING_METHODS, Catalog, Preset
from kaitoctl.core.errors import InvalidInput
from kaitoctl.core.fields import Fields
from kaitoctl.core.naming import WorkspaceNames
from kaitoctl.core.redact import redact_url
from kaitoctl.core.spec import Adapter, WorkspaceSpec
from kaitoctl.core.yamlsafe import clip

MAX_ADAPTERS = 10  # Kaito's MaxAdaptersNumber


def _r(value: object) -> str:
    """A value as quoted in a message, cut to a readable length."""
    return clip(repr(value))


_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

# Docker image references (github.com/distribution/reference grammar).
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_IMAGE_REF = re.compile(
    rf"^(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,})?$"
)

# Hosts Kaito refuses for tuning input URLs, besides localhost and non-public IP literals.
_METADATA_HOSTS = {"metadata.google.internal", "metadata.google", "instance-data.ec2.internal"}
# Names that resolve inside a cluster or a private network, never on the public internet: Kubernetes' DNS
# (kubernetes.io/docs/concepts/services-networking/dns-pod-service), RFC 6761/6762 special names (.local,
# .localhost, .test, .invalid, .example), RFC 8375 home.arpa, and .internal (ICANN reserved it for private use, 2024).
_INTERNAL_TLDS = frozenset({"local", "internal", "svc", "cluster", "localdomain", "test", "invalid", "example", "lan"})
_CLUSTER_SUFFIXES = (".home.arpa", ".default", ".kube-system", ".kube-public", ".kube-node-lease")
# 168.63.129.16: Azure's WireServer and DNS/health-probe address, a public address reachable from every Azure VM
# (learn.microsoft.com/azure/virtual-network/what-is-ip-address-168-63-129-16).
_AZURE_WIRESERVER = ipaddress.IPv4Network("168.63.129.16/32")
# RFC 6052 NAT64 well-known prefix, RFC 8215 local-use NAT64 prefix, RFC 3056 6to4.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_6TO4 = ipaddress.IPv6Network("2002::/16")

# Label keys Kaito reserves and strips from labelSelector.matchLabels (api/v1beta1/labels.go).
RESERVED_LABEL_KEYS = frozenset(
    {
        "kaito.sh/workspace",
        "kaito.sh/workspacenamespace",
        "kaito.sh/ragengine",
        "kaito.sh/ragenginenamespace",
        "karpenter.kaito.sh/workspace-name",
        "karpenter.kaito.sh/workspace-namespace",
        "karpenter.kaito.sh/inferenceset",
        "karpenter.kaito.sh/inferenceset-namespace",
    }
)


def check_dns1123_label(value: str, field: str, what: str = "name") -> None:
    if not value or len(value) > 63 or not _DNS1123_LABEL.match(value):
        raise InvalidInput(
            field,
            f"{_r(value)} is not a valid {what}",
            "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
        )


def check_dns1123_subdomain(value: str, field: str, what: str = "name") -> None:
    if not value or len(value) > 253 or not _DNS1123_SUBDOMAIN.match(value):
        raise InvalidInput(
            field,
            f"{_r(value)} is not a valid {what}",
            "use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
        )


def check_label(key: str, value: str, field: str) -> None:
    prefix, _, name = key.rpartition("/")
    bad_prefix = bool(prefix) and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix))
    if not name or len(name) > 63 or not _LABEL_NAME.match(name) or bad_prefix or key.count("/") > 1:
        raise InvalidInput(
            field,
            f"{_r(key)} is not a valid label key",
            "use [prefix/]name: name ≤ 63 characters of letters, digits, '-', '_' and '.'; prefix a DNS subdomain",
        )
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise InvalidInput(
            field,
            f"{_r(value)} is not a valid value for label {_r(key)}",
            "use at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
        )


def check_image_ref(value: str, field: str) -> None:
    if not value or len(value) > 512 or not _IMAGE_REF.match(value):
        raise InvalidInput(
            field,
            f"{_r(value)} is not a valid image reference",
            "use registry/repository[:tag][@sha256:digest], e.g. myacr.azurecr.io/adapters/phi-3:0.0.1",
        )


def _ip_refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address literal may not be a download source, or None for a global unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64 or ip in _NAT64_LOCAL or ip in _6TO4:
            return f"{ip} is a NAT64 or 6to4 address (it reaches an IPv4 address through a translator)"
        if ip.ipv4_mapped is not None:
            return _ip_refusal(ip.ipv4_mapped)
    if ip in _AZURE_WIRESERVER:
        return f"{ip} is Azure's WireServer/platform endpoint"
    if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified:
        return f"{ip} is a loopback, private or link-local address"
    if not ip.is_global or ip.is_multicast:
        return f"{ip} is not a public unicast address (shared, reserved or multicast)"
    return None


def _host_refusal(host: str) -> str | None:
    """Why a URL host may not be a download source. Numeric hosts in any form other than a plain dotted quad or a
    bracketed IPv6 literal are refused: curl and browsers read `2852039166`, `0xa9fea9fe`, `0177.0.0.1` and `127.1`
    as IPv4 addresses (WHATWG URL standard, "ends in a number"), Python does not, so they cannot be judged here."""
    shown = f"host {_r(host)}"
    if not host.isascii():
        return f"{shown} is not ASCII (internationalised names and full-width dots are read differently by curl)"
    if host.startswith("["):
        try:
            return _ip_refusal(ipaddress.IPv6Address(host[1:-1].split("%", 1)[0]))
        except ValueError:
            return f"{shown} is not a valid IPv6 literal"
    labels = host.split(".")
    if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", host) and all(
        label == "0" or not label.startswith("0") for label in labels
    ):
        try:
            return _ip_refusal(ipaddress.IPv4Address(host))
        except ValueError:
            return f"{shown} is not a valid IPv4 address"
    if re.fullmatch(r"(0x[0-9a-f]*|[0-9]+)", labels[-1]):
        return f"{shown} is a numeric host in a form curl reads as an IPv4 address; write the dotted address or a name"
    if not _DNS1123_SUBDOMAIN.match(host.replace("_", "-")):
        return f"{shown} is not a valid host name"
    if host in _METADATA_HOSTS:
        return f"{shown} is not allowed"
    if len(labels) < 2:
        return f"{shown} is a single-label name, which resolves inside the cluster or the node's network"
    if labels[-1] in _INTERNAL_TLDS or host.endswith(_CLUSTER_SUFFIXES):
        return f"{shown} is not allowed: it names a cluster-internal or private-network service"
    return None


def check_input_url(url: str, field: str) -> None:
    """Kaito's rules for tuning input URLs (http(s), a public host, no metadata endpoints), made strict: the host
    must be a public DNS name or a global unicast address. This is a client-side check of the URL as written; it
    cannot see where a name resolves or where a redirect goes (the README says what a NetworkPolicy adds)."""
    shown = _r(redact_url(url))
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise InvalidInput(field, f"{shown} contains whitespace or control characters", "percent-encode them")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidInput(field, f"{shown} is not a valid URL ({exc})", "use an http(s) URL") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(
            field, f"{shown}: scheme {parts.scheme or '(none)'!r} is not allowed", "use an http:// or https:// URL"
        )
    netloc_host = parts.netloc.rpartition("@")[2]
    if netloc_host.startswith("["):
        netloc_host = netloc_host[: netloc_host.find("]") + 1]
    else:
        netloc_host = netloc_host.partition(":")[0]
    host = netloc_host.rstrip(".").lower()
    if not host:
        raise InvalidInput(field, f"{shown} has no host", "use a full URL such as https://host/path/data.parquet")
    if host == "localhost" or host.endswith(".localhost"):
        raise InvalidInput(
            field, f"{shown}: host {_r(host)} is not allowed", "use a URL the training pod can reach on a public host"
        )
    problem = _host_refusal(host)
    if problem:
        fix = "use a public host name or address" if problem[0].isdigit() or ":" in problem.split(" ")[0] else None
        raise InvalidInput(field, f"{shown}: {problem}", fix or "use a URL the training pod can reach on a public host")


def _check_strength(adapter: Adapter, field: str) -> None:
    if adapter.strength is None:
        return
    try:
        strength = float(adapter.strength)
    except ValueError:
        strength = -1.0
    if not 0.0 <= strength <= 1.0:
        raise InvalidInput(field, f"strength {_r(adapter.strength)} is not a number in [0, 1]", 'use e.g. "1.0"')


# Volume sources a Workspace may name. Kaito takes any corev1.VolumeSource (api/v1beta1/workspace_types.go,
# v0.12.0) and documents persistentVolumeClaim; kaitoctl allows the network and ephemeral kinds a training or
# adapter volume can sensibly be, and refuses the rest: hostPath would hand the pod (which runs as root) the
# node's filesystem, read-write as the trainer's output.
ALLOWED_VOLUME_KINDS = ("persistentVolumeClaim", "azureFile", "csi", "nfs", "ephemeral", "emptyDir")
_VOLUME_REFUSALS = {
    "hostPath": "it mounts the node's own filesystem into the pod",
    "name": "the volume's name is set by kaitoctl",
}


def _check_volume(volume: object, field: str) -> None:
    if not isinstance(volume, dict) or not volume:
        raise InvalidInput(
            field, "volumeSource must be a Kubernetes volume source", "e.g. persistentVolumeClaim: {claimName: NAME}"
        )
    allowed = ", ".join(ALLOWED_VOLUME_KINDS)
    for kind in volume:
        if kind not in ALLOWED_VOLUME_KINDS:
            why = _VOLUME_REFUSALS.get(str(kind), "kaitoctl does not accept this kind of volume")
            raise InvalidInput(f"{field}.{clip(str(kind))}", f"not allowed: {why}", f"use one of {allowed}")
    if len(volume) != 1:
        raise InvalidInput(field, f"names {len(volume)} volume kinds ({', '.join(volume)})", "give exactly one")
    ((kind, body),) = volume.items()
    if not isinstance(body, dict):
        raise InvalidInput(f"{field}.{kind}", f"expected a mapping, got {type(body).__name__}", "see the README")
    if kind == "persistentVolumeClaim":
        claim = body.get("claimName")
        check_dns1123_subdomain(
            claim if isinstance(claim, str) else "",
            f"{field}.persistentVolumeClaim.claimName",
            "PersistentVolumeClaim name",
        )


# StatefulSet pods carry controller-revision-hash=<statefulset name>-<hash of up to 10 characters>, a label value
# (≤ 63): a longer name creates the StatefulSet but never its pods (kubernetes/kubernetes#64023).
MAX_INFERENCE_NAME = 63 - 11
# kaitoctl's own bound on nodes per workspace (AKS allows up to 1000 nodes per pool: a typo there costs a fortune).
MAX_NODE_COUNT = 64


def _check_derived_names(spec: WorkspaceSpec, field: str) -> None:
    """Every name and label value kaitoctl derives from the workspace name must itself be valid."""
    if spec.inference is None:
        return
    names = WorkspaceNames(spec.name)
    if not spec.name[0].isalpha():
        raise InvalidInput(
            field,
            f"{_r(spec.name)} starts with a digit, but it also names the workspace's Service (a DNS-1035 label)",
            "start the name with a letter",
        )
    if len(spec.name) > MAX_INFERENCE_NAME:
        raise InvalidInput(
            field,
            f"{_r(spec.name)} is {len(spec.name)} characters; an inference workspace name may have at most "
            f"{MAX_INFERENCE_NAME} (its StatefulSet's pods get the label controller-revision-hash=NAME-HASH, and "
            f"its headless Service is {names.headless_service[:20]}…-headless)",
            f"use --name with at most {MAX_INFERENCE_NAME} characters",
        )


# Node labels AKS refuses on an agent pool PUT (MicrosoftDocs/azure-aks-docs articles/aks/use-labels.md, "Unavailable
# labels"): the reserved prefixes, and the well-known labels AKS or the kubelet sets itself.
AKS_RESERVED_LABEL_PREFIXES = ("kubernetes.azure.com/", "kubernetes.io/", "topology.kubernetes.io/")
AKS_RESERVED_LABEL_KEYS = frozenset({"node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type"})


def aks_reserved_labels(labels: dict[str, str]) -> list[str]:
    """The keys of `labels` that AKS would refuse as agent pool node labels."""
    return sorted(k for k in labels if k in AKS_RESERVED_LABEL_KEYS or k.startswith(AKS_RESERVED_LABEL_PREFIXES))


def effective_labels(spec: WorkspaceSpec) -> tuple[dict[str, str], list[str]]:
    """matchLabels without Kaito's reserved keys (which Kaito strips silently; kaitoctl warns)."""
    kept = {k: v for k, v in spec.resource.match_labels.items() if k not in RESERVED_LABEL_KEYS}
    dropped = sorted(set(spec.resource.match_labels) - set(kept))
    warnings = [f"label {k!r} is reserved by Kaito and was ignored" for k in dropped]
    return kept, warnings


@dataclasses.dataclass
class Findings:
    """What validation found besides hard errors. `blockers` do not stop a dry run (so Kaito examples with
    placeholders still render) but stop a real apply before anything is written."""

    warnings: list[str] = dataclasses.field(default_factory=list)
    blockers: list[InvalidInput] = dataclasses.field(default_factory=list)


def validate_spec(spec: WorkspaceSpec, catalog: Catalog) -> Findings:
    """Raises InvalidInput on the first error; returns warnings and apply-time blockers. The checks run in this
    order, so the first error a user sees does not change."""
    f = Fields(spec.source, spec.mode)
    findings = Findings()
    _check_identity(spec, f)
    preset = _check_preset(spec, catalog, f)
    _check_resource(spec, catalog, f, findings)
    _check_selector(spec, f, findings)
    _check_images_and_secrets(spec, preset, f, findings)
    if spec.inference is not None:
        findings.warnings.extend(_validate_inference(spec, preset, f, findings))
    if spec.tuning is not None:
        _validate_tuning(spec, preset, catalog, f, findings)
    return findings


def _check_identity(spec: WorkspaceSpec, f: Fields) -> None:
    """The names, and exactly one of inference and tuning."""
    check_dns1123_label(spec.name, f("metadata.name"), "workspace name")
    if spec.namespace is not None:
        check_dns1123_label(spec.namespace, f("metadata.namespace"), "namespace")
    if (spec.inference is None) == (spec.tuning is None):
        raise InvalidInput(
            "inference/tuning", "a workspace needs exactly one of inference and tuning", "remove one of them"
        )
    _check_derived_names(spec, f("metadata.name"))


def _check_preset(spec: WorkspaceSpec, catalog: Catalog, f: Fields) -> Preset:
    """The preset exists and is current in the catalog's Kaito version."""
    preset_field = f("tuning.preset.name" if spec.tuning else "inference.preset.name")
    preset = catalog.resolve_preset(spec.preset, field_name=preset_field)
    if preset.status == "deprecated":
        raise InvalidInput(
            preset_field,
            f"model {preset.name} is deprecated and no longer supported" + (f" ({preset.note})" if preset.note else ""),
            "choose a current preset (`kaitoctl presets`)",
        )
    if preset.status != "current":
        raise InvalidInput(
            preset_field,
            f"preset {preset.name} is not available in Kaito {catalog.kaito_version}"
            + (f": {preset.note}" if preset.note else ""),
            "choose a current preset (`kaitoctl presets`)",
        )
    return preset


def _check_resource(spec: WorkspaceSpec, catalog: Catalog, f: Fields, findings: Findings) -> None:
    """instanceType (a retired SKU blocks the apply) and count."""
    res = spec.resource
    if res.instance_type:
        sku = catalog.sku(res.instance_type)
        if sku is None:
            current = ", ".join(s.name for s in catalog.current_skus())
            raise InvalidInput(
                f("resource.instanceType"),
                f"unknown instance type {_r(res.instance_type)}",
                f"use one of {current} (`kaitoctl presets skus`)",
            )
        if not sku.current:
            findings.blockers.append(
                InvalidInput(
                    f("resource.instanceType"),
                    f"{sku.name} cannot be used: {sku.note or sku.status}",
                    "choose a current SKU with --instance-type (`kaitoctl presets skus`)",
                )
            )
    if res.count is not None and not 1 <= res.count <= MAX_NODE_COUNT:
        raise InvalidInput(
            f("resource.count"),
            f"count must be between 1 and {MAX_NODE_COUNT}, got {_r(res.count)}",
            f"use --count 1 to {MAX_NODE_COUNT}",
        )
    if spec.tuning is not None and res.count is not None and res.count > 1:
        raise InvalidInput(
            f("resource.count"),
            "Tuning does not currently support multinode configurations; count must be 1",
            "set count to 1 (or leave it out)",
        )


def _check_selector(spec: WorkspaceSpec, f: Fields, findings: Findings) -> None:
    """matchLabels (Kaito's reserved keys dropped with a warning), matchExpressions, preferredNodes."""
    res = spec.resource
    for key, value in res.match_labels.items():
        check_label(key, value, f("resource.labelSelector.matchLabels"))
    kept, label_warnings = effective_labels(spec)
    findings.warnings.extend(label_warnings)
    if res.match_labels and not kept:
        raise InvalidInput(
            f("resource.labelSelector"),
            "the label selector consists only of keys Kaito reserves",
            "add a label of your own, e.g. apps: my-model",
        )
    for expr in res.match_expressions:
        if expr.get("operator") != "In" or not expr.get("key") or not expr.get("values"):
            raise InvalidInput(
                f("resource.labelSelector") + ".matchExpressions",
                f"only 'In' expressions with a key and values are supported, got {_r(expr)}",
                "use matchLabels, or matchExpressions with operator In",
            )
        for value in expr["values"]:
            check_label(str(expr["key"]), str(value), f("resource.labelSelector") + ".matchExpressions")
    for i, node in enumerate(res.preferred_nodes):
        check_dns1123_subdomain(node, f("resource.preferredNodes", i), "node name")


def _check_images_and_secrets(spec: WorkspaceSpec, preset: Preset, f: Fields, findings: Findings) -> None:
    """presetOptions: the image, the pull secrets, the model-access secret a gated model needs."""
    if spec.image:
        check_image_ref(spec.image, f("presetOptions.image"))
    if spec.ignored_image:
        findings.warnings.append(
            f"{f('presetOptions.image')} {spec.ignored_image!r} is ignored: it is deprecated, and Kaito v0.12 runs "
            f"every preset on kaito-base; to run another image anyway, pass --image"
        )
    for secret in spec.image_pull_secrets:
        check_dns1123_subdomain(secret, f("presetOptions.imagePullSecrets"), "Secret name")
    if spec.model_access_secret:
        check_dns1123_subdomain(spec.model_access_secret, f("presetOptions.modelAccessSecret"), "Secret name")
    elif preset.download_auth_required:
        # A blocker, not a warning: without the token the download fails only after a paid GPU pool is up.
        findings.blockers.append(
            InvalidInput(
                f("presetOptions.modelAccessSecret"),
                f"{preset.hf_repo} is a gated Hugging Face model and no model-access secret is given",
                "kubectl create secret generic hf-token --from-literal=HF_TOKEN=hf_...; "
                "then --model-access-secret hf-token",
            )
        )


def _validate_inference(spec: WorkspaceSpec, preset: Preset, f: Fields, findings: Findings) -> list[str]:
    inf = spec.inference
    assert inf is not None
    warnings: list[str] = []
    runtime = inf.runtime or "vllm"
    if runtime not in RUNTIMES:
        raise InvalidInput(f("inference.runtime"), f"unknown runtime {_r(runtime)}", "use vllm or transformers")
    if runtime not in preset.runtimes:
        raise InvalidInput(
            f("inference.runtime"),
            f"model {preset.name} does not support inference with "
            + ("Huggingface Transformers" if runtime == "transformers" else "vLLM")
            + " runtime",
            f"use --runtime {preset.runtimes[0]}" if preset.runtimes else None,
        )
    if len(inf.adapters) > MAX_ADAPTERS:
        raise InvalidInput(
            f("inference.adapters"), f"{len(inf.adapters)} adapters; at most {MAX_ADAPTERS} are supported", None
        )
    seen: set[str] = set()
    for i, adapter in enumerate(inf.adapters):
        field = f("inference.adapters", i)
        check_dns1123_subdomain(adapter.name, field, "adapter name")
        if adapter.name in seen:
            raise InvalidInput(
                field, f"adapter name {_r(adapter.name)} is used twice", "give each adapter its own name"
            )
        seen.add(adapter.name)
        if (adapter.image is None) == (adapter.volume is None):
            raise InvalidInput(field, "an adapter needs exactly one of image and volumeSource", None)
        if adapter.image is not None:
            image = adapter.image
            _blocker(findings, partial(check_image_ref, image, field), lenient=spec.source != "flags")
        else:
            _check_volume(adapter.volume, field)
        for secret in adapter.image_pull_secrets:
            check_dns1123_subdomain(secret, field, "Secret name")
        _check_strength(adapter, field)
        if runtime == "vllm" and adapter.strength is not None:
            raise InvalidInput(
                field,
                "vLLM does not support adapter strength",
                'remove strength, or use the transformers runtime (kaito.sh/runtime: "transformers")',
            )
    if inf.adapters and runtime == "vllm" and not preset.vllm.allow_lora:
        raise InvalidInput(
            f("inference.adapters"), f"model {preset.name} does not support LoRA adapters with vLLM", None
        )
    if inf.config is not None:
        check_dns1123_subdomain(inf.config, f("inference.config"), "ConfigMap name")
        if runtime != "vllm":
            warnings.append("the inference ConfigMap is read by the vLLM runtime only; transformers ignores it")
    if inf.max_model_len is not None:
        if runtime != "vllm":
            raise InvalidInput(
                f("inference.maxModelLen"), "--max-model-len applies to the vLLM runtime only", "drop it, or use vllm"
            )
        limit = preset.max_context
        if inf.max_model_len < 1 or (limit is not None and inf.max_model_len > limit):
            raise InvalidInput(
                f("inference.maxModelLen"),
                f"{inf.max_model_len} is outside 1..{limit} (the context limit of {preset.name})",
                f"use a value up to {limit}",
            )
        if inf.config is not None:
            raise InvalidInput(
                f("inference.maxModelLen"),
                "--max-model-len and --config both set vLLM options",
                "put vllm.max-model-len in your ConfigMap's inference_config.yaml, or drop --config",
            )
    return warnings


def _blocker(findings: Findings, check: Callable[[], None], *, lenient: bool) -> None:
    """Run a check; when `lenient` (a Kaito YAML), a failure blocks only the real apply."""
    if not lenient:
        check()
        return
    try:
        check()
    except InvalidInput as error:
        findings.blockers.append(error)


def _validate_tuning(spec: WorkspaceSpec, preset: Preset, catalog: Catalog, f: Fields, findings: Findings) -> None:
    tun = spec.tuning
    assert tun is not None
    if tun.method not in TUNING_METHODS:
        raise InvalidInput(f("tuning.method"), f"unknown tuning method {_r(tun.method)}", "use lora or qlora")
    if preset.tuning is None or tun.method not in preset.tuning.methods:
        tunable = sorted(p.name for p in catalog.presets.values() if p.tuning and p.usable)
        reason = (
            f"preset {preset.name} cannot be tuned: {preset.tuning_refusal}"
            if preset.tuning_refusal
            else f"preset {preset.name} does not support {tun.method} tuning"
        )
        raise InvalidInput(f("tuning.preset.name"), reason, "tune one of: " + ", ".join(tunable))
    src = tun.input
    kinds = [k for k, present in (("urls", src.urls), ("image", src.image), ("volumeSource", src.volume)) if present]
    if len(kinds) != 1:
        raise InvalidInput(
            f("tuning.input"),
            "tuning input needs exactly one of urls, image and volumeSource"
            + (f" (got {', '.join(kinds)})" if kinds else ""),
            "give one input",
        )
    if src.name is not None:
        check_dns1123_subdomain(src.name, "tuning.input.name", "input name")
    for i, url in enumerate(src.urls):
        check_input_url(url, f("tuning.input.urls", i))
    if src.image is not None:
        check_image_ref(src.image, f("tuning.input.image"))
    for secret in src.image_pull_secrets:
        check_dns1123_subdomain(secret, f("tuning.input.imagePullSecrets"), "Secret name")
    if src.volume is not None:
        _check_volume(src.volume, f("tuning.input.volumeSource"))

    out = tun.output
    lenient = spec.source != "flags"
    has_volume = out.volume is not None or out.managed_pvc is not None
    if (out.image is not None) == has_volume:
        raise InvalidInput(
            f("tuning.output"), "tuning output needs exactly one of image and volumeSource", "give one output"
        )
    if out.image is not None:
        # Kaito's webhook does not parse the output image, and Kaito's own examples carry placeholders such as
        # ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE: render them, refuse to apply them.
        _blocker(findings, lambda: check_image_ref(out.image or "", f("tuning.output.image")), lenient=lenient)
        if not out.image_push_secret:
            raise InvalidInput(
                f("tuning.output.imagePushSecret"),
                "an output image needs a push secret",
                "create a kubernetes.io/dockerconfigjson Secret for the registry and pass --push-secret NAME",
            )
    if out.image_push_secret:
        secret = out.image_push_secret
        _blocker(
            findings,
            lambda: check_dns1123_subdomain(secret, f("tuning.output.imagePushSecret"), "Secret name"),
            lenient=lenient,
        )
    if out.volume is not None:
        _check_volume(out.volume, f("tuning.output.volumeSource"))
    if tun.config is not None:
        check_dns1123_subdomain(tun.config, f("tuning.config"), "ConfigMap name")


def immutable_changes(old: WorkspaceSpec, new: WorkspaceSpec) -> list[str]:
    """Changes Kaito's webhook refuses on update, described for the user.

    kaito-project/kaito v0.12.0 api/v1beta1/workspace_validation.go.
    """
    changes: list[str] = []

    def differs(field_name: str, before: object, after: object) -> None:
        if before != after:
            changes.append(f"{field_name} ({_r(before)} → {_r(after)})")

    if old.mode != new.mode:
        changes.append(f"inference/tuning (was {old.mode}, now {new.mode})")
        return changes
    differs("preset", old.preset, new.preset)
    differs("resource.count", old.resource.count, new.resource.count)
    differs("resource.labelSelector", old.resource.match_labels, new.resource.match_labels)
    if old.resource.instance_type:
        differs("resource.instanceType", old.resource.instance_type, new.resource.instance_type)
    if old.tuning is not None and new.tuning is not None:
        differs("tuning.method", old.tuning.method, new.tuning.method)
        differs("tuning.input.name", old.tuning.input.name, new.tuning.input.name)
    return changes


# ---- the ConfigMaps a user points at (checked against the cluster's copy before anything is written) -------


def check_inference_config(text: str, preset: Preset) -> None:
    """A user's inference_config.yaml: parses, and vllm.max-model-len fits the model (Kaito's webhook rule)."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        raise InvalidInput("--config", "inference_config.yaml is not valid YAML", "fix the ConfigMap") from None
    limit = preset.max_context
    value = (data.get("vllm") or {}).get("max-model-len") if isinstance(data, dict) else None
    if value is not None and (not isinstance(value, int) or (limit is not None and value > limit)):
        raise InvalidInput(
            "--config",
            f"vllm.max-model-len {_r(value)} must be an integer ≤ {limit} ({preset.name}'s context)",
            "fix inference_config.yaml",
        )


_TRAINING_SECTIONS = {
    "ModelConfig",
    "QuantizationConfig",
    "LoraConfig",
    "TrainingArguments",
    "DatasetConfig",
    "DataCollator",
}


def check_training_config(text: str, method: str) -> str:
    """Kaito's webhook rules for a user tuning ConfigMap; returns the resolved output_dir.

    kaito-project/kaito v0.12.0 api/v1beta1/workspace_validation.go (tuning config checks).
    """
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        raise InvalidInput("--config", "training_config.yaml is not valid YAML", "fix the ConfigMap") from None
    config = data.get("training_config") if isinstance(data, dict) else None
    if not isinstance(config, dict):
        raise InvalidInput("--config", "training_config.yaml needs a top-level training_config mapping", None)
    unknown = sorted(set(config) - _TRAINING_SECTIONS)
    if unknown:
        raise InvalidInput(
            "--config", f"unknown section(s) {', '.join(unknown)}", f"use only {', '.join(sorted(_TRAINING_SECTIONS))}"
        )
    output_dir = str((config.get("TrainingArguments") or {}).get("output_dir") or "/mnt/output")
    resolved = posixpath.normpath(output_dir if output_dir.startswith("/") else posixpath.join("/mnt", output_dir))
    if not resolved.startswith("/mnt/") or resolved == "/mnt":
        raise InvalidInput("--config", f"output_dir {_r(output_dir)} must be under /mnt", "e.g. /mnt/results")
    quant = config.get("QuantizationConfig") or {}
    four, eight = quant.get("load_in_4bit"), quant.get("load_in_8bit")
    for key, value in (("load_in_4bit", four), ("load_in_8bit", eight)):
        if value is not None and not isinstance(value, bool):
            raise InvalidInput("--config", f"QuantizationConfig.{key} must be true, false or null", None)
    if four and eight:
        raise InvalidInput("--config", "load_in_4bit and load_in_8bit cannot both be true", None)
    if method == "lora" and (four or eight):
        raise InvalidInput("--config", "lora does not quantize: load_in_4bit/load_in_8bit must be false", "use qlora")
    if method == "qlora" and not (four or eight):
        raise InvalidInput("--config", "qlora needs load_in_4bit or load_in_8bit true", "set load_in_4bit: true")
    return resolved
