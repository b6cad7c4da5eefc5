"""Inputs laid out like one parsed before are made from it, and equal a full parse."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import xarray as xr

from arcoforge.demo.dataset import PACKED_INT16, SampleFile, make_sst, write_files
from arcoforge.pipeline.virtual_stages import with_full_firsts
from arcoforge.plan.virtual import UnrepresentableError, combine_virtual
from arcoforge.recipe.pattern import Index
from arcoforge.sources.fastheaders.templates import HeaderTemplates
from arcoforge.sources.retry import RetryPolicy
from arcoforge.sources.virtual import VirtualInput, open_virtual
from tests.helpers import h5_files_passed_to

ZLIB = {"zlib": True, "complevel": 1, "shuffle": True, "chunksizes": (1, 18, 36)}


def _own_units(i: int, ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.time.encoding["units"] = f"hours since 20{10 + i}-06-01"
    return ds


CASES: dict[str, tuple[Callable[[], xr.Dataset], dict[str, Any]]] = {
    "float32, contiguous": (lambda: make_sst(days=6), {"steps": 2}),
    "packed int16": (lambda: make_sst(days=6), {"steps": 2, "encoding": {"sst": PACKED_INT16}}),
    "zlib, several chunks a file": (
        lambda: make_sst(days=6),
        {"steps": 3, "encoding": {"sst": ZLIB, "anom": ZLIB}},
    ),
    "noleap, each file its own time units": (
        lambda: make_sst(days=6, calendar="noleap"),
        {"steps": 2, "per_file": _own_units},
    ),
    "uneven files": (
        lambda: make_sst(days=7),
        {"steps": [2, 3, 2], "encoding": {"sst": ZLIB, "anom": ZLIB}},
    ),
}


def _open(files: list[SampleFile], layouts: HeaderTemplates | None) -> list[VirtualInput]:
    return [
        open_virtual(Index((("time", i),)), f.path.as_uri(), layouts=layouts)
        for i, f in enumerate(files)
    ]


def _same(a: xr.Dataset, b: xr.Dataset) -> None:
    """The same variables, byte ranges, metadata, loaded values and time encodings."""
    assert list(a.variables) == list(b.variables)
    assert set(a.coords) == set(b.coords)
    for name, x in a.variables.items():
        y = b.variables[name]
        assert (x.dims, x.dtype) == (y.dims, y.dtype), name
        if type(x.data).__name__ == "ManifestArray":
            assert x.data.metadata.to_dict() == y.data.metadata.to_dict(), name
            mx, my = x.data.manifest, y.data.manifest
            assert np.array_equal(mx._paths, my._paths), name
            assert np.array_equal(mx._offsets, my._offsets), name
            assert np.array_equal(mx._lengths, my._lengths), name
        else:
            assert x.identical(y), name
            for key in ("units", "calendar", "dtype"):
                assert x.encoding.get(key) == y.encoding.get(key), (name, key)


@pytest.mark.parametrize("case", sorted(CASES))
def test_stamped_inputs_equal_full_parses(tmp_path: Path, case: str) -> None:
    make, options = CASES[case]
    files = write_files(make(), tmp_path, **options)
    layouts = HeaderTemplates()
    stamped = _open(files, layouts)
    full = _open(files, None)
    assert not stamped[0].stamped and not any(vi.stamped for vi in full)
    shapes = {vi.dataset.sizes["time"] for vi in full}  # one layout for each file length
    assert sum(vi.stamped for vi in stamped) == len(files) - len(shapes)
    for s, f in zip(stamped, full, strict=True):
        _same(s.dataset, f.dataset)
    xr.testing.assert_identical(
        combine_virtual(stamped, concat_dims=("time",)).reset_coords(drop=False)[["time"]],
        combine_virtual(full, concat_dims=("time",)).reset_coords(drop=False)[["time"]],
    )


def test_files_laid_out_differently_are_parsed_in_full(tmp_path: Path) -> None:
    ds = make_sst(days=4)
    other = {**PACKED_INT16, "scale_factor": np.float32(0.02)}
    a = write_files(
        ds.isel(time=slice(0, 2)), tmp_path, name="a{i}.nc", encoding={"sst": PACKED_INT16}
    )
    b = write_files(ds.isel(time=slice(2, 4)), tmp_path, name="b{i}.nc", encoding={"sst": other})
    layouts = HeaderTemplates()
    inputs = _open(a + b, layouts)
    assert [vi.stamped for vi in inputs] == [False, True, False, True]
    assert len(layouts) == 2
    with pytest.raises(UnrepresentableError, match="scale_factor"):
        combine_virtual(inputs, concat_dims=("time",))


def test_the_first_input_gets_its_own_attributes(tmp_path: Path) -> None:
    def history(i: int, ds: xr.Dataset) -> xr.Dataset:
        return ds.assign_attrs(history=f"file {i}")

    files = write_files(make_sst(days=4), tmp_path, steps=1, per_file=history)
    layouts = HeaderTemplates()
    # The last file is met first, so the first one is made from its layout
    inputs = [
        open_virtual(Index((("time", i),)), files[i].path.as_uri(), layouts=layouts)
        for i in reversed(range(len(files)))
    ]
    assert inputs[-1].stamped and inputs[-1].dataset.attrs["history"] == "file 3"
    ctx: Any = SimpleNamespace(
        merge_dims=(),
        file_type=inputs[0].file_type,
        source_options={},
        retry=RetryPolicy(),
        auth=None,
    )
    fixed = with_full_firsts(ctx, inputs)
    first = next(vi for vi in fixed if vi.index == Index((("time", 0),)))
    assert not first.stamped and first.dataset.attrs["history"] == "file 0"
    combined = combine_virtual(fixed, concat_dims=("time",))
    assert combined.attrs["history"] == "file 0"


def test_a_chunk_larger_than_its_array_is_not_stamped(tmp_path: Path) -> None:
    """VirtualiZarr trims such a chunk; its byte lengths cannot be taken from a probe."""
    ds = make_sst(days=4, variables=("sst",))
    ds["flag"] = ("time", np.arange(4, dtype="int32"))
    paths = []
    for i in range(2):
        path = tmp_path / f"part{i}.nc"
        ds.isel(time=slice(2 * i, 2 * i + 2)).to_netcdf(
            path,
            engine="h5netcdf",
            unlimited_dims=["time"],
            encoding={"flag": {"chunksizes": (8,)}},
        )
        paths.append(path)
    layouts = HeaderTemplates()
    inputs = [
        open_virtual(Index((("time", i),)), p.as_uri(), layouts=layouts)
        for i, p in enumerate(paths)
    ]
    assert inputs[0].dataset["flag"].data.metadata.chunks == (2,)  # trimmed by VirtualiZarr
    assert not any(vi.stamped for vi in inputs) and len(layouts) == 0


def _probes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the h5py probes (each a file read through h5py's metadata)."""
    from arcoforge.sources.fastheaders import probes

    return h5_files_passed_to(monkeypatch, probes, "probe")


