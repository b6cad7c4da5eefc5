"""A file's header read from its fetched edges; other bytes fetched a block at a time."""

from __future__ import annotations

import io
from pathlib import Path

import h5py
import numpy as np
import pytest
from obstore.store import LocalStore

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.sources.fastheaders.edges import BLOCK_BYTES, EDGE_BYTES, RangeFile, fetch_edges


def _file(data: bytes) -> tuple[RangeFile, list[tuple[int, int]]]:
    asked: list[tuple[int, int]] = []

    def fetch(offset: int, length: int) -> bytes:
        asked.append((offset, length))
        return data[offset : offset + length]

    return RangeFile(fetch, len(data), {0: data[:100], len(data) - 50: data[-50:]}), asked


def test_reads_inside_the_pieces_fetch_nothing() -> None:
    data = bytes(range(256)) * 1000
    f, asked = _file(data)
    assert f.pread(10, 20) == data[10:30]
    f.seek(-30, io.SEEK_END)
    assert f.read() == data[-30:]
    assert f.tell() == len(data)
    assert f.read(10) == b""
    assert asked == []


def test_a_miss_fetches_one_aligned_block_then_reads_from_it() -> None:
    data = bytes(range(256)) * 1000
    f, asked = _file(data)
    offset = BLOCK_BYTES + 5
    f.seek(offset)
    buffer = bytearray(40)
    assert f.readinto(buffer) == 40 and bytes(buffer) == data[offset : offset + 40]
    assert asked == [(BLOCK_BYTES, BLOCK_BYTES)]
    assert f.pread(offset + 100, 10) == data[offset + 100 : offset + 110]
    assert len(asked) == 1 and f.fetches == 1
    # a read over the end of the file is cut at its end, from the last (short) block
    assert f.pread(len(data) - 200, 500) == data[-200:]


def test_a_short_fetch_is_an_error() -> None:
    f = RangeFile(lambda offset, length: b"x", 10 * BLOCK_BYTES)
    with pytest.raises(OSError, match="expected"):
        f.pread(BLOCK_BYTES, 10)


def test_fetch_edges_of_local_files(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(np.arange(3 * EDGE_BYTES, dtype=np.uint8).tobytes())
    meeting = tmp_path / "meeting.bin"
    meeting.write_bytes(
        np.arange(EDGE_BYTES * 3 // 2, dtype=np.uint16).tobytes()[: EDGE_BYTES * 3 // 2]
    )
    (tmp_path / "small.bin").write_bytes(b"abc")
    (tmp_path / "empty.bin").write_bytes(b"")
    prefix = str(tmp_path).lstrip("/")
    names = ["big.bin", "meeting.bin", "small.bin", "empty.bin", "gone.bin"]
    found = fetch_edges(LocalStore(), [f"{prefix}/{n}" for n in names])
    b, m, s, e, gone = found
    assert isinstance(b, RangeFile) and isinstance(s, RangeFile) and isinstance(e, RangeFile)
    assert b.size == 3 * EDGE_BYTES and b.pread(0, 4) == big.read_bytes()[:4]
    assert b.pread(b.size - 4, 4) == big.read_bytes()[-4:] and b.fetches == 0
    assert sorted(b.pieces) == [0, 2 * EDGE_BYTES]
    # edges that meet or overlap are one piece: any read inside the file fetches nothing
    assert isinstance(m, RangeFile) and m.pieces == {0: meeting.read_bytes()}
    assert s.read() == b"abc" and e.size == 0 and e.read() == b""
    assert isinstance(gone, BaseException) and "gone.bin" in str(gone)


def test_a_netcdf4_header_lies_in_the_edges(tmp_path: Path) -> None:
    """Parsing a 4 MB file's header and coordinates reads nothing but its edges."""
    (f,) = write_files(make_sst(days=1, nlat=720, nlon=1440, variables=("sst",)), tmp_path)
    assert f.path.stat().st_size > 4 * EDGE_BYTES
    (source,) = fetch_edges(LocalStore(), [str(f.path).lstrip("/")])
    assert isinstance(source, RangeFile)
    with h5py.File(source, "r") as h5:
        assert h5["sst"].shape == (1, 720, 1440)
        lat = h5["lat"][...]
    assert source.fetches == 0
    with h5py.File(f.path, "r") as h5:
        np.testing.assert_array_equal(lat, h5["lat"][...])
