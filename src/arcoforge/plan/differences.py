"""What may differ between combined inputs, decided once for copies and references.

Both outputs describe each input's variables as :class:`VariableHeader` and ask
this module, in the same order, whether two inputs may be combined. It refuses
what no output can combine (different variables, dims, grids, dtypes, calendars),
with one message naming the variable, the files and what differs, and reports
how stored values are encoded differently (packing, fill values, stored dtype,
time units): a copy decodes and re-encodes those, while references, which can
only point at the stored bytes, refuse them with the same words.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from arcoforge.errors import IncompatibleInputsError
from arcoforge.plan.merge import Holding, difference
from arcoforge.plan.times import calendar_of, check_calendars
from arcoforge.sources.headers import VariableHeader


@dataclass(frozen=True)
class Held:
    """One input's copy of a variable: the input's URL and the variable's header."""

    url: str
    var: VariableHeader


@dataclass(frozen=True)
class Recoded:
    """Two inputs store a variable's values with different encodings."""

    name: str
    key: str
    first: Held
    other: Held

    @property
    def words(self) -> str:
        """What differs, naming the variable and both files."""
        a = self.first.var.encoding.get(self.key)
        b = self.other.var.encoding.get(self.key)
        return (
            f"Variable {self.name!r} is stored with {self.key} {_show(a)} in {self.first.url} "
            f"but {_show(b)} in {self.other.url}"
        )


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, np.dtype | np.generic):
        return str(value)
    if isinstance(value, float) and float(np.float32(value)) == value:
        return str(np.float32(value))  # a float32 attribute read as a Python float
    return repr(value)


def check_names(first_url: str, first: Collection[str], url: str, names: Collection[str]) -> None:
    """Inputs concatenated together hold the same variables."""
    mine, theirs = set(names), set(first)
    if mine == theirs:
        return
    missing, extra = sorted(theirs - mine), sorted(mine - theirs)
    parts = []
    if missing:
        parts.append(f"lacks {', '.join(map(repr, missing))}")
    if extra:
        parts.append(f"has {', '.join(map(repr, extra))} in addition")
    raise IncompatibleInputsError(
        f"Different variables: compared with {first_url}, {url} {' and '.join(parts)}. "
        "Inputs concatenated together must hold the same variables (drop the extra ones "
        "in a preprocess step of recipe.py)."
    )


def grid_size_error(dim: str, first_url: str, first: int, url: str, n: int) -> Exception:
    """Two inputs have different lengths along a dim they are not concatenated along."""
    return IncompatibleInputsError(
        f"Different grids: dimension {dim!r} has length {first} in {first_url} but {n} in "
        f"{url}. Inputs must share every dimension except the ones they are concatenated along."
    )


def check_alike(
    name: str, first: Held, other: Held, concat_dims: tuple[str, ...]
) -> Recoded | None:
    """Refuse what no output can combine; return how the stored encodings differ, if they do.

    Checked in this order, so both outputs name the same difference first:
    calendars (of times), dims, lengths along the other dims, decoded dtype,
    then the encoding of the stored values.
    """
    a, b = first.var, other.var
    if a.is_time or b.is_time:
        check_calendars(
            name, [(first.url, calendar_of(a.encoding)), (other.url, calendar_of(b.encoding))]
        )
        if a.dtype.kind != b.dtype.kind:
            raise IncompatibleInputsError(
                f"{name!r}: some inputs' times decode to numpy datetimes and others to cftime "
                f"dates ({first.url}, {other.url}); give them one calendar."
            )
    if a.dims != b.dims:
        raise IncompatibleInputsError(
            f"Variable {name!r} has dimensions {a.dims} in {first.url} but {b.dims} in "
            f"{other.url}. Transpose or rename them in a preprocess step of recipe.py."
        )
    for dim, m, n in zip(a.dims, a.shape, b.shape, strict=True):
        if dim not in concat_dims and m != n:
            raise grid_size_error(dim, first.url, m, other.url, n)
    if a.dtype != b.dtype:
        raise IncompatibleInputsError(
            f"Different dtypes: variable {name!r} decodes to {a.dtype} in {first.url} "
            f"but to {b.dtype} in {other.url}. Cast it to one dtype in a preprocess step of "
            "recipe.py."
        )
    return recoded(name, first, other)


def recoded(name: str, first: Held, other: Held) -> Recoded | None:
    """The first encoding key (packing, fill value, stored dtype, units) that differs."""
    a, b = first.var.encoding, other.var.encoding
    for key in sorted(set(a) | set(b)):
        # repr, because NaN fill values compare unequal to themselves
        if repr(_plain(a.get(key))) != repr(_plain(b.get(key))):
            return Recoded(name, key, first, other)
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, np.dtype):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def values_error(
    name: str,
    first: Held,
    a: np.ndarray | None,
    other: Held,
    b: np.ndarray | None,
    *,
    index: bool,
) -> Exception:
    """A variable without a concat dim differs between two concatenated inputs.

    ``a`` and ``b`` are its decoded values in each, or None where they were not kept.
    """
    if index and a is not None and b is not None:
        return IncompatibleInputsError(
            f"Different grids: coordinate {name!r} differs between {first.url} ({_span(a)}) "
            f"and {other.url} ({_span(b)}). Inputs must share every coordinate except the "
            "ones they are concatenated along."
        )
    where = difference(_holding(first, a), _holding(other, b))
    return IncompatibleInputsError(
        f"Variable {name!r} differs between {first.url} and {other.url}, which are "
        f"concatenated, though it has no concat dimension: {where}. Such a variable is kept "
        "once, so it must be equal in every input; fix or drop it in a preprocess step of "
        "recipe.py."
    )


def _holding(held: Held, values: np.ndarray | None) -> Holding:
    if values is not None:
        return Holding.of(held.url, held.var.dims, values)
    return Holding(held.url, held.var.dims, held.var.shape, str(held.var.dtype), None)


def _span(values: np.ndarray) -> str:
    if values.size == 0:
        return "empty"
    flat = values.ravel()
    return f"{values.size} values, {values.dtype}, from {flat[0]} to {flat[-1]}"
