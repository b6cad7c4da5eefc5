"""Icechunk arrays that mix virtual chunks with chunks written from the inputs.

References can only point at chunks that fit one array's chunk grid and codecs.
Icechunk can hold virtual and native chunks in one array, so an Icechunk output
need not refuse inputs that don't fit: each array keeps one regular grid and one
codec pipeline, those of the layout most inputs use, and the inputs whose chunks
fall on that grid stay virtual; the rest are copied, their stored values written
as native chunks with the array's codecs, in the same commit.

An input stays virtual when its layout (chunk shape and codecs) is the grid's and
its range along the concat dim starts on a chunk boundary and ends on one (or ends
the array), so no chunk mixes a virtual input with a written one.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from arcoforge.plan.tasks import InputBox, VarFootprint, cut_tasks
from arcoforge.recipe.pattern import FileType
from arcoforge.sources.virtual import VirtualInput

Span = tuple[int, int]


@dataclass(frozen=True)
class NativeRegion:
    """One input's values of one variable, to be written as native chunks."""

    name: str
    url: str
    file_type: FileType
    axis: int
    start: int
    stop: int
    #: bytes of one of the input's source chunks, decompressed (0: contiguous, uncompressed)
    source_chunk: int = 0
    #: whether the input's chunks go through a filter (zlib, ...) that needs buffers
    compressed: bool = False


@dataclass(frozen=True)
class NativePiece:
    """The slice ``source`` of the region's input lands at ``dest`` within a task's block."""

    region: NativeRegion
    source: tuple[Span, ...]
    dest: tuple[Span, ...]


@dataclass(frozen=True)
class NativeTask:
    """Write ``region`` of array ``name`` (whole chunks) from ``pieces``, within ``memory``."""

    name: str
    region: tuple[Span, ...]
    pieces: tuple[NativePiece, ...]
    memory: int


def _layout_key(var: xr.Variable) -> str:
    meta = var.data.metadata
    codecs = json.dumps(meta.to_dict().get("codecs"), sort_keys=True, default=str)
    return f"{list(meta.chunks)}|{codecs}"


def mix(
    dataset: xr.Dataset, inputs: Sequence[VirtualInput], dim: str
) -> tuple[xr.Dataset, list[NativeRegion]]:
    """``dataset`` (loaded variables combined) with each virtual variable along ``dim`` rebuilt.

    ``inputs`` are in order along ``dim``; each virtual variable gets the grid most of
    them use, and the regions of those that don't fit it are returned to be written.
    """
    from virtualizarr.manifests import ChunkManifest, ManifestArray
    from virtualizarr.manifests.utils import copy_and_replace_metadata

    spans = _spans(inputs, dim)
    total = spans[-1][1] if spans else 0
    native: list[NativeRegion] = []
    out = dataset
    for key, first in inputs[0].dataset.variables.items():
        name = str(key)
        if dim not in first.dims or not _is_virtual(first):
            continue
        variables = [vi.dataset.variables[name] for vi in inputs]
        axis = first.dims.index(dim)
        weights = Counter[str]()
        for vi, var in zip(inputs, variables, strict=True):
            weights[_layout_key(var)] += len(vi.parts)
        grid_key = weights.most_common(1)[0][0]
        model = next(v for v in variables if _layout_key(v) == grid_key)
        step = model.data.metadata.chunks[axis]
        shape = list(first.shape)
        shape[axis] = total
        metadata = copy_and_replace_metadata(model.data.metadata, new_shape=shape)
        grid = [math.ceil(n / c) for n, c in zip(shape, metadata.chunks, strict=True)]
        paths = np.full(grid, "", dtype=np.dtypes.StringDType())
        offsets = np.zeros(grid, dtype=np.uint64)
        lengths = np.zeros(grid, dtype=np.uint64)
        for vi, var, (start, stop) in zip(inputs, variables, spans, strict=True):
            whole = stop == total or (stop - start) % step == 0
            if _layout_key(var) == grid_key and start % step == 0 and whole:
                manifest = var.data.manifest
                where = [slice(None)] * len(grid)
                k = start // step
                where[axis] = slice(k, k + manifest.shape_chunk_grid[axis])
                paths[tuple(where)] = manifest._paths
                offsets[tuple(where)] = manifest._offsets
                lengths[tuple(where)] = manifest._lengths
                continue
            size = (stop - start) // len(vi.parts)  # folded inputs are alike
            chunk, compressed = _source_layout(var)
            for p, (_, url) in enumerate(vi.parts):
                a = start + p * size
                native.append(
                    NativeRegion(name, url, vi.file_type, axis, a, a + size, chunk, compressed)
                )
        manifest = ChunkManifest.from_arrays(
            paths=paths, offsets=offsets, lengths=lengths, validate_paths=False
        )
        array = ManifestArray(metadata=metadata, chunkmanifest=manifest)
        out = out.assign({name: xr.Variable(first.dims, array, first.attrs, first.encoding)})
    return out, native


