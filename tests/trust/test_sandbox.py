"""recipe.py in untrusted runs: imported only in a limited child with no secrets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import RecipeError, UntrustedRefusedError
from arcoforge.recipe import load_recipe
from arcoforge.recipe.sandbox import SandboxLimits, load_described
from arcoforge.run import RunOptions, run_recipe
from arcoforge.sources.addresses import allow_loopback
from tests.helpers import write_recipe

PATTERN = """
import os, pandas as pd
from arcoforge.recipe import ConcatDim, FilePattern

SEEN = os.environ.get("FORGE_TEST_SECRET", "unset") + "|" + os.environ.get("HOME", "")

def url(time):
    return f"{base}/sst.{time:%Y%m%d}.nc"

base = "BASE"
pattern = FilePattern(url, ConcatDim("time", list(pd.date_range("2020-01-01", periods=2))))
outputs = {"zarr": {}}
"""


def test_a_sandboxed_recipe_runs_with_the_urls_its_code_made(
    http_server: SourceServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(make_sst(days=2), http_server.root, steps=1, name="sst.{time:%Y%m%d}.nc")
    folder = write_recipe(tmp_path / "py-sst", recipe_py=PATTERN.replace("BASE", http_server.url))
    recipe = load_recipe(folder, sandbox=True)
    assert [u for _, u in recipe.pattern.items()] == [
        f"{http_server.url}/sst.20200101.nc",
        f"{http_server.url}/sst.20200102.nc",
    ]
    assert recipe.pattern.concat_dims[0].keys == (dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 2))
    assert "arcoforge_recipe_py_sst" not in __import__("sys").modules  # never imported here
    with allow_loopback():
        result = run_recipe(
            recipe, RunOptions(output=str(tmp_path / "o"), workers=1, untrusted=True)
        )
    assert result.zarr is not None
    with xr.open_zarr(result.zarr.url) as got:
        np.testing.assert_array_equal(got.sst.values, make_sst(days=2).sst.values)


def test_the_child_sees_no_secret_of_this_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORGE_TEST_SECRET", "hidden-value-123")
    code = PATTERN + "\nraise RuntimeError(SEEN)\n"
    folder = write_recipe(tmp_path / "leak", recipe_py=code)
    with pytest.raises(RecipeError) as caught:
        load_recipe(folder, sandbox=True)
    message = str(caught.value)
    assert "unset|" in message and "hidden-value-123" not in message
    assert str(Path.home()) + "|" not in message  # HOME is an empty folder of its own


def test_a_recipe_py_over_its_memory_limit_is_stopped(tmp_path: Path) -> None:
    code = "x = bytearray(3 << 30)\n" + PATTERN
    folder = write_recipe(tmp_path / "greedy", recipe_py=code)
    with pytest.raises(RecipeError, match=r"MemoryError|limits"):
        load_described(folder, SandboxLimits(memory=2 << 30))


def test_a_recipe_py_that_never_ends_is_stopped(tmp_path: Path) -> None:
    folder = write_recipe(tmp_path / "endless", recipe_py="while True:\n    pass\n")
    with pytest.raises((UntrustedRefusedError, RecipeError), match=r"took more than|CPU"):
        load_described(folder, SandboxLimits(cpu_seconds=2, wall_seconds=20))


def test_preprocess_is_refused_in_untrusted_runs(http_server: SourceServer, tmp_path: Path) -> None:
    code = (
        PATTERN.replace("BASE", http_server.url) + "\ndef preprocess(ds, index):\n    return ds\n"
    )
    recipe = load_recipe(write_recipe(tmp_path / "pre", recipe_py=code), sandbox=True)
    with allow_loopback(), pytest.raises(UntrustedRefusedError, match="does not run `preprocess`"):
        run_recipe(recipe, RunOptions(output=str(tmp_path / "o"), workers=1, untrusted=True))
    assert http_server.requests == []
