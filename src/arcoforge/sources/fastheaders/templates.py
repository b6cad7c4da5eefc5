"""netCDF4 inputs laid out like one already parsed: its virtual dataset, their own bytes.

VirtualiZarr's parse of a netCDF4 header is slow, most of it building the same
metadata for every file of an archive. A probe with h5py's low-level API costs a
fraction of that (bench/README.md) and reads everything that may differ between files
written alike: each dataset's
name, shape, type, storage layout, chunk shape, filters and fill value, the
attributes that decide decoding and the netCDF dimension ids, and the byte ranges of
its chunks. An input whose probe matches a parsed one (its *template*, called its layout
in the code) takes that one's virtual dataset with its own byte ranges and its own small
coordinates, decoded with its own time units; any other input is parsed in full and
becomes a template.

Files of an uncompressed archive are often more alike still: the same size, and the
same bytes everywhere but in their data. An input whose fetched edges repeat its
template's *model* (the parsed input's edges, outside every dataset's stored bytes) is
read by h5py exactly as that one was, so it takes the model's probe without a parse
(see :class:`Model`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, cast

import h5py
import numpy as np
import xarray as xr
from xarray.conventions import decode_cf_variables

from arcoforge.sources.fastheaders.edges import RangeFile
from arcoforge.sources.fastheaders.probes import (
    OWN_ATTRS,
    Probe,
)
from arcoforge.sources.fastheaders.relocated import Learnt
from arcoforge.sources.timeform import TimeForm, time_form

#: HeaderTemplates kept by one reader (an archive usually has one, or one per month length).
MAX_LAYOUTS = 32


@dataclass(frozen=True)
class Model:
    """The bytes of a parsed input that a later one must repeat to be read as it was.

    HDF5 reads a file by following addresses from its first bytes; datasets' stored
    bytes (data) hold none of them. If the parse of the model read nothing outside
    its fetched edges, a file of the same size whose edges hold the same bytes outside
    data gets every read the model got, and so the same probe: same datasets,
    attributes and byte ranges. Only its data, and so its loaded values, may differ.
    """

    size: int
    probe: Probe
    #: the fetched pieces, by offset
    pieces: dict[int, bytes]
    #: the parts of the pieces that are not data: (piece offset, start, end) within it
    checked: tuple[tuple[int, int, int], ...]


@dataclass
class HeaderTemplate:
    """A parsed input's virtual dataset, and what its loaded variables held before decoding."""

    dataset: xr.Dataset
    loaded: tuple[str, ...]
    raw: dict[str, bytes]
    raw_attrs: dict[str, dict[str, Any]]
    #: the loaded variables that hold times, decoded with each input's own units
    timed: tuple[str, ...]
    own: dict[str, dict[str, str]]
    #: each loaded variable's stored dtype and shape
    kinds: dict[str, tuple[str, tuple[int, ...]]]
    #: the parsed input's bytes, if later ones may repeat them (see :class:`Model`)
    model: Model | None = None


def is_timed(attrs: dict[str, Any]) -> bool:
    """Whether a variable with ``attrs`` holds times (CF units "<unit> since <date>")."""
    return time_form(attrs=attrs) is TimeForm.ENCODED


# --- inputs that repeat a model's bytes -------------------------------------------


def model_of(source: RangeFile, probe_: Probe) -> Model | None:
    """The :class:`Model` of an input parsed from ``source``, if the parse read nothing else."""
    if source.fetches:
        return None
    data = sorted((off, off + n) for s in probe_.stored.values() for _, off, n in s.entries)
    checked = []
    for start, piece in source.pieces.items():
        pos, end = start, start + len(piece)
        for a, b in data:
            if b <= pos or a >= end:
                continue
            if a > pos:
                checked.append((start, pos - start, a - start))
            pos = max(pos, b)
        if pos < end:
            checked.append((start, pos - start, end - start))
    return Model(source.size, probe_, source.pieces, tuple(checked))


