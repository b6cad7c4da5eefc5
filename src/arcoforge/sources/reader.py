"""Reading a task's block of each variable from the slices of its inputs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import numpy as np
import xarray as xr
from xarray.conventions import encode_cf_variable

from arcoforge.plan.plan import TaskWork, WriteVar
from arcoforge.plan.schema import Mode
from arcoforge.recipe.recipe import Preprocess
from arcoforge.sources.opener import open_dataset


def read_blocks(
    work: TaskWork,
    *,
    concat_dims: tuple[str, ...],
    preprocess: Preprocess | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Iterator[tuple[WriteVar, np.ndarray]]:
    """Yield each variable of the task with its block, encoded as the target stores it.

    One variable's block is in memory at a time; each input is opened once.
    """
    task = work.task
    shape = tuple(b - a for a, b in task.region)
    with ExitStack() as stack:
        opened: dict[tuple[int, bool], xr.Dataset] = {}

        def dataset(i: int, decode: bool) -> xr.Dataset:
            if (i, decode) not in opened:
                index, cached = work.inputs[i]
                opened[(i, decode)] = stack.enter_context(
                    open_dataset(
                        cached,
                        index,
                        concat_dims=concat_dims,
                        preprocess=preprocess if decode else None,
                        decode=decode,
                        storage_options=storage_options,
                    )
                )
            return opened[(i, decode)]

        for var in work.variables:
            decode = var.mode is Mode.DECODED
            block = np.empty(shape, dtype=var.dtype if decode else var.stored_dtype)
            for piece in task.pieces:
                source = dataset(piece.input, decode)[var.name].variable
                values = source[tuple(slice(a, b) for a, b in piece.source)].values
                block[tuple(slice(a, b) for a, b in piece.dest)] = values
            yield var, encode(var, block) if decode else block


def encode(var: WriteVar, values: np.ndarray) -> np.ndarray:
    """Decoded values encoded with the target's CF encoding (packing, fill values, units)."""
    encoded = encode_cf_variable(
        xr.Variable(var.dims, values, encoding=dict(var.encoding)), name=var.name
    )
    return np.asarray(encoded.values).astype(var.stored_dtype, copy=False)
