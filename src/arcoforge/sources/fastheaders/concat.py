"""Consecutive inputs of one header template, made into one virtual dataset along their concat dim.

An input made from a layout (see :mod:`arcoforge.sources.fastheaders.templates`) differs from the
layout's parsed input only in its byte ranges and in the values of its variables along
the concat dim. A run of such inputs, consecutive along that dim, becomes one virtual
dataset at once: its references are laid side by side in one manifest per variable,
and its times are decoded in one call. That is what ``xr.concat`` of the inputs one by
one would give, without building (and then concatenating) a dataset for each input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import EllipsisType
from typing import Any

import numpy as np
import xarray as xr
from xarray.conventions import decode_cf_variables

from arcoforge.recipe.pattern import Index
from arcoforge.sources.fastheaders import templates
from arcoforge.sources.fastheaders.probes import OWN_ATTRS, Probe
from arcoforge.sources.fastheaders.templates import HeaderTemplate


@dataclass(frozen=True)
class Stamp:
    """An input whose header matched a layout: what it holds of its own."""

    index: Index
    url: str
    layout: HeaderTemplate
    probe: Probe
    #: the stored values of the layout's loaded variables in this input
    raw: dict[str, np.ndarray]
    #: the units and calendar of the layout's time variables in this input
    own: dict[str, dict[str, str]]

    def dataset(self) -> xr.Dataset:
        """This input alone as a virtual dataset."""
        return templates.stamp(self.layout, self.url, self.probe, self.raw, self.own)


def foldable(layout: HeaderTemplate, dim: str) -> bool:
    """Whether inputs of ``layout`` can be folded along ``dim``.

    Each input must hold ``dim`` and end on a chunk boundary along it, so that the
    next one's chunks line up; anything else is left to the combine and its checks.
    """
    template = layout.dataset
    if dim not in template.dims:
        return False
    for name, var in template.variables.items():
        if str(name) in layout.raw or dim not in var.dims:
            continue
        axis = var.dims.index(dim)
        if var.shape[axis] == 0 or var.shape[axis] % var.data.metadata.chunks[axis]:
            return False
    return True


def follows(prev: Stamp, stamp: Stamp, dim: str) -> bool:
    """Whether ``stamp`` comes right after ``prev`` along ``dim``, alike in all else."""
    if stamp.layout is not prev.layout or stamp.own != prev.own:
        return False
    here, before = dict(stamp.index.positions), dict(prev.index.positions)
    if here.get(dim) != before.get(dim, -2) + 1:
        return False
    here.pop(dim, None)
    before.pop(dim, None)
    return here == before


def _own_constants(stamp: Stamp, dim: str) -> bool:
    """Loaded variables without ``dim`` are the layout's, byte for byte (the grid)."""
    layout = stamp.layout
    for name in layout.loaded:
        if dim in layout.dataset.variables[name].dims:
            continue
        if stamp.raw[name].tobytes() != layout.raw[name]:
            return False
        if stamp.own.get(name, {}) != layout.own.get(name, {}):
            return False
    return True


def runs(stamps: Sequence[Stamp], dim: str) -> list[list[Stamp]]:
    """``stamps`` (in order) cut into runs that fold along ``dim``; single ones alone."""
    out: list[list[Stamp]] = []
    joins = False
    for stamp in stamps:
        if joins and follows(out[-1][-1], stamp, dim) and _fits(stamp, dim):
            out[-1].append(stamp)
        else:
            out.append([stamp])
            joins = _fits(stamp, dim)
    return out


def _fits(stamp: Stamp, dim: str) -> bool:
    # The first step along dim stays alone: the combined dataset takes its attributes
    # from it, so it is parsed in full later (a stamp carries its layout's attributes).
    if dict(stamp.index.positions).get(dim) == 0:
        return False
    return foldable(stamp.layout, dim) and _own_constants(stamp, dim)


def fold(stamps: Sequence[Stamp], dim: str) -> xr.Dataset:
    """One virtual dataset of ``stamps`` (a run, see :func:`runs`) concatenated along ``dim``.

    Equal to ``xr.concat`` of each one's dataset with ``data_vars="minimal"`` and
    ``coords="minimal"``: what lacks ``dim`` is the first one's.
    """
    first = stamps[0]
    layout = first.layout
    template = layout.dataset
    new: dict[str, xr.Variable] = {}
    along: list[str] = []
    for key, var in template.variables.items():
        name = str(key)
        if name in layout.raw:
            if dim in var.dims:
                along.append(name)
            continue
        if dim in var.dims:
            array = _manifest_array(name, var, stamps, var.dims.index(dim))
        else:
            array = _manifest_array(name, var, stamps[:1], None)
        new[name] = xr.Variable(var.dims, array, var.attrs, var.encoding)
    if along:
        new.update(_decoded(layout, stamps, along, dim))
    variables = {str(k): new.get(str(k), v) for k, v in template.variables.items()}
    coords = {k: v for k, v in variables.items() if k in template.coords}
    data_vars = {k: v for k, v in variables.items() if k not in template.coords}
    return xr.Dataset(data_vars, coords=coords, attrs=template.attrs)


def _manifest_array(name: str, var: xr.Variable, stamps: Sequence[Stamp], axis: int | None) -> Any:
    """The ManifestArray of ``var`` for ``stamps``, side by side along ``axis``."""
    from virtualizarr.manifests import ChunkManifest, ManifestArray
    from virtualizarr.manifests.utils import copy_and_replace_metadata

    data = var.data
    grid = tuple(data.manifest.shape_chunk_grid)
    full = list(grid)
    shape = list(var.shape)
    if axis is not None:
        full[axis] *= len(stamps)
        shape[axis] *= len(stamps)
    paths = np.empty(full, dtype=np.dtypes.StringDType())
    offsets = np.zeros(full, dtype=np.uint64)
    lengths = np.zeros(full, dtype=np.uint64)
    for k, stamp in enumerate(stamps):
        block: list[slice | EllipsisType] = [slice(None)] * len(grid)
        if axis is not None:
            block[axis] = slice(k * grid[axis], (k + 1) * grid[axis])
        where = (*block, ...)  # a view even of a scalar's one chunk
        paths[where] = stamp.url
        own_offsets, own_lengths = offsets[where], lengths[where]
        for position, offset, length in stamp.probe.stored[name].entries:
            own_offsets[position] = offset
            own_lengths[position] = length
    manifest = ChunkManifest.from_arrays(paths=paths, offsets=offsets, lengths=lengths)
    metadata = data.metadata
    if tuple(shape) != tuple(var.shape):
        metadata = copy_and_replace_metadata(metadata, new_shape=shape)
    return ManifestArray(metadata=metadata, chunkmanifest=manifest)


def _decoded(
    layout: HeaderTemplate, stamps: Sequence[Stamp], names: list[str], dim: str
) -> dict[str, xr.Variable]:
    """The loaded variables along ``dim``, their stored values joined, decoded at once."""
    own = stamps[0].own
    variables = {}
    for name in names:
        template = layout.dataset.variables[name]
        axis = template.dims.index(dim)
        raw = np.concatenate([s.raw[name] for s in stamps], axis=axis)
        attrs = dict(layout.raw_attrs[name])
        if name in layout.timed:
            attrs = {k: v for k, v in attrs.items() if k not in OWN_ATTRS}
            attrs.update(own.get(name, {}))
        variables[name] = xr.Variable(template.dims, raw, attrs)
    decoded, _, _ = decode_cf_variables(variables, {})
    return {name: decoded[name] for name in names}
