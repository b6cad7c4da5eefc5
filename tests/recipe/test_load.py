"""load_recipe: a recipe folder of meta.yaml plus recipe.yaml and/or recipe.py."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from arcoforge.errors import RecipeError, UnsafeUrlError
from arcoforge.recipe import Index, Recipe, ZarrOutput, load_recipe
from tests.helpers import META, write_recipe

SPEC: dict[str, Any] = {
    "sources": {
        "url": "https://example.org/sst/{time:%Y%m}/sst.{time:%Y%m%d}.nc",
        "concat": {"time": {"start": "2020-01-30", "end": "2020-02-02", "freq": "D"}},
        "items_per_file": {"time": 1},
    },
    "outputs": {"zarr": {"chunks": {"time": 30}}},
}

OUTPUTS_ONLY: dict[str, Any] = {"outputs": {"zarr": {"chunks": {"time": 2}}}}

PY_PATTERN = """\
from arcoforge.recipe import ConcatDim, FilePattern, MergeDim


def make_url(time, variable):
    return f"https://example.org/{variable}/{time:03d}.nc"


pattern = FilePattern(make_url, ConcatDim("time", [1, 2, 3]), MergeDim("variable", ["sst", "ice"]))
"""

PY_FULL = (
    PY_PATTERN
    + """
outputs = {"zarr": {"chunk_size": "10MB"}}


def preprocess(ds, index):
    return ds.assign(doubled=ds["sst"] * 2).assign_attrs(index=str(index))
