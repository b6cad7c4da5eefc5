"""TargetSchema: the inputs' headers combined into the dataset to write, or refused.

The result has the semantics of ``xr.open_mfdataset(urls, combine="nested",
concat_dim=<concat dims>, data_vars="minimal", coords="minimal",
compat="override", join="exact", combine_attrs="override")`` over the pattern's
grid of inputs: variables with a concat dim are laid end to end, the others
come from the first input, attributes come from the first input. What that
call would silently get wrong (different grids, dtypes or variables, times
that overlap or run backwards, calendars that differ) is refused here, before
anything is written, naming the inputs involved.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from arcoforge.errors import IncompatibleInputsError
from arcoforge.plan.differences import (
    Held,
    check_alike,
    check_names,
    grid_size_error,
    values_error,
)
from arcoforge.plan.merge import Holding, check_shared
from arcoforge.plan.times import (
    calendar_of,
    check_calendars,
    check_increasing,
    target_time_encoding,
)
from arcoforge.recipe.pattern import Index
from arcoforge.sources.cache import CachedInput
from arcoforge.sources.headers import HeaderSet, InputHeader, VariableHeader, hash_values
from arcoforge.sources.timeform import TimeForm, time_form


class Mode(StrEnum):
    """How a variable's values travel from inputs to target."""

    #: stored values copied as they are (every input encodes them the same way)
    RAW = "raw"
    #: values decoded per input, then encoded once with the target's encoding
    DECODED = "decoded"


@dataclass(frozen=True)
class TargetVariable:
    """A variable of the target, written by tasks from the inputs of one merge group."""

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: np.dtype
    encoding: dict[str, Any]
    attrs: dict[str, Any]
    is_coord: bool
    group: tuple[int, ...]
    mode: Mode
    #: the largest source chunk of any input, decompressed (0: contiguous everywhere)
    source_chunk: int = 0
    #: whether any input filters (compresses) its chunks
    compressed: bool = False

    @property
    def stored_dtype(self) -> np.dtype:
        """The dtype of the values as stored in the target."""
        dtype = self.encoding.get("dtype")
        if dtype is not None:
            stored: np.dtype = np.dtype(dtype)
            return stored
        return np.dtype("int64") if self.dtype.kind in "MO" else self.dtype


@dataclass(frozen=True)
class IndexCoord:
    """A dimension's coordinate: its decoded values, written whole by the planner."""

    name: str
    values: np.ndarray
    attrs: dict[str, Any]
    encoding: dict[str, Any]


