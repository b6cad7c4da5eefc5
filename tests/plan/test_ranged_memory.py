"""The memory estimate of tasks that read their inputs by byte range."""

from __future__ import annotations

from arcoforge.plan.memory import (
    HDF5_CHUNK_CACHE,
    Block,
    VarFootprint,
    ranged_pieces,
    variable_peak,
)
from arcoforge.sources.chunk_reads import COALESCE_GAP, PIECES_IN_FLIGHT, SPAN_SLACK

MB = 10**6


def _var(**kw) -> VarFootprint:
    base = dict(
        name="sst",
        dims=("time", "lat", "lon"),
        shape=(100, 721, 1440),
        chunks=(10, 721, 1440),
        group=(0,),
        decoded_itemsize=4,
        stored_itemsize=4,
        raw=True,
    )
    return VarFootprint(**{**base, **kw})


def test_contiguous_pieces_in_flight_are_counted() -> None:
    day = 721 * 1440
    block = Block(10 * day, day, 1)
    v = _var(ranged=True, only_ranged=True)
    per_piece = SPAN_SLACK * 4 * day + COALESCE_GAP
    assert ranged_pieces(v, block) == PIECES_IN_FLIGHT * per_piece
    # the read (the block) against the write (block plus compressed output), plus the
    # pieces, whose pages outlive the read
    assert variable_peak(v, block) == max(4 * 10 * day, 8 * 10 * day) + PIECES_IN_FLIGHT * per_piece


def test_chunks_decoded_in_flight_are_counted_and_hdf5_buffers_are_not() -> None:
    day = 721 * 1440
    block = Block(10 * day, day, 1)
    chunk = 4 * day
    only = _var(ranged=True, only_ranged=True, source_chunk=chunk, compressed=True)
    mixed = _var(ranged=True, source_chunk=chunk, compressed=True)
    fetched = max(SPAN_SLACK * 4 * day, 4 * day + chunk) + COALESCE_GAP
    assert ranged_pieces(only, block) == PIECES_IN_FLIGHT * (fetched + 2 * chunk)
    # some inputs of the group read through HDF5: its buffers count as well
    assert variable_peak(mixed, block) - variable_peak(only, block) == 2 * chunk + HDF5_CHUNK_CACHE


def test_decoded_pieces_hold_stored_and_decoded_values() -> None:
    day = 721 * 1440
    block = Block(10 * day, day, 1)
    v = _var(raw=False, stored_itemsize=2, ranged=True, only_ranged=True)
    read = 4 * 10 * day + (2 + 4) * day + ranged_pieces(v, block)
    assert variable_peak(v, block) >= read
