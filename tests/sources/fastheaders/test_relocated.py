"""Compressed inputs laid out like two parsed before: read from their edges, never by HDF5."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from arcoforge.demo.server import SourceServer
from arcoforge.sources.chunk_reads import PieceRead, chunk_of, read_pieces
from arcoforge.sources.fastheaders import repeated
from arcoforge.sources.fastheaders.edges import EDGE_BYTES, RangeFile
from arcoforge.sources.fastheaders.lookup3 import lookup3
from arcoforge.sources.fastheaders.probes import Probe, probe
from arcoforge.sources.fastheaders.relocated import Relocation, relocation_of
from arcoforge.sources.fastheaders.repeated import Repeats
from arcoforge.sources.fastheaders.templates import model_of
from tests.helpers import h5_files_passed_to
from tests.sources.fastheaders.test_repeated import RETRY, _day, _open, _same

DAYS = 5


def _edges(path: Path) -> RangeFile:
    """A file's edges, as the prefetcher fetches them; a read elsewhere fails the test."""
    data = path.read_bytes()
    size = len(data)

    def elsewhere(offset: int, length: int) -> bytes:
        raise AssertionError(f"read outside the edges: {offset}+{length}")

    pieces = {0: data[:EDGE_BYTES], max(0, size - EDGE_BYTES): data[-EDGE_BYTES:]}
    return RangeFile(elsewhere, size, pieces)


def _probed(path: Path) -> tuple[RangeFile, Probe]:
    source = _edges(path)
    with h5py.File(source, "r") as f:
        found = probe(f)
    assert found is not None
    return source, found


def _learnt(tmp_path: Path, land: int = 0) -> Relocation:
    """The relocation learnt from the archive's first two days."""
    for day in range(DAYS):
        _day(tmp_path / f"z{day}.nc", day, storage="zlib", land=land)
    first, found = _probed(tmp_path / "z0.nc")
    model = model_of(first, found)
    assert model is not None
    relocation = relocation_of(model, *reversed(_probed(tmp_path / "z1.nc")))
    assert relocation is not None
    return relocation


def test_lookup3_is_jenkins_hashlittle() -> None:
    """The published test values of lookup3.c, then a checksum HDF5 wrote."""
    assert lookup3(b"") == 0xDEADBEEF
    assert lookup3(b"", 0xDEADBEEF) == 0xBD5B7DDE
    assert lookup3(b"Four score and seven years ago") == 0x17770551
    assert lookup3(b"Four score and seven years ago", 1) == 0xCD628161


def test_the_checksums_hdf5_wrote_are_found(tmp_path: Path) -> None:
    relocation = _learnt(tmp_path)
    data = (tmp_path / "z0.nc").read_bytes()
    checksums = [f for r in relocation.regions for f in r.fields if f.kind == "checksum"]
    assert checksums  # the archive's object headers are of HDF5's newer kind
    for field in checksums:
        stored = int.from_bytes(data[field.at : field.at + 4], "little")
        if field.value:  # a heap's direct block: all of it, its checksum zeroed
            block = data[field.covers : field.at] + bytes(4) + data[field.at + 4 : field.value]
        else:
            block = data[field.covers : field.at]
        assert lookup3(block) == stored


def test_other_inputs_get_the_probe_hdf5_finds(tmp_path: Path) -> None:
    relocation = _learnt(tmp_path)
    kinds = {f.kind for r in relocation.regions for f in r.fields}
    assert kinds == {"size", "address", "checksum"}
    for day in range(DAYS):
        _, want = _probed(tmp_path / f"z{day}.nc")
        assert relocation.probe(_edges(tmp_path / f"z{day}.nc")) == want


def test_chunks_the_same_size_in_every_file_keep_their_size(tmp_path: Path) -> None:
    """Chunks all over land: their size never shows, so it must repeat, and does."""
    relocation = _learnt(tmp_path, land=38)  # the first row of chunks: all fill values
    assert 0 < len(relocation.sized) < len(relocation.chunks)
    for day in range(DAYS):
        _, want = _probed(tmp_path / f"z{day}.nc")
        assert relocation.probe(_edges(tmp_path / f"z{day}.nc")) == want


def test_an_input_that_differs_elsewhere_is_refused(tmp_path: Path) -> None:
    """One byte of a header changed (an attribute's text): HDF5 would read it otherwise."""
    relocation = _learnt(tmp_path)
    path = tmp_path / "z3.nc"
    data = bytearray(path.read_bytes())
    at = data.index(b"alike")  # the title, in the root group's header
    data[at] = ord("A")
    path.write_bytes(bytes(data))
    assert relocation.probe(_edges(path)) is None