@dataclass(frozen=True)
class InputPlacement:
    """Where one input's values land: its range along each concat dim."""

    index: Index
    input: CachedInput
    group: tuple[int, ...]
    box: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class TargetSchema:
    """The dataset to write: dims, coordinates, variables, attributes, where each input lands."""

    concat_dims: tuple[str, ...]
    sizes: dict[str, int]
    coords: dict[str, IndexCoord]
    variables: dict[str, TargetVariable]
    attrs: dict[str, Any]
    inputs: tuple[InputPlacement, ...]

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary that changes whenever the dataset written would change."""
        return {
            "sizes": self.sizes,
            "coords": {
                n: {
                    "hash": hash_values(c.values),
                    "attrs": _jsonable(c.attrs),
                    "encoding": _jsonable(c.encoding),
                }
                for n, c in self.coords.items()
            },
            "variables": {
                n: {
                    "dims": v.dims,
                    "dtype": str(v.dtype),
                    "encoding": _jsonable(v.encoding),
                    "attrs": _jsonable(v.attrs),
                    "coord": v.is_coord,
                    "mode": v.mode.value,
                }
                for n, v in self.variables.items()
            },
            "attrs": _jsonable(self.attrs),
            "inputs": [[i.input.url, i.input.version] for i in self.inputs],
        }


def _jsonable(d: dict[str, Any]) -> dict[str, str]:
    return {str(k): repr(v) for k, v in sorted(d.items(), key=lambda kv: str(kv[0]))}


def combine(
    headers: HeaderSet,
    *,
    merge_dims: tuple[str, ...] = (),
    items_per_file: dict[str, int | None] | None = None,
    preprocessed: bool = False,
    gaps: dict[str, dict[int, str]] | None = None,
) -> TargetSchema:
    """Combine every input's header into the target schema, or explain why not.

    ``gaps`` gives, per concat dim, the positions of inputs left out as missing (and
    their URLs). Along a dim with ``items_per_file`` they keep their steps, which the
    target holds as fill values; elsewhere they take no room.
    """
    ordered = headers.sorted()
    if not ordered:
        raise IncompatibleInputsError("no inputs to combine.")
    concat_dims = headers.concat_dims
    declared = items_per_file or {}
    offsets, lengths = _concat_layout(ordered, concat_dims, declared)
    # positions with no input at all (another merge group's input may stand there)
    kept = {
        d: {p: url for p, url in found.items() if p not in lengths[d]}
        for d, found in (gaps or {}).items()
        if declared.get(d) and d in lengths
    }
    for d, found in kept.items():
        for p in found:
            lengths[d][p] = int(declared[d] or 0)
        offsets[d] = [0, *itertools.accumulate(lengths[d][p] for p in sorted(lengths[d]))]
    # Positions with no input (left out as missing) take no room: each present one's rank
    rank = {d: {p: r for r, p in enumerate(sorted(lengths[d]))} for d in concat_dims}
    sizes = {d: offsets[d][-1] for d in concat_dims}
    sizes.update(_grid_sizes(ordered, concat_dims))
    groups: dict[tuple[int, ...], list[InputHeader]] = defaultdict(list)
    for h in ordered:
        groups[tuple(h.index[m] for m in merge_dims)].append(h)
    coords = _index_coords(headers, ordered, concat_dims, offsets)
    for d, found in kept.items():
        if found and d in coords:
            coords[d] = _with_gaps(coords[d], lengths[d], found)
    variables = _variables(headers, groups, set(coords) | set(concat_dims), sizes, preprocessed)
    inputs = tuple(
        InputPlacement(
            index=h.index,
            input=h.input,
            group=tuple(h.index[m] for m in merge_dims),
            box=tuple(_box(offsets[d], rank[d], lengths[d], h.index[d]) for d in concat_dims),
        )
        for h in ordered
    )
    ordered_sizes = {d: sizes[d] for d in _dim_order(ordered[0], sizes)}
    return TargetSchema(concat_dims, ordered_sizes, coords, variables, ordered[0].attrs, inputs)


def _box(
    offsets: list[int], rank: dict[int, int], lengths: dict[int, int], position: int
) -> tuple[int, int]:
    """Where the input at ``position`` of a concat dim lies along it: [start, end)."""
    start = offsets[rank[position]]
    return start, start + lengths[position]


def _with_gaps(coord: IndexCoord, lengths: dict[int, int], gaps: dict[int, str]) -> IndexCoord:
    """``coord`` with the steps of the missing inputs (``gaps``) put back, evenly spaced.

    The present steps must be evenly spaced across the gaps too, so that the missing
    ones are known from them; otherwise the gaps cannot be placed and this says so.
    """
    missing = {p for p in gaps if p in lengths}
    present = np.asarray(coord.values)
    where = np.concatenate(
        [np.arange(start, start + n) for start, n, p in _spans(lengths) if p not in missing]
    )
    total = sum(lengths.values())
    if len(present) >= 2:
        step = (present[-1] - present[0]) / (where[-1] - where[0])
        expected = np.asarray(present[0] + (where - where[0]) * step, dtype=present.dtype)
        if present.dtype.kind == "f":
            even = np.allclose(expected, present, rtol=0, atol=abs(step) * 1e-6)
        else:
            even = np.array_equal(expected, present)
        if even:
            values = present[0] + (np.arange(total) - where[0]) * step
            values = np.asarray(values, dtype=present.dtype)
            return IndexCoord(coord.name, values, coord.attrs, coord.encoding)
    urls = ", ".join(gaps[p] for p in sorted(missing)[:3])
    raise IncompatibleInputsError(
        f"{coord.name!r}: the steps of the missing inputs ({urls}) cannot be placed: the "
        f"{coord.name} steps of the other inputs are not evenly spaced, so theirs are unknown. "
        f"Remove items_per_file for {coord.name!r} to leave their steps out instead, or set "
        "on_missing: fail."
    )


def _spans(lengths: dict[int, int]) -> list[tuple[int, int, int]]:
    """(start, length, position) of each position along a concat dim, in order."""
    out, start = [], 0
    for p in sorted(lengths):
        out.append((start, lengths[p], p))
        start += lengths[p]
    return out


def _dim_order(first: InputHeader, sizes: dict[str, int]) -> list[str]:
    order = [d for d in first.sizes if d in sizes]
    return order + [d for d in sizes if d not in order]


def _concat_layout(
    ordered: list[InputHeader], concat_dims: tuple[str, ...], declared: dict[str, int | None]
) -> tuple[dict[str, list[int]], dict[str, dict[int, int]]]:
    """Each concat dim's length at each position, checked, and the running offsets."""
    lengths: dict[str, dict[int, int]] = {d: {} for d in concat_dims}
    seen: dict[tuple[str, int], str] = {}
    for h in ordered:
        for d in concat_dims:
            n, p = h.sizes[d], h.index[d]
            expected = declared.get(d)
            if expected is not None and n != expected:
                raise IncompatibleInputsError(
                    f"{h.url}: the recipe says each input has {expected} step(s) along {d!r} "
                    f"(items_per_file). This one has {n}. Fix items_per_file or remove it "
                    "to read the counts from the inputs."
                )
            if p in lengths[d] and lengths[d][p] != n:
                raise IncompatibleInputsError(
                    f"{seen[(d, p)]} has {lengths[d][p]} step(s) along {d!r} but {h.url}, at "
                    f"the same {d} position, has {n}. Inputs at one position of a concat dim "
                    "must have the same length along it."
                )
            lengths[d].setdefault(p, n)
            seen.setdefault((d, p), h.url)
    offsets = {
        d: [0, *itertools.accumulate(lengths[d][p] for p in sorted(lengths[d]))]
        for d in concat_dims
    }
    return offsets, lengths