def _source_layout(var: xr.Variable) -> tuple[int, bool]:
    """Bytes of one source chunk of ``var`` decompressed (0 if contiguous and
    uncompressed), and whether its chunks are compressed."""
    meta = var.data.metadata
    codecs = meta.to_dict().get("codecs") or []
    compressed = any(c.get("name") not in ("bytes", "endian") for c in codecs)
    contiguous = tuple(meta.chunks) == tuple(var.shape)
    if contiguous and not compressed:
        return 0, False
    return math.prod(meta.chunks) * var.dtype.itemsize, compressed


def _spans(inputs: Sequence[VirtualInput], dim: str) -> list[tuple[int, int]]:
    out, start = [], 0
    for vi in inputs:
        n = vi.dataset.sizes.get(dim, 0)
        out.append((start, start + n))
        start += n
    return out


def _is_virtual(var: xr.Variable) -> bool:
    return type(var.data).__name__ == "ManifestArray"


def written_chunks(ds: xr.Dataset, native: Sequence[NativeRegion]) -> int:
    """How many chunks writing ``native`` makes (a chunk two regions share counts once)."""
    touched: dict[str, set[int]] = {}
    for region in native:
        chunks = ds.variables[region.name].data.metadata.chunks
        step = chunks[region.axis]
        first, last = region.start // step, (region.stop - 1) // step
        touched.setdefault(region.name, set()).update(range(first, last + 1))
    count = 0
    for name, along in touched.items():
        var = ds.variables[name]
        axis = next(r.axis for r in native if r.name == name)
        meta = var.data.metadata
        across = math.prod(
            math.ceil(n / c)
            for i, (n, c) in enumerate(zip(var.shape, meta.chunks, strict=True))
            if i != axis
        )
        count += len(along) * across
    return count


def virtual_chunks(ds: xr.Dataset) -> int:
    """How many chunks of ``ds`` point into the inputs."""
    return sum(
        int(np.count_nonzero(v.data.manifest._lengths))
        for v in ds.variables.values()
        if _is_virtual(v)
    )


def plan_native(ds: xr.Dataset, native: Sequence[NativeRegion], budget: int) -> list[NativeTask]:
    """The tasks that write ``native``: blocks of whole chunks, each estimated within ``budget``.

    They are cut as a copy's are (see :mod:`arcoforge.plan.tasks`): one chunk along the
    concat dim, as many chunks across it as the budget allows; only the chunks the
    regions cover are written (no chunk mixes a virtual input with a written one).
    """
    by_name: dict[str, list[NativeRegion]] = {}
    for region in native:
        by_name.setdefault(region.name, []).append(region)
    out: list[NativeTask] = []
    for name, regions in by_name.items():
        var = ds.variables[name]
        axis = regions[0].axis
        dim = str(var.dims[axis])
        itemsize = var.dtype.itemsize
        layout = VarFootprint(
            name=name,
            dims=tuple(str(d) for d in var.dims),
            shape=tuple(var.shape),
            chunks=tuple(var.data.metadata.chunks),
            group=(),
            decoded_itemsize=itemsize,
            stored_itemsize=itemsize,
            raw=True,
            source_chunk=max(r.source_chunk for r in regions),
            compressed=any(r.compressed for r in regions),
        )
        boxes = [InputBox((), ((r.start, r.stop),)) for r in regions]
        # scipy reads a netCDF3 file object whole: a task holds its largest input
        netcdf3 = any(r.file_type is FileType.NETCDF3 for r in regions)
        for task in cut_tasks([layout], boxes, (dim,), budget, preprocess=netcdf3):
            pieces = tuple(NativePiece(regions[p.input], p.source, p.dest) for p in task.pieces)
            if pieces:
                out.append(NativeTask(name, task.region, pieces, task.memory))
    return out
