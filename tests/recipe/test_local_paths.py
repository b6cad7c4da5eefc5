"""Plain paths as inputs: absolute, or relative to the recipe folder, read as file:// URLs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from arcoforge.errors import UnsafeUrlError
from arcoforge.recipe import load_recipe
from arcoforge.recipe.urls import local_inputs_warning, local_url, validate_url
from tests.helpers import write_recipe


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/data/sst/a.nc", "file:///data/sst/a.nc"),
        ("a.nc", "file:///recipes/my-sst/a.nc"),
        ("../src/a b.nc", "file:///recipes/src/a%20b.nc"),
        ("./src/sst.{time:%Y%m%d}.nc", "file:///recipes/my-sst/src/sst.{time:%Y%m%d}.nc"),
        ("https://example.org/a.nc", "https://example.org/a.nc"),
        ("s3://bucket/a.nc", "s3://bucket/a.nc"),
        ("file:///data/a.nc", "file:///data/a.nc"),
    ],
)
def test_plain_paths_become_file_urls(value: str, expected: str) -> None:
    url = local_url(value, Path("/recipes/my-sst"))
    assert url == expected
    if "{" not in url:
        assert validate_url(url, where="input 0") == url


def test_other_schemes_are_still_refused() -> None:
    url = local_url("sftp://example.org/a.nc", Path("/recipes/x"))
    with pytest.raises(UnsafeUrlError, match="expected a URL starting with one of"):
        validate_url(url, where="input 0")


def test_a_recipe_lists_paths_relative_to_its_folder(tmp_path: Path) -> None:
    folder = write_recipe(
        tmp_path / "my-sst",
        {
            "sources": {"urls": ["../src/a.nc", str(tmp_path / "src" / "b.nc")], "concat_dim": "t"},
            "outputs": {"zarr": {}},
        },
    )
    urls = [url for _, url in load_recipe(folder).pattern.items()]
    assert urls == [(tmp_path / "src" / "a.nc").as_uri(), (tmp_path / "src" / "b.nc").as_uri()]
    assert local_inputs_warning(urls) is not None
    assert local_inputs_warning(["https://example.org/a.nc"]) is None


def test_a_template_of_a_relative_path(tmp_path: Path) -> None:
    folder = write_recipe(
        tmp_path / "my-sst",
        {
            "sources": {"url": "data/{n}.nc", "concat": {"n": [1, 2]}},
            "outputs": {"zarr": {}},
        },
    )
    urls = [url for _, url in load_recipe(folder).pattern.items()]
    assert urls == [(folder / "data" / f"{n}.nc").as_uri() for n in (1, 2)]


def test_lint_hints_at_local_inputs(tmp_path: Path) -> None:
    folder = write_recipe(
        tmp_path / "my-sst",
        {"sources": {"urls": ["a.nc"], "concat_dim": "time"}, "outputs": {"zarr": {}}},
    )
    done = subprocess.run(
        [sys.executable, "-m", "arcoforge.cli", "lint", str(folder), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr  # a hint never fails lint
    found = [f for f in json.loads(done.stdout)["findings"] if f["code"] == "FG018"]
    assert len(found) == 1 and found[0]["level"] == "hint"
    assert (folder / "a.nc").as_uri() in found[0]["message"]
    assert "needs URLs that CI can reach" in found[0]["message"]