def repeats(model: Model, source: RangeFile) -> bool:
    """Whether ``source`` holds ``model``'s bytes everywhere but in data."""
    if source.size != model.size:
        return False
    theirs = source.pieces
    for start, piece in model.pieces.items():
        other = theirs.get(start)
        if other is None or len(other) < len(piece):
            return False
    return all(model.pieces[start][a:b] == theirs[start][a:b] for start, a, b in model.checked)


def raw_from(
    layout: HeaderTemplate, probe_: Probe, source: RangeFile
) -> dict[str, np.ndarray] | None:
    """The stored values of ``layout``'s loaded variables, read from ``source``'s bytes.

    Their byte ranges are those ``probe_`` found; None if one of them is chunked (then
    read them through h5py, see :func:`raw_values`).
    """
    out = {}
    for name, (dtype, shape) in layout.kinds.items():
        where = probe_.stored[name]
        if where.chunks is not None:
            return None
        ((_, offset, length),) = where.entries
        kind = np.dtype(dtype)
        if length != kind.itemsize * int(np.prod(shape)):
            return None
        out[name] = np.frombuffer(source.pread(offset, length), dtype=kind).reshape(shape).copy()
    return out


# --- the layouts of one run -------------------------------------------------------


class HeaderTemplates:
    """The layouts met so far by one reader of a run's inputs (thread-safe, bounded)."""

    def __init__(self, limit: int = MAX_LAYOUTS):
        self._limit = limit
        self._lock = threading.Lock()
        self._layouts: OrderedDict[tuple[Any, ...], HeaderTemplate] = OrderedDict()
        #: the layout with a model of each file size, by its key
        self._sized: dict[int, tuple[Any, ...]] = {}
        #: where files of a compressed archive differ from their layout's model, by its key
        self._relocations: Learnt[HeaderTemplate] = Learnt(limit)

    def __len__(self) -> int:
        return len(self._layouts)

    def known(self, key: tuple[Any, ...]) -> HeaderTemplate | None:
        """The layout parsed for ``key``, if any."""
        with self._lock:
            found = self._layouts.get(key)
            if found is not None:
                self._layouts.move_to_end(key)
            return found

    def repeated(self, source: RangeFile) -> HeaderTemplate | None:
        """The layout whose model ``source`` repeats (see :class:`Model`), if any."""
        with self._lock:
            key = self._sized.get(source.size)
            found = None if key is None else self._layouts.get(key)
        if key is None or found is None or found.model is None:
            return None
        return self.known(key) if repeats(found.model, source) else None

    def relocated(self, source: RangeFile) -> tuple[HeaderTemplate, Probe] | None:
        """The layout ``source`` has, its chunks' sizes apart, and its probe read from its
        bytes (see :mod:`arcoforge.sources.fastheaders.relocated`), if any."""
        for _, _, relocation in self._relocations.newest_first():
            moved = relocation.probe(source)
            layout = None if moved is None else self.known(moved.key)
            if moved is not None and layout is not None:
                return layout, moved
        return None

    def learn(self, layout: HeaderTemplate, probed: Probe, source: RangeFile) -> None:
        """Learn where files laid out as ``layout`` differ from its model, from another
        one (``source``, probed as ``probed``), unless known or given up on."""
        self._relocations.learn(probed.key, layout, layout.model, probed, source)

    def remember(self, key: tuple[Any, ...], layout: HeaderTemplate) -> None:
        """Keep ``layout`` for the inputs whose probe gives ``key``."""
        with self._lock:
            self._layouts[key] = layout
            if layout.model is not None:
                self._sized[layout.model.size] = key
            while len(self._layouts) > self._limit:
                gone, _ = self._layouts.popitem(last=False)
                self._sized = {n: k for n, k in self._sized.items() if k != gone}
                self._relocations.forget(gone)


# --- an input from its layout ------------------------------------------------------


