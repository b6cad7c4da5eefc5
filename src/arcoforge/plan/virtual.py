"""Checking virtual inputs and combining them into one virtual dataset.

A virtual dataset can only point at the bytes the inputs hold, so what it
cannot represent is refused before anything is written, naming the files:
different chunk shapes or codecs, different packing or fill values (the
references would decode with one input's values), variable-length strings,
and partial chunks inside the dataset.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import xarray as xr
from xarray.conventions import decode_cf_variable

from arcoforge.errors import IncompatibleInputsError, UnrepresentableError
from arcoforge.plan.differences import Held, check_alike, check_names, values_error
from arcoforge.plan.merge import Holding, check_shared
from arcoforge.plan.mixed import NativeRegion, mix
from arcoforge.plan.subchunk import MAX_REFERENCES, Cut, check_count, subchunk
from arcoforge.plan.times import (
    calendar_of,
    check_calendars,
    check_increasing,
)
from arcoforge.plan.times import target_time_encoding as time_encoding
from arcoforge.recipe.pattern import Index
from arcoforge.sources.headers import VariableHeader, hash_values, variable_header
from arcoforge.sources.stored import read_stored
from arcoforge.sources.timeform import TimeForm, time_form
from arcoforge.sources.virtual import VirtualInput

_USE_COPY = "Use the zarr output (a copy) for these inputs instead."
#: For chunks that don't fit one grid, which an Icechunk output writes instead of refusing.
_USE_ICECHUNK = (
    "Use format: icechunk (which writes the chunks that don't fit as native chunks) or the "
    "zarr output (a copy) for these inputs instead."
)

__all__ = [
    "UnrepresentableError",
    "combine_mixed",
    "combine_virtual",
    "content_hash",
    "source_chunks",
]


def combine_virtual(
    inputs: Sequence[VirtualInput],
    *,
    concat_dims: tuple[str, ...],
    merge_dims: tuple[str, ...] = (),
    max_references: int | None = MAX_REFERENCES,
) -> xr.Dataset:
    """One virtual dataset of ``inputs``, concatenated along concat dims, merged along merge.

    Uncompressed inputs of uneven length are cut into one chunk length (see
    :mod:`arcoforge.plan.subchunk`); if that makes more than ``max_references``
    references, they are refused.
    """
    combined, _ = _combine(inputs, concat_dims, merge_dims, max_references, mixed=False)
    return combined


def combine_mixed(
    inputs: Sequence[VirtualInput],
    *,
    concat_dims: tuple[str, ...],
    merge_dims: tuple[str, ...] = (),
    storage_options: dict[str, Any] | None = None,
) -> tuple[xr.Dataset, list[NativeRegion]]:
    """:func:`combine_virtual` for Icechunk: inputs whose chunks don't fit are left to write.

    Where references alone would be refused for the layout of the chunks (shapes,
    codecs, partial chunks), each array takes the grid most inputs use and the
    regions of the other inputs are returned, to be written as native chunks (see
    :mod:`arcoforge.plan.mixed`). Variable-length strings, which no reference can
    describe, are read from the inputs (with ``storage_options``) and written as
    Zarr 3 strings. Everything else is checked as for references.
    """
    options = storage_options or {}
    loaded = [_with_strings(vi, concat_dims, options) for vi in inputs]
    return _combine(loaded, concat_dims, merge_dims, None, mixed=True)


def _with_strings(
    vi: VirtualInput, concat_dims: tuple[str, ...], options: dict[str, Any]
) -> VirtualInput:
    """``vi`` with its variable-length string variables read (from each of its parts)."""
    names = [str(n) for n, v in vi.dataset.variables.items() if _is_virtual(v) and _is_text(v)]
    if not names:
        return vi
    values: dict[str, xr.Variable] = {}
    for name in names:
        var = vi.dataset.variables[name]
        parts = [read_stored(url, name, vi.file_type, options) for _, url in vi.parts]
        along = [var.dims.index(d) for d in var.dims if d in concat_dims]
        data = np.concatenate(parts, axis=along[0]) if along and len(parts) > 1 else parts[0]
        values[name] = xr.Variable(var.dims, data.astype(object), var.attrs)
    coords = {n: v for n, v in values.items() if n in vi.dataset.coords}
    data_vars = {n: v for n, v in values.items() if n not in coords}
    dataset = vi.dataset.assign(data_vars).assign_coords(coords)
    return replace(vi, dataset=dataset, loaded=(*vi.loaded, *names))


def _combine(
    inputs: Sequence[VirtualInput],
    concat_dims: tuple[str, ...],
    merge_dims: tuple[str, ...],
    max_references: int | None,
    *,
    mixed: bool,
) -> tuple[xr.Dataset, list[NativeRegion]]:
    if not inputs:
        raise IncompatibleInputsError("there are no inputs to combine.")
    groups: dict[tuple[int, ...], list[VirtualInput]] = defaultdict(list)
    for vi in sorted(inputs, key=lambda v: v.index):
        groups[tuple(_pos(vi.index, d) for d in merge_dims)].append(vi)
    parts = []
    cuts: list[Cut] = []
    native: list[NativeRegion] = []
    for key, group in groups.items():
        for vi in group:
            _check_representable(vi, mixed=mixed)
        try:
            for dim in concat_dims:
                group, found = subchunk(group, dim, explain=_USE_ICECHUNK)
                groups[key] = group
                cuts.extend(found)
            _check_alike(group, concat_dims)
            _check_whole_chunks(group, concat_dims)
            parts.append(_concat(group, concat_dims))
        except UnrepresentableError as e:
            if not mixed:
                raise
            if len(concat_dims) != 1:
                raise _not_mixable(e, concat_dims) from None
            _check_alike(group, concat_dims, layouts=False)
            part, regions = _mixed(group, concat_dims[0])
            parts.append(part)
            native.extend(regions)
    _check_shared(parts, [g[0].url for g in groups.values()])
    combined = parts[0] if len(parts) == 1 else _merge(parts)
    for dim in concat_dims:
        _check_times(combined, dim, [v for g in groups.values() for v in g])
    check_count(combined, cuts, max_references)
    return combined, native


def _mixed(group: list[VirtualInput], dim: str) -> tuple[xr.Dataset, list[NativeRegion]]:
    """The inputs of one merge key, their loaded variables concatenated, arrays mixed."""
    along = [
        str(n) for n, v in group[0].dataset.variables.items() if dim in v.dims and _is_virtual(v)
    ]
    slim = [replace(vi, dataset=vi.dataset.drop_vars(along)) for vi in group]
    loaded = _concat(slim, (dim,))
    combined, regions = mix(loaded, group, dim)
    order = [str(n) for n in group[0].dataset.variables]
    coords = [str(n) for n in group[0].dataset.coords]
    ds = xr.Dataset(
        {n: combined.variables[n] for n in order if n not in coords},
        coords={n: combined.variables[n] for n in order if n in coords},
        attrs=combined.attrs,
    )
    return ds, regions


def _not_mixable(error: UnrepresentableError, concat_dims: tuple[str, ...]) -> UnrepresentableError:
    """Why an Icechunk output refuses inputs that don't fit one grid along several dims."""
    # Native chunks are placed by each input's span along the one concat dim; along
    # several, an input's chunks could share a chunk with its neighbours' on any side.
    found = str(error).replace(_USE_ICECHUNK, "").strip()
    return UnrepresentableError(
        f"{found} An Icechunk output writes the chunks that don't fit as native chunks only "
        f"for inputs concatenated along one dimension; this recipe concatenates along "
        f"{len(concat_dims)} ({', '.join(concat_dims)}). Give every input the same chunk "
        f"layout (e.g. nccopy -c), or use the zarr output (a copy) for these inputs instead."
    )


