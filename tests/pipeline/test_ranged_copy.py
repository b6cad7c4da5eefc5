"""Copies of served inputs read by byte range: equal to their sources, never downloaded whole."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from arcoforge.demo.dataset import PACKED_INT16, Format, make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.sources.fastheaders.edges import EDGE_BYTES
from arcoforge.targets.manifest import read_manifest
from arcoforge.verify import compare, open_sources
from tests.helpers import run_folder, write_recipe


def _own_units(i: int, ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.time.encoding["units"] = f"hours since 20{10 + i}-06-01"
    return ds


def _own_packing(i: int, ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.sst.encoding.update({**PACKED_INT16, "scale_factor": np.float32(0.01 * (i + 1))})
    return ds


ENCODINGS: dict[str, tuple[Format, dict[str, Any]]] = {
    "contiguous raw": ("netcdf4", {}),
    "chunked raw": ("netcdf4", {"sst": {"chunksizes": (1, 18, 24)}}),
    "zlib": ("netcdf4", {"sst": {"zlib": True, "complevel": 1, "chunksizes": (2, 36, 72)}}),
    "shuffle and zlib": ("netcdf4", {"sst": {"zlib": True, "shuffle": True}}),
    "fletcher32": ("netcdf4", {"sst": {"fletcher32": True, "chunksizes": (1, 12, 72)}}),
    "packed int16, zlib": ("netcdf4", {"sst": {**PACKED_INT16, "zlib": True}}),
    "netcdf3 (cached instead)": ("netcdf3", {}),
}
#: inputs whose values are decoded, then encoded once with the target's encoding
PER_FILE = {
    "each file its own time units": _own_units,
    "packing differs between files": _own_packing,
}


def _copy(
    server: SourceServer,
    tmp_path: Path,
    fmt: Format,
    encoding: dict[str, Any],
    per_file: Callable[[int, xr.Dataset], xr.Dataset] | None = None,
    **options: Any,
) -> tuple[xr.Dataset, list[str]]:
    # 2 days of 90x180 float32 (130 kB) a variable: read by range, not kept whole in the
    # header as small variables are
    ds = make_sst(days=8, nlat=90, nlon=180)
    files = write_files(ds, server.root, steps=2, fmt=fmt, encoding=encoding, per_file=per_file)
    recipe = write_recipe(
        tmp_path / "recipe",
        {
            "sources": {
                "urls": [f"{server.url}/{f.path.name}" for f in files],
                "concat_dim": "time",
            },
            "outputs": {"zarr": {"chunks": {"time": 3}}},
        },
    )
    result = run_folder(recipe, tmp_path / "out", **options)
    return xr.open_zarr(result.zarr.url), [str(f.path) for f in files]


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_copy_equals_sources(http_server: SourceServer, tmp_path: Path, name: str) -> None:
    fmt, encoding = ENCODINGS[name]
    out, paths = _copy(http_server, tmp_path, fmt, encoding)
    engine = "scipy" if fmt == "netcdf3" else "h5netcdf"
    assert compare(out, open_sources(paths, "time", engine=engine)) == []
    gets = [r for r in http_server.requests if r.method == "GET"]
    cache = tmp_path / "out" / ".forge" / "cache"
    if fmt == "netcdf3":
        assert any(r.range is None for r in gets)  # fetched whole into the cache
    else:
        assert all(r.range is not None for r in gets)  # only ranges, never a whole file
        edges = {f"bytes=0-{EDGE_BYTES - 1}", f"bytes=-{EDGE_BYTES}"}
        assert {r.range for r in gets} - edges  # the chunks' own ranges
        assert not cache.exists() or not any(p.suffix == ".nc" for p in cache.iterdir())


@pytest.mark.parametrize("name", list(PER_FILE))
def test_decoded_copy_equals_sources(http_server: SourceServer, tmp_path: Path, name: str) -> None:
    out, paths = _copy(http_server, tmp_path, "netcdf4", {}, PER_FILE[name])
    assert compare(out, open_sources(paths, "time", engine="h5netcdf")) == []
    assert all(r.range is not None for r in http_server.requests if r.method == "GET")


def test_with_a_cache_inputs_are_fetched_whole(http_server: SourceServer, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    out, paths = _copy(http_server, tmp_path, "netcdf4", {}, cache=str(cache))
    assert compare(out, open_sources(paths, "time", engine="h5netcdf")) == []
    assert len([p for p in cache.iterdir() if p.name.endswith(".nc")]) == len(paths)
    assert any(r.range is None for r in http_server.requests if r.method == "GET")


def test_ranged_inputs_are_identified_without_a_checksum(
    http_server: SourceServer, tmp_path: Path
) -> None:
    _copy(http_server, tmp_path, "netcdf4", {"sst": {"zlib": True}})
    found = read_manifest("zarr", str(tmp_path / "out" / "recipe.zarr"), {})
    assert found is not None and len(found.inputs) == 4
    for identity in found.inputs.values():
        served = http_server.root / identity.url.rsplit("/", 1)[-1]
        assert identity.size == served.stat().st_size
        assert identity.etag and identity.last_modified and identity.sha256 is None


def test_a_changed_source_is_refused(http_server: SourceServer, tmp_path: Path) -> None:
    from arcoforge.errors import ForgeError

    _copy(http_server, tmp_path, "netcdf4", {})
    first = sorted(http_server.root.glob("*.nc"))[0]
    ds = xr.open_dataset(first, engine="h5netcdf").load()
    ds["sst"] = ds.sst + 1
    first.unlink()
    ds.to_netcdf(first, engine="h5netcdf")
    recipe = tmp_path / "recipe"
    with pytest.raises(ForgeError, match=first.name):
        run_folder(recipe, tmp_path / "out")


def test_the_last_progress_counts_every_input_read(
    http_server: SourceServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run over before its first poll still reports the bytes its inputs took."""
    from arcoforge.recipe import load_recipe
    from arcoforge.run import Progress, RunOptions, run_recipe
    from arcoforge.running.progress import Poller

    monkeypatch.setattr(Poller, "_loop", lambda self: None)  # never polls while running
    _copy(http_server, tmp_path, "netcdf4", {})
    seen: list[Progress] = []
    options = RunOptions(output=str(tmp_path / "again"), workers=1, allow_small_chunks=True)
    run_recipe(load_recipe(tmp_path / "recipe"), options, on_progress=seen.append)
    served = sum(p.stat().st_size for p in http_server.root.glob("*.nc"))
    assert seen[-1].input_bytes == served and seen[-1].inputs_done == 4
