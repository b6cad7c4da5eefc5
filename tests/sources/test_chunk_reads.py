"""Reading netCDF4 variables by byte range: chunk maps and decoding against h5py's reads."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from arcoforge.demo.server import SourceServer
from arcoforge.errors import SourceError
from arcoforge.recipe.pattern import FileType
from arcoforge.sources.chunk_reads import PieceRead, fetch_ranged, read_pieces
from arcoforge.sources.chunkmap import ChunkMap, inflate, map_file, map_variable, unshuffle
from arcoforge.sources.retry import RetryPolicy

RETRY = RetryPolicy(attempts=1, timeout=5)

STORAGE: dict[str, dict[str, Any]] = {
    "contiguous raw": {},
    "chunked raw": {"chunks": (2, 25, 35)},
    "zlib": {"chunks": (3, 30, 40), "compression": "gzip", "compression_opts": 1},
    "shuffle and zlib": {"chunks": (1, 60, 80), "compression": "gzip", "shuffle": True},
    "fletcher32 and zlib": {"chunks": (4, 20, 20), "compression": "gzip", "fletcher32": True},
    "shuffle, fletcher32, chunks past the edges": {
        "chunks": (4, 35, 45),
        "shuffle": True,
        "fletcher32": True,
    },
}

KEYS = [
    (slice(0, 7), slice(0, 60), slice(0, 80)),  # the whole variable
    (slice(2, 3), slice(0, 60), slice(0, 80)),  # one step
    (slice(1, 6), slice(13, 51), slice(17, 77)),  # an inner box across chunk edges
    (slice(6, 7), slice(59, 60), slice(79, 80)),  # the last value
]


def _write(path: Path, dtype: str = "<f4", **storage: Any) -> np.ndarray:
    rng = np.random.default_rng(7)
    values = (rng.normal(size=(7, 60, 80)) * 100).astype(dtype)
    with h5py.File(path, "w") as f:
        f.create_dataset("big", data=values, **storage)
        f.create_dataset("small", data=np.arange(5, dtype="i2"))
    return values


def _mapped(url: str) -> dict[str, ChunkMap]:
    """The chunk maps of ``url``'s variables, parsed from its edges fetched by range."""
    fetched = fetch_ranged(url, file_type=FileType.AUTO, options={}, retry=RETRY)
    assert fetched is not None
    with h5py.File(fetched[1], "r") as f:
        maps = map_file(f)
    assert maps is not None
    return maps


def _read(server: SourceServer, name: str, key: tuple[slice, ...], var: str = "big") -> np.ndarray:
    url = f"{server.url}/{name}"
    cmap = _mapped(url)[var]
    out = np.full(tuple(k.stop - k.start for k in key), -1, dtype=cmap.np_dtype)
    read_pieces([PieceRead(url, cmap, key, out)], options={}, retry=RETRY)
    return out


@pytest.mark.parametrize("storage", list(STORAGE))
def test_reads_equal_h5py(http_server: SourceServer, storage: str) -> None:
    values = _write(http_server.root / "a.nc", **STORAGE[storage])
    with h5py.File(http_server.root / "a.nc") as f:
        cmap = map_variable(f["big"])
        assert cmap is not None and cmap.values is None  # read by range, not kept
        assert (cmap.chunk_shape is None) == ("chunks" not in STORAGE[storage])
    for key in KEYS:
        np.testing.assert_array_equal(_read(http_server, "a.nc", key), values[key])
    np.testing.assert_array_equal(
        _read(http_server, "a.nc", (slice(1, 4),), var="small"), np.arange(1, 4)
    )


def test_big_endian_values_come_out_right(http_server: SourceServer) -> None:
    values = _write(http_server.root / "be.nc", dtype=">f8", chunks=(2, 30, 40), shuffle=True)
    key = (slice(0, 7), slice(1, 59), slice(2, 79))
    np.testing.assert_array_equal(_read(http_server, "be.nc", key), values[key])


def test_only_the_ranges_needed_are_requested(http_server: SourceServer) -> None:
    _write(http_server.root / "a.nc", chunks=(1, 60, 80), compression="gzip")
    http_server.requests.clear()
    _read(http_server, "a.nc", (slice(2, 3), slice(0, 60), slice(0, 80)))
    gets = [r for r in http_server.requests if r.method == "GET"]
    assert gets and all(r.range is not None for r in gets)  # never the whole file


def test_unwritten_chunks_read_as_fill_values(http_server: SourceServer) -> None:
    with h5py.File(http_server.root / "f.nc", "w") as f:
        d = f.create_dataset("big", shape=(6, 40, 40), dtype="f4", chunks=(2, 40, 40), fillvalue=-9)
        d[2:4] = 1.5
    out = _read(http_server, "f.nc", (slice(1, 5), slice(0, 40), slice(0, 40)))
    assert (out[0] == -9).all() and (out[1:3] == 1.5).all() and (out[3] == -9).all()