def fits(layout: HeaderTemplate, probe_: Probe) -> bool:
    """Whether inputs probed like ``probe_`` can be made from ``layout`` (see :func:`stamp`).

    VirtualiZarr trims a chunk larger than its array to the array's shape, with
    byte lengths to match; such a variable's byte ranges cannot be copied from a probe.
    """
    for name, var in layout.dataset.variables.items():
        if str(name) in layout.raw:
            continue
        where = probe_.stored.get(str(name))
        if where is None:
            return False
        chunks = tuple(var.data.metadata.chunks)
        if where.chunks is not None and chunks != where.chunks:
            return False
        if where.chunks is None and tuple(var.data.manifest.shape_chunk_grid) != (1,) * var.ndim:
            return False
    return True


def raw_values(f: h5py.File, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The stored (not decoded) values of ``names`` in ``f``."""
    out = {}
    for name in names:
        dsid = h5py.h5d.open(f.id, name.encode())
        values = np.empty(dsid.shape, dtype=dsid.dtype)
        if values.size:
            dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, values)
        out[name] = values
    return out


def stamp(
    layout: HeaderTemplate,
    url: str,
    probe_: Probe,
    raw: dict[str, np.ndarray],
    own: dict[str, dict[str, str]],
) -> xr.Dataset:
    """The virtual dataset of the input at ``url``: ``layout``'s, with its bytes and values."""
    from virtualizarr.manifests import ChunkManifest, ManifestArray

    template = layout.dataset
    new: dict[str, xr.Variable] = {}
    for name in template.variables:
        var = template.variables[name]
        if name in layout.raw:
            continue
        where = probe_.stored[str(name)]
        data = var.data
        grid = tuple(data.manifest.shape_chunk_grid)
        paths = np.full(grid, url, dtype=np.dtypes.StringDType())
        offsets = np.zeros(grid, dtype=np.uint64)
        lengths = np.zeros(grid, dtype=np.uint64)
        for position, offset, length in where.entries:
            offsets[position] = offset
            lengths[position] = length
        manifest = ChunkManifest.from_arrays(paths=paths, offsets=offsets, lengths=lengths)
        array = ManifestArray(metadata=data.metadata, chunkmanifest=manifest)
        # xarray's annotation leaves out the duck arrays it takes, such as ManifestArray
        new[str(name)] = var.copy(data=cast("Any", array), deep=False)
    changed = [
        n
        for n in layout.loaded
        if raw[n].tobytes() != layout.raw[n] or own.get(n, {}) != layout.own.get(n, {})
    ]
    if changed:
        related = set(changed)
        for n in layout.loaded:
            bounds = layout.raw_attrs[n].get("bounds")
            if n in related or bounds in related:
                related.add(n)
                if isinstance(bounds, str) and bounds in layout.raw:
                    related.add(bounds)
        variables = {}
        for n in sorted(related):
            attrs = dict(layout.raw_attrs[n])
            if n in layout.timed:
                attrs = {k: v for k, v in attrs.items() if k not in OWN_ATTRS}
                attrs.update(own.get(n, {}))
            variables[n] = xr.Variable(template.variables[n].dims, raw[n], attrs)
        decoded, _, _ = decode_cf_variables(variables, {})
        new.update({str(n): decoded[n] for n in related})
    return _replaced(template, new)


def _replaced(ds: xr.Dataset, new: dict[str, xr.Variable]) -> xr.Dataset:
    """``ds`` with some variables replaced by ones of the same dims and shape.

    Through ``Dataset._replace``: ``assign`` aligns and merges, far slower
    (bench/README.md), with nothing to align (xarray is pinned below 2027).
    """
    from xarray.core.indexes import PandasIndex

    variables = dict(ds.variables)
    variables.update(new)
    indexes = dict(ds.xindexes)
    for name, var in new.items():
        if name in indexes:
            index = PandasIndex.from_variables({name: var}, options={})
            indexes[name] = index
            variables.update(index.create_variables({name: var}))
    return ds._replace(variables=variables, indexes=indexes)
