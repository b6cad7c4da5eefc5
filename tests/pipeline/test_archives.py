"""Real-shaped archives through every output: scalars, uneven files, shared bounds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

import arcoforge
from arcoforge.demo.server import SourceServer
from arcoforge.verify import compare, open_sources
from tests.archives import NC_FILL_INT, scalar_files
from tests.helpers import run_folder, write_recipe

FORMATS = ["json", "parquet", "icechunk"]


def _recipe(folder: Path, urls: list[str], outputs: dict[str, Any], **sources: Any) -> Path:
    spec = {"sources": {"urls": urls, "concat_dim": "time", **sources}, "outputs": outputs}
    return write_recipe(folder, spec)


def _served(server: SourceServer, paths: list[Path]) -> list[str]:
    return [f"{server.url}/{p.relative_to(server.root).as_posix()}" for p in paths]


@pytest.mark.parametrize("fmt", FORMATS)
def test_scalar_variables_read_back_equal(
    http_server: SourceServer, tmp_path: Path, fmt: str
) -> None:
    paths = scalar_files(http_server.root)
    recipe = _recipe(
        tmp_path / "recipe", _served(http_server, paths), {"references": {"format": fmt}}
    )
    refs = run_folder(recipe, tmp_path / "out").references
    assert refs is not None
    out = arcoforge.open_dataset(refs.url)
    sources = open_sources([str(p) for p in paths], "time", engine="h5netcdf")
    assert compare(out, sources) == []
    # the never-written grid mapping holds netCDF's default fill, not 0
    assert out.rotated_latitude_longitude.values == NC_FILL_INT
    assert out.forecast_period.values == 6.0 and out.height.values == 1.5
    assert out.forecast_reference_time.values == sources.forecast_reference_time.values
    if fmt == "json":  # Zarr v2 readers ask for a 0-d array's chunk as name/0
        refs_doc = json.loads(Path(refs.url).read_text())["refs"]
        assert "forecast_period/0" in refs_doc and "forecast_period/" not in refs_doc
        assert "rotated_latitude_longitude/0" in refs_doc


def test_scalar_variables_in_a_copy(http_server: SourceServer, tmp_path: Path) -> None:
    paths = scalar_files(http_server.root)
    recipe = _recipe(tmp_path / "recipe", _served(http_server, paths), {"zarr": {}})
    result = run_folder(recipe, tmp_path / "out")
    assert result.zarr is not None
    sources = open_sources([str(p) for p in paths], "time", engine="h5netcdf")
    assert compare(xr.open_zarr(result.zarr.url), sources) == []
    assert np.asarray(xr.open_zarr(result.zarr.url).rotated_latitude_longitude) == NC_FILL_INT
