"""The memory estimate of a task: what it counts, and plans that keep within the budget."""

from __future__ import annotations

from pathlib import Path

import pytest
import zarr

from arcoforge.demo.dataset import PACKED_INT16, make_sst, write_files
from arcoforge.errors import PlanError
from arcoforge.plan.copy_plan import make_plan
from arcoforge.plan.memory import (
    HDF5_CHUNK_CACHE,
    ZARR_CHUNKS_IN_FLIGHT,
    Block,
    VarFootprint,
    task_memory,
    variable_peak,
)
from arcoforge.plan.tasks import InputBox, cut_tasks
from arcoforge.recipe.pattern import Index
from arcoforge.recipe.spec import ZarrOutput
from arcoforge.sources.cache import InputCache
from arcoforge.sources.headers import read_header
from tests.plan.test_schema import headers

MB = 10**6


def _var(**kw) -> VarFootprint:
    base = dict(
        name="sst",
        dims=("time", "lat", "lon"),
        shape=(100, 720, 1440),
        chunks=(10, 720, 1440),
        group=(0,),
        decoded_itemsize=4,
        stored_itemsize=4,
        raw=True,
    )
    return VarFootprint(**(base | kw))


def _daily(n: int) -> list[InputBox]:
    return [InputBox((0,), ((i, i + 1),)) for i in range(n)]


