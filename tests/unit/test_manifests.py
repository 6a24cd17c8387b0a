"""core/manifests.py: the YAML stream and JSON list `--dry-run -o yaml|json` prints, exactly, and that every string
parses back to exactly what was rendered (a manifest piped to `kubectl apply -f -` must mean what was planned)."""

from __future__ import annotations

import yaml

from kaitoctl.core.manifests import object_ref, to_json, to_yaml


def test_multi_line_text_is_a_literal_block_and_documents_are_separated() -> None:
    objects = [{"kind": "ConfigMap", "data": {"run.sh": "set -e\necho hi\n", "one": "x"}}, {"kind": "Service"}]
    assert to_yaml(objects) == (
        "kind: ConfigMap\ndata:\n  run.sh: |\n    set -e\n    echo hi\n  one: x\n---\nkind: Service\n"
    )


def test_text_that_a_literal_block_cannot_hold_is_quoted() -> None:
    assert to_yaml([{"a": "x \ny"}]) == 'a: "x \\ny"\n'  # a trailing space on a line
    assert to_yaml([{"a": "t\tx\ny"}]) == 'a: "t\\tx\\ny"\n'  # a tab
    assert to_yaml([{"a": "x\r\ny"}]) == 'a: "x\\r\\ny"\n'


def test_text_with_a_next_line_character_parses_back_unchanged() -> None:
    # U+0085 (NEL) inside a literal block is read back as a line break: such text must be quoted instead.
    for value in ("x\n\x85y", "x\ny\x85", "\x85\nx", "x\x85\ny"):
        text = to_yaml([{"a": value}])
        assert yaml.safe_load(text) == {"a": value}, text
    assert to_yaml([{"a": "x\n\x85y"}]) == 'a: "x\\n\\Ny"\n'


def test_shared_values_are_written_out_and_unicode_stays_readable() -> None:
    shared = {"x": 1}
    assert to_yaml([{"a": shared, "b": shared}]) == "a:\n  x: 1\nb:\n  x: 1\n"
    assert to_yaml([{"name": "café", "list": [1, {"f": None}]}]) == "name: café\nlist:\n- 1\n- f: null\n"
    words = " ".join(f"w{i:02d}" for i in range(60))
    assert to_yaml([{"a": words}]) == f"a: {words[:119]}\n  {words[120:]}\n"
    assert yaml.safe_load(to_yaml([{"a": words}])) == {"a": words}


def test_json_is_an_indented_list_with_unicode_and_a_final_newline() -> None:
    assert to_json([{"a": "é", "n": [1]}]) == '[\n  {\n    "a": "é",\n    "n": [\n      1\n    ]\n  }\n]\n'
    assert to_json([]) == "[]\n"


def test_an_object_is_referred_to_as_kind_slash_name() -> None:
    assert object_ref({"kind": "StatefulSet", "metadata": {"name": "phi"}}) == "StatefulSet/phi"