def _pos(index: Index, dim: str) -> int:
    return dict(index.positions).get(dim, 0)


def _check_representable(vi: VirtualInput, *, mixed: bool) -> None:
    """No strings, except those an Icechunk output read to write (``mixed``)."""
    for name, var in vi.dataset.variables.items():
        if _is_text(var) and not (mixed and not _is_virtual(var)):
            raise UnrepresentableError(
                f"{vi.url}: {name!r} holds strings ({var.dtype}), which Kerchunk references "
                f"cannot describe. Use format: icechunk (which writes them as Zarr strings) or "
                f"the zarr output (a copy) for these inputs instead."
            )


def _is_text(var: xr.Variable) -> bool:
    return var.dtype.kind in "OUST" and not _is_time(var)


def _is_time(var: xr.Variable) -> bool:
    return time_form(var.dtype, var.encoding) is TimeForm.DECODED


def _check_alike(
    group: list[VirtualInput], concat_dims: tuple[str, ...], *, layouts: bool = True
) -> None:
    """Every input of ``group`` has the first one's variables, decoding and (``layouts``)
    chunk shapes and codecs."""
    ref = group[0]
    for vi in group[1:]:
        names, ref_names = set(map(str, vi.dataset.variables)), set(map(str, ref.dataset.variables))
        check_names(ref.url, ref_names, vi.url, names)
        for name in sorted(ref_names):
            _check_variable(name, ref, vi, concat_dims, layouts)


