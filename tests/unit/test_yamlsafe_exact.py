"""core/yamlsafe.py, exactly: each refusal of an untrusted Workspace file as the user reads it (the file, what is
wrong, the line and column, the fix) and each limit at its edge."""

from __future__ import annotations

import pytest

from kaitoctl.core.errors import InvalidInput
from kaitoctl.core.yamlsafe import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, MAX_SCALAR_CHARS, clip, decode, load_documents


def refused(text: str, source: str = "w.yaml", field: str = "--filename") -> tuple[str, str, str | None]:
    with pytest.raises(InvalidInput) as err:
        load_documents(text, source, field)
    assert err.value.exit_code == 2
    return err.value.field, err.value.problem, err.value.fix


def undecodable(data: bytes, source: str = "w.yaml") -> tuple[str, str, str | None]:
    with pytest.raises(InvalidInput) as err:
        decode(data, source)
    return err.value.field, err.value.problem, err.value.fix


def test_the_limits() -> None:
    assert (MAX_FILE_BYTES, MAX_DEPTH, MAX_SCALAR_CHARS, MAX_NODES) == (1024 * 1024, 32, 8192, 100_000)


def test_a_value_is_clipped_to_80_characters_with_an_ellipsis() -> None:
    assert clip("a" * 80) == "a" * 80
    assert clip("a" * 81) == "a" * 79 + "…"
    assert clip("abcdef", 4) == "abc…"
    assert clip("abcd", 4) == "abcd"


def test_an_alias_is_refused_where_it_is_used() -> None:
    assert refused("a: &x 1\nb: *x\n") == (
        "--filename",
        "w.yaml uses a YAML alias (*x) (line 2, column 4)",
        "write the value out in full; anchors and aliases are not accepted in a Workspace",
    )
    long_anchor = "y" * 50
    assert refused(f"a: &{long_anchor} 1\nb: *{long_anchor}\n", field="-f")[:2] == (
        "-f",
        f"w.yaml uses a YAML alias (*{'y' * 39}…) (line 2, column 4)",
    )


def test_a_duplicate_key_is_refused_at_its_second_place() -> None:
    assert refused("a: 1\nb:\n  c: 2\n  c: 3\n") == (
        "--filename",
        "w.yaml key 'c' appears twice (line 4, column 3)",
        "keep one of them",
    )
    key = "k" * 90
    assert refused(f"{key}: 1\n{key}: 2\n")[1] == f"w.yaml key '{'k' * 79}…' appears twice (line 2, column 1)"
    # the same key in two different mappings is fine
    assert load_documents("a: {c: 1}\nb: {c: 2}\n", "w.yaml") == [{"a": {"c": 1}, "b": {"c": 2}}]


def test_nesting_is_refused_one_level_past_the_limit() -> None:
    assert load_documents("[" * MAX_DEPTH + "]" * MAX_DEPTH, "w.yaml") != []
    assert refused("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)) == (
        "--filename",
        "w.yaml nests deeper than 32 levels (line 1, column 33)",
        "a Workspace is shallow",
    )
    # closing a level makes room again: 32 levels twice in one document is fine
    twice = "a: " + "[" * 31 + "]" * 31 + "\nb: " + "{x: " * 31 + "1" + "}" * 31 + "\n"
    assert len(load_documents(twice, "w.yaml")) == 1


def test_a_value_longer_than_the_limit_is_refused() -> None:
    assert load_documents("a: " + "x" * MAX_SCALAR_CHARS, "w.yaml") == [{"a": "x" * MAX_SCALAR_CHARS}]
    assert refused("a: " + "x" * (MAX_SCALAR_CHARS + 1)) == (
        "--filename",
        "w.yaml holds a value of 8193 characters (at most 8192) (line 1, column 4)",
        "shorten it",
    )


def test_more_values_than_the_limit_are_refused() -> None:
    assert len(load_documents("[" + ",".join(["1"] * (MAX_NODES - 1)) + "]", "w.yaml")[0]) == MAX_NODES - 1
    assert refused("[" + ",".join(["1"] * MAX_NODES) + "]") == (
        "--filename",
        "w.yaml holds more than 100000 values (line 1, column 200000)",
        "a Workspace is small",
    )


def test_broken_yaml_names_the_place_and_the_parser_s_words() -> None:
    assert refused("a: [1, 2\n") == (
        "--filename",
        "w.yaml is not valid YAML (line 2, column 1): did not find expected ',' or ']'",
        "fix the YAML syntax",
    )
    assert refused("{[1]: 2}")[1:] == (
        "w.yaml is not valid YAML (line 1, column 2): found unhashable key",
        "fix the YAML syntax",
    )


def test_a_value_yaml_cannot_represent_is_refused_without_a_traceback() -> None:
    assert refused("a: 2024-13-45\n") == (
        "--filename",
        "w.yaml holds a value YAML cannot represent (ValueError)",
        None,
    )


def test_empty_documents_are_left_out() -> None:
    assert load_documents("---\n---\na: 1\n---\n", "w.yaml") == [{"a": 1}]
    assert load_documents("", "w.yaml") == []


def test_size_is_checked_on_text_and_on_bytes_and_the_source_is_clipped() -> None:
    assert refused("#" * (MAX_FILE_BYTES + 1)) == ("--filename", "w.yaml is larger than 1024 KiB", None)
    assert load_documents("#" * MAX_FILE_BYTES, "w.yaml") == []
    assert undecodable(b"#" * (MAX_FILE_BYTES + 1), "d/" + "n" * 100) == (
        "--filename",
        "d/" + "n" * 77 + "… is larger than 1024 KiB",
        "a Workspace file is a few KiB",
    )
    assert decode(b"#" * MAX_FILE_BYTES, "w.yaml") == "#" * MAX_FILE_BYTES


def test_only_utf8_text_is_decoded_and_a_bom_is_dropped() -> None:
    assert decode(b"\xef\xbb\xbfa: 1", "w.yaml") == "a: 1"
    binary = ("--filename", "w.yaml is not UTF-8 text (UTF-16 or binary)", "save the file as UTF-8")
    assert undecodable(b"\xff\xfea\x00") == binary
    assert undecodable(b"\xfe\xff\x00a") == binary
    assert undecodable(b"a: 1\x00") == binary
    assert undecodable(b"ab\xc3\x28") == (
        "--filename",
        "w.yaml is not UTF-8 text (byte 2 is not valid UTF-8)",
        "save the file as UTF-8",
    )
    with pytest.raises(InvalidInput) as err:
        decode(b"\xff", "w.yaml", "--values")
    assert err.value.field == "--values"
