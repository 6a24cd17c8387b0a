"""`tune --input-file`: which local files go into the tuning input volume, under which names, and the manifest that
says what the volume holds (pure: ops/upload.py walks the disk, hashes and streams).

Limits (documented in the README): 8 GiB and 10,000 files in total (the claim is 10Gi, the rest is filesystem
overhead) — a dataset larger than that belongs in blob storage (`--input-url`) or a volume of its own
(`--input-pvc`), not in a stream through the API server.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from kaitoctl.core.errors import InvalidInput

MAX_TOTAL_BYTES = 8 * 1024**3
MAX_FILES = 10_000
MANIFEST_NAME = ".kaitoctl-manifest.json"  # in the volume's root: what was uploaded (names, sizes, sha256)
CHECKSUMS_NAME = ".kaitoctl-sha256"  # `sha256sum -c` input, checked in the pod before the manifest is written
# A name is written into the checksum file, one per line: no control characters (newlines) in it.
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class InputFile:
    name: str  # path inside the volume, '/'-separated, relative
    size: int
    sha256: str = ""


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def check_files(files: list[InputFile], *, limit: int = MAX_TOTAL_BYTES) -> None:
    """Names usable in the volume and unique, the total within the limits; raised before anything is written."""
    if not files:
        raise InvalidInput("--input-file", "no files found", "name files or directories that hold the dataset")
    seen: set[str] = set()
    for f in files:
        parts = f.name.split("/")
        if _BAD_NAME.search(f.name) or f.name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise InvalidInput("--input-file", f"{f.name!r} cannot be a file name in the volume", "rename it")
        if f.name in (MANIFEST_NAME, CHECKSUMS_NAME):
            raise InvalidInput("--input-file", f"{f.name} is a name kaitoctl uses in the volume", "rename it")
        if f.name in seen:
            raise InvalidInput(
                "--input-file",
                f"two files would both be {f.name!r} in the volume",
                "rename one, or pass their directories instead (a directory keeps its name)",
            )
        seen.add(f.name)
    if len(files) > MAX_FILES:
        raise InvalidInput(
            "--input-file", f"{len(files)} files, more than {MAX_FILES}", "pack them (e.g. one parquet file)"
        )
    total = sum(f.size for f in files)
    if total > limit:
        raise InvalidInput(
            "--input-file",
            f"{human_size(total)} in total, more than the {human_size(limit)} kaitoctl uploads through the API server",
            "put the dataset in blob storage and pass --input-url, or in a volume and pass --input-pvc",
        )


def manifest(files: list[InputFile]) -> str:
    """What the volume holds after the upload, canonical (sorted, compact) so that equal inputs give equal text."""
    entries = [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in sorted(files, key=lambda f: f.name)]
    return json.dumps({"version": 1, "files": entries}, sort_keys=True, separators=(",", ":"))


def checksums(files: list[InputFile]) -> str:
    """`sha256sum -c` input (two spaces between digest and name, as sha256sum writes it)."""
    return "".join(f"{f.sha256}  {f.name}\n" for f in sorted(files, key=lambda f: f.name))
