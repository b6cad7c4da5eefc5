"""Reading a task's block of each variable from the slices of its inputs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from types import EllipsisType
from typing import Any

import h5py
import numpy as np
import xarray as xr
from xarray.conventions import encode_cf_variable

from arcoforge.errors import IncompatibleInputsError
from arcoforge.plan.copy_plan import TaskWork, WriteVar
from arcoforge.plan.schema import Mode
from arcoforge.recipe.pattern import FileType
from arcoforge.recipe.validated import Preprocess
from arcoforge.sources.cache import CachedInput
from arcoforge.sources.chunk_reads import PieceRead, chunk_of, read_pieces
from arcoforge.sources.chunkmap import ChunkMap, decode_values
from arcoforge.sources.hdf5 import read_raw
from arcoforge.sources.opener import local_path, open_local
from arcoforge.sources.retry import RetryPolicy


def read_blocks(
    work: TaskWork,
    *,
    concat_dims: tuple[str, ...],
    preprocess: Preprocess | None = None,
    storage_options: dict[str, Any] | None = None,
    source_options: dict[str, Any] | None = None,
    retry: RetryPolicy | None = None,
) -> Iterator[tuple[WriteVar, np.ndarray]]:
    """Yield each variable of the task with its block, encoded as the target stores it.

    One variable's block is in memory at a time (the caller drops each before asking
    for the next); each input is opened once, or, with a ``preprocess``, once per
    variable, so that only one preprocessed input is held at a time (see
    :mod:`arcoforge.plan.memory`). Stored values of inputs read by byte range are
    fetched a few pieces at once, straight into the block.
    """
    task = work.task
    shape = tuple(b - a for a, b in task.region)
    reading: dict[str, Any] = {"options": source_options or {}, "retry": retry or RetryPolicy()}
    with ExitStack() as stack:
        sources = _Sources(work, stack, concat_dims, preprocess, storage_options, source_options)
        for var in work.variables:
            decode = var.mode is Mode.DECODED
            dtype = var.dtype if decode else var.stored_dtype
            if _covered(task.pieces, shape):
                block = np.empty(shape, dtype=dtype)
            else:  # steps of inputs left out as missing: they hold the fill value
                block = np.full(shape, fill_value(var, decode), dtype=dtype)
            ranged = []
            for piece in task.pieces:
                key = tuple(slice(a, b) for a, b in piece.source)
                # the Ellipsis makes a view even of a 0-d block (not a scalar copy)
                where: tuple[slice | EllipsisType, ...] = (
                    *(slice(a, b) for a, b in piece.dest),
                    Ellipsis,
                )
                dest = block[where]
                cached = work.inputs[piece.input][1]
                cmap = _ranged_map(cached, var.name)
                if cmap is None or len(cmap.shape) != len(key):
                    dest[...] = sources.values(piece.input, var.name, key, decode)
                elif not decode:
                    ranged.append(PieceRead(cached.url, cmap, key, dest))
                else:  # one piece at a time: its stored and decoded values are held
                    raw = np.empty(dest.shape, dtype=cmap.np_dtype)
                    read_pieces([PieceRead(cached.url, cmap, key, raw)], **reading)
                    dest[...] = decode_values(var.name, cmap, raw)
                    del raw
            read_pieces(ranged, **reading)
            del ranged
            sources.release()
            if decode:
                block = encode(var, block)  # the decoded block goes once this is encoded
            yield var, block
            del block


class _Sources:
    """The task's inputs, each opened once per way of reading it."""

    def __init__(
        self,
        work: TaskWork,
        stack: ExitStack,
        concat_dims: tuple[str, ...],
        preprocess: Preprocess | None,
        storage_options: dict[str, Any] | None,
        source_options: dict[str, Any] | None = None,
    ):
        self.work, self.stack = work, stack
        self.source_options = source_options
        self.concat_dims, self.preprocess = concat_dims, preprocess
        self.storage_options = storage_options
        self.paths: dict[int, str] = {}
        self.datasets: dict[tuple[int, bool], xr.Dataset] = {}
        self.files: dict[int, h5py.File] = {}
        #: the preprocessed input open now, closed before the next is opened
        self.held: ExitStack | None = None
        stack.callback(self.release)

    def release(self) -> None:
        """Close the preprocessed input held, if any: its values may all be in memory."""
        if self.held is not None:
            self.held.close()
            self.held = None
            self.datasets = {k: v for k, v in self.datasets.items() if not k[1]}

    def values(self, i: int, name: str, key: tuple[slice, ...], decode: bool) -> np.ndarray:
        """Decoded values of ``name`` at ``key`` in input ``i``, or its stored ones."""
        cached = self.work.inputs[i][1]
        if not decode and cached.file_type is FileType.NETCDF4:
            found = read_raw(self._h5(i), name, key)
            if found is not None:
                return found
        return self._dataset(i, decode)[name].variable[key].values

    def _path(self, i: int) -> str:
        if i not in self.paths:
            cached = self.work.inputs[i][1]
            # an input read by range is downloaded whole only for what needs HDF5 or xarray
            options = self.source_options if cached.ranged else self.storage_options
            self.paths[i] = self.stack.enter_context(local_path(cached, options))
        return self.paths[i]

    def _h5(self, i: int) -> h5py.File:
        if i not in self.files:
            self.files[i] = self.stack.enter_context(h5py.File(self._path(i), "r"))
        return self.files[i]

    def _dataset(self, i: int, decode: bool) -> xr.Dataset:
        if (i, decode) not in self.datasets:
            index, cached = self.work.inputs[i]
            preprocess = self.preprocess if decode else None
            stack = self.stack
            if preprocess is not None:
                # a preprocess that computes loads its input whole: hold one at a time
                self.release()
                stack = self.held = ExitStack()
            self.datasets[(i, decode)] = stack.enter_context(
                open_local(
                    self._path(i),
                    cached,
                    index,
                    concat_dims=self.concat_dims,
                    preprocess=preprocess,
                    decode=decode,
                )
            )
        return self.datasets[(i, decode)]


def _covered(pieces: Any, shape: tuple[int, ...]) -> bool:
    """Whether ``pieces`` (which do not overlap) fill a block of ``shape`` entirely."""
    covered = sum(int(np.prod([b - a for a, b in p.dest])) for p in pieces)
    return covered == int(np.prod(shape))


def fill_value(var: WriteVar, decode: bool) -> Any:
    """What the steps of a missing input hold: missing values as the target stores them."""
    dtype = var.dtype if decode else var.stored_dtype
    if decode and dtype.kind in "fc":
        return np.nan  # encoded as the target's _FillValue
    if decode and dtype.kind in "mM":
        return np.array("NaT", dtype=dtype)
    found = var.encoding.get("_FillValue", var.encoding.get("missing_value"))
    if found is not None:
        return found
    if dtype.kind in "fc":
        return np.nan
    raise IncompatibleInputsError(
        f"{var.name!r} ({dtype}) has no fill value to hold the steps of the inputs left out "
        "as missing. Give it a _FillValue in a preprocess step of recipe.py, or remove "
        "items_per_file to leave those steps out."
    )


def _ranged_map(cached: CachedInput, name: str) -> ChunkMap | None:
    return chunk_of(cached, name) if cached.ranged else None


def encode(var: WriteVar, values: np.ndarray) -> np.ndarray:
    """Decoded values encoded with the target's CF encoding (packing, fill values, units)."""
    encoded = encode_cf_variable(
        xr.Variable(var.dims, values, encoding=dict(var.encoding)), name=var.name
    )
    return np.asarray(encoded.values).astype(var.stored_dtype, copy=False)
