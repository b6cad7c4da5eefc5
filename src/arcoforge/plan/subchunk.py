"""Sub-chunking: uncompressed inputs of uneven length cut into one chunk length.

Archives split by decade or year (120, 120, ..., 60 months; 366, 365, 365 days)
store each variable contiguous and uncompressed, so each input's variable is one
chunk of its own length, and one virtual array cannot hold chunks of two shapes.
An uncompressed chunk is its values in C order, so cut along its outermost axis it
is a run of equal, contiguous byte ranges: every input's chunks are cut into the
largest length along the concat dim that divides every input's length and chunk
(the last input may end inside a chunk), and the references point at those ranges.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np
import xarray as xr

from arcoforge.errors import UnrepresentableError
from arcoforge.sources.virtual import VirtualInput

#: More references than this in one JSON or Parquet output are refused after cutting.
MAX_REFERENCES = 1_000_000


class UncuttableError(UnrepresentableError):
    """Inputs whose chunks differ in a way no cut of byte ranges can reconcile."""


@dataclass(frozen=True)
class Cut:
    """One variable cut to ``length`` steps along the concat dim in every input."""

    name: str
    length: int
    before: tuple[int, ...]


def subchunk(
    group: Sequence[VirtualInput], dim: str, *, explain: str
) -> tuple[list[VirtualInput], list[Cut]]:
    """``group`` (ordered along ``dim``) with variables cut where their chunks disagree.

    A variable is cut when its inputs' chunk shapes differ, or an input other than the
    last ends inside a chunk along ``dim``. Variables that cannot be cut are refused
    with :class:`UncuttableError`, naming the files and both layouts; ``explain`` is
    what to do instead.
    """
    inputs = [vi for vi in group if vi.dataset.sizes.get(dim, 1)]
    if len(inputs) < 2:
        return list(group), []
    cuts: list[Cut] = []
    datasets = [vi.dataset for vi in inputs]
    for key, var in inputs[0].dataset.variables.items():
        name = str(key)
        found = [ds.variables.get(name) for ds in datasets]
        if dim not in var.dims or not all(v is not None and _is_virtual(v) for v in found):
            continue
        variables: list[xr.Variable] = [v for v in found if v is not None]
        length = _cut_length(name, dim, inputs, variables, explain)
        if length is None:
            continue
        cuts.append(Cut(name, length, tuple(variables[0].data.metadata.chunks)))
        for k, v in enumerate(variables):
            data = cut_array(v.data, length)
            datasets[k] = datasets[k].assign({name: xr.Variable(v.dims, data, v.attrs, v.encoding)})
    if not cuts:
        return list(group), []
    cut = {id(vi): ds for vi, ds in zip(inputs, datasets, strict=True)}
    return [replace(vi, dataset=cut[id(vi)]) if id(vi) in cut else vi for vi in group], cuts


def _is_virtual(var: xr.Variable) -> bool:
    return type(var.data).__name__ == "ManifestArray"


def _cut_length(
    name: str,
    dim: str,
    inputs: list[VirtualInput],
    variables: list[xr.Variable],
    explain: str,
) -> int | None:
    """The chunk length along ``dim`` all inputs of ``name`` can be cut to, None if uncut."""
    if any(v.dims != variables[0].dims or v.dtype != variables[0].dtype for v in variables):
        return None  # not one variable: the combine's checks name what differs
    chunks = [tuple(v.data.metadata.chunks) for v in variables]
    axis = variables[0].dims.index(dim)
    sizes = [v.shape[axis] for v in variables]
    # Inputs at the last position along dim may end inside a chunk; no other may.
    end = max(_last(vi, dim) for vi in inputs)
    inner = [_last(vi, dim) != end for vi in inputs]
    partial = [i and n % c[axis] != 0 for i, n, c in zip(inner, sizes, chunks, strict=True)]
    if len(set(chunks)) == 1 and not any(partial):
        return None
    odd = next((k for k, c in enumerate(chunks) if c != chunks[0]), None)
    if odd is not None:
        a, b = variables[0], variables[odd]
        where = (
            f"{name!r} is stored as {_layout(a, sizes[0], dim)} in {inputs[0].url} "
            f"but as {_layout(b, sizes[odd], dim)} in {inputs[odd].url}"
        )
    else:
        k = partial.index(True)
        where = (
            f"{inputs[k].url}: {name!r} has {sizes[k]} steps along {dim!r} in "
            f"{_layout(variables[k], sizes[k], dim)}, so its last chunk is partial and the "
            f"next input's ({inputs[k + 1].url}) would not line up in one virtual array"
        )
    if axis != 0:
        raise UncuttableError(
            f"{where}; the chunks could be cut into one length by byte range only if {dim!r} "
            f"were the outermost dimension of {name!r}, but its dims are "
            f"{list(variables[0].dims)}. {explain}"
        )
    codecs = {_codecs(v) for v in variables}
    if codecs != {"bytes"}:
        raise UncuttableError(
            f"{where}; compressed or filtered chunks cannot be cut by byte range into one "
            f"chunk shape. {explain}"
        )
    if len({c[1:] for c in chunks}) > 1:
        raise UncuttableError(
            f"{where}; chunks can be cut along {dim!r} only, and these differ along other "
            f"dimensions too. {explain}"
        )
    length = math.gcd(*(n for i, n in zip(inner, sizes, strict=True) if i), *(c[0] for c in chunks))
    for vi, v in zip(inputs, variables, strict=True):
        _check_whole_chunks(name, vi.url, v, explain)
    return length


def _last(vi: VirtualInput, dim: str) -> int:
    """The position along ``dim`` of the last input ``vi`` stands for (it may be folded)."""
    return max(dict(index.positions).get(dim, 0) for index, _ in vi.parts)


def _layout(var: xr.Variable, size: int, dim: str) -> str:
    chunks = list(var.data.metadata.chunks)
    codecs = _codecs(var)
    kind = "uncompressed" if codecs == "bytes" else f"compressed ({codecs})"
    if list(var.shape) == chunks:
        return f"a single {kind} chunk of {chunks}"
    return f"{kind} chunks of {chunks} ({size} steps along {dim!r})"


def _codecs(var: xr.Variable) -> str:
    names = [type(c).__name__.removesuffix("Codec").lower() for c in var.data.metadata.codecs]
    return "+".join(names)


def _check_whole_chunks(name: str, url: str, var: xr.Variable, explain: str) -> None:
    """Every stored chunk of ``var`` holds its whole chunk's bytes, so a cut is exact."""
    data = var.data
    manifest = data.manifest
    if manifest._inlined:
        raise UncuttableError(
            f"{url}: {name!r} holds chunks stored inside its header, which cannot be cut by "
            f"byte range. {explain}"
        )
    whole = math.prod(data.metadata.chunks) * var.dtype.itemsize
    lengths = np.asarray(manifest._lengths)
    if np.any((lengths != 0) & (lengths != whole)):
        raise UncuttableError(
            f"{url}: {name!r} has chunks of other than {whole} bytes, so they are not plain "
            f"values in order and cannot be cut by byte range. {explain}"
        )


