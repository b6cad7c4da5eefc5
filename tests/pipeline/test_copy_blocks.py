"""Reading a task's blocks: the sources' values, one preprocessed input held at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.pipeline.copy_blocks import read_blocks
from arcoforge.plan.copy_plan import make_plan
from arcoforge.recipe.pattern import Index
from arcoforge.recipe.spec import ZarrOutput
from arcoforge.verify import open_sources
from tests.plan.test_schema import headers


class _Tracker:
    """A preprocess that records which inputs it holds open, and how many at most."""

    def __init__(self) -> None:
        self.open: set[Index] = set()
        self.opened = self.most = 0

    def __call__(self, ds: xr.Dataset, index: Index) -> xr.Dataset:
        out = ds.assign(sst=ds["sst"] + 273.15)  # computes: the input's values are loaded
        self.open.add(index)
        self.opened += 1
        self.most = max(self.most, len(self.open))

        def close() -> None:
            self.open.discard(index)
            ds.close()

        out.set_close(close)
        return out


def test_a_preprocessed_input_is_held_alone_and_the_values_are_the_sources(
    tmp_path: Path,
) -> None:
    files = [f.path for f in write_files(make_sst(days=4), tmp_path / "src")]
    plan = make_plan(
        headers(files),
        output=ZarrOutput(chunks={"time": 4}),
        budget=10**9,
        fingerprint="reader",
        preprocessed=True,
    )
    (task,) = [t for t in plan.tasks if "sst" in t.variables]
    work = plan.work(task)
    tracker = _Tracker()
    blocks: dict[str, Any] = {}
    for var, block in read_blocks(work, concat_dims=("time",), preprocess=tracker):
        assert tracker.open == set()  # released before the block is handed on
        blocks[var.name] = block.copy()
    assert tracker.most == 1
    assert tracker.opened == 4 * len(work.variables)  # each input, once per variable
    sources = open_sources(list(map(str, files)), "time")
    np.testing.assert_array_equal(blocks["sst"], sources["sst"].values + np.float32(273.15))
    np.testing.assert_array_equal(blocks["anom"], sources["anom"].values)