def _grid_sizes(ordered: list[InputHeader], concat_dims: tuple[str, ...]) -> dict[str, int]:
    """Sizes of the dims that are not concatenated: equal in every input."""
    sizes: dict[str, tuple[int, str]] = {}
    for h in ordered:
        for dim, n in h.sizes.items():
            if dim in concat_dims:
                continue
            if dim in sizes and sizes[dim][0] != n:
                raise grid_size_error(dim, sizes[dim][1], sizes[dim][0], h.url, n)
            sizes.setdefault(dim, (n, h.url))
    return {dim: n for dim, (n, _) in sizes.items()}


def _index_coords(
    headers: HeaderSet,
    ordered: list[InputHeader],
    concat_dims: tuple[str, ...],
    offsets: dict[str, list[int]],
) -> dict[str, IndexCoord]:
    coords: dict[str, IndexCoord] = {}
    first_of: dict[str, InputHeader] = {}
    for h in ordered:
        for name in h.coords:
            first_of.setdefault(name, h)
    for name, first in first_of.items():
        var = first.variables[name]
        if name in concat_dims:
            coords[name] = _concat_coord(headers, ordered, name, offsets[name])
            continue
        ref = first.coords[name]
        for h in ordered:
            other = h.coords.get(name)
            if other is not None and other.hash != ref.hash:
                a, b = headers.values(ref), headers.values(other)
                found = Held(first.url, var), Held(h.url, h.variables[name])
                raise values_error(name, found[0], a, found[1], b, index=True)
        coords[name] = IndexCoord(name, headers.values(ref), var.attrs, dict(var.encoding))
    return coords


