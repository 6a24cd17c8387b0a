"""Hostile input through the real CLI (issue 10, items 9-16): exit 2 naming the field, bounded time and memory,
no traceback, secrets never printed. Each case here failed (traceback, hang, wrong exit code, leak) before the fix.
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kaitoctl.cli.app import app
from kaitoctl.core.redact import redact_url
from kaitoctl.core.validation import check_input_url
from tests.unit.helpers import FIXTURES

runner = CliRunner()

TUNING = (FIXTURES / "v1beta1-tuning-pvc.yaml").read_text()
INFERENCE = (FIXTURES / "v1beta1-inference-phi-4-mini.yaml").read_text()


def _apply(tmp_path: Path, content: str | bytes, *extra: str) -> tuple[int, str, str, float]:
    path = tmp_path / "ws.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    started = time.monotonic()
    result = runner.invoke(app, ["apply", "-f", str(path), "--dry-run", *extra])
    return result.exit_code, result.stdout, result.stderr, time.monotonic() - started


def _refused(tmp_path: Path, content: str | bytes, expect: str, *extra: str) -> str:
    code, _out, err, seconds = _apply(tmp_path, content, *extra)
    assert code == 2, err
    assert "Traceback" not in err
    assert expect in err, err
    assert seconds < 2.0
    assert len(err) < 2000, "messages cut long values"
    return err


# ---- 9: alias bombs, size and length caps --------------------------------------------------------------------

# Nested anchors as label values (which the loader used to turn into text: str() expanded 9**9 elements).
BILLION_LAUGHS = (
    "apiVersion: kaito.sh/v1beta1\nkind: Workspace\nmetadata:\n  name: bomb\nresource:\n  labelSelector:\n"
    "   matchLabels:\n"
    '    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(f"    {c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    + "inference: {preset: {name: phi-4-mini-instruct}}\n"
)


def test_alias_bomb_refused_fast_and_small(tmp_path: Path) -> None:
    assert len(BILLION_LAUGHS) < 700
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    err = _refused(tmp_path, BILLION_LAUGHS, "YAML alias")
    assert "line 9" in err
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 200


def test_alias_as_unknown_key_does_not_blow_up_the_message(tmp_path: Path) -> None:
    doc = "x: &x " + "y" * 5000 + "\n" + INFERENCE.replace("kind: Workspace", "kind: Workspace\n*x : 1")
    _refused(tmp_path, doc, "YAML alias")


def test_file_over_one_mib_refused(tmp_path: Path) -> None:
    _refused(tmp_path, INFERENCE + "#" * (1024 * 1024), "larger than 1024 KiB")


def test_long_string_refused_and_cut(tmp_path: Path) -> None:
    _refused(tmp_path, INFERENCE.replace("workspace-phi-4-mini", "a" * 9000), "holds a value of 9000 characters")
    err = _refused(tmp_path, INFERENCE.replace("workspace-phi-4-mini", "A" * 8000), "metadata.name")
    assert "A" * 100 not in err


def test_dev_zero_and_directory(tmp_path: Path) -> None:
    if os.path.exists("/dev/zero"):
        result = runner.invoke(app, ["apply", "-f", "/dev/zero", "--dry-run"])
        assert result.exit_code == 2 and "larger than" in result.stderr
    # A directory is read like kubectl's -f DIR (issue 13); one with no manifest in it is refused.
    result = runner.invoke(app, ["apply", "-f", str(tmp_path), "--dry-run"])
    assert result.exit_code == 2 and "holds no .yaml, .yml or .json file" in result.stderr, result.stderr


# ---- 10: tracebacks become exit 2 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        (b"\xff\xfeW\x00o\x00r\x00", "not UTF-8"),
        (INFERENCE.encode("utf-16"), "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
        (INFERENCE.encode() + b"\n# \xc3\x28\n", "not UTF-8"),
        (("a: " + "[" * 20000 + "]" * 20000).encode(), "nest"),
        ("".join("  " * i + f"k{i}:\n" for i in range(200)).encode(), "nest"),
    ],
    ids=["utf16-bom-le", "utf16", "binary", "bad-utf8", "flow-20k", "block-200"],
)
def test_undecodable_or_deep_files(tmp_path: Path, content: bytes, expect: str) -> None:
    _refused(tmp_path, content, expect)


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        ("  annotations:\n    kaito.sh/runtime: vllm", "  annotations: [a, b]", "metadata.annotations"),
        ("  annotations:\n    kaito.sh/runtime: vllm", "  annotations: text", "metadata.annotations"),
        ("      apps: phi-4-mini", "      - apps", "resource.labelSelector.matchLabels"),
        ("    matchLabels:\n      apps: phi-4-mini", "    matchLabels: apps", "resource.labelSelector.matchLabels"),
        ("      apps: phi-4-mini", "      apps: null", "matchLabels.apps: the value is null"),
        ("      apps: phi-4-mini", "      apps: 3", "matchLabels.apps: expected a string"),
        (
            "    matchLabels:\n      apps: phi-4-mini",
            "    matchExpressions:\n      - apps In x",
            "matchExpressions[0]: expected a mapping",
        ),
        (
            "    matchLabels:\n      apps: phi-4-mini",
            "    matchExpressions:\n      - {key: apps, operator: In, values: abc}",
            "matchExpressions[0].values: expected a list of strings",
        ),
        (
            "    matchLabels:\n      apps: phi-4-mini",
            "    matchExpressions: {key: apps}",
            "matchExpressions: expected a list",
        ),
        ("  name: workspace-phi-4-mini", "  name: workspace-phi-4-mini\n  name: other", "appears twice"),
        ("  name: workspace-phi-4-mini", "  name: workspace-phi-4-mini\n  namespace: [a]", "metadata.namespace"),
    ],
    ids=[
        "annotations-list",
        "annotations-string",
        "matchLabels-list",
        "matchLabels-string",
        "label-null",
        "label-int",
        "expression-string",
        "values-string",
        "expressions-mapping",
        "duplicate-key",
        "namespace-list",
    ],
)
def test_wrong_types_exit_2(tmp_path: Path, old: str, new: str, expect: str) -> None:
    assert old in INFERENCE
    _refused(tmp_path, INFERENCE.replace(old, new), expect)


# ---- 11: derived names and counts ----------------------------------------------------------------------------


def test_inference_name_whose_derived_names_overflow(tmp_path: Path) -> None:
    name = "w" * 53  # a valid DNS label; NAME-headless (62) fits, controller-revision-hash NAME-HASH does not
    _refused(tmp_path, INFERENCE.replace("workspace-phi-4-mini", name), "at most 52")
    code, out, err, _ = _apply(tmp_path, INFERENCE.replace("workspace-phi-4-mini", "w" * 52))
    assert code == 0, err
    import yaml

    for obj in yaml.safe_load_all(out):
        labels = dict(obj["metadata"].get("labels") or {})
        if obj["kind"] == "StatefulSet":
            labels.update(obj["spec"]["template"]["metadata"]["labels"])
            labels["controller-revision-hash"] = obj["metadata"]["name"] + "-" + "h" * 10
            labels["statefulset.kubernetes.io/pod-name"] = obj["metadata"]["name"] + "-0"
        if obj["kind"] == "Service":
            assert len(obj["metadata"]["name"]) <= 63
        assert all(len(v) <= 63 for v in labels.values()), labels


def test_inference_name_starting_with_digit_is_no_service_name(tmp_path: Path) -> None:
    _refused(tmp_path, INFERENCE.replace("workspace-phi-4-mini", "4mini"), "starts with a digit")


def test_tuning_name_may_use_63(tmp_path: Path) -> None:
    code, _out, err, _ = _apply(tmp_path, TUNING.replace("workspace-tuning-phi-3-pvc", "t" * 63))
    assert code == 0, err


@pytest.mark.parametrize("count", ["0", "65", "1000000000000000000000"])
def test_count_is_bounded(count: str) -> None:
    result = runner.invoke(app, ["deploy", "phi-3", "--count", count, "--dry-run"])
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr


# ---- 12: volumeSource allow-list ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("volume", "expect"),
    [
        ("hostPath: {path: /etc}", "hostPath: not allowed: it mounts the node's own filesystem"),
        ("name: evil\n      persistentVolumeClaim: {claimName: pvc-azurefile-output}", "name: not allowed"),
        ("gitRepo: {repository: https://x.y/z}", "gitRepo: not allowed"),
        ("persistentVolumeClaim: claim", "expected a mapping"),
        ("persistentVolumeClaim: {claimName: [x]}", "not a valid PersistentVolumeClaim name"),
    ],
    ids=["hostPath", "name-override", "gitRepo", "pvc-string", "claim-list"],
)
def test_output_volume_kinds(tmp_path: Path, volume: str, expect: str) -> None:
    old = "persistentVolumeClaim:\n        claimName: pvc-azurefile-output"
    assert old in TUNING
    _refused(tmp_path, TUNING.replace(old, volume), expect)


def test_allowed_volume_kinds_pass(tmp_path: Path) -> None:
    old = "persistentVolumeClaim:\n        claimName: pvc-azurefile-output"
    code, out, err, _ = _apply(tmp_path, TUNING.replace(old, "azureFile: {secretName: s, shareName: out}"))
    assert code == 0, err
    assert "shareName: out" in out


# ---- 13: SSRF --------------------------------------------------------------------------------------------------

REFUSED_URLS = [
    "http://2852039166/latest",  # 169.254.169.254 as one decimal number
    "http://0xa9fea9fe/latest",
    "http://0xA9.0xFE.0xA9.0xFE/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://0/",
    "http://100.64.0.1/",  # shared address space (RFC 6598)
    "http://168.63.129.16/machine",  # Azure WireServer
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64
    "http://[64:ff9b:1::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::]/",  # 6to4
    "http://[::ffff:127.0.0.1]/",
    "http://[::1]/",
    "http://[fd00::1]/",
    "http://kubernetes.default.svc/api",
    "http://kubernetes.default/api",
    "http://kubernetes/api",
    "http://my-svc.my-ns.svc.cluster.local/",
    "http://metadata.azure.internal/",
    "http://printer.local/",
    "http://127。0。0。1/",  # full-width dots
    "http://ｅｘａｍｐｌｅ.com/",
    "http://user:pw@169.254.169.254/",
    "http://169.254.169.254:80@example.com/",  # userinfo trick: the host is example.com, fine
]


@pytest.mark.parametrize("url", REFUSED_URLS[:-1])
def test_ssrf_forms_refused(url: str) -> None:
    from kaitoctl.core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        check_input_url(url, "--input-url")


@pytest.mark.parametrize(
    "url",
    [
        "https://huggingface.co/datasets/x/resolve/main/d.parquet",
        "https://20.62.1.2/data.jsonl",
        "https://[2606:4700:4700::1111]/d.json",
        "https://acct.blob.core.windows.net/c/d.jsonl?sv=2024&sig=abc",
        REFUSED_URLS[-1],
    ],
)
def test_public_urls_pass(url: str) -> None:
    check_input_url(url, "--input-url")


def test_downloader_limits_redirects() -> None:
    script = (Path(__file__).resolve().parents[2] / "templates" / "scripts" / "download-data.sh").read_text()
    assert "--proto-redir =https" in script
    assert "--max-redirs" in script


# ---- 14: oras argv --------------------------------------------------------------------------------------------


def test_push_script_ends_oras_options_before_the_image() -> None:
    script = (Path(__file__).resolve().parents[2] / "templates" / "scripts" / "push-adapter.sh").read_text()
    assert '-- "$work/layout:latest" "$image"' in script


# ---- 15: redaction --------------------------------------------------------------------------------------------

SECRET_URL = "https://bob:hunter2@acct.blob.core.windows.net/c/d.jsonl?sv=2024-01-01&sig=SECRETSIG%3D&se=2030"


def test_redact_url() -> None:
    red = redact_url(SECRET_URL)
    assert "hunter2" not in red and "SECRETSIG" not in red
    assert red.startswith("https://bob:REDACTED@acct.blob.core.windows.net/c/d.jsonl?sv=REDACTED&sig=REDACTED")
    assert redact_url("https://tok@h.io/x#frag") == "https://REDACTED@h.io/x#REDACTED"
    assert "x" not in redact_url("http://[::1/x?sig=x").partition("://")[2]


@pytest.mark.parametrize("fmt", [[], ["-o", "json"]])
def test_secret_url_never_printed_nor_stored(fmt: list[str]) -> None:
    result = runner.invoke(app, ["tune", "phi-3", "--method", "qlora", "--input-url", SECRET_URL, "--dry-run", *fmt])
    assert result.exit_code == 0, result.stderr
    assert "hunter2" not in result.stderr and "SECRETSIG" not in result.stderr
    assert "sig=REDACTED" in result.stderr  # the plan names the input
    # stdout holds the manifests: the URL reaches only the downloader's argv, not the spec annotations
    out = result.stdout
    assert out.count("SECRETSIG") == 1 and out.count("hunter2") == 1
    if fmt:
        objects = json.loads(out)["items"]  # a v1 List, as `kubectl get -o json`
        job = next(o for o in objects if o["kind"] == "Job")
        argv = json.dumps([c.get("args") for c in job["spec"]["template"]["spec"]["initContainers"]])
        assert "SECRETSIG" in argv
        for obj in objects:
            assert "SECRETSIG" not in json.dumps(obj["metadata"])


def test_plan_summary_redacts() -> None:
    from kaitoctl.core.plan import build_plan
    from tests.unit.helpers import catalog, tune_spec

    plan = build_plan(tune_spec(input_urls=[SECRET_URL]), catalog())
    text = json.dumps(plan.summary())
    assert "SECRETSIG" not in text and "hunter2" not in text


# ---- 16: chat against a hostile server ------------------------------------------------------------------------


def test_chat_hostile_model_id_and_answer_and_endpoint_secret() -> None:
    from tests.harness.model_server import ModelServer

    hostile_model = "[/dim][bold red]\x1b]0;pwned\x07"
    with ModelServer(models=[hostile_model]) as server:
        endpoint = server.url.replace("http://", "http://alice:s3cret@")
        question = "hi \x1b[2J\x1b]52;c;ZXZpbA==\x07 there"
        for extra in ([], ["--no-stream"]):
            result = runner.invoke(app, ["chat", "--endpoint", endpoint, *extra, question])
            assert result.exit_code == 0, result.stderr
            assert "Traceback" not in result.stderr
            assert "\x1b" not in result.stdout and "\x07" not in result.stdout
            assert "echo: hi" in result.stdout
            assert "s3cret" not in result.stderr + result.stdout
        listed = runner.invoke(app, ["chat", "--endpoint", endpoint, "--list-models"])
        assert listed.exit_code == 0 and "\x1b" not in listed.stdout and "[/dim]" in listed.stdout
        as_json = runner.invoke(app, ["chat", "--endpoint", endpoint, "-o", "json", question])
        assert as_json.exit_code == 0
        assert "\\u001b[2J" in as_json.stdout  # -o json keeps the server's text, escaped by JSON


def test_chat_session_names_the_endpoint_without_its_password() -> None:
    from contextlib import ExitStack

    from kaitoctl.ops.chat import open_session
    from tests.harness.model_server import ModelServer

    with ModelServer() as server, ExitStack() as stack:
        endpoint = server.url.replace("http://", "http://alice:s3cret@") + "/?token=t0ken"
        session = open_session(
            stack, kubeconfig=None, context=None, namespace=None, workspace=None, endpoint=endpoint, model=None
        )
        assert "s3cret" not in session.via and "t0ken" not in session.via
        assert "alice:REDACTED@" in session.via
