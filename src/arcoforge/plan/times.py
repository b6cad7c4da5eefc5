"""Time coordinates across inputs: one calendar, increasing values, one target encoding."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

import numpy as np
from xarray.coding.times import encode_cf_datetime

from arcoforge.errors import IncompatibleInputsError

_SAME_CALENDAR = {"gregorian": "standard", "": "standard"}


class TimeForm(StrEnum):
    """How a variable that holds times holds them."""

    #: decoded: numpy datetimes, or cftime dates (their calendar kept in the encoding)
    DECODED = "decoded"
    #: still CF-encoded numbers: units "<unit> since <date>" or a calendar attribute
    ENCODED = "encoded"


def time_form(
    dtype: np.dtype | None = None,
    encoding: Mapping[Any, Any] | None = None,
    attrs: Mapping[Any, Any] | None = None,
    sample: object = None,
) -> TimeForm | None:
    """Whether a variable holds times, and in which form; None if it does not.

    The one place that decides "is this variable a time", for headers, copies,
    references, sources and the catalog. ``sample`` is one of its values, if known
    (a cftime date carries its calendar).
    """
    kind = dtype.kind if dtype is not None else None
    if kind == "M":
        return TimeForm.DECODED
    if kind == "O" and ("calendar" in (encoding or {}) or hasattr(sample, "calendar")):
        return TimeForm.DECODED
    found = attrs or {}
    if kind in (None, "i", "u", "f") and (
        " since " in str(found.get("units", "")) or "calendar" in found
    ):
        return TimeForm.ENCODED
    return None


def calendar_of(encoding: dict[str, Any]) -> str:
    """The calendar of a time variable's encoding, with CF synonyms made one."""
    cal = str(encoding.get("calendar", "standard")).lower()
    return _SAME_CALENDAR.get(cal, cal)


def check_calendars(name: str, calendars: Sequence[tuple[str, str]]) -> str:
    """The one calendar of ``(url, calendar)`` pairs; refuses a mix."""
    first_url, first = calendars[0]
    for url, cal in calendars[1:]:
        if cal != first:
            raise IncompatibleInputsError(
                f"{name!r} uses calendar {first!r} in {first_url} but {cal!r} in {url}. "
                "Inputs in different calendars cannot be concatenated; convert them first "
                "(preprocess in recipe.py with ds.convert_calendar)."
            )
    return first


def check_increasing(name: str, values: np.ndarray, owners: Sequence[tuple[int, str]]) -> None:
    """Refuse times that repeat or go backwards; ``owners`` maps start offsets to URLs."""
    if len(values) < 2:
        return
    try:
        ok = values[1:] > values[:-1]
    except TypeError:
        raise IncompatibleInputsError(
            f"{name!r}: the inputs' times cannot be compared (some decode to numpy datetimes "
            "and some to cftime dates, e.g. years outside 1678-2262). Open them all with "
            "one calendar."
        ) from None
    bad = np.flatnonzero(~np.asarray(ok, dtype=bool))
    if bad.size == 0:
        return
    i = int(bad[0])
    a, b = _owner(owners, i), _owner(owners, i + 1)
    what = "repeats" if values[i + 1] == values[i] else "goes backwards"
    where = f"in {a}" if a == b else f"between {a} and {b}"
    raise IncompatibleInputsError(
        f"{name!r} {what} {where}: {_fmt(values[i])} is followed by {_fmt(values[i + 1])}. "
        "Inputs must cover increasing, non-overlapping times; check the order of the keys "
        "and for files that cover the same period."
    )


def _owner(owners: Sequence[tuple[int, str]], position: int) -> str:
    url = owners[0][1]
    for start, u in owners:
        if start > position:
            break
        url = u
    return url


def _fmt(value: Any) -> str:
    if isinstance(value, np.datetime64):
        return str(value.astype("datetime64[s]"))
    return str(value)


def target_time_encoding(
    name: str, values: np.ndarray, first: dict[str, Any], calendar: str
) -> dict[str, Any]:
    """The first input's units and dtype, or finer units if those can't hold every value."""
    units = first.get("units")
    dtype = first.get("dtype")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # xarray warns when it moves to finer units
        try:
            _, units, calendar = encode_cf_datetime(
                values, units, calendar, dtype=np.dtype(dtype) if dtype is not None else None
            )
        except (ValueError, OverflowError, TypeError) as e:
            raise IncompatibleInputsError(
                f"{name!r}: cannot store the combined times with units {units!r}: {e}"
            ) from None
    out: dict[str, Any] = {"units": units, "calendar": calendar}
    if dtype is not None:
        out["dtype"] = np.dtype(dtype)
    return out