def _span(values: np.ndarray) -> str:
    if values.size == 0:
        return "empty"
    return f"{values.size} values, {values.dtype}, from {values[0]} to {values[-1]}"


def _concat_coord(
    headers: HeaderSet, ordered: list[InputHeader], name: str, offsets: list[int]
) -> IndexCoord:
    """Values of a concat dim's coordinate, laid end to end and checked."""
    at: dict[int, InputHeader] = {}
    for h in ordered:
        if name not in h.coords:
            raise IncompatibleInputsError(
                f"{h.url} has no coordinate {name!r}, but other inputs do "
                f"(e.g. {next(iter(at.values())).url if at else ordered[0].url})."
            )
        p = h.index[name]
        if p not in at:
            at[p] = h
        elif h.coords[name].hash != at[p].coords[name].hash:
            raise IncompatibleInputsError(
                f"{at[p].url} and {h.url} sit at the same {name} position but have different "
                f"{name!r} values. Inputs merged together must cover the same {name} steps."
            )
    firsts = [at[p] for p in sorted(at)]
    vars_ = [h.variables[name] for h in firsts]
    parts = [headers.values(h.coords[name]) for h in firsts]
    values = np.concatenate(parts) if parts else np.array([])
    owners = list(zip(offsets, (h.url for h in firsts), strict=False))
    ref = vars_[0]
    encoding = dict(ref.encoding)
    if ref.is_time:
        cal = check_calendars(
            name, [(h.url, calendar_of(v.encoding)) for h, v in zip(firsts, vars_, strict=True)]
        )
        kinds = {p.dtype.kind for p in parts}
        if len(kinds) > 1:
            raise IncompatibleInputsError(
                f"{name!r}: some inputs' times decode to numpy datetimes and others to cftime "
                f"dates ({firsts[0].url}, {firsts[-1].url}); give them one calendar."
            )
        check_increasing(name, values, owners)
        encoding = target_time_encoding(name, values, ref.encoding, cal)
    elif _looks_like_time(ref):
        units = {(h.url, str(v.attrs.get("units"))) for h, v in zip(firsts, vars_, strict=True)}
        if len({u for _, u in units}) > 1:
            (url_a, a), (url_b, b) = sorted(units)[:2]
            raise IncompatibleInputsError(
                f"{name!r} has units {a!r} in {url_a} but {b!r} in {url_b}, and xarray cannot "
                "decode them to dates, so the values cannot be put on one axis. Fix the units "
                "in a preprocess step of recipe.py."
            )
        check_increasing(name, values, owners)
    elif len(np.unique(values)) != len(values):
        raise IncompatibleInputsError(
            f"{name!r} has repeated values across the inputs ({_span(values)}); a concat "
            "dim's coordinate must be unique."
        )
    return IndexCoord(name, values, ref.attrs, encoding)


def _looks_like_time(var: VariableHeader) -> bool:
    return time_form(var.dtype, var.encoding, var.attrs) is TimeForm.ENCODED


