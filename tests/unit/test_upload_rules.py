"""core/upload.py, exactly: every refusal of `tune --input-file` (problem and fix), the limits at their edges, the
sizes as the message prints them, and the checksum file the pod checks."""

from __future__ import annotations

import pytest

from kaitoctl.core.errors import InvalidInput
from kaitoctl.core.upload import CHECKSUMS_NAME, MANIFEST_NAME, MAX_FILES, InputFile, check_files, checksums, human_size

RENAME = "rename it"


def refusal(files: list[InputFile], limit: int = 1024) -> tuple[str, str, str | None]:
    with pytest.raises(InvalidInput) as refused:
        check_files(files, limit=limit)
    return refused.value.field, refused.value.problem, refused.value.fix


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1024**2 - 1, "1024.0 KiB"),
        (1024**2, "1.0 MiB"),
        (5 * 1024**3, "5.0 GiB"),
        (3 * 1024**4, "3072.0 GiB"),
    ],
)
def test_sizes_are_printed_in_binary_units(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(
    "name",
    ["/abs.csv", "a//b.csv", "./a.csv", "a/./b.csv", "a/../b.csv", "dir/", "tab\there", "del\x7f", "nul\x00"],
)
def test_a_name_that_cannot_be_a_path_in_the_volume_is_refused(name: str) -> None:
    assert refusal([InputFile("fine.csv", 1), InputFile(name, 1)]) == (
        "--input-file",
        f"{name!r} cannot be a file name in the volume",
        RENAME,
    )


def test_names_that_only_look_odd_are_accepted() -> None:
    check_files([InputFile("a..b/.hidden/x y.csv", 1), InputFile("dir/sub/file.parquet", 1), InputFile("é.csv", 1)])


@pytest.mark.parametrize("name", [MANIFEST_NAME, CHECKSUMS_NAME])
def test_the_names_kaitoctl_writes_are_refused(name: str) -> None:
    assert refusal([InputFile(name, 1)]) == ("--input-file", f"{name} is a name kaitoctl uses in the volume", RENAME)
    check_files([InputFile(f"sub/{name}", 1)])  # only the root's are kaitoctl's


def test_every_refusal_says_what_to_do() -> None:
    assert refusal([]) == ("--input-file", "no files found", "name files or directories that hold the dataset")
    assert refusal([InputFile("a", 1), InputFile("b", 1), InputFile("a", 1)]) == (
        "--input-file",
        "two files would both be 'a' in the volume",
        "rename one, or pass their directories instead (a directory keeps its name)",
    )
    assert refusal([InputFile("a", 2048), InputFile("b", 1024)], limit=3071) == (
        "--input-file",
        "3.0 KiB in total, more than the 3.0 KiB kaitoctl uploads through the API server",
        "put the dataset in blob storage and pass --input-url, or in a volume and pass --input-pvc",
    )
    check_files([InputFile("a", 2048), InputFile("b", 1024)], limit=3072)  # exactly the limit is fine


def test_at_most_ten_thousand_files() -> None:
    check_files([InputFile(f"f{i}", 0) for i in range(MAX_FILES)])
    assert MAX_FILES == 10_000
    assert refusal([InputFile(f"f{i}", 0) for i in range(MAX_FILES + 1)]) == (
        "--input-file",
        "10001 files, more than 10000",
        "pack them (e.g. one parquet file)",
    )


def test_the_checksum_file_is_what_sha256sum_reads_sorted_by_name() -> None:
    files = [InputFile("b/x.csv", 2, "bb"), InputFile("a.csv", 1, "aa")]
    assert checksums(files) == "aa  a.csv\nbb  b/x.csv\n"
