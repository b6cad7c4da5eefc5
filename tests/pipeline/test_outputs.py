"""A recipe with a copy and references is one dataset: planned, checked and published together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import xarray as xr

import arcoforge
from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.errors import PartlyPublishedError, TargetExistsError
from arcoforge.targets.icechunk import IcechunkTarget
from arcoforge.targets.kerchunk import KerchunkTarget
from arcoforge.verify import compare, open_sources
from tests.helpers import run_folder, write_recipe


def _recipe(folder: Path, files: list[Path], refs: str = "parquet", chunks: int = 2) -> Path:
    outputs: dict[str, Any] = {"zarr": {"chunks": {"time": chunks}}, "references": {"format": refs}}
    spec = {
        "sources": {"urls": [p.as_uri() for p in files], "concat_dim": "time"},
        "outputs": outputs,
    }
    return write_recipe(folder / "recipe", spec)


def _archive(folder: Path, seed: int = 0) -> list[Path]:
    return [f.path for f in write_files(make_sst(days=4, seed=seed), folder, steps=2)]


@pytest.mark.parametrize("runner", ["direct", "dask"])
def test_both_outputs_on_every_runner(tmp_path: Path, runner: str) -> None:
    files = _archive(tmp_path / "src")
    result = run_folder(_recipe(tmp_path, files), tmp_path / "out", runner=runner, workers=2)
    assert result.zarr is not None and result.references is not None
    sources = open_sources(list(map(str, files)), "time")
    assert compare(xr.open_zarr(result.zarr.url), sources) == []
    assert compare(arcoforge.open_dataset(result.references.url), sources) == []


def test_a_refused_copy_publishes_no_references(tmp_path: Path) -> None:
    first = run_folder(_recipe(tmp_path / "a", _archive(tmp_path / "a-src")), tmp_path / "out")
    assert first.zarr is not None and first.references is not None
    other = _recipe(tmp_path / "b", _archive(tmp_path / "b-src", seed=1), refs="icechunk")
    with pytest.raises(TargetExistsError, match=r"recipe\.zarr already holds a dataset"):
        run_folder(other, tmp_path / "out")
    # the references of the refused run were never committed, nor even staged
    assert not IcechunkTarget(str(tmp_path / "out" / "recipe.icechunk")).exists()


def test_a_failed_publish_names_what_was_published_and_a_rerun_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _archive(tmp_path / "src")
    recipe = _recipe(tmp_path, files)
    publish = KerchunkTarget.publish

    def broken(self: KerchunkTarget, staged: dict[str, Any]) -> None:
        raise OSError("the object store went away")

    monkeypatch.setattr(KerchunkTarget, "publish", broken)
    out = tmp_path / "out"
    with pytest.raises(PartlyPublishedError) as failed:
        run_folder(recipe, out)  # one worker: in this process, where the patch applies
    message = str(failed.value)
    assert f"{out / 'recipe.zarr'} was published" in message
    assert f"publishing {out / 'recipe.parquet'} failed" in message
    assert "the object store went away" in message and "Run again" in message
    assert KerchunkTarget(str(out / "recipe.parquet"), "parquet").published_attrs() is None
    chunk = out / "recipe.zarr" / "sst" / "c" / "0" / "0" / "0"
    stamp = chunk.stat().st_mtime_ns

    monkeypatch.setattr(KerchunkTarget, "publish", publish)
    again = run_folder(recipe, out)
    assert again.zarr is not None and again.zarr.up_to_date
    assert again.references is not None and not again.references.up_to_date
    assert chunk.stat().st_mtime_ns == stamp  # the published copy was not written again
    sources = open_sources(list(map(str, files)), "time")
    assert compare(arcoforge.open_dataset(again.references.url), sources) == []


def test_changing_one_output_leaves_the_other_up_to_date(tmp_path: Path) -> None:
    files = _archive(tmp_path / "src")
    first = run_folder(_recipe(tmp_path, files, refs="json"), tmp_path / "out")
    assert first.zarr is not None and not first.zarr.up_to_date
    refs_changed = run_folder(_recipe(tmp_path, files, refs="parquet"), tmp_path / "out")
    assert refs_changed.zarr is not None and refs_changed.zarr.up_to_date
    assert refs_changed.references is not None and not refs_changed.references.up_to_date
    before = KerchunkTarget(str(tmp_path / "out" / "recipe.parquet"), "parquet").published_attrs()
    zarr_changed = run_folder(
        _recipe(tmp_path, files, refs="parquet", chunks=4), tmp_path / "out", overwrite=True
    )
    assert zarr_changed.zarr is not None and not zarr_changed.zarr.up_to_date
    after = KerchunkTarget(str(tmp_path / "out" / "recipe.parquet"), "parquet").published_attrs()
    assert before is not None and after is not None
    # the references' identity leaves out the copy's settings (--overwrite rewrote them alike)
    assert after["arcoforge_plan"] == before["arcoforge_plan"]