def _variables(
    headers: HeaderSet,
    groups: dict[tuple[int, ...], list[InputHeader]],
    index_names: set[str],
    sizes: dict[str, int],
    preprocessed: bool,
) -> dict[str, TargetVariable]:
    variables: dict[str, TargetVariable] = {}
    where: dict[str, list[InputHeader]] = {}
    for group, hs in groups.items():
        ref = hs[0]
        names = [n for n in ref.variables if n not in index_names]
        for h in hs[1:]:
            check_names(ref.url, names, h.url, [n for n in h.variables if n not in index_names])
        for name in names:
            vh = [h.variables[name] for h in hs]
            recodes = [
                check_alike(name, Held(ref.url, vh[0]), Held(h.url, v), headers.concat_dims)
                for h, v in zip(hs[1:], vh[1:], strict=True)
            ]
            _check_unconcatenated(headers, name, hs)
            if name in variables:
                _check_shared(headers, name, where[name], hs)
                continue  # equal in every merged input: the first group's is kept
            same = not any(recodes)
            mode, encoding = _target_encoding(name, vh[0], same, preprocessed)
            variables[name] = TargetVariable(
                name=name,
                dims=vh[0].dims,
                shape=tuple(sizes[d] for d in vh[0].dims),
                dtype=vh[0].dtype,
                encoding=encoding,
                attrs=vh[0].attrs,
                is_coord=vh[0].is_coord,
                group=group,
                mode=mode,
                source_chunk=max(v.source_chunk for v in vh),
                compressed=any(v.compressed for v in vh),
            )
            where[name] = hs
    return variables


def _check_shared(
    headers: HeaderSet, name: str, kept: list[InputHeader], other: list[InputHeader]
) -> None:
    """The merge rule (see :mod:`arcoforge.plan.merge`), input by input along the concat dims.

    A variable along a concat dim is compared at each place both groups cover; one
    without is taken from a group's first input, so the first inputs are compared.
    """
    concat = [d for d in headers.concat_dims if d in kept[0].variables[name].dims]
    place = {_place(h, concat): h for h in kept}
    pairs = [(place.get(_place(h, concat), kept[0]), h) for h in other] if concat else []
    for a, b in pairs or [(kept[0], other[0])]:
        check_shared(name, [_holding(headers, a, name), _holding(headers, b, name)])


def _place(h: InputHeader, dims: list[str]) -> tuple[int, ...]:
    return tuple(h.index[d] for d in dims)


def _holding(headers: HeaderSet, h: InputHeader, name: str) -> Holding:
    var = h.variables[name]
    found = h.small.get(name)
    values = None if found is None else headers.kept(found)
    digest = None if found is None else found.hash
    return Holding(h.url, var.dims, var.shape, str(var.dtype), digest, values)


def _check_unconcatenated(headers: HeaderSet, name: str, hs: list[InputHeader]) -> None:
    """A variable without a concat dim is kept once, so it is equal in every input."""
    ref = hs[0]
    if set(ref.variables[name].dims) & set(headers.concat_dims) or name not in ref.small:
        return
    for h in hs[1:]:
        a, b = ref.small[name], h.small.get(name)
        if b is None or a.hash == b.hash:
            continue
        first, other = Held(ref.url, ref.variables[name]), Held(h.url, h.variables[name])
        raise values_error(name, first, headers.kept(a), other, headers.kept(b), index=False)


def _target_encoding(
    name: str, ref: VariableHeader, same: bool, preprocessed: bool
) -> tuple[Mode, dict[str, Any]]:
    """Copy stored values when every input stores them alike; otherwise decode them."""
    if same and _storable(ref):
        mode = Mode.DECODED if preprocessed else Mode.RAW
        return mode, dict(ref.encoding)
    if ref.is_time:
        enc: dict[str, Any] = {
            k: ref.encoding[k] for k in ("units", "calendar") if k in ref.encoding
        }
        return Mode.DECODED, {**enc, "dtype": np.dtype("float64")}
    if ref.dtype.kind == "f":
        return Mode.DECODED, {"dtype": ref.dtype, "_FillValue": ref.dtype.type(np.nan)}
    return Mode.DECODED, {"dtype": ref.dtype}


def _storable(var: VariableHeader) -> bool:
    """Whether the input's own encoding can be the target's."""
    dtype = var.encoding.get("dtype")
    if dtype is None or np.dtype(dtype).kind in "OSUV":
        return False
    fill = var.encoding.get("_FillValue")
    if fill is not None and np.dtype(dtype).kind in "iu":
        return bool(np.isfinite(fill)) and float(fill) == int(fill)
    return True
