"""The first input's header, read where it lies, for checks made before any input is fetched."""

from __future__ import annotations

from typing import Any

from arcoforge.plan.small import Planned, check_chunk_sizes
from arcoforge.recipe.pattern import FilePattern, FileType
from arcoforge.recipe.spec import ZarrOutput
from arcoforge.sources.retry import RetryPolicy


def check_copy_chunks(
    pattern: FilePattern,
    output: ZarrOutput,
    *,
    storage_options: dict[str, Any] | None = None,
    retry: RetryPolicy | None = None,
) -> None:
    """Refuse ``output.chunks`` that would make tiny objects (see :mod:`arcoforge.plan.small`).

    Reads only the first input's header and small coordinates; the lengths along concat
    dims are its own times the number of inputs along each. An input the header reader
    cannot parse is left to the run, whose errors name it.
    """
    if output.chunks is None or pattern.file_type is FileType.OPENDAP:
        return  # an OPeNDAP dataset has no header to read where it lies
    from arcoforge.sources.virtual import open_virtual

    index, url = next(iter(pattern.items()))
    try:
        first = open_virtual(
            index,
            url,
            file_type=pattern.file_type,
            storage_options=storage_options,
            retry=retry,
            auth=pattern.auth,
        )
    except Exception:
        # Not found, not netCDF, or a layout only the copy path reads: the run reports
        # or reads it with its own context; this check only comes first when it can.
        return
    counts = {d.name: len(d.keys) for d in pattern.concat_dims}
    ds = first.dataset
    planned = [
        Planned(
            name=str(name),
            dims=tuple(map(str, var.dims)),
            shape=tuple(
                n * counts.get(str(d), 1) for d, n in zip(var.dims, var.shape, strict=True)
            ),
            itemsize=var.dtype.itemsize,
        )
        for name, var in ds.variables.items()
        if var.dims != (name,)  # index coordinates are written whole
    ]
    check_chunk_sizes(planned, output.chunks, concat_dims=tuple(counts))
