"""The first input's header, read where it lies, for checks made before any input is fetched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arcoforge.plan.small import Planned, check_chunk_sizes
from arcoforge.recipe.pattern import FilePattern, FileType
from arcoforge.recipe.spec import ZarrOutput
from arcoforge.sources.addresses import custom_resolver
from arcoforge.sources.retry import RetryPolicy


@dataclass(frozen=True)
class FirstInput:
    """What the first input's header told: its size, and whether it has a probe (see
    :mod:`arcoforge.sources.fastheaders.probes`), which lets later inputs written alike
    be read without a parse."""

    size: int
    probed: bool


def check_copy_chunks(
    pattern: FilePattern,
    output: ZarrOutput,
    *,
    storage_options: dict[str, Any] | None = None,
    retry: RetryPolicy | None = None,
) -> FirstInput | None:
    """Refuse ``output.chunks`` that would make tiny objects (see :mod:`arcoforge.plan.small`).

    Reads only the first input's header and small coordinates; the lengths along concat
    dims are its own times the number of inputs along each. An input the header reader
    cannot parse is left to the run, whose errors name it. Returns what the first input's
    header told where it was read this way (the run chooses its workers by it).
    """
    if pattern.file_type is FileType.OPENDAP:
        return None  # an OPeNDAP dataset has no header to read where it lies
    if custom_resolver():
        return None  # its names are known only to the resolver set in Python, not obstore's
    index, url = next(iter(pattern.items()))
    retry = retry or RetryPolicy()
    try:
        # netCDF4 through h5py alone: this runs before the pipeline starts, and
        # importing VirtualiZarr (a second of CPU) would delay every run
        first, found = _netcdf4_variables(url, storage_options or {}, retry, pattern.auth)
        if output.chunks is None:
            return first
        if found is None:
            found = _virtual_variables(index, url, pattern, storage_options, retry)
    except Exception:
        # Not found, not netCDF, or a layout only the copy path reads: the run reports
        # or reads it with its own context; this check only comes first when it can.
        return None
    counts = {d.name: len(d.keys) for d in pattern.concat_dims}
    planned = [
        Planned(
            name=name,
            dims=dims,
            shape=tuple(n * counts.get(d, 1) for d, n in zip(dims, shape, strict=True)),
            itemsize=itemsize,
        )
        for name, dims, shape, itemsize in found
        if dims != (name,)  # index coordinates are written whole
    ]
    check_chunk_sizes(planned, output.chunks, concat_dims=tuple(counts))
    return first


#: A variable's name, dims, shape and bytes per value.
_Variable = tuple[str, tuple[str, ...], tuple[int, ...], int]


def _netcdf4_variables(
    url: str, options: dict[str, Any], retry: RetryPolicy, auth: str | None
) -> tuple[FirstInput, list[_Variable] | None]:
    """The file's size and whether it has a probe, and its variables read with h5py (None
    if it is not netCDF4)."""
    import asyncio

    import h5py

    from arcoforge.recipe.pattern import FileType
    from arcoforge.sources.fastheaders.edges import HDF5_READS, fetch_one
    from arcoforge.sources.fastheaders.probes import probe
    from arcoforge.sources.filetype import sniff
    from arcoforge.sources.stores import registry_for

    store, path = registry_for(url, options, retry, auth).resolve(url)
    source = asyncio.run(fetch_one(store, path, asyncio.Semaphore(1)))
    if sniff(source.pread(0, 8), url=url) is not FileType.NETCDF4:
        return FirstInput(source.size, False), None
    out = []
    with HDF5_READS, h5py.File(source, "r") as f:
        probed = probe(f) is not None
        for name, obj in f.items():
            if not isinstance(obj, h5py.Dataset):
                continue
            refs = obj.attrs.get("DIMENSION_LIST")
            if obj.attrs.get("CLASS") == b"DIMENSION_SCALE":
                dims: tuple[str, ...] = (name,)
            elif obj.ndim == 0:
                dims = ()
            elif refs is not None and len(refs) == obj.ndim:
                dims = tuple(f[axis[0]].name.rsplit("/", 1)[-1] for axis in refs)
            else:  # phony dimensions: the full reader's rules apply
                return FirstInput(source.size, False), None
            out.append((name, dims, tuple(obj.shape), obj.dtype.itemsize))
    return FirstInput(source.size, probed), out


def _virtual_variables(
    index: Any,
    url: str,
    pattern: FilePattern,
    options: dict[str, Any] | None,
    retry: RetryPolicy,
) -> list[_Variable]:
    """The variables of any input the virtual reader opens (netCDF3 among them)."""
    from arcoforge.sources.virtual import open_virtual

    first = open_virtual(
        index,
        url,
        file_type=pattern.file_type,
        storage_options=options,
        retry=retry,
        auth=pattern.auth,
    )
    return [
        (str(name), tuple(map(str, var.dims)), tuple(var.shape), var.dtype.itemsize)
        for name, var in first.dataset.variables.items()
    ]
