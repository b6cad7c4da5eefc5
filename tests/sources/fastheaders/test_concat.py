"""Consecutive inputs of one layout, folded into one, combine as they would one by one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import xarray as xr

from arcoforge.demo.dataset import PACKED_INT16, SampleFile, make_sst, write_files
from arcoforge.errors import IncompatibleInputsError
from arcoforge.pipeline.virtual_stages import with_full_firsts
from arcoforge.plan.virtual import UnrepresentableError, combine_virtual
from arcoforge.recipe.pattern import Index
from arcoforge.sources.fastheaders.concat import Stamp, foldable
from arcoforge.sources.fastheaders.templates import HeaderTemplates
from arcoforge.sources.retry import RetryPolicy
from arcoforge.sources.virtual import VirtualInput, folded, read_virtual

from .test_templates import ZLIB, _own_units, _same

CASES: dict[str, tuple[Callable[[], xr.Dataset], dict[str, Any], int]] = {
    # name: (dataset, how it is split into files, inputs after folding)
    "float32, contiguous": (lambda: make_sst(days=10), {"steps": 2}, 2),
    "packed int16": (
        lambda: make_sst(days=10),
        {"steps": 2, "encoding": {"sst": PACKED_INT16}},
        2,
    ),
    "zlib, several chunks a file": (
        lambda: make_sst(days=12),
        {"steps": 3, "encoding": {"sst": ZLIB, "anom": ZLIB}},
        2,
    ),
    # every file its own time units: decoded one by one, never folded
    "noleap, each file its own time units": (
        lambda: make_sst(days=10, calendar="noleap"),
        {"steps": 2, "per_file": _own_units},
        5,
    ),
}


def _read(
    files: list[SampleFile], layouts: HeaderTemplates, start: int = 0
) -> list[VirtualInput | Stamp]:
    return [
        read_virtual(Index((("time", start + i),)), f.path.as_uri(), layouts=layouts)
        for i, f in enumerate(files)
    ]


def _ctx(file_type: Any) -> Any:
    return SimpleNamespace(
        merge_dims=(), file_type=file_type, source_options={}, retry=RetryPolicy(), auth=None
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_folded_inputs_combine_like_inputs_one_by_one(tmp_path: Path, case: str) -> None:
    make, options, expected = CASES[case]
    files = write_files(make(), tmp_path, **options)
    together = folded(_read(files, HeaderTemplates()), "time")
    alone = folded(_read(files, HeaderTemplates()), None)
    assert len(alone) == len(files) and len(together) == expected
    assert [u for vi in together for _, u in vi.parts] == [f.path.as_uri() for f in files]
    _same(
        combine_virtual(together, concat_dims=("time",)),
        combine_virtual(alone, concat_dims=("time",)),
    )


def test_a_file_with_another_grid_is_not_folded_and_is_named(tmp_path: Path) -> None:
    def shifted(i: int, ds: xr.Dataset) -> xr.Dataset:
        return ds.assign_coords(lat=ds.lat + 0.5) if i == 3 else ds

    files = write_files(make_sst(days=6), tmp_path, steps=1, per_file=shifted)
    inputs = folded(_read(files, HeaderTemplates()), "time")
    assert [len(vi.parts) for vi in inputs] == [1, 2, 1, 2]
    with pytest.raises(IncompatibleInputsError, match=f"'lat' differs .*{files[3].path.name}"):
        combine_virtual(inputs, concat_dims=("time",))


def test_times_going_backwards_inside_a_fold_name_their_file(tmp_path: Path) -> None:
    def late(i: int, ds: xr.Dataset) -> xr.Dataset:
        if i != 4:
            return ds
        out = ds.assign_coords(time=ds.time - np.timedelta64(3, "D"))
        out.time.encoding.update(ds.time.encoding)  # the same units: the same layout
        return out

    files = write_files(make_sst(days=6), tmp_path, steps=1, per_file=late)
    inputs = folded(_read(files, HeaderTemplates()), "time")
    assert [len(vi.parts) for vi in inputs] == [1, 5]
    with pytest.raises(IncompatibleInputsError, match=f"goes backwards between .*{files[4].path}"):
        combine_virtual(inputs, concat_dims=("time",))


def test_files_ending_inside_a_chunk_are_not_folded_and_are_refused(tmp_path: Path) -> None:
    chunked = {**ZLIB, "chunksizes": (2, 18, 36)}
    files = write_files(
        make_sst(days=9), tmp_path, steps=3, encoding={"sst": chunked, "anom": chunked}
    )
    items = _read(files, HeaderTemplates())
    stamps = [item for item in items if isinstance(item, Stamp)]
    assert stamps and not foldable(stamps[0].layout, "time")
    inputs = folded(items, "time")
    assert [len(vi.parts) for vi in inputs] == [1, 1, 1]
    with pytest.raises(UnrepresentableError, match="last chunk is partial"):
        combine_virtual(inputs, concat_dims=("time",))


def test_the_first_step_is_never_folded(tmp_path: Path) -> None:
    files = write_files(make_sst(days=5), tmp_path, steps=1)
    layouts = HeaderTemplates()
    _read(files[-1:], layouts, start=4)  # its layout is known before the first file is read
    inputs = folded(_read(files, layouts), "time")
    assert [len(vi.parts) for vi in inputs] == [1, 4] and inputs[0].stamped
    fixed = with_full_firsts(_ctx(inputs[0].file_type), inputs)
    assert [(vi.stamped, len(vi.parts)) for vi in fixed] == [(False, 1), (True, 4)]


def test_a_fold_that_starts_a_pattern_is_parsed_in_full(tmp_path: Path) -> None:
    """A pattern whose steps start after 0: the fold holds the first input of the combine."""

    def history(i: int, ds: xr.Dataset) -> xr.Dataset:
        return ds.assign_attrs(history=f"file {i}")

    files = write_files(make_sst(days=4), tmp_path, steps=1, per_file=history)
    layouts = HeaderTemplates()
    _read(files[-1:], layouts, start=9)
    inputs = folded(_read(files, layouts, start=1), "time")
    assert [len(vi.parts) for vi in inputs] == [4]
    assert inputs[0].dataset.attrs["history"] == "file 3"  # the layout's
    fixed = with_full_firsts(_ctx(inputs[0].file_type), inputs)
    assert [(vi.stamped, len(vi.parts)) for vi in fixed] == [(False, 1)] * 4
    combined = combine_virtual(fixed, concat_dims=("time",))
    assert combined.attrs["history"] == "file 0" and combined.sizes["time"] == 4
