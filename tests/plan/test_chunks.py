"""Choosing target chunks."""

from __future__ import annotations

from pathlib import Path

import pytest

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.errors import PlanError
from arcoforge.plan.chunks import MAX_CHUNKS, choose_chunks
from arcoforge.plan.schema import combine
from arcoforge.recipe.spec import ZarrOutput
from tests.plan.test_schema import headers


@pytest.fixture
def schema(tmp_path: Path):
    files = write_files(make_sst(days=12, nlat=90, nlon=180), tmp_path, steps=4)
    return combine(headers([f.path for f in files]))


def test_named_dims_and_whole_others(schema) -> None:
    assert choose_chunks(schema, ZarrOutput(chunks={"time": 5})) == {
        "time": 5,
        "lat": 90,
        "lon": 180,
    }
    assert choose_chunks(schema, ZarrOutput(chunks={"time": 500}))["time"] == 12


def test_unknown_dim_is_refused(schema) -> None:
    with pytest.raises(PlanError, match=r"dimension .tim. is not in the dataset.*time, lat, lon"):
        choose_chunks(schema, ZarrOutput(chunks={"tim": 5}))


def test_chunk_size_along_time(schema) -> None:
    step = 90 * 180 * 4  # one float32 time step
    chunks = choose_chunks(schema, ZarrOutput(chunk_size=3 * step))
    assert chunks == {"time": 3, "lat": 90, "lon": 180}


def test_chunk_size_smaller_than_a_step_splits_the_grid(schema) -> None:
    chunks = choose_chunks(schema, ZarrOutput(chunk_size=10_000))
    assert chunks["time"] == 1
    assert chunks["lat"] * chunks["lon"] * 4 <= 10_000
    assert chunks["lat"] < 90 or chunks["lon"] < 180


def test_too_many_chunks_are_refused(tmp_path: Path) -> None:
    files = write_files(make_sst(days=1, nlat=1500, nlon=1500, variables=("sst",)), tmp_path)
    schema = combine(headers([f.path for f in files]))
    with pytest.raises(PlanError, match=r"into 2,250,000 chunks.*Aim for 10-200 MB") as info:
        choose_chunks(schema, ZarrOutput(chunks={"lat": 1, "lon": 1}))
    assert MAX_CHUNKS < 2_250_000 and "'sst'" in str(info.value)