def test_unusual_filters_have_no_map(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "s.nc", "w") as f:
        f.create_dataset("big", data=np.zeros((100, 100)), chunks=(50, 50), scaleoffset=2)
        assert map_variable(f["big"]) is None
        assert map_file(f) is None


def test_netcdf3_is_left_to_the_cache(http_server: SourceServer) -> None:
    import xarray as xr

    xr.Dataset({"v": ("x", np.arange(3.0))}).to_netcdf(
        http_server.root / "n3.nc", format="NETCDF3_64BIT"
    )
    url = f"{http_server.url}/n3.nc"
    assert fetch_ranged(url, file_type=FileType.AUTO, options={}, retry=RETRY) is None


def test_a_damaged_chunk_fails_its_checksum(http_server: SourceServer) -> None:
    path = http_server.root / "d.nc"
    _write(path, chunks=(7, 60, 80), fletcher32=True)
    with h5py.File(path, "r") as f:
        cmap = map_variable(f["big"])
    assert cmap is not None
    chunk = cmap.chunks[0]
    data = bytearray(path.read_bytes()[chunk.offset : chunk.offset + chunk.size])
    data[10] ^= 0xFF
    with pytest.raises(SourceError, match="Fletcher-32"):
        cmap.decode(bytes(data), chunk, url="http://x/d.nc")


def test_unshuffle_undoes_the_shuffle() -> None:
    values = np.arange(10, dtype="<i4")
    shuffled = values.view(np.uint8).reshape(10, 4).T.tobytes()
    assert np.frombuffer(unshuffle(shuffled, 4), "<i4").tolist() == values.tolist()
    # HDF5 leaves a tail shorter than one element as it is
    assert bytes(unshuffle(shuffled + b"xy", 4)) == values.tobytes() + b"xy"


def test_unshuffle_writes_into_the_buffer_it_is_given() -> None:
    values = np.arange(10, dtype="<i4")
    shuffled = values.view(np.uint8).reshape(10, 4).T.tobytes()
    out = np.zeros(42, np.uint8)
    assert unshuffle(shuffled + b"xy", 4, out) is out
    assert out.tobytes() == values.tobytes() + b"xy"
    whole = np.zeros(40, np.uint8)
    unshuffle(shuffled, 4, whole)
    assert np.frombuffer(whole, "<i4").tolist() == values.tolist()


def test_whole_shuffled_chunks_are_unshuffled_straight_into_the_block(
    http_server: SourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = _write(http_server.root / "s.nc", chunks=(1, 60, 80), compression="gzip", shuffle=True)
    from arcoforge.sources import chunkmap

    into: list[np.ndarray | None] = []
    real = chunkmap.unshuffle

    def seen(data: Any, itemsize: int, out: np.ndarray | None = None) -> Any:
        into.append(out)
        return real(data, itemsize, out)

    monkeypatch.setattr(chunkmap, "unshuffle", seen)
    url = f"{http_server.url}/s.nc"
    block = np.full((4, 60, 80), -1, dtype="<f4")
    key = (slice(2, 6), slice(0, 60), slice(0, 80))  # four whole chunks
    read_pieces([PieceRead(url, _mapped(url)["big"], key, block)], options={}, retry=RETRY)
    np.testing.assert_array_equal(block, values[key])
    assert len(into) == 4 and all(o is not None and np.shares_memory(o, block) for o in into)
    into.clear()  # part of a chunk: decoded aside, then its part copied
    part = np.full((1, 30, 80), -1, dtype="<f4")
    key = (slice(0, 1), slice(0, 30), slice(0, 80))
    read_pieces([PieceRead(url, _mapped(url)["big"], key, part)], options={}, retry=RETRY)
    np.testing.assert_array_equal(part, values[key])
    assert into == [None]


def test_inflate_needs_no_exact_size_and_names_damage() -> None:
    data = np.arange(1000, dtype="<f8").tobytes()
    packed = zlib.compress(data, 1)
    for size in (len(data), 10, 10 * len(data)):  # a wrong size costs time, not data
        assert bytes(inflate(packed, size)) == data
    with pytest.raises(zlib.error):
        inflate(packed[:20] + b"\x00" * 50, len(data))


def test_a_file_gone_since_its_header_was_read_is_named(http_server: SourceServer) -> None:
    from arcoforge.errors import SourceNotFoundError

    _write(http_server.root / "g.nc", chunks=(1, 60, 80), compression="gzip")
    url = f"{http_server.url}/g.nc"
    cmap = _mapped(url)["big"]
    (http_server.root / "g.nc").unlink()
    out = np.empty(cmap.shape, cmap.np_dtype)
    key = tuple(slice(0, n) for n in cmap.shape)
    with pytest.raises(SourceNotFoundError, match=r"g\.nc"):
        read_pieces([PieceRead(url, cmap, key, out)], options={}, retry=RETRY)
