"""The pipeline's transforms, each run once on the DirectRunner, and what they ship to workers."""

from __future__ import annotations

import sys
from pathlib import Path

import apache_beam as beam
import numpy as np
import xarray as xr
from apache_beam.internal import pickler
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.pipeline.context import RunContext
from arcoforge.pipeline.transforms import CacheInputs, ReadHeaders, ship_by_value
from arcoforge.recipe import Index, ZarrOutput, load_recipe
from tests.helpers import write_recipe

PREPROCESS = """
def preprocess(ds, index):
    ds["doubled"] = ds.sst * 2
    return ds
"""


def test_recipe_py_functions_travel_by_value(tmp_path: Path) -> None:
    recipe = load_recipe(
        write_recipe(
            tmp_path / "by-value",
            {
                "sources": {"urls": ["https://example.org/a.nc"], "concat_dim": "time"},
                "outputs": {"zarr": {}},
            },
            recipe_py=PREPROCESS,
        )
    )
    ship_by_value(recipe.preprocess)
    shipped = pickler.dumps(recipe.preprocess)
    module = sys.modules.pop("arcoforge_recipe_by_value")  # as on a worker: not importable
    try:
        preprocess = pickler.loads(shipped)
    finally:
        sys.modules["arcoforge_recipe_by_value"] = module
    ds = xr.Dataset({"sst": ("time", np.array([1.0]))})
    assert preprocess(ds, Index((("time", 0),)))["doubled"].values.tolist() == [2.0]


def test_cache_inputs_and_read_headers(tmp_path: Path) -> None:
    files = write_files(make_sst(days=5), tmp_path / "src")
    ctx = RunContext(
        recipe_id="t",
        fingerprint="f",
        target_url=str(tmp_path / "t.zarr"),
        state_url=str(tmp_path / "state"),
        cache_url=str(tmp_path / "cache"),
        output=ZarrOutput(),
        concat_dims=("time",),
        fetch_concurrency=2,
    )
    items = [(Index((("time", i),)), f.path.as_uri()) for i, f in enumerate(files)]
    batches = [items[:2], items[2:4], items[4:]]
    with beam.Pipeline(runner=FnApiRunner()) as p:  # never Prism, which is downloaded
        headers = p | beam.Create(batches) | CacheInputs(ctx) | ReadHeaders(ctx)
        assert_that(
            headers | beam.Map(lambda h: (h.index["time"], h.sizes["time"], h.url)),
            equal_to([(i, 1, url) for i, (_, url) in enumerate(items)]),
        )
    assert len(list((tmp_path / "state" / "fetched").iterdir())) == 5