def cut_array(marr: Any, length: int) -> Any:
    """``marr`` (uncompressed chunks) with its chunks cut to ``length`` along axis 0."""
    from virtualizarr.manifests import ChunkManifest, ManifestArray
    from virtualizarr.manifests.utils import copy_and_replace_metadata

    chunks = list(marr.metadata.chunks)
    if chunks[0] == length:
        return marr
    pieces = chunks[0] // length
    step = length * math.prod(chunks[1:]) * marr.dtype.itemsize
    manifest = marr.manifest
    count = math.ceil(marr.shape[0] / length)
    paths = np.repeat(manifest._paths, pieces, axis=0)[:count]
    offsets = np.repeat(manifest._offsets, pieces, axis=0)[:count]
    lengths = np.repeat(manifest._lengths, pieces, axis=0)[:count]
    shift = (np.arange(count, dtype=np.uint64) % pieces) * np.uint64(step)
    shift = shift.reshape((count,) + (1,) * (offsets.ndim - 1))
    stored = lengths != 0  # chunks never written stay missing
    offsets = np.where(stored, offsets + shift, 0).astype(np.uint64)
    lengths = np.where(stored, np.uint64(step), 0).astype(np.uint64)
    metadata = copy_and_replace_metadata(marr.metadata, new_chunks=[length, *chunks[1:]])
    new = ChunkManifest.from_arrays(
        # numpy's stubs lose the StringDType of the paths through np.repeat
        paths=cast("np.ndarray[Any, np.dtypes.StringDType]", paths),
        offsets=offsets,
        lengths=lengths,
        validate_paths=False,
    )
    return ManifestArray(metadata=metadata, chunkmanifest=new)


def reference_count(ds: xr.Dataset) -> int:
    """How many chunk references ``ds`` holds (its virtual variables' manifests)."""
    return sum(len(v.data.manifest) for v in ds.variables.values() if _is_virtual(v))


def check_count(ds: xr.Dataset, cuts: Sequence[Cut], limit: int | None) -> None:
    """Refuse references multiplied by cutting beyond ``limit`` (None: no limit)."""
    if limit is None or not cuts:
        return
    count = reference_count(ds)
    if count > limit:
        first = cuts[0]
        raise UncuttableError(
            f"Cutting {first.name!r} (stored in chunks of {list(first.before)}) into chunks of "
            f"{first.length} step(s), so that its inputs of uneven length line up, would make "
            f"{count:,} references, more than {limit:,} for one JSON or Parquet output. Use "
            "format: icechunk, which holds millions of references, or the zarr output (a "
            "copy), whose chunks are chosen for reading."
        )
