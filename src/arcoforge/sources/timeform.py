"""Whether a variable holds times (CF), and in which form: the one place that decides it."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import numpy as np


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
