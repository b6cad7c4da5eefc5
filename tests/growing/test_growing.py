"""The pure checks of an update: which inputs are new, and whether a dataset extends another."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from arcoforge.errors import SourceChangedError, UpdateRefusedError
from arcoforge.pipeline.growing import check_extends, new_inputs, next_version
from arcoforge.sources.manifest import InputIdentity, Manifest


def _manifest(*names: str, size: int = 10, skipped: tuple[str, ...] = ()) -> Manifest:
    """Inputs ``names`` in order (those in ``skipped`` recorded as left out, not held)."""
    return Manifest(
        {
            f"time={i}": InputIdentity(f"https://h/{n}.nc", size)
            for i, n in enumerate(names)
            if n not in skipped
        },
        missing={f"time={i}": f"https://h/{n}.nc" for i, n in enumerate(names) if n in skipped},
    )


def test_new_inputs_are_those_after_the_recorded_ones() -> None:
    added = new_inputs("out", _manifest("a", "b"), _manifest("a", "b", "c", "d"))
    assert added.appended == ["time=2", "time=3"] and added.filled == []
    assert not new_inputs("out", _manifest("a", "b"), _manifest("a", "b"))


def test_inputs_recorded_as_skipped_are_filled_in() -> None:
    recorded = _manifest("a", "b", "c", "d", skipped=("b", "d"))
    added = new_inputs("out", recorded, _manifest("a", "b", "c", "d", "e"))
    assert added.filled == ["time=1", "time=3"] and added.appended == ["time=4"]
    still = new_inputs("out", recorded, _manifest("a", "b", "c", "d", skipped=("d",)))
    assert still.filled == ["time=1"] and still.appended == []
    with pytest.raises(UpdateRefusedError, match=r"https://h/z\.nc would go before"):
        new_inputs("out", recorded, _manifest("a", "z", "b", "c", "d"))


def test_an_input_before_the_last_is_going_back_in_time() -> None:
    with pytest.raises(UpdateRefusedError, match=r"https://h/z\.nc would go before.*back in time"):
        new_inputs("out", _manifest("a", "b"), _manifest("z", "a", "b", "c"))


def test_an_input_gone_or_changed_is_refused() -> None:
    with pytest.raises(UpdateRefusedError, match=r"no longer lists: https://h/a\.nc"):
        new_inputs("out", _manifest("a", "b"), _manifest("b", "c"))
    with pytest.raises(SourceChangedError, match=r"https://h/a\.nc.*size 10 → 11"):
        new_inputs("out", _manifest("a"), _manifest("a", "b", size=11))


def _ds(days: int, start: str = "2020-01-01", extra: bool = False) -> xr.Dataset:
    time = xr.date_range(start, periods=days, freq="D", use_cftime=False)
    ds = xr.Dataset(
        {"sst": (("time", "lat"), np.zeros((days, 3), "float32"))},
        coords={"time": time, "lat": [1.0, 2.0, 3.0]},
    )
    return ds.assign(anom=ds.sst) if extra else ds


def test_extends() -> None:
    check_extends("out", _ds(3), _ds(5), "time")
    with pytest.raises(UpdateRefusedError, match=r"new variables \['anom'\]"):
        check_extends("out", _ds(3), _ds(5, extra=True), "time")
    with pytest.raises(UpdateRefusedError, match="overlap it or go back in time"):
        check_extends("out", _ds(3), _ds(5, start="2019-12-31"), "time")
    other = _ds(5).assign_coords(lat=[1.0, 2.0, 4.0])
    with pytest.raises(UpdateRefusedError, match="values of lat"):
        check_extends("out", _ds(3), other, "time")
    wider = _ds(5).astype({"sst": "float64"})
    with pytest.raises(UpdateRefusedError, match="sst: dtype float32 → float64"):
        check_extends("out", _ds(3), wider, "time")


def test_extends_with_filled_steps() -> None:
    gappy = _ds(5).isel(time=[0, 1, 3])
    check_extends("out", gappy, _ds(6), "time", filled=True)
    with pytest.raises(UpdateRefusedError, match="overlap it or go back in time"):
        check_extends("out", gappy, _ds(6), "time")
    with pytest.raises(UpdateRefusedError, match="overlap it or go back in time"):
        check_extends("out", gappy, _ds(3), "time", filled=True)


def test_versions_count_up() -> None:
    assert next_version({}) == 2
    assert next_version({"arcoforge_dataset_version": 4}) == 5
