"""Reading recipe YAML files: data, the line of every field, and what is refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from arcoforge.errors import RecipeError
from arcoforge.recipe import yamlfile
from arcoforge.recipe.yamlfile import YamlDoc, read_yaml

NESTED = """\
# a comment
sources:
  url: "https://h/{time}.nc"
  concat:
    time:
      - 2020-01-01
      - "2020-01-02"

outputs:
  zarr: {chunks: {time: 30}}
"""


def write(tmp_path: Path, text: str | bytes, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def read_error(tmp_path: Path, text: str | bytes) -> str:
    path = write(tmp_path, text)
    with pytest.raises(RecipeError) as e:
        read_yaml(path)
    return str(e.value)


def test_data_is_parsed_safely(tmp_path: Path) -> None:
    doc = read_yaml(write(tmp_path, NESTED))
    assert doc.path == tmp_path / "recipe.yaml"
    assert doc.data == {
        "sources": {
            "url": "https://h/{time}.nc",
            "concat": {"time": [dt.date(2020, 1, 1), "2020-01-02"]},
        },
        "outputs": {"zarr": {"chunks": {"time": 30}}},
    }


def test_every_field_and_item_has_its_line(tmp_path: Path) -> None:
    doc = read_yaml(write(tmp_path, NESTED))
    assert doc.lines == {
        ("sources",): 2,
        ("sources", "url"): 3,
        ("sources", "concat"): 4,
        ("sources", "concat", "time"): 5,
        ("sources", "concat", "time", 0): 6,
        ("sources", "concat", "time", 1): 7,
        ("outputs",): 9,
        ("outputs", "zarr"): 10,
        ("outputs", "zarr", "chunks"): 10,
        ("outputs", "zarr", "chunks", "time"): 10,
    }


LINE_OF = [
    (("sources", "concat", "time", 1), 7),
    (("sources", "concat", "time", 5), 5),
    (("sources", "concat", "depth"), 4),
    (("sources", "merge", "variable", 0), 2),
    (("outputs", "zarr", "chunk_size"), 10),
    (("unknown",), None),
    ((), None),
]


@pytest.mark.parametrize(("loc", "line"), LINE_OF)
def test_line_of_falls_back_to_the_nearest_parent(
    tmp_path: Path, loc: tuple[str | int, ...], line: int | None
) -> None:
    assert read_yaml(write(tmp_path, NESTED)).line_of(loc) == line


def test_sequences_of_mappings(tmp_path: Path) -> None:
    text = "providers:\n  - name: A\n    roles: [host]\n  - name: B\n    roles:\n      - producer\n"
    doc = read_yaml(write(tmp_path, text))
    assert doc.line_of(("providers", 1, "roles", 0)) == 6
    assert doc.line_of(("providers", 0, "roles")) == 3
    assert doc.line_of(("providers", 1)) == 4


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "null\n", "~\n"])
def test_an_empty_file_is_an_empty_mapping(tmp_path: Path, text: str) -> None:
    doc = read_yaml(write(tmp_path, text))
    assert doc == YamlDoc(tmp_path / "recipe.yaml", {}, {})


@pytest.mark.parametrize(
    ("text", "kind"),
    [("- a\n- b\n", "list"), ("just text\n", "str"), ("42\n", "int"), ("true\n", "bool")],
)
def test_the_top_level_must_be_a_mapping(tmp_path: Path, text: str, kind: str) -> None:
    assert read_error(tmp_path, text) == (
        f"{tmp_path / 'recipe.yaml'}: expected a mapping of fields (key: value). "
        f"Got a {kind} instead."
    )


BAD_YAML = [
    ("outputs:\n  zarr: [\n", 3, "expected the node content, but found '<stream end>'"),
    ("a: 1\n b: 2\n", 2, "mapping values are not allowed here"),
    ("a: 'open\n", 2, "found unexpected end of stream"),
    ("a:\n\t- 1\n", 2, "found character '\\t' that cannot start any token"),
    ("a: *missing\n", 1, "found undefined alias 'missing'"),
    ("? [a, b]\n: 1\n", 1, "found unhashable key"),
]


@pytest.mark.parametrize(("text", "line", "problem"), BAD_YAML)
def test_invalid_yaml_names_file_and_line(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    assert read_error(tmp_path, text) == (
        f"{tmp_path / 'recipe.yaml'}:{line}: not valid YAML: {problem}."
    )


def test_python_tags_are_refused(tmp_path: Path) -> None:
    msg = read_error(tmp_path, "a: !!python/object/apply:os.system ['true']\n")
    assert msg.startswith(f"{tmp_path / 'recipe.yaml'}:1: not valid YAML: ")
    assert "could not determine a constructor for the tag" in msg


def test_non_utf8_bytes_are_refused(tmp_path: Path) -> None:
    msg = read_error(tmp_path, "title: caf\xe9\n".encode("latin-1"))
    assert msg.startswith(f"{tmp_path / 'recipe.yaml'}: expected UTF-8 text. Got undecodable bytes")


def test_utf8_text_is_read(tmp_path: Path) -> None:
    doc = read_yaml(write(tmp_path, "title: Température de surface\n"))
    assert doc.data == {"title": "Température de surface"}


DUPLICATES = [
    ("title: A\ndescription: D\ntitle: B\n", 3, "title", 1),
    ("outputs:\n  zarr:\n    chunks: {time: 1}\n    chunks: {time: 2}\n", 4, "chunks", 3),
    ("a: {x: 1, x: 2}\n", 1, "x", 1),
    ("providers:\n  - name: A\n    roles: [host]\n    name: B\n", 4, "name", 2),
]


@pytest.mark.parametrize(("text", "line", "key", "first"), DUPLICATES)
def test_repeated_keys_are_refused(
    tmp_path: Path, text: str, line: int, key: str, first: int
) -> None:
    # PyYAML alone would keep the last value and drop the first without a word.
    assert read_error(tmp_path, text) == (
        f"{tmp_path / 'recipe.yaml'}:{line}: {key!r} is given twice (first on line {first}); "
        "expected each key once."
    )


def test_the_same_key_in_different_mappings_is_fine(tmp_path: Path) -> None:
    text = "providers:\n  - name: A\n  - name: B\nmaintainers:\n  - name: A\n"
    assert read_yaml(write(tmp_path, text)).data["maintainers"] == [{"name": "A"}]


def test_anchors_and_aliases_work(tmp_path: Path) -> None:
    text = "base: &chunks {time: 30}\noutputs:\n  zarr:\n    chunks: *chunks\n"
    doc = read_yaml(write(tmp_path, text))
    assert doc.data["outputs"] == {"zarr": {"chunks": {"time": 30}}}
    assert doc.line_of(("outputs", "zarr", "chunks", "time")) == 1


def test_alias_bombs_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlfile, "MAX_NODES", 1000)
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcd", "bcde", strict=True):
        levels.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]")
    assert read_error(tmp_path, "\n".join(levels) + "\n") == (
        f"{tmp_path / 'recipe.yaml'}: expected at most 1,000 values, an alias counting once "
        "per use. Found more."
    )