def test_an_input_whose_size_does_not_add_up_is_refused(tmp_path: Path) -> None:
    """A chunk's size field that does not match where the rest of the file lies."""
    relocation = _learnt(tmp_path)
    size_field = next(f for r in relocation.regions for f in r.fields if f.kind == "size")
    path = tmp_path / "z2.nc"
    data = bytearray(path.read_bytes())
    value = int.from_bytes(data[size_field.at : size_field.at + size_field.width], "little")
    data[size_field.at : size_field.at + size_field.width] = (value - 8).to_bytes(
        size_field.width, "little"
    )
    path.write_bytes(bytes(data))
    assert relocation.probe(_edges(path)) is None


def test_nothing_is_learnt_from_inputs_of_equal_chunk_sizes(tmp_path: Path) -> None:
    """Where a chunk's size lies shows only where two inputs' sizes differ."""
    _day(tmp_path / "a.nc", 0, storage="zlib")
    (tmp_path / "b.nc").write_bytes((tmp_path / "a.nc").read_bytes())
    first, found = _probed(tmp_path / "a.nc")
    model = model_of(first, found)
    assert model is not None
    source, other = _probed(tmp_path / "b.nc")
    assert relocation_of(model, other, source) is None


@pytest.mark.parametrize("bounds_units", [True, False], ids=["bounds-units", "units-of-time"])
def test_a_compressed_archive_is_parsed_twice_then_read_from_its_edges(
    http_server: SourceServer, monkeypatch: pytest.MonkeyPatch, bounds_units: bool
) -> None:
    """Each input's header equals its full parse, and its own chunk holds its values."""
    for day in range(DAYS):
        _day(http_server.root / f"z{day}.nc", day, storage="zlib", bounds_units=bounds_units)
    repeats = Repeats()
    probed = h5_files_passed_to(monkeypatch, repeated, "probe")
    found = [_open(http_server, f"z{day}.nc", day, repeats) for day in range(DAYS)]
    assert len(probed) == 2  # the first two: the others never go through HDF5
    monkeypatch.undo()
    for day, header in enumerate(found):
        _same(header, _open(http_server, f"z{day}.nc", day, None))
        cmap = chunk_of(header.input, "sst")
        assert cmap is not None
        out = np.empty(cmap.shape, cmap.np_dtype)
        key = tuple(slice(0, n) for n in cmap.shape)
        read_pieces([PieceRead(header.url, cmap, key, out)], options={}, retry=RETRY)
        with xr.open_dataset(http_server.root / f"z{day}.nc", mask_and_scale=False) as ds:
            np.testing.assert_array_equal(out, ds["sst"].values)
    assert found[3].coords["time"].values[0] == np.datetime64("2020-01-04")


def test_an_input_with_other_time_units_is_parsed(
    http_server: SourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other units are other header bytes: not moved, so parsed, and decoded with them."""
    for day in range(3):
        _day(http_server.root / f"z{day}.nc", day, storage="zlib")
    _day(http_server.root / "z3.nc", 3, units="hours since 2020-01-01", storage="zlib")
    repeats = Repeats()
    probed = h5_files_passed_to(monkeypatch, repeated, "probe")
    found = [_open(http_server, f"z{day}.nc", day, repeats) for day in range(4)]
    assert len(probed) == 3  # the first two, and the one written otherwise
    monkeypatch.undo()
    _same(found[3], _open(http_server, "z3.nc", 3, None))
    assert found[3].variables["time"].encoding["units"] == "hours since 2020-01-01"


def test_a_layout_is_given_up_on_after_inputs_that_teach_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arcoforge.sources.fastheaders import relocated

    _day(tmp_path / "a.nc", 0, storage="zlib")
    source, found = _probed(tmp_path / "a.nc")
    model = model_of(source, found)
    tried: list[int] = []
    monkeypatch.setattr(relocated, "relocation_of", lambda *args: tried.append(1))
    learnt: relocated.Learnt[str] = relocated.Learnt(limit=2)
    for _ in range(relocated.TRIES + 2):
        learnt.learn(found.key, "layout", model, found, source)
    assert len(tried) == relocated.TRIES and learnt.newest_first() == []


def test_the_oldest_relocations_are_forgotten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arcoforge.sources.fastheaders import relocated

    relocation = _learnt(tmp_path)
    source, found = _probed(tmp_path / "z0.nc")
    monkeypatch.setattr(relocated, "relocation_of", lambda *args: relocation)
    learnt: relocated.Learnt[str] = relocated.Learnt(limit=2)
    for key in ("a", "b", "c"):
        learnt.learn(key, key, relocation.model, found, source)
    assert [(k, owner) for k, owner, _ in learnt.newest_first()] == [("c", "c"), ("b", "b")]
    learnt.forget("c")
    assert [k for k, _, _ in learnt.newest_first()] == ["b"]
