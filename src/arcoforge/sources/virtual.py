"""Opening an input where it lies as a virtual dataset (VirtualiZarr), reading only metadata.

Variables stay references to byte ranges of the original file, except the small
coordinates (dimension coordinates, their bounds, other times) that are loaded
and decoded, so that inputs with different time units combine correctly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from arcoforge.errors import SourceError
from arcoforge.recipe.pattern import FileType, Index
from arcoforge.sources.fastheaders import concat, probes, templates
from arcoforge.sources.fastheaders.concat import Stamp as Stamp  # re-exported for the pipeline
from arcoforge.sources.fastheaders.edges import HDF5_READS, RangeFile, fetch_edges
from arcoforge.sources.filetype import SNIFF_BYTES, check_declared, sniff
from arcoforge.sources.retry import RetryPolicy
from arcoforge.sources.stores import registry_for, source_errors
from arcoforge.sources.timeform import TimeForm, time_form

if TYPE_CHECKING:
    from obspec_utils.registry import ObjectStoreRegistry

#: Variables loaded into memory (not referenced) when they hold at most this many values.
MAX_LOADED_VALUES = 1_000_000


@dataclass(frozen=True)
class VirtualInput:
    """One input as a virtual dataset: references for data, loaded small coordinates."""

    index: Index
    url: str
    file_type: FileType
    dataset: xr.Dataset
    #: the names of the variables loaded into memory (the rest are references)
    loaded: tuple[str, ...]
    #: made from the layout of an input parsed before (its attributes are that one's)
    stamped: bool = False
    #: the index and URL of each input folded into this one along the concat dim (see
    #: :mod:`arcoforge.sources.fastheaders.concat`), ``index`` and ``url`` being the
    #: first's; or none
    members: tuple[tuple[Index, str], ...] = ()

    @property
    def parts(self) -> tuple[tuple[Index, str], ...]:
        """The index and URL of each input this one stands for."""
        return self.members or ((self.index, self.url),)


def open_virtual(
    index: Index,
    url: str,
    *,
    file_type: FileType = FileType.AUTO,
    storage_options: dict[str, Any] | None = None,
    retry: RetryPolicy | None = None,
    source: RangeFile | None = None,
    layouts: templates.HeaderTemplates | None = None,
    auth: str | None = None,
) -> VirtualInput:
    """Open ``url`` as a virtual dataset, reading its header and its small coordinates.

    ``source`` holds bytes of the file fetched already (see :func:`fetch_sources`).
    With ``layouts``, a netCDF4 input laid out like one met before is made from that
    one's virtual dataset (see :mod:`arcoforge.sources.fastheaders.templates`), and its attributes
    are that one's; an input parsed in full is added to them.
    """
    found = read_virtual(
        index,
        url,
        file_type=file_type,
        storage_options=storage_options,
        retry=retry,
        source=source,
        layouts=layouts,
        auth=auth,
    )
    return found if isinstance(found, VirtualInput) else _stamped([found])


def read_virtual(
    index: Index,
    url: str,
    *,
    file_type: FileType = FileType.AUTO,
    storage_options: dict[str, Any] | None = None,
    retry: RetryPolicy | None = None,
    source: RangeFile | None = None,
    layouts: templates.HeaderTemplates | None = None,
    auth: str | None = None,
) -> VirtualInput | Stamp:
    """:func:`open_virtual`, but an input made from a layout comes as its :class:`Stamp`.

    Stamps of consecutive inputs are made into datasets together by :func:`folded`.
    """
    registry = registry_for(url, storage_options or {}, retry or RetryPolicy(), auth)
    with source_errors(url):
        if source is None:
            source = _raise_error(fetch_sources(registry, [url])[0])
        found = sniff(source.pread(0, SNIFF_BYTES), url=url)
        found = check_declared(file_type, found, url=url)
        if found is FileType.NETCDF4:
            with HDF5_READS:  # a copy's threads may read other inputs in this process
                return _open_hdf5(index, url, registry, source, layouts)
        from virtualizarr.parsers import NetCDF3Parser

        store = NetCDF3Parser()(url, registry)
        virtual = store._group.to_virtual_dataset()
        names = _to_load(virtual)
        raw = _raw_netcdf3(registry, store, virtual, names)
    return VirtualInput(index, url, found, _with_loaded(virtual, names, raw), tuple(names))


def import_parsers() -> None:
    """Import what parsing needs, once (a noticeable pause): best done while waiting for bytes.

    That is VirtualiZarr's parsers and h5py, and dask.array, which xarray imports
    to check the type of the first virtual variable made.
    """
    import dask.array  # noqa: F401
    import h5py  # noqa: F401
    import virtualizarr.parsers  # noqa: F401


def folded(items: list[VirtualInput | Stamp], dim: str | None) -> list[VirtualInput]:
    """``items`` as virtual inputs, each run of stamps consecutive along ``dim`` as one.

    With no ``dim`` (several concat dims, or none), each stamp is an input of its own.
    """
    out: list[VirtualInput] = []
    stamps: list[Stamp] = []
    for item in [*items, None]:
        if isinstance(item, Stamp):
            stamps.append(item)
            continue
        runs = concat.runs(stamps, dim) if dim is not None else [[s] for s in stamps]
        out.extend(_stamped(run, dim) for run in runs)
        stamps = []
        if item is not None:
            out.append(item)
    return out


def _stamped(run: list[Stamp], dim: str | None = None) -> VirtualInput:
    first = run[0]
    if len(run) == 1:
        dataset = first.dataset()
        members: tuple[tuple[Index, str], ...] = ()
    else:
        assert dim is not None
        dataset = concat.fold(run, dim)
        members = tuple((s.index, s.url) for s in run)
    loaded = first.layout.loaded
    return VirtualInput(first.index, first.url, FileType.NETCDF4, dataset, loaded, True, members)


def fetch_sources(
    registry: ObjectStoreRegistry[Any], urls: list[str]
) -> list[RangeFile | SourceError]:
    """The edges of each of ``urls``, fetched concurrently, or the error that names it."""
    if not urls:
        return []
    store, _ = registry.resolve(urls[0])
    results = fetch_edges(store, [registry.resolve(u)[1] for u in urls])
    out: list[RangeFile | SourceError] = []
    for url, result in zip(urls, results, strict=True):
        if isinstance(result, BaseException):
            try:
                with source_errors(url):
                    raise result
            except SourceError as e:
                out.append(e)
                continue
        out.append(result)
    return out


def _raise_error(result: RangeFile | BaseException) -> RangeFile:
    if isinstance(result, BaseException):
        raise result
    return result


def _open_hdf5(
    index: Index,
    url: str,
    registry: ObjectStoreRegistry[Any],
    source: RangeFile,
    layouts: templates.HeaderTemplates | None,
) -> VirtualInput | Stamp:
    import h5py

    probed = None
    if layouts is not None:
        twin = layouts.repeated(source)
        if twin is not None and twin.model is not None:
            raw = templates.raw_from(twin, twin.model.probe, source)
            if raw is None:
                with h5py.File(source, "r") as f:
                    raw = templates.raw_values(f, twin.loaded)
            return Stamp(index, url, twin, twin.model.probe, raw, twin.own)
        moved = layouts.relocated(source)  # compressed: its header bytes are the layout's
        if moved is not None:
            layout, its_probe = moved
            raw = templates.raw_from(layout, its_probe, source)
            if raw is not None:
                return Stamp(index, url, layout, its_probe, raw, layout.own)
        with h5py.File(source, "r") as f:
            probed = probes.probe(f)
            known = None if probed is None else layouts.known(probed.key)
            if known is not None and probed is not None:
                layouts.learn(known, probed, source)
                raw = templates.raw_from(known, probed, source)
                if raw is None:
                    raw = templates.raw_values(f, known.loaded)
                own = probes.own_attrs(f, known.timed)
                return Stamp(index, url, known, probed, raw, own)
    from virtualizarr.parsers import HDFParser

    source.seek(0)
    store = HDFParser(reader_factory=lambda _store, _path: source)(url, registry)
    # The fully virtual dataset, built directly: VirtualiZarr's own path opens every
    # variable through xarray's Zarr backend, which costs more than the parse itself.
    virtual = store._group.to_virtual_dataset()
    names = _to_load(virtual)
    attrs = {n: _raw_attrs(virtual.variables[n]) for n in names}
    timed = tuple(n for n in names if templates.is_timed(attrs[n]))
    with h5py.File(source, "r") as f:
        raw = templates.raw_values(f, tuple(names))
        own = probes.own_attrs(f, timed)
    dataset = _with_loaded(virtual, names, raw)
    if probed is not None and layouts is not None:
        values = {n: raw[n].tobytes() for n in names}
        kinds = {n: (raw[n].dtype.str, raw[n].shape) for n in names}
        model = templates.model_of(source, probed)
        found = templates.HeaderTemplate(
            dataset, tuple(names), values, attrs, timed, own, kinds, model
        )
        if templates.fits(found, probed):
            layouts.remember(probed.key, found)
    return VirtualInput(index, url, FileType.NETCDF4, dataset, tuple(names))


def _to_load(ds: xr.Dataset) -> list[str]:
    """Dimension coordinates, their bounds, and other small time variables."""
    names: set[str] = set()
    for key, var in ds.variables.items():
        name = str(key)
        if var.size > MAX_LOADED_VALUES:
            continue
        if var.dims == (name,) or time_form(var.dtype, attrs=var.attrs) is TimeForm.ENCODED:
            names.add(name)
    for name in list(names):
        bounds = ds.variables[name].attrs.get("bounds")
        if isinstance(bounds, str) and bounds in ds.variables:
            names.add(bounds)
    return sorted(names)


def _with_loaded(virtual: xr.Dataset, names: list[str], raw: dict[str, np.ndarray]) -> xr.Dataset:
    """``virtual`` with ``names`` holding their values, CF-decoded as xarray would."""
    variables = {
        n: xr.Variable(virtual.variables[n].dims, raw[n], _raw_attrs(virtual.variables[n]))
        for n in names
    }
    loaded = xr.decode_cf(xr.Dataset(variables))
    dataset = virtual.assign({n: loaded[n] for n in names})
    return dataset.set_coords([n for n in names if n in virtual.coords or n in loaded.coords])


def _raw_attrs(var: xr.Variable) -> dict[str, Any]:
    """A virtual variable's attributes as stored (a float ``_FillValue`` decoded)."""
    attrs = dict(var.attrs)
    if isinstance(attrs.get("_FillValue"), str):  # a float fill value, base64-encoded
        attrs["_FillValue"] = np.asarray(var.data.metadata.fill_value, dtype=var.dtype)[()]
    return attrs


