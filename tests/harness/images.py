"""Stand-in images for the real node, built from files on this (Debian bookworm) machine and pushed to the real
node's registries under the exact names kaitoctl renders (containerd's hosts.toml sends those names here).

A rootfs is a list of host files (Debian packages' files: a binary brings the shared libraries `ldd` names),
busybox-static applets (sh, tar, mktemp, ...), and generated files (the stand-in programs in
tests/harness/standins/, the real node's CA as the trust store). It is packed as one deterministic gzip layer
(sorted, owner 0, fixed mtime) and an OCI image manifest; the layer is cached by content in VAR_ROOT/layers
and a blob the registry has is not sent again, so a warm publish_all() sends only manifests.

What each image imitates and where that is defined is said where it is built (below) and in the stand-ins.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import ssl
import subprocess
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.harness.realnode import RealNode

STANDINS = Path(__file__).resolve().parent / "standins"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MTIME = 1_700_000_000
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Debian's merged /usr, as in the images these stand in for.
MERGED_USR = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}
APPLETS = ("sh", "ash", "cat", "cp", "mkdir", "mktemp", "rm", "mv", "ls", "tar", "gzip", "gunzip", "sha256sum",
           "cut", "printf", "sleep", "echo", "test", "[", "env", "id", "touch", "head", "tail", "wc", "find",
           "sed", "grep", "true", "false", "date", "dirname", "basename", "chmod", "ln", "pwd", "uname", "sort",
           "kill", "ps", "wget", "nslookup", "hostname", "stat", "du", "df", "tee", "xargs", "expr", "seq")


@dataclass
class Rootfs:
    files: dict[str, tuple[str, Any, int]] = field(default_factory=dict)  # dest -> (kind, src|bytes|target, mode)

    def add_bytes(self, dest: str, data: bytes, mode: int = 0o644) -> None:
        self.files[dest.lstrip("/")] = ("bytes", data, mode)

    def add_symlink(self, dest: str, target: str) -> None:
        self.files[dest.lstrip("/")] = ("link", target, 0o777)

    def add_host(self, path: str, *, with_libs: bool = True) -> None:
        """A host file (following symlinks as symlinks) and, for a dynamic binary, every library it loads."""
        d = os.path.realpath(os.path.dirname(path))
        p = os.path.join(d, os.path.basename(path))
        dest = p.lstrip("/")
        if dest in self.files:
            return
        if os.path.islink(p):
            target = os.readlink(p)
            self.files[dest] = ("link", target, 0o777)
            self.add_host(target if target.startswith("/") else os.path.join(d, target), with_libs=with_libs)
            return
        if os.path.isdir(p):
            for child in sorted(os.listdir(p)):
                self.add_host(os.path.join(p, child), with_libs=with_libs)
            return
        self.files[dest] = ("host", p, os.stat(p).st_mode & 0o7777)
        if (with_libs and os.access(p, os.X_OK)) or p.endswith(".so") or ".so." in p:
            for lib in _ldd(p):
                self.add_host(lib, with_libs=True)

    def add_tree(self, src: Path, dest: str, *, skip: tuple[str, ...] = ()) -> None:
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(src)
            if any(part in skip for part in rel.parts) or path.is_dir():
                continue
            target = f"{dest.rstrip('/')}/{rel}"
            if path.is_symlink():
                self.add_symlink(target, os.readlink(path))
            else:
                self.files[target.lstrip("/")] = ("host", str(path), path.stat().st_mode & 0o7777)

    def add_busybox(self) -> None:
        self.add_host("/bin/busybox", with_libs=False)  # busybox-static
        for applet in APPLETS:
            key = f"usr/bin/{applet}"
            if key not in self.files:
                self.add_symlink(key, "busybox")

    def base(self, ca: bytes) -> None:
        for name, target in MERGED_USR.items():
            self.add_symlink(name, target)
        self.add_bytes("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        self.add_bytes("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        # The trust store holds the real node's CA (where Debian's ca-certificates puts the bundle, which curl,
        # Go programs (oras, skopeo) and Python read), so the tools verify the local registries and data server.
        self.add_bytes("etc/ssl/certs/ca-certificates.crt", ca)
        for d in ("tmp", "root", "var/tmp", "workspace"):
            self.files.setdefault(d + "/.keep", ("bytes", b"", 0o644))

    def key(self) -> str:
        h = hashlib.sha256()
        for dest in sorted(self.files):
            kind, src, mode = self.files[dest]
            h.update(f"{dest}\0{kind}\0{mode}\0".encode())
            if kind == "bytes":
                h.update(hashlib.sha256(src).digest())
            elif kind == "link":
                h.update(src.encode())
            else:
                st = os.stat(src)
                h.update(f"{src}\0{st.st_size}\0{st.st_mtime_ns}".encode())
        return h.hexdigest()

    def layer(self, cache: Path) -> tuple[Path, str, str]:
        """(gzip layer file, its sha256 digest, the uncompressed diff_id), built once per content."""
        cache.mkdir(parents=True, exist_ok=True)
        key = self.key()
        path, meta = cache / f"{key}.tar.gz", cache / f"{key}.json"
        if path.exists() and meta.exists():
            m = json.loads(meta.read_text())
            return path, m["digest"], m["diff_id"]
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            dirs: set[str] = set()
            for dest in sorted(self.files):
                parts = dest.split("/")
                for i in range(1, len(parts)):
                    d = "/".join(parts[:i])
                    if d not in dirs and d not in self.files:
                        dirs.add(d)
                        ti = tarfile.TarInfo(d)
                        ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755, MTIME
                        tar.addfile(ti)
                kind, src, mode = self.files[dest]
                if dest.endswith("/.keep"):
                    continue
                ti = tarfile.TarInfo(dest)
                ti.mode, ti.mtime = mode, MTIME
                if kind == "link":
                    ti.type, ti.linkname = tarfile.SYMTYPE, src
                    tar.addfile(ti)
                else:
                    data = src if kind == "bytes" else Path(src).read_bytes()
                    ti.size = len(data)
                    tar.addfile(ti, io.BytesIO(data))
        blob = raw.getvalue()
        diff_id = "sha256:" + hashlib.sha256(blob).hexdigest()
        gz = gzip.compress(blob, compresslevel=6, mtime=0)
        digest = "sha256:" + hashlib.sha256(gz).hexdigest()
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(gz)
        tmp.rename(path)
        meta.write_text(json.dumps({"digest": digest, "diff_id": diff_id}))
        return path, digest, diff_id


def _ldd(path: str) -> list[str]:
    r = subprocess.run(["ldd", path], capture_output=True, text=True, check=False)
    libs = []
    for line in r.stdout.splitlines():
        line = line.strip()
        target = line.split("=>", 1)[1].split("(")[0].strip() if "=>" in line else line.split("(")[0].strip()
        if target.startswith("/"):
            libs.append(target)
    return libs


# --- registry client (the Docker Registry HTTP API V2 / OCI distribution spec) ----------------------------


class Registry:
    def __init__(self, host: str, address: str, ca: Path, auth: tuple[str, str] | None = None) -> None:
        self.host, self.base = host, f"https://{address}"
        self.ctx = ssl.create_default_context(cafile=str(ca))
        self.ctx.check_hostname = False  # the address is an IP; the chain is still verified against our CA
        self.auth = auth

    def _req(self, method: str, url: str, data: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        if not url.startswith("http"):
            url = self.base + url
        req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
        if self.auth:
            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=self.ctx))
        try:
            with opener.open(req, timeout=60) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def has_blob(self, repo: str, digest: str) -> bool:
        return self._req("HEAD", f"/v2/{repo}/blobs/{digest}")[0] == 200

    def put_blob(self, repo: str, digest: str, data: bytes) -> None:
        if self.has_blob(repo, digest):
            return
        status, headers, body = self._req("POST", f"/v2/{repo}/blobs/uploads/", b"")
        if status != 202:
            raise RuntimeError(f"upload to {repo}: HTTP {status} {body[:200]!r}")
        loc = headers.get("Location") or headers.get("location") or ""
        if loc.startswith("/"):
            loc = self.base + loc
        sep = "&" if "?" in loc else "?"
        status, _, body = self._req("PUT", f"{loc}{sep}digest={digest}", data,
                                    {"Content-Type": "application/octet-stream"})
        if status != 201:
            raise RuntimeError(f"upload {digest} to {repo}: HTTP {status} {body[:200]!r}")

    def manifest(self, repo: str, ref: str) -> dict[str, Any] | None:
        status, _, body = self._req("GET", f"/v2/{repo}/manifests/{ref}", None, {"Accept": OCI_MANIFEST})
        return json.loads(body) if status == 200 else None

    def put_manifest(self, repo: str, ref: str, manifest: bytes, media_type: str = OCI_MANIFEST) -> str:
        status, _, body = self._req("PUT", f"/v2/{repo}/manifests/{ref}", manifest, {"Content-Type": media_type})
        if status != 201:
            raise RuntimeError(f"manifest {repo}:{ref}: HTTP {status} {body[:300]!r}")
        return "sha256:" + hashlib.sha256(manifest).hexdigest()

    def push_image(self, repo: str, tag: str, layers: list[tuple[Path, str, str]], config: dict[str, Any]) -> str:
        config = {**config, "architecture": "amd64", "os": "linux",
                  "rootfs": {"type": "layers", "diff_ids": [d for _, _, d in layers]}}
        cfg = json.dumps(config, sort_keys=True).encode()
        cfg_digest = "sha256:" + hashlib.sha256(cfg).hexdigest()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": cfg_digest, "size": len(cfg)},
            "layers": [{"mediaType": OCI_LAYER, "digest": dg, "size": p.stat().st_size} for p, dg, _ in layers],
        }, sort_keys=True).encode()
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        existing = self._req("HEAD", f"/v2/{repo}/manifests/{tag}", None, {"Accept": OCI_MANIFEST})
        if existing[0] == 200 and existing[1].get("Docker-Content-Digest") == digest:
            return digest
        for path, dg, _ in layers:
            if not self.has_blob(repo, dg):
                self.put_blob(repo, dg, path.read_bytes())
        self.put_blob(repo, cfg_digest, cfg)
        return self.put_manifest(repo, tag, manifest)


def split_ref(ref: str) -> tuple[str, str, str]:
    """mcr.microsoft.com/aks/kaito/kaito-base:0.5.0 -> (host, repo, tag); docker.io names get library/."""
    host, _, rest = ref.partition("/")
    repo, _, tag = rest.rpartition(":") if ":" in rest.split("/")[-1] else (rest, "", "latest")
    if host == "docker.io" and "/" not in repo:
        repo = f"library/{repo}"
    return host, repo, tag or "latest"


# --- the images -----------------------------------------------------------------------------------------


def _rootfs(node: RealNode) -> Rootfs:
    r = Rootfs()
    r.base(node.ca.read_bytes())
    r.add_busybox()
    return r


def _catalog_images() -> dict[str, str]:
    """The tool image references kaitoctl renders (presets.yaml defaults), by role, plus the base image."""
    import yaml

    from tests.harness.nodes import REPO_ROOT

    defaults = yaml.safe_load((REPO_ROOT / "presets.yaml").read_text())["defaults"]
    refs = {role: _qualified(ref) for role, ref in defaults["images"].items()}
    refs["base"] = _qualified(defaults["base_image"])
    return refs


def _qualified(ref: str) -> str:
    """docker.io is the implied registry of a name without one (curlimages/curl:8.11.1)."""
    first = ref.split("/", 1)[0]
    return ref if "/" in ref and ("." in first or ":" in first or first == "localhost") else f"docker.io/{ref}"


def image_specs(node: RealNode) -> dict[str, tuple[Rootfs, dict[str, Any]]]:
    """ref -> (rootfs, image config). The refs are the ones presets.yaml and the templates render."""
    bins = node.bin_dir
    refs = _catalog_images()
    specs: dict[str, tuple[Rootfs, dict[str, Any]]] = {}

    # registry.k8s.io/pause: the pod sandbox (containerd's pinned sandbox image; Kaito's pusher Job also runs
    # :latest).
    pause = Rootfs()
    pause.add_bytes("pause", (bins / "pause").read_bytes(), 0o755)
    for tag in ("3.10.2", "latest"):
        specs[f"registry.k8s.io/pause:{tag}"] = (pause, {"config": {"Entrypoint": ["/pause"]}})

    # curlimages/curl (docker.io): Kaito's data downloader image runs curl under /bin/sh; the real image is
    # Alpine + curl (github.com/curl/curl-container). Here: Debian's curl and busybox sh.
    curl = _rootfs(node)
    curl.add_host("/usr/bin/curl")
    specs[refs["data_downloader"]] = (curl, {"config": {"Entrypoint": ["/usr/bin/curl"],
                                                                  "Env": [PATH_ENV]}})

    # mcr.microsoft.com/aks/skopeo: the adapter/dataset puller (Kaito v0.12.0 pkg/utils/consts.go names the
    # skopeo image; pkg/workspace/image/puller.go runs skopeo copy into a dir). Debian's skopeo + busybox.
    skopeo = _rootfs(node)
    skopeo.add_host("/usr/bin/skopeo")
    # containers-common's default policy (what the real image ships): accept any image.
    skopeo.add_bytes("etc/containers/policy.json",
                     b'{"default":[{"type":"insecureAcceptAnything"}]}\n')
    specs[refs["puller"]] = (skopeo, {"config": {"Entrypoint": ["/usr/bin/skopeo"],
                                                                         "Env": [PATH_ENV]}})

    # The ORAS CLI images (github.com/oras-project/oras Dockerfile: ENTRYPOINT ["oras"], WORKDIR /workspace):
    # the weights downloader (mcr) and the adapter pusher (ghcr). One oras build (hack/node/versions.env).
    oras = _rootfs(node)
    oras.add_bytes("usr/local/bin/oras", (bins / "oras").read_bytes(), 0o755)
    oras_cfg = {"config": {"Entrypoint": ["oras"], "WorkingDir": "/workspace", "Env": [PATH_ENV]}}
    specs[refs["weights_downloader"]] = (oras, oras_cfg)
    specs[refs["pusher"]] = (oras, oras_cfg)

    # kaito-base: Debian's python3 (+ PyYAML) with the stand-in server, trainer and accelerate launcher at the
    # paths the rendered manifests run (tests/harness/standins/*.py say what each imitates).
    base = _rootfs(node)
    base.add_host("/usr/bin/python3.11")
    base.add_symlink("usr/bin/python3", "python3.11")
    base.add_symlink("usr/bin/python", "python3.11")
    skip = ("test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data",
            "config-3.11-x86_64-linux-gnu", "__pycache__", "distutils", "unittest", "sqlite3", "dbm", "curses")
    base.add_tree(Path("/usr/lib/python3.11"), "/usr/lib/python3.11", skip=skip)
    for so in sorted(Path("/usr/lib/python3.11/lib-dynload").glob("*.so")):
        for lib in _ldd(str(so)):
            base.add_host(lib)
    base.add_tree(Path("/usr/lib/python3/dist-packages/yaml"), "/usr/lib/python3/dist-packages/yaml",
                  skip=("__pycache__",))
    for lib in _ldd("/usr/lib/python3/dist-packages/yaml/" + next(
            p.name for p in Path("/usr/lib/python3/dist-packages/yaml").glob("_yaml*.so"))):
        base.add_host(lib)
    server = (STANDINS / "inference_api.py").read_bytes()
    base.add_bytes("workspace/vllm/inference_api.py", server, 0o755)
    base.add_bytes("workspace/tfs/inference_api.py", server, 0o755)
    base.add_bytes("workspace/tfs/fine_tuning.py", (STANDINS / "fine_tuning.py").read_bytes(), 0o755)
    base.add_bytes("workspace/tfs/metrics_server.py", (STANDINS / "metrics_server.py").read_bytes(), 0o755)
    base.add_bytes("usr/local/bin/accelerate", (STANDINS / "accelerate.py").read_bytes(), 0o755)
    specs[refs["base"]] = (
        base, {"config": {"Env": [PATH_ENV, "PYTHONUNBUFFERED=1"], "WorkingDir": "/workspace"}})
    return specs


def publish_all(node: RealNode) -> dict[str, str]:
    """Build (cached) and push every stand-in image and the preset weight artifacts; ref -> manifest digest."""
    from tests.harness import realnode

    public = Registry("public", f"{realnode.GATEWAY}:443", node.ca)
    cache = realnode.VAR_ROOT / "layers"
    out = {}
    built: dict[int, tuple[Path, str, str]] = {}
    for ref, (rootfs, config) in image_specs(node).items():
        layer = built.get(id(rootfs)) or rootfs.layer(cache)
        built[id(rootfs)] = layer
        _, repo, tag = split_ref(ref)
        out[ref] = public.push_image(repo, tag, [layer], config)
    for ref in weight_artifacts():
        out[ref] = push_weights(node, ref)
    return out


def weight_artifacts() -> list[str]:
    """The ORAS weight artifacts the tests tune (presets.yaml weights_image of the presets used on the node)."""
    import yaml

    from tests.harness.nodes import REPO_ROOT

    data = yaml.safe_load((REPO_ROOT / "presets.yaml").read_text())
    refs = []
    for _name, preset in (data.get("presets") or {}).items():
        tuning = (preset or {}).get("tuning") or {}
        ref = tuning.get("weights_image") if isinstance(tuning, dict) else None
        ref = ref or (preset or {}).get("weights_image")
        if ref and "phi-3-mini" in str(ref):
            refs.append(str(ref))
    return refs


def push_weights(node: RealNode, ref: str) -> str:
    """A real ORAS artifact (pushed by the oras CLI), standing in for Kaito's preset weight images
    (mcr.microsoft.com/aks/kaito/kaito-<preset>:0.2.0, pulled by `oras pull ... -o /workspace/weights` in the
    tuning Job: Kaito v0.12.0 pkg/workspace/tuning/preset_tuning.go). Small files with the names a Hugging Face
    checkpoint has; their content says they are stand-ins."""
    from tests.harness import realnode

    host, repo, tag = split_ref(ref)
    public = Registry("public", f"{realnode.GATEWAY}:443", node.ca)
    existing = public.manifest(repo, tag)
    if existing and existing.get("annotations", {}).get("sh.kaitoctl.e2e/stand-in") == "weights-v1":
        return "sha256:" + hashlib.sha256(json.dumps(existing).encode()).hexdigest()
    work = realnode.VAR_ROOT / "weights" / repo.replace("/", "_")
    work.mkdir(parents=True, exist_ok=True)
    files = {
        "config.json": json.dumps({"architectures": ["Phi3ForCausalLM"], "stand_in": ref}).encode(),
        "tokenizer.json": b'{"stand_in": true}',
        "model.safetensors": b"stand-in weights for " + ref.encode(),
    }
    for name, data in files.items():
        (work / name).write_bytes(data)
    r = subprocess.run(
        [str(node.bin_dir / "oras"), "push", "--ca-file", str(node.ca),
         "--resolve", f"{host}:443:{realnode.GATEWAY}:443",
         "--annotation", "sh.kaitoctl.e2e/stand-in=weights-v1", ref, *files],
        cwd=work, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"oras push {ref}: {r.stderr.strip() or r.stdout.strip()}")
    return r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