@pytest.mark.parametrize("chunked_time", [False, True], ids=["contiguous", "chunked time"])
def test_inputs_that_repeat_a_model_are_read_without_a_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunked_time: bool
) -> None:
    """Same size, same bytes but data: the model's probe, their own values and ranges."""
    encoding: dict[str, Any] = {"sst": PACKED_INT16}
    if chunked_time:  # loaded values then come through h5py, not from the bytes
        encoding["time"] = {"chunksizes": (2,)}
    files = write_files(make_sst(days=8), tmp_path, steps=2, encoding=encoding)
    assert len({f.path.stat().st_size for f in files}) == 1
    probed = _probes(monkeypatch)
    layouts = HeaderTemplates()
    repeated = _open(files, layouts)
    assert len(probed) == 1 and [vi.stamped for vi in repeated] == [False, True, True, True]
    for r, f in zip(repeated, _open(files, None), strict=True):
        _same(r.dataset, f.dataset)
    times = combine_virtual(repeated, concat_dims=("time",))["time"].values
    assert len(set(times.tolist())) == 8


def test_compressed_inputs_are_probed_twice_then_stamped_from_their_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each file's chunks have their own sizes: the second probe shows where files
    differ, and the others are stamped without one (see fastheaders.relocated)."""
    files = write_files(make_sst(days=6), tmp_path, steps=1, encoding={"sst": ZLIB, "anom": ZLIB})
    assert len({f.path.stat().st_size for f in files}) == len(files)
    probed = _probes(monkeypatch)
    stamped = _open(files, HeaderTemplates())
    assert len(probed) == 2 and [vi.stamped for vi in stamped] == [False] + [True] * 5
    monkeypatch.undo()
    for s, f in zip(stamped, _open(files, None), strict=True):
        _same(s.dataset, f.dataset)


def test_a_metadata_byte_of_its_own_means_a_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def history(i: int, ds: xr.Dataset) -> xr.Dataset:
        return ds.assign_attrs(history=f"file {i}")  # same length, other bytes

    files = write_files(make_sst(days=3), tmp_path, steps=1, per_file=history)
    assert len({f.path.stat().st_size for f in files}) == 1
    probed = _probes(monkeypatch)
    inputs = _open(files, HeaderTemplates())
    assert len(probed) == 3 and [vi.stamped for vi in inputs] == [False, True, True]


def test_a_model_is_kept_only_if_its_parse_read_just_the_edges(tmp_path: Path) -> None:
    from arcoforge.sources.fastheaders import probes, templates
    from arcoforge.sources.fastheaders.edges import RangeFile

    (f,) = write_files(make_sst(days=1), tmp_path)
    data = f.path.read_bytes()
    source = RangeFile(lambda o, n: data[o : o + n], len(data), {0: data[:64]})
    import h5py

    with h5py.File(source, "r") as h5:
        probed = probes.probe(h5)
    assert probed is not None and source.fetches > 0
    assert templates.model_of(source, probed) is None
    whole = RangeFile(lambda o, n: b"", len(data), {0: data})
    model = templates.model_of(whole, probed)
    assert model is not None and templates.repeats(model, whole)
    # every stored byte of every dataset is left out of the comparison, nothing else
    checked = sum(b - a for _, a, b in model.checked)
    stored = sum(n for s in probed.stored.values() for _, _, n in s.entries)
    assert checked + stored == len(data)