def _check_variable(
    name: str, ref: VirtualInput, vi: VirtualInput, concat_dims: tuple[str, ...], layouts: bool
) -> None:
    a, b = ref.dataset.variables[name], vi.dataset.variables[name]
    pair = f"{ref.url} and {vi.url}"
    first, other = Held(ref.url, _header(name, a)), Held(vi.url, _header(name, b))
    # What differs is decided by the engine shared with copies; what follows is what
    # references in particular cannot represent.
    recode = check_alike(name, first, other, concat_dims)
    virtual_a, virtual_b = _is_virtual(a), _is_virtual(b)
    if virtual_a != virtual_b:
        raise UnrepresentableError(
            f"{name!r} is small enough to load in one of {pair} but not in the other. {_USE_COPY}"
        )
    if layouts and virtual_a and a.data.metadata is not b.data.metadata:  # a layout's share
        ma, mb = a.data.metadata, b.data.metadata
        if ma.chunks != mb.chunks:
            raise UnrepresentableError(
                f"{name!r} is stored in chunks of {list(ma.chunks)} in {ref.url} but "
                f"{list(mb.chunks)} in {vi.url}; one virtual array needs one chunk shape. "
                f"{_USE_ICECHUNK}"
            )
        ca, cb = _codecs(ma), _codecs(mb)
        if ca != cb:
            raise UnrepresentableError(
                f"{name!r} is compressed differently in {pair} ({ca} / {cb}); one virtual array "
                f"needs one codec pipeline. {_USE_ICECHUNK}"
            )
    if virtual_a and recode is not None:
        raise UnrepresentableError(
            f"{recode.words}; references would decode every input with one value and give "
            f"wrong numbers. {_USE_COPY}"
        )
    if not virtual_a and not set(a.dims) & set(concat_dims) and not _equal(a, b):
        index = a.dims == (name,)
        raise values_error(
            name, first, np.asarray(a.values), other, np.asarray(b.values), index=index
        )


def _header(name: str, var: xr.Variable) -> VariableHeader:
    """``var`` as the combine engine compares it: decoded dtype and CF encoding.

    A referenced variable holds its stored values undecoded; a stand-in of its
    shape that holds no memory is decoded, as a copy would, to learn them.
    """
    if _is_virtual(var):
        stand_in = np.broadcast_to(np.zeros((), dtype=var.dtype), var.shape)
        stored = xr.Variable(var.dims, stand_in, var.attrs, var.encoding)
        var = decode_cf_variable(name, stored)
    return variable_header(name, var, is_coord=False)


def _is_virtual(var: xr.Variable) -> bool:
    return type(var.data).__name__ == "ManifestArray"


def _codecs(metadata: Any) -> str:
    return json.dumps(metadata.to_dict().get("codecs"), sort_keys=True, default=str)


def _equal(a: xr.Variable, b: xr.Variable) -> bool:
    return bool(a.equals(b)) or hash_values(np.asarray(a.values)) == hash_values(
        np.asarray(b.values)
    )


def _check_whole_chunks(group: list[VirtualInput], concat_dims: tuple[str, ...]) -> None:
    """Along a concat dim, every input but the last must end on a chunk boundary."""
    for dim in concat_dims:
        lines = defaultdict(list)
        for vi in group:
            lines[tuple(_pos(vi.index, d) for d in concat_dims if d != dim)].append(vi)
        for line in lines.values():
            for vi in line[:-1]:
                for name, var in vi.dataset.variables.items():
                    if dim not in var.dims or not _is_virtual(var):
                        continue
                    axis = var.dims.index(dim)
                    size, chunk = var.shape[axis], var.data.metadata.chunks[axis]
                    if size % chunk:
                        raise UnrepresentableError(
                            f"{vi.url}: {name!r} has {size} steps along {dim!r} in chunks of "
                            f"{chunk}, so its last chunk is partial and the next input's would "
                            f"not line up in one virtual array. {_USE_ICECHUNK}"
                        )