def _raw_netcdf3(
    registry: ObjectStoreRegistry[Any], store: Any, virtual: xr.Dataset, names: list[str]
) -> dict[str, np.ndarray]:
    """The stored values of ``names``: one ranged request for the single-chunk ones."""
    raw = {}
    simple = {n: e for n in names if (e := _one_raw_chunk(virtual.variables[n])) is not None}
    if simple:
        path = next(iter(simple.values()))["path"]
        obj_store, key = registry.resolve(path)
        buffers = _get_ranges(obj_store, key, list(simple.values()))
        for (name, entry), buf in zip(simple.items(), buffers, strict=True):
            var = virtual.variables[name]
            dtype = var.dtype.newbyteorder("<" if entry["little"] else ">")
            raw[name] = np.frombuffer(buf, dtype=dtype).reshape(var.shape).astype(var.dtype)
    for name in names:
        if name not in raw:  # several chunks or missing ones: through Zarr
            import zarr

            raw[name] = np.asarray(zarr.open_array(store, path=name, mode="r", zarr_format=3)[...])
    return raw


def _one_raw_chunk(var: xr.Variable) -> dict[str, Any] | None:
    """The byte range of a variable stored as one uncompressed chunk, or None."""
    data = var.data
    codecs = data.metadata.codecs
    if var.size == 0 or len(data.manifest) != 1 or tuple(data.metadata.chunks) != var.shape:
        return None
    if len(codecs) != 1 or type(codecs[0]).__name__ != "BytesCodec":
        return None
    entry = dict(next(iter(data.manifest.values())))
    if not entry.get("path") or entry["length"] != var.size * var.dtype.itemsize:
        return None
    endian = getattr(codecs[0], "endian", None)
    entry["little"] = endian is None or str(getattr(endian, "value", endian)) == "little"
    return entry


def _get_ranges(store: Any, key: str, entries: list[dict[str, Any]]) -> list[bytes]:
    import obstore

    paths = {e["path"] for e in entries}
    assert len(paths) == 1, paths  # one input's variables all live in that input
    starts = [int(e["offset"]) for e in entries]
    lengths = [int(e["length"]) for e in entries]
    return [bytes(b) for b in obstore.get_ranges(store, key, starts=starts, lengths=lengths)]
