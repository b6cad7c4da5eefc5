"""Tiny target chunks are refused with their numbers and a shape that would do."""

from __future__ import annotations

import pytest

from arcoforge.plan.small import (
    MIN_CHUNK_BYTES,
    Planned,
    SmallChunksError,
    check_chunk_sizes,
    suggest,
)

ERA = Planned("t2m", ("time", "latitude", "longitude"), (8760, 721, 1440), 4)


def test_one_value_per_chunk_is_refused_with_the_numbers() -> None:
    chunks = {"time": 1, "latitude": 1, "longitude": 1}
    with pytest.raises(SmallChunksError) as e:
        check_chunk_sizes([ERA], chunks, concat_dims=("time",))
    message = str(e.value)
    assert "chunks of {time: 1, latitude: 1, longitude: 1}" in message
    assert "'t2m' 4 B (4-byte values), 9,094,982,400 objects" in message
    assert "at least 16.00 kiB" in message and "--allow-small-chunks" in message
    assert "chunks: {time: 8760, latitude: 1, longitude: 30} (1.00 MiB each)" in message


def test_a_chunk_of_16_kib_or_a_small_variable_is_accepted() -> None:
    check_chunk_sizes([ERA], {"time": 4096, "latitude": 1, "longitude": 1})
    small = Planned("lat_bnds", ("latitude", "bnds"), (721, 2), 8)  # 11.5 KiB in whole
    check_chunk_sizes([small], {"latitude": 1, "bnds": 1})
    # bounds along time follow the data's chunks: 480 B each, but few and not the data
    bounds = Planned("time_bnds", ("time", "bnds"), (8760, 2), 8)
    check_chunk_sizes([ERA, bounds], {"time": 30})
    dims = {"time": 1, "latitude": 721, "longitude": 1440}  # a whole grid per step
    check_chunk_sizes([ERA], dims)


def test_the_suggestion_grows_concat_dims_first_and_reaches_the_minimum() -> None:
    better = suggest(ERA, [1, 10, 10], ("time",))
    assert better == {"time": 2622, "latitude": 10, "longitude": 10}
    assert MIN_CHUNK_BYTES <= 4 * 2622 * 100
    short = Planned("sst", ("time", "lat", "lon"), (3, 36, 72), 4)
    assert suggest(short, [1, 1, 1], ("time",)) == {"time": 3, "lat": 36, "lon": 72}