def _concat(group: list[VirtualInput], concat_dims: tuple[str, ...]) -> xr.Dataset:
    """The inputs of one merge key, nested by their concat positions and concatenated."""
    datasets = [vi.dataset for vi in group if all(vi.dataset.sizes.get(d, 1) for d in concat_dims)]
    datasets = datasets or [group[0].dataset]  # every input empty: keep one, of length 0
    if len(concat_dims) <= 1:
        if not concat_dims or len(datasets) == 1:
            return datasets[0]
        return xr.concat(datasets, concat_dims[0], **_COMBINE)
    nested: Any = {}
    for vi in group:
        node = nested
        for d in concat_dims[:-1]:
            node = node.setdefault(_pos(vi.index, d), {})
        node.setdefault(_pos(vi.index, concat_dims[-1]), vi.dataset)
    combined: xr.Dataset = xr.combine_nested(
        _as_lists(nested), concat_dim=list(concat_dims), **_COMBINE
    )
    return combined


def _as_lists(node: Any) -> Any:
    if isinstance(node, dict):
        return [_as_lists(node[k]) for k in sorted(node)]
    return node


_COMBINE: dict[str, Any] = {
    "data_vars": "minimal",
    "coords": "minimal",
    "compat": "override",
    "join": "exact",
    "combine_attrs": "override",
}


def _check_shared(parts: list[xr.Dataset], urls: list[str]) -> None:
    """Merged parts share a variable only if it is equal in all (see :mod:`..merge`)."""
    ref = parts[0]
    for part, url in zip(parts[1:], urls[1:], strict=True):
        for name in sorted(set(map(str, ref.variables)) & set(map(str, part.variables))):
            a, b = ref.variables[name], part.variables[name]
            if _is_virtual(a) or _is_virtual(b):
                raise UnrepresentableError(
                    f"Variable {name!r} is in {urls[0]} and in {url}, which are merged, and "
                    "references point at its bytes without reading them, so they cannot be "
                    "compared to keep one. Merged inputs may share the variables that "
                    f"references load (coordinates, their bounds, times). {_USE_COPY}"
                )
            check_shared(
                name,
                [
                    Holding.of(urls[0], tuple(map(str, a.dims)), a.values),
                    Holding.of(url, tuple(map(str, b.dims)), b.values),
                ],
            )


def _merge(parts: list[xr.Dataset]) -> xr.Dataset:
    return xr.merge(parts, compat="override", join="exact", combine_attrs="override")


def _check_times(ds: xr.Dataset, dim: str, inputs: list[VirtualInput]) -> None:
    """One calendar, increasing values; the combined times' units can hold them all."""
    if dim not in ds.variables:
        return
    var = ds.variables[dim]
    owners, start, seen = [], 0, set()
    for vi in inputs:
        if vi.url in seen or dim not in vi.dataset.variables:
            continue
        seen.add(vi.url)
        step = vi.dataset.sizes.get(dim, 0) // len(vi.parts)  # folded inputs are alike
        for _, url in vi.parts:
            owners.append((start, url))
            start += step
    if _is_time(var):
        calendars = [
            (vi.url, calendar_of(vi.dataset.variables[dim].encoding))
            for vi in inputs
            if dim in vi.dataset.variables
        ]
        calendar = check_calendars(dim, calendars)
        ds.variables[dim].encoding.update(
            time_encoding(dim, np.asarray(var.values), dict(var.encoding), calendar)
        )
    check_increasing(dim, np.asarray(var.values), owners)


def content_hash(ds: xr.Dataset, fingerprint: str) -> str:
    """A hash of what the references hold: metadata, byte ranges, loaded values."""
    h = hashlib.sha256(fingerprint.encode())
    h.update(json.dumps(ds.attrs, sort_keys=True, default=str).encode())
    for name in sorted(map(str, ds.variables)):
        var = ds.variables[name]
        meta = {"dims": var.dims, "dtype": str(var.dtype), "attrs": var.attrs}
        h.update(json.dumps([name, meta], sort_keys=True, default=str).encode())
        if _is_virtual(var):
            manifest = var.data.manifest
            h.update(json.dumps(var.data.metadata.to_dict(), sort_keys=True, default=str).encode())
            h.update("\n".join(map(str, np.ravel(manifest._paths))).encode())
            for part in (manifest._offsets, manifest._lengths):
                h.update(np.ascontiguousarray(part, dtype=np.int64).tobytes())
        else:
            h.update(hash_values(np.asarray(var.values)).encode())
            h.update(json.dumps(var.encoding, sort_keys=True, default=str).encode())
    return h.hexdigest()


def source_chunks(ds: xr.Dataset) -> dict[str, list[int]]:
    """Each variable's chunk shape as the references present it."""
    out = {}
    for name, var in ds.variables.items():
        if _is_virtual(var):
            out[str(name)] = list(var.data.metadata.chunks)
        else:
            out[str(name)] = list(var.shape)
    return out