"""
)


def load_error(folder: Path, **kwargs: Any) -> str:
    with pytest.raises(RecipeError) as e:
        load_recipe(folder, **kwargs)
    return str(e.value)


def test_a_yaml_recipe_loads(tmp_path: Path) -> None:
    folder = write_recipe(tmp_path / "sst-daily", SPEC)
    recipe = load_recipe(folder)
    assert isinstance(recipe, Recipe)
    assert recipe.id == "sst-daily"
    assert recipe.path == folder
    assert recipe.meta.title == META["title"]
    assert recipe.meta.license == "CC0-1.0"
    assert recipe.preprocess is None
    assert recipe.outputs.zarr == ZarrOutput(chunks={"time": 30})
    assert [url for _, url in recipe.pattern.items()] == [
        "https://example.org/sst/202001/sst.20200130.nc",
        "https://example.org/sst/202001/sst.20200131.nc",
        "https://example.org/sst/202002/sst.20200201.nc",
        "https://example.org/sst/202002/sst.20200202.nc",
    ]
    assert recipe.pattern.concat_dims[0].items_per_file == 1
    assert len(recipe.fingerprint) == 64
    assert recipe.check_urls() == 4


def test_a_folder_given_as_a_string(tmp_path: Path) -> None:
    folder = write_recipe(tmp_path / "sst", SPEC)
    assert load_recipe(str(folder)).id == "sst"


def test_the_id_in_meta_wins_over_the_folder_name(tmp_path: Path) -> None:
    folder = write_recipe(tmp_path / "Not_A Valid ID", SPEC, meta={**META, "id": "noaa-oisst"})
    assert load_recipe(folder).id == "noaa-oisst"


@pytest.mark.parametrize("name", ["Bad_Name", "has space", "-leading", "x" * 65])
def test_a_folder_name_that_is_no_id_needs_an_id_in_meta(tmp_path: Path, name: str) -> None:
    folder = write_recipe(tmp_path / name, SPEC)
    assert load_error(folder) == (
        f"{folder}: the folder name {name!r} is not a valid recipe id (lowercase letters, "
        "digits and single '-', '_' or '.'). Rename the folder or set `id:` in meta.yaml."
    )


def test_a_missing_folder(tmp_path: Path) -> None:
    assert load_error(tmp_path / "nope") == (
        f"{tmp_path / 'nope'}: expected a recipe folder. Found nothing there."
    )


def test_a_file_instead_of_a_folder(tmp_path: Path) -> None:
    folder = write_recipe(tmp_path / "sst", SPEC)
    assert load_error(folder / "recipe.yaml") == (
        f"{folder / 'recipe.yaml'}: expected a recipe folder. Found a file there."
    )


@pytest.mark.parametrize("typo", ["meta.yml", "meta.json", "meta.YAML"])
def test_a_misnamed_meta_file_gets_a_hint(tmp_path: Path, typo: str) -> None:
    folder = write_recipe(tmp_path / "sst", SPEC)
    (folder / "meta.yaml").rename(folder / typo)
    assert load_error(folder) == (
        f"{folder}: expected a meta.yaml file. Found none. Found {typo}: rename it to meta.yaml."
    )


def test_a_missing_meta_file(tmp_path: Path) -> None:
    folder = write_recipe(tmp_path / "sst", SPEC)
    (folder / "meta.yaml").unlink()
    assert load_error(folder) == f"{folder}: expected a meta.yaml file. Found none."


def test_a_folder_without_recipe_files(tmp_path: Path) -> None:
    folder = write_recipe(tmp_path / "sst")
    assert load_error(folder) == f"{folder}: expected recipe.yaml or recipe.py. Found neither."


def test_an_invalid_meta_names_its_file_and_line(tmp_path: Path) -> None:
    folder = write_recipe(tmp_path / "sst", SPEC, meta={**META, "license": "proprietary"})
    lines = (folder / "meta.yaml").read_text().splitlines()
    line = lines.index("license: proprietary") + 1
    msg = load_error(folder)
    assert msg.startswith(f"{folder / 'meta.yaml'}:{line}: license: expected an SPDX license")


def test_an_invalid_recipe_yaml_names_its_file_and_line(tmp_path: Path) -> None:
    folder = write_recipe(tmp_path / "sst")
    (folder / "recipe.yaml").write_text(
        "sources:\n  urls: [https://example.org/a.nc]\n  concat_dim: time\n"
        "outputs:\n  zarr:\n    compression: gzip\n"
    )
    assert load_error(folder) == (
        f"{folder / 'recipe.yaml'}:6: outputs.zarr.compression: Input should be 'lz4', 'zstd' "
        "or 'none'. Got 'gzip' instead"
    )


def test_a_range_too_long_is_reported_with_its_file(tmp_path: Path) -> None:
    spec = {
        "sources": {
            "url": "https://h/{time:%Y%m%d%H%M%S}.nc",
            "concat": {"time": {"start": "1900-01-01", "end": "2100-01-01", "freq": "s"}},
        },
        "outputs": {"zarr": None},
    }
    msg = load_error(write_recipe(tmp_path / "sst", spec))
    assert msg.startswith(f"{tmp_path / 'sst' / 'recipe.yaml'}:")
    assert "sources.concat.time: this range gives about 6,311," in msg


def test_a_recipe_py_with_pattern_outputs_and_preprocess(tmp_path: Path) -> None:
    recipe = load_recipe(write_recipe(tmp_path / "ens", recipe_py=PY_FULL))
    assert recipe.pattern.shape == (3, 2)
    assert [url for _, url in recipe.pattern.items()][:3] == [
        "https://example.org/sst/001.nc",
        "https://example.org/ice/001.nc",
        "https://example.org/sst/002.nc",
    ]
    assert recipe.outputs.zarr == ZarrOutput(chunk_size=10_000_000)
    assert recipe.preprocess is not None
    ds = xr.Dataset({"sst": ("time", np.array([1.0, 2.0]))})
    out = recipe.preprocess(ds, Index((("time", 1), ("variable", 0))))
    assert out["doubled"].values.tolist() == [2.0, 4.0]
    assert out.attrs["index"] == "time=1,variable=0"


def test_a_recipe_py_pattern_with_yaml_outputs(tmp_path: Path) -> None:
    recipe = load_recipe(write_recipe(tmp_path / "ens", OUTPUTS_ONLY, recipe_py=PY_PATTERN))
    assert len(recipe.pattern) == 6
    assert recipe.outputs.zarr == ZarrOutput(chunks={"time": 2})


def test_a_recipe_py_preprocess_with_yaml_sources(tmp_path: Path) -> None:
    body = "def preprocess(ds, index):\n    return ds\n"
    recipe = load_recipe(write_recipe(tmp_path / "sst", SPEC, recipe_py=body))
    assert len(recipe.pattern) == 4
    assert recipe.preprocess is not None
    assert recipe.preprocess.__name__ == "preprocess"


RAISING = [
    ("x = 1\n\nraise RuntimeError('no data today')\n", 3, "RuntimeError: no data today"),
    ("def f():\n    return 1 / 0\n\n\nf()\n", 2, "ZeroDivisionError: division by zero"),
    ("import arcoforge_no_such_module\n", 1, "ModuleNotFoundError: No module named"),
    ("x = [1, 2]\ny = x[5]\n", 2, "IndexError: list index out of range"),
    ("def f(:\n    pass\n", 1, "SyntaxError: "),
    ("x = 1\n  y = 2\n", 2, "IndentationError: unexpected indent"),
]


@pytest.mark.parametrize(("body", "line", "problem"), RAISING)
def test_errors_in_recipe_py_name_file_and_line(
    tmp_path: Path, body: str, line: int, problem: str
) -> None:
    folder = write_recipe(tmp_path / "broken", SPEC, recipe_py=body)
    msg = load_error(folder)
    assert msg.startswith(f"{folder / 'recipe.py'}:{line}: running recipe.py failed with {problem}")
    assert "arcoforge_recipe_broken" not in sys.modules


def test_the_error_of_recipe_py_is_chained(tmp_path: Path) -> None:
    folder = write_recipe(tmp_path / "broken", SPEC, recipe_py="raise KeyError('k')\n")
    with pytest.raises(RecipeError) as e:
        load_recipe(folder)
    assert isinstance(e.value.__cause__, KeyError)


def test_run_code_false_does_not_run_recipe_py(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    body = f"open({str(marker)!r}, 'w').close()\n\ndef preprocess(ds, index):\n    return ds\n"
    folder = write_recipe(tmp_path / "sst", SPEC, recipe_py=body)
    recipe = load_recipe(folder, run_code=False)
    assert not marker.exists()
    assert len(recipe.pattern) == 4
    assert recipe.preprocess is None
    load_recipe(folder)
    assert marker.exists()


def test_run_code_false_with_inputs_only_in_recipe_py(tmp_path: Path) -> None:
    folder = write_recipe(tmp_path / "ens", OUTPUTS_ONLY, recipe_py=PY_PATTERN)
    assert load_error(folder, run_code=False) == (
        f"{folder}: the inputs are defined in recipe.py, which is not run here."
    )


def test_sources_given_twice(tmp_path: Path) -> None:
    folder = write_recipe(tmp_path / "ens", SPEC, recipe_py=PY_PATTERN)
    assert load_error(folder) == (
        f"{folder}: sources are given twice, as `sources` in recipe.yaml and as `pattern` in "
        "recipe.py. Keep one."
    )


def test_outputs_given_twice(tmp_path: Path) -> None:
    folder = write_recipe(tmp_path / "ens", OUTPUTS_ONLY, recipe_py=PY_FULL)
    assert load_error(folder) == (
        f"{folder / 'recipe.py'}: `outputs` is given in both recipe.yaml and recipe.py. Keep one."
    )


def test_no_sources_anywhere(tmp_path: Path) -> None:
    folder = write_recipe(tmp_path / "sst", OUTPUTS_ONLY, recipe_py="x = 1\n")
    assert load_error(folder) == (
        f"{folder}: expected `sources` in recipe.yaml or a `pattern` in recipe.py. Found neither."
    )


def test_no_outputs_anywhere(tmp_path: Path) -> None:
    folder = write_recipe(tmp_path / "ens", recipe_py=PY_PATTERN)
    assert load_error(folder) == (
        f"{folder / 'recipe.py'}: expected `outputs` in recipe.py (e.g. outputs = {{'zarr': "
        "{'chunks': {'time': 30}}}) or a recipe.yaml with `outputs`. Found neither."
    )


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("['https://example.org/a.nc']", "list"),
        ("'https://example.org/{time}.nc'", "str"),
        ("42", "int"),
    ],
)
def test_pattern_must_be_a_file_pattern(tmp_path: Path, value: str, kind: str) -> None:
    folder = write_recipe(tmp_path / "ens", OUTPUTS_ONLY, recipe_py=f"pattern = {value}\n")
    assert load_error(folder) == (
        f"{folder / 'recipe.py'}: `pattern` must be an arcoforge.FilePattern. Got a {kind} instead."
    )


BAD_PY_OUTPUTS = [
    (
        "{'zarr': {'chunks': {'time': 0}}}",
        "outputs.zarr.chunks.time: Input should be greater than 0. Got 0 instead",
    ),
    (
        "{'zarr': {'chunks': {'time': 1}, 'chunk_size': '1MB'}}",
        "outputs.zarr: give either `chunks` or `chunk_size`, not both.",
    ),
    (
        "{'zarr': None, 'netcdf': {}}",
        "outputs.netcdf: unknown field 'netcdf'; expected one of references, zarr.",
    ),
    (
        "{}",
        "outputs: expected at least one output, such as `zarr: {chunks: {time: 30}}` "
        "or `references: {format: json}`.",
    ),
    (
        "'zarr'",
        "outputs: Input should be a valid dictionary or instance of Outputs. Got 'zarr' instead",
    ),
]


@pytest.mark.parametrize(("value", "expected"), BAD_PY_OUTPUTS)
def test_bad_outputs_in_recipe_py(tmp_path: Path, value: str, expected: str) -> None:
    folder = write_recipe(tmp_path / "ens", recipe_py=PY_PATTERN + f"outputs = {value}\n")
    assert load_error(folder) == f"{folder / 'recipe.py'}: {expected}"


GOOD_PREPROCESS = [
    "def preprocess(ds, index):\n    return ds\n",
    "def preprocess(ds, index, scale=1):\n    return ds\n",
    "def preprocess(*args):\n    return args[0]\n",
    "def preprocess(ds, *rest, **kw):\n    return ds\n",
    "preprocess = lambda ds, index: ds\n",
]


@pytest.mark.parametrize("body", GOOD_PREPROCESS)
def test_preprocess_signatures_that_take_ds_and_index(tmp_path: Path, body: str) -> None:
    recipe = load_recipe(write_recipe(tmp_path / "sst", SPEC, recipe_py=body))
    assert callable(recipe.preprocess)


BAD_PREPROCESS = [
    ("def preprocess(ds):\n    return ds\n", "preprocess(ds)"),
    ("def preprocess():\n    return None\n", "preprocess()"),
    ("def preprocess(ds, index, extra):\n    return ds\n", "preprocess(ds, index, extra)"),
    ("def preprocess(ds, *, index):\n    return ds\n", "preprocess(ds, *, index)"),
]


@pytest.mark.parametrize(("body", "signature"), BAD_PREPROCESS)
def test_preprocess_must_take_ds_and_index(tmp_path: Path, body: str, signature: str) -> None:
    folder = write_recipe(tmp_path / "sst", SPEC, recipe_py=body)
    assert load_error(folder) == (
        f"{folder / 'recipe.py'}: `preprocess` must take two arguments, (ds, index). "
        f"Got {signature} instead."
    )


@pytest.mark.parametrize("value", ["3", "'preprocess'", "[len]"])
def test_preprocess_must_be_callable(tmp_path: Path, value: str) -> None:
    folder = write_recipe(tmp_path / "sst", SPEC, recipe_py=f"preprocess = {value}\n")
    assert load_error(folder) == (
        f"{folder / 'recipe.py'}: `preprocess` must be a function preprocess(ds, index)."
    )


def test_unsafe_urls_are_refused_on_load(tmp_path: Path) -> None:
    spec = {
        "sources": {
            "urls": ["https://example.org/a.nc", "https://user:pw@example.org/b.nc"],
            "concat_dim": "time",
        },
        "outputs": {"zarr": None},
    }
    with pytest.raises(UnsafeUrlError) as e:
        load_recipe(write_recipe(tmp_path / "sst", spec))
    # the message names the URL with its credentials blanked
    assert str(e.value).startswith("input time=1: URL 'https://***@example.org/b.nc' carries")


def test_unsafe_urls_from_recipe_py_are_refused(tmp_path: Path) -> None:
    body = textwrap.dedent(
        """\
        from arcoforge.recipe import FilePattern

        pattern = FilePattern.from_urls(["file:///data/../etc/passwd"], "time")
        """
    )
    with pytest.raises(UnsafeUrlError) as e:
        load_recipe(write_recipe(tmp_path / "sst", OUTPUTS_ONLY, recipe_py=body))
    assert "contains a '.' or '..' path segment" in str(e.value)


def test_a_url_listed_twice_is_refused(tmp_path: Path) -> None:
    urls = ["https://example.org/a.nc", "https://example.org/b.nc", "https://example.org/a.nc"]
    spec = {"sources": {"urls": urls, "concat_dim": "time"}, "outputs": {"zarr": None}}
    assert load_error(write_recipe(tmp_path / "sst", spec)) == (
        "input time=2: expected a URL of its own. Got 'https://example.org/a.nc', the URL of "
        "input time=0 too."
    )


def test_a_template_that_gives_two_inputs_one_url_is_refused(tmp_path: Path) -> None:
    # Daily keys with a monthly file name: every day of a month would read the same file.
    spec = {
        "sources": {
            "url": "https://example.org/sst.{time:%Y%m}.nc",
            "concat": {"time": {"start": "2020-01-01", "end": "2020-01-03", "freq": "D"}},
        },
        "outputs": {"zarr": None},
    }
    assert load_error(write_recipe(tmp_path / "sst", spec)) == (
        "input time=1: expected a URL of its own. Got 'https://example.org/sst.202001.nc', the "
        "URL of input time=0 too."
    )


def test_a_recipe_py_pattern_that_repeats_a_url_is_refused(tmp_path: Path) -> None:
    body = textwrap.dedent(
        """\
        from arcoforge.recipe import ConcatDim, FilePattern, MergeDim

        pattern = FilePattern(
            lambda time, v: f"https://example.org/{time}.nc",
            ConcatDim("time", [1, 2]),
            MergeDim("v", ["a", "b"]),
        )
        """
    )
    folder = write_recipe(tmp_path / "ens", OUTPUTS_ONLY, recipe_py=body)
    assert load_error(folder) == (
        "input time=0,v=1: expected a URL of its own. Got 'https://example.org/1.nc', the URL "
        "of input time=0,v=0 too."
    )


# Fingerprints ----------------------------------------------------------------------------------


def fingerprint(folder: Path, **kwargs: Any) -> str:
    return load_recipe(folder, **kwargs).fingerprint


def test_equal_recipes_in_other_folders_have_equal_fingerprints(tmp_path: Path) -> None:
    a = write_recipe(tmp_path / "a", SPEC, recipe_py="def preprocess(ds, index):\n    return ds\n")
    b = write_recipe(tmp_path / "b", SPEC, recipe_py="def preprocess(ds, index):\n    return ds\n")
    assert fingerprint(a) == fingerprint(b)


def test_the_fingerprint_ignores_meta_yaml(tmp_path: Path) -> None:
    folder = write_recipe(tmp_path / "sst", SPEC)
    before = fingerprint(folder)
    write_recipe(folder, SPEC, meta={**META, "title": "Another title", "tags": ["sst"]})
    assert fingerprint(folder) == before


def test_the_fingerprint_ignores_comments_and_layout_of_recipe_yaml(tmp_path: Path) -> None:
    folder = write_recipe(tmp_path / "sst", SPEC)
    before = fingerprint(folder)
    text = (folder / "recipe.yaml").read_text()
    (folder / "recipe.yaml").write_text("# a comment\n\n" + text)
    assert fingerprint(folder) == before


@pytest.mark.parametrize(
    "change",
    [
        {"outputs": {"zarr": {"chunks": {"time": 31}}}},
        {"outputs": {"zarr": {"chunks": {"time": 30}, "compression": "zstd"}}},
        {"sources": {**SPEC["sources"], "items_per_file": {}}},
        {"sources": {**SPEC["sources"], "url": SPEC["sources"]["url"].replace("sst.", "SST.")}},
    ],
)
def test_the_fingerprint_follows_recipe_yaml(tmp_path: Path, change: dict[str, Any]) -> None:
    folder = write_recipe(tmp_path / "sst", SPEC)
    before = fingerprint(folder)
    write_recipe(folder, {**SPEC, **change})
    assert fingerprint(folder) != before


def test_the_fingerprint_follows_recipe_py(tmp_path: Path) -> None:
    folder = write_recipe(
        tmp_path / "sst", SPEC, recipe_py="def preprocess(ds, index):\n    return ds\n"
    )
    before = fingerprint(folder)
    write_recipe(folder, SPEC, recipe_py="def preprocess(ds, index):\n    return ds.load()\n")
    after = fingerprint(folder)
    assert after != before
    (folder / "recipe.py").unlink()
    assert fingerprint(folder) not in (before, after)


def test_the_fingerprint_does_not_depend_on_running_code(tmp_path: Path) -> None:
    folder = write_recipe(
        tmp_path / "sst", SPEC, recipe_py="def preprocess(ds, index):\n    return ds\n"
    )
    assert fingerprint(folder, run_code=False) == fingerprint(folder)