def test_a_raw_copy_holds_its_block_and_each_chunk_twice_while_writing() -> None:
    v = _var()
    e = 10 * 720 * 1440
    # a block of one chunk goes to the compressor as it is: the block and the compressed output
    assert variable_peak(v, Block(values=e, piece=e // 10, chunks=1)) == 2 * 4 * e
    # smaller chunks: a copy and the compressed output of every chunk, and a second copy of
    # each of the (at most 10) chunks zarr encodes at once
    small = _var(chunks=(10, 90, 90))
    chunk = 10 * 90 * 90
    assert variable_peak(small, Block(e, e // 10, 128)) == 3 * 4 * e + 4 * chunk * 10
    assert variable_peak(small, Block(3 * chunk, chunk, 3)) == 3 * 4 * 3 * chunk + 4 * chunk * 3
    # the estimate counts as many chunks in flight as zarr encodes at once
    assert zarr.config.get("async.concurrency") == ZARR_CHUNKS_IN_FLIGHT


def test_decoded_values_count_their_decoding_and_encoding_temporaries() -> None:
    e, p = 1000, 100
    packed = _var(raw=False, stored_itemsize=2, decoded_itemsize=4, encode_copies=2, recast=True)
    # encoding: the decoded block, two float temporaries, the int16 result
    assert variable_peak(packed, Block(e, p, 1)) == 4 * e * 3 + 2 * e
    plain = _var(raw=False)
    # NaN-filled floats encode without copies; reading holds the block and two decoded pieces
    assert variable_peak(plain, Block(e, p, 1)) == max(4 * e + 8 * p, 2 * 4 * e)
    assert variable_peak(plain, Block(e, e, 1)) == 3 * 4 * e


def test_the_estimate_grows_with_compressed_source_chunks() -> None:
    block = Block(10 * 720 * 1440, 720 * 1440, 1)
    contiguous = task_memory([_var(raw=False)], block)
    chunked = task_memory([_var(raw=False, source_chunk=50 * MB)], block)
    small = task_memory([_var(raw=False, source_chunk=4 * MB, compressed=True)], block)
    large = task_memory([_var(raw=False, source_chunk=400 * MB, compressed=True)], block)
    assert contiguous <= chunked <= contiguous + HDF5_CHUNK_CACHE
    assert large > small >= contiguous
    # the write phase (block + compressed output), and the compressed and decompressed
    # source chunk, which stay with the process after the read
    assert large == 2 * 4 * block.values + 2 * 400 * MB + HDF5_CHUNK_CACHE


def test_netcdf3_inputs_keep_the_pages_read_mapped() -> None:
    block = Block(1000, 100, 1)
    assert task_memory([_var(mapped=True)], block) == task_memory([_var()], block) + 4 * 1000


def test_preprocess_counts_the_largest_input_twice_while_reading() -> None:
    v = _var(shape=(10, 720, 1440), raw=False)
    e = 10 * 720 * 1440
    daily = cut_tasks([v], _daily(10), ("time",), 10**12)
    held = cut_tasks([v], _daily(10), ("time",), 10**12, preprocess=True)
    # closed before the block is encoded and written: the write phase (block and
    # compressor output) stays the peak for daily inputs
    assert daily[0].memory == held[0].memory == 2 * 4 * e
    # yearly inputs: a preprocess holds a whole year even for a ten-day chunk
    yearly = cut_tasks([v], [InputBox((0,), ((0, 10),))], ("time",), 10**12, preprocess=True)
    assert yearly[0].memory == 4 * e + 8 * e + 2 * 4 * e


def test_a_tight_budget_splits_by_the_whole_estimate() -> None:
    chunks = (10, 90, 1440)
    v = _var(raw=False, chunks=chunks, source_chunk=110 * MB, compressed=True)
    tasks = cut_tasks([v], _daily(100), ("time",), 250 * MB)
    assert all(t.memory <= 250 * MB for t in tasks)
    # the same blocks without source chunks to decompress: fewer, larger tasks
    plain = cut_tasks([_var(raw=False, chunks=chunks)], _daily(100), ("time",), 250 * MB)
    assert all(t.memory <= 250 * MB for t in plain)
    assert len(plain) < len(tasks)


def test_source_chunks_beyond_the_budget_are_refused_by_name() -> None:
    v = _var(chunks=(1, 10, 10), source_chunk=500 * MB, compressed=True)
    with pytest.raises(PlanError, match=r"'sst' .* compressed source chunks of 476.84 MiB each"):
        cut_tasks([v], _daily(100), ("time",), 100 * MB)


def test_plans_read_source_chunks_from_the_headers(tmp_path: Path) -> None:
    ds = make_sst(days=4, nlat=36, nlon=72)
    zlib = dict(PACKED_INT16, zlib=True, chunksizes=(1, 18, 72))
    chunked = write_files(ds, tmp_path / "z", steps=2, encoding={"sst": zlib})
    flat = write_files(ds, tmp_path / "c", steps=2, encoding={"sst": PACKED_INT16})
    out = ZarrOutput(chunks={"time": 2})
    plans = [
        make_plan(headers([f.path for f in files]), output=out, budget=10**9, fingerprint="x")
        for files in (chunked, flat)
    ]
    sst = plans[0].schema.variables["sst"]
    assert (sst.source_chunk, sst.compressed) == (2 * 18 * 72, True)
    assert plans[1].schema.variables["sst"].source_chunk == 0
    assert plans[0].largest_task > plans[1].largest_task
    preprocessed = make_plan(
        headers([f.path for f in flat]),
        output=out,
        budget=10**9,
        fingerprint="x",
        preprocessed=True,
    )
    assert preprocessed.largest_task > plans[1].largest_task


def _kelvin(ds, index):
    return ds.assign(sst=ds["sst"] + 273.15, sst_k=ds["sst"] * 2)


def test_variables_a_preprocess_computes_keep_the_files_chunks(tmp_path: Path) -> None:
    ds = make_sst(days=2, nlat=36, nlon=72)
    zlib = dict(PACKED_INT16, zlib=True, chunksizes=(1, 18, 72))
    (first,) = write_files(ds, tmp_path, steps=2, encoding={"sst": zlib})
    cached = InputCache(str(tmp_path / ".cache")).fetch(first.path.as_uri())
    index = Index((("time", 0),))
    header = read_header(cached, index, concat_dims=("time",), preprocess=_kelvin)
    # computed variables have no encoding left, but are still read from zlib chunks
    for name in ("sst", "sst_k"):  # a new name takes the file's largest chunks
        v = header.variables[name]
        assert (v.source_chunk, v.compressed) == (2 * 18 * 72, True)
    assert header.variables["anom"].source_chunk == 0  # contiguous in the file
