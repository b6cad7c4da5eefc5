"""Which copies run their DirectRunner workers as threads of the launcher, and which as
processes: threads for inputs read by range whose first one has a probe (later ones
written alike are then read without HDF5's full parse), processes otherwise."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import xarray as xr

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.pipeline import runners
from arcoforge.pipeline.preflight import check_copy_chunks
from arcoforge.recipe import load_recipe
from arcoforge.run import RunOptions, run_recipe
from arcoforge.running import orchestrate
from arcoforge.verify import compare, open_sources
from tests.helpers import write_recipe

ZLIB = {"sst": {"zlib": True, "complevel": 1, "chunksizes": (1, 36, 72)}}


def _recipe(tmp_path: Path, server: SourceServer, encoding: dict[str, Any] | None) -> Path:
    files = write_files(make_sst(days=4, variables=("sst",)), server.root, encoding=encoding)
    urls = [f"{server.url}/{f.path.name}" for f in files]
    spec = {
        "sources": {"urls": urls, "concat_dim": "time"},
        "outputs": {"zarr": {"chunks": {"time": 2}}},
    }
    return write_recipe(tmp_path / "recipe", spec)


@pytest.mark.parametrize("encoding", [None, ZLIB])
def test_the_first_header_tells_its_size_and_that_it_has_a_probe(
    tmp_path: Path, http_server: SourceServer, encoding: dict[str, Any] | None
) -> None:
    recipe = load_recipe(_recipe(tmp_path, http_server, encoding))
    assert recipe.outputs.zarr is not None
    first = check_copy_chunks(recipe.pattern, recipe.outputs.zarr)
    assert first is not None and first.probed
    assert first.size == (http_server.root / "sst.20200101.nc").stat().st_size


def test_a_first_input_without_dimension_ids_has_no_probe(
    tmp_path: Path, http_server: SourceServer
) -> None:
    """HDF5 written without netCDF's dimension ids: every input is parsed in full."""
    import h5py
    import numpy as np

    with h5py.File(http_server.root / "plain.h5", "w") as f:
        for name, n in (("time", 2), ("x", 3)):
            f[name] = np.arange(float(n))
            f[name].make_scale(name)
        f["sst"] = np.zeros((2, 3), "f4")
        f["sst"].dims[0].attach_scale(f["time"])
        f["sst"].dims[1].attach_scale(f["x"])
    spec = {
        "sources": {"urls": [f"{http_server.url}/plain.h5"], "concat_dim": "time"},
        "outputs": {"zarr": {}},
    }
    recipe = load_recipe(write_recipe(tmp_path / "recipe", spec))
    assert recipe.outputs.zarr is not None
    first = check_copy_chunks(recipe.pattern, recipe.outputs.zarr)
    assert first is not None and not first.probed


@pytest.mark.parametrize(
    ("encoding", "cache", "threads"),
    [(None, False, True), (ZLIB, False, True), (None, True, False)],
)
def test_workers_are_threads_only_for_inputs_read_by_range(
    tmp_path: Path,
    http_server: SourceServer,
    monkeypatch: pytest.MonkeyPatch,
    encoding: dict[str, Any] | None,
    cache: bool,
    threads: bool,
) -> None:
    asked: list[bool] = []
    real = runners.runner

    @contextmanager
    def watched(*args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs["threads"])
        with real(*args, **kwargs) as found:
            yield found

    monkeypatch.setattr(orchestrate, "runner", watched)
    out = tmp_path / "out"
    options = RunOptions(
        output=str(out), workers=2, cache=str(tmp_path / "cache") if cache else None
    )
    result = run_recipe(load_recipe(_recipe(tmp_path, http_server, encoding)), options)
    assert asked == [threads]
    zarr = result.zarr
    assert zarr is not None
    sources = [str(p) for p in sorted(http_server.root.glob("*.nc"))]
    with xr.open_zarr(zarr.url) as copy, open_sources(sources, "time") as want:
        assert not compare(copy, want)


class _SlowToPickle:
    """An element whose pickling takes longer than Beam's default timed flush (1 s)."""

    def __init__(self, payload: bytes):
        self.payload = payload

    def __reduce__(self) -> tuple[Any, ...]:
        import time

        time.sleep(1.3)
        return (_SlowToPickle, (self.payload,))


def test_worker_threads_send_slow_elements_whole() -> None:
    """An element still being written when a timer would flush arrives whole at a shuffle
    (with Beam's timed flush the runner got its key alone, then decoded garbage)."""
    from arcoforge.pipeline.quiet import beam

    threads = runners.runner(runners.RunnerName.DIRECT, workers=2, threads=True)
    with threads as (runner, options), beam.Pipeline(runner=runner, options=options) as p:
        _ = (
            p
            | beam.Create([b"x" * 1000])
            | beam.Map(lambda b: (None, _SlowToPickle(b)))
            | beam.GroupByKey()
            | beam.MapTuple(lambda _, found: [v.payload for v in found])
            | beam.Map(_expect_one_payload)
        )


def _expect_one_payload(payloads: list[bytes]) -> None:
    assert payloads == [b"x" * 1000]
