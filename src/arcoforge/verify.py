"""Checking a written dataset against its sources, opened the way ARCO Forge combines them."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import xarray as xr

#: Root attributes ARCO Forge adds to record provenance.
PROVENANCE_PREFIX = "arcoforge_"


def open_sources(
    paths: Sequence[str] | Sequence[Sequence[str]],
    concat_dim: str | Sequence[str | None],
    *,
    engine: str | None = None,
) -> xr.Dataset:
    """The sources combined with the semantics ARCO Forge follows (see docs/running.md)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xr.open_mfdataset(
            paths,
            combine="nested",
            # xarray's annotation leaves out the None that a nested combine takes
            concat_dim=cast("Any", concat_dim),
            data_vars="minimal",
            coords="minimal",
            compat="override",
            join="exact",
            combine_attrs="override",
            engine=engine,
        )


#: numpy dtype kinds that hold text: fixed-width, variable-width (StringDType), objects.
_TEXT = {"U", "T", "O"}


def compare(result: xr.Dataset, sources: xr.Dataset) -> list[str]:
    """The differences between a result and its sources; empty when they match.

    Values must be equal (NaN equal to NaN), with one allowance: a packed
    variable (int16 with a float32 scale_factor) decodes to float64 from Zarr,
    whose JSON attributes cannot say float32, so it is compared after a cast
    to the source's dtype (exact: the float64 product holds the float32 one).
    """
    problems = []
    got_attrs = {k: v for k, v in result.attrs.items() if not k.startswith(PROVENANCE_PREFIX)}
    if set(result.variables) != set(sources.variables):
        problems.append(
            f"variables differ: {sorted(map(str, result.variables))} vs "
            f"{sorted(map(str, sources.variables))}"
        )
        return problems
    if dict(result.sizes) != dict(sources.sizes):
        problems.append(f"sizes differ: {dict(result.sizes)} vs {dict(sources.sizes)}")
        return problems
    for name in sources.variables:
        a, b = result[name].variable, sources[name].variable
        if a.dims != b.dims:
            problems.append(f"{name}: dims {a.dims} vs {b.dims}")
            continue
        if a.dtype != b.dtype and a.dtype.kind == b.dtype.kind == "f":
            a = a.astype(b.dtype)
        elif a.dtype != b.dtype and {a.dtype.kind, b.dtype.kind} <= _TEXT:
            # the same strings, held as numpy's fixed-width, variable-width or objects
            a, b = a.astype(object), b.astype(object)
        elif a.dtype != b.dtype:
            problems.append(f"{name}: dtype {a.dtype} vs {b.dtype}")
            continue
        if not a.load().equals(b.load()):
            problems.append(f"{name}: values differ")
        if not same_attrs(a.attrs, b.attrs):
            problems.append(f"{name}: attributes {dict(a.attrs)} vs {dict(b.attrs)}")
    if not same_attrs(got_attrs, sources.attrs):
        problems.append(f"global attributes differ: {got_attrs} vs {dict(sources.attrs)}")
    return problems


def same_attrs(a: Mapping[Any, Any], b: Mapping[Any, Any]) -> bool:
    """Attribute equality that treats arrays and lists of equal values as equal, NaN too."""
    return set(a) == set(b) and all(_same_value(a[k], b[k]) for k in a)


def _same_value(x: Any, y: Any) -> bool:
    if isinstance(x, str | bytes | np.dtype) or isinstance(y, str | bytes | np.dtype):
        return bool(x == y)
    left, right = np.asarray(x), np.asarray(y)
    try:
        return bool(np.array_equal(left, right, equal_nan=True))
    except TypeError:  # values NaN cannot be among
        return bool(np.array_equal(left, right))
