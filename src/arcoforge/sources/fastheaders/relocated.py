"""Compressed inputs laid out like two parsed before, read from their edges without HDF5.

Files of a compressed archive written alike differ outside their data only where the
size of a chunk shows: in the fields that hold each chunk's size, in the address of
everything written after a chunk (moved by as many bytes as the chunks before it grew
or shrank, the end of the file included), and in the checksums of the structures that
hold those. :func:`relocation_of` learns where those fields lie from two inputs parsed
with h5py: every byte that differs between them, outside data, must be explained by one
such field, read alike from both. :meth:`Relocation.probe` then reads another input's
chunk sizes from its own fields, and takes it only if every other byte its parse would
read is the first input's and every moved address moved by exactly what those sizes
say. HDF5, following the same addresses, would find the same datasets, attributes and
filters, so the input has the first one's header with its own chunk extents and small
values (see :mod:`arcoforge.sources.fastheaders.repeated`). A checksum is not computed
again: every byte it covers is checked. Anything else is parsed.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, cast

import numpy as np

from arcoforge.sources.fastheaders.edges import RangeFile
from arcoforge.sources.fastheaders.lookup3 import lookup3
from arcoforge.sources.fastheaders.probes import Probe, Stored

if TYPE_CHECKING:  # the templates' module holds the learnt relocations of its layouts
    from arcoforge.sources.fastheaders.templates import Model

#: The signatures of the HDF5 structures that end with a checksum (and the superblock's).
SIGNATURES = (
    b"\x89HDF\r\n\x1a\n",
    b"OHDR",
    b"OCHK",
    b"FRHP",
    b"FHDB",
    b"FHIB",
    b"FSHD",
    b"FSSE",
    b"BTHD",
    b"BTIN",
    b"BTLF",
    b"EAHD",
    b"EAIB",
    b"EASB",
    b"EADB",
    b"FAHD",
    b"FADB",
    b"SMTB",
    b"SMLI",
)
#: Widths a chunk's size is stored in, most likely first (v1 B-trees: 4 bytes).
SIZE_WIDTHS = (4, 8, 3, 2, 5, 6, 7)
#: The width of an address (HDF5's "size of offsets" as netCDF-4 files have it).
ADDRESS = 8
CHECKSUM = 4
#: Where an address may point: where stored data starts, and the runs outside data.
Places = tuple[set[int], list[tuple[int, int]]]
#: How far from a chunk's size its address may lie, in a chunk index.
NEAR = 64
#: Inputs of one layout tried for learning where its files differ, at most.
TRIES = 3
#: Signatures tried for a checksum, nearest first (structures that end with one never nest).
NEAREST = 4


@dataclass(frozen=True)
class Moved:
    """A chunk whose size may differ from file to file, as the first input has it."""

    name: str
    #: its place among its dataset's stored entries
    entry: int
    offset: int
    size: int


@dataclass(frozen=True, order=True)
class Field:
    """A part of the first input's header that differs from file to file."""

    #: where it starts and how many bytes it has, in the first input
    at: int
    width: int
    #: "size" (of chunk ``chunk``), "address" (the first input's ``value``, moved) or
    #: "checksum" (of the structure from ``covers`` to the field, or to ``value`` with
    #: the field zeroed)
    kind: str
    chunk: int = -1
    value: int = 0
    covers: int = 0


@dataclass(frozen=True)
class Region:
    """Bytes of the first input that are not data: its ``bytes`` from ``start``, and the
    fields among them."""

    start: int
    bytes: bytes
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Relocation:
    """Where the inputs laid out like ``model`` differ from it (see the module's doc)."""

    model: Model
    #: the chunks, by their place in the first input
    chunks: tuple[Moved, ...]
    regions: tuple[Region, ...]
    #: the chunks whose size fields are known; the others were the same size in both
    #: inputs, so their sizes lie among the bytes that must repeat (and so they do)
    sized: frozenset[int]

    def probe(self, source: RangeFile) -> Probe | None:
        """The probe of ``source`` (the model's, with its own byte ranges), or None if it
        is not laid out like the model."""
        pieces = source.pieces
        sizes = self._sizes(pieces)
        if sizes is None:
            return None
        shifts = Shifts(self.chunks, sizes)
        if source.size != self.model.size + shifts.total:
            return None
        for region in self.regions:
            if not self._repeats(region, pieces, sizes, shifts):
                return None
        return self._moved_probe(sizes, shifts, source.size)

    def _sizes(self, pieces: dict[int, bytes]) -> list[int] | None:
        """Each chunk's size, read from its fields in the bytes ``pieces`` hold (in the
        order they lie, each where the chunks before it, whose sizes are read by then,
        moved it)."""
        sizes: list[int | None] = [
            None if k in self.sized else c.size for k, c in enumerate(self.chunks)
        ]
        ends = [c.offset + c.size for c in self.chunks]
        growth = [0]  # of the first chunks, as far as their sizes are known in a row
        for region in self.regions:
            for field in region.fields:
                if field.kind != "size":
                    continue
                before = bisect.bisect_right(ends, field.at)
                while len(growth) <= before and sizes[len(growth) - 1] is not None:
                    k = len(growth) - 1
                    growth.append(growth[-1] + cast(int, sizes[k]) - self.chunks[k].size)
                if len(growth) <= before:
                    return None  # a chunk before it of a size not read yet
                data = held_pieces(pieces, field.at + growth[before], field.width)
                if data is None:
                    return None
                value = int.from_bytes(data, "little")
                if sizes[field.chunk] not in (None, value):
                    return None
                sizes[field.chunk] = value
        found = [s for s in sizes if s is not None]
        return found if len(found) == len(sizes) else None

    def _repeats(
        self, region: Region, pieces: dict[int, bytes], sizes: Sequence[int], shifts: Shifts
    ) -> bool:
        """Whether ``pieces`` hold ``region``'s bytes (moved), its fields as they must be."""
        theirs = held_pieces(pieces, region.start + shifts(region.start), len(region.bytes))
        if theirs is None:
            return False
        mine, pos = region.bytes, 0
        for field in region.fields:
            at = field.at - region.start
            if theirs[pos:at] != mine[pos:at]:
                return False
            value = int.from_bytes(theirs[at : at + field.width], "little")
            if field.kind == "size" and value != sizes[field.chunk]:
                return False
            if field.kind == "address" and value != field.value + shifts(field.value):
                return False
            pos = at + field.width
        return theirs[pos:] == mine[pos:]

    def _moved_probe(self, sizes: Sequence[int], shifts: Shifts, size: int) -> Probe | None:
        """The model's probe with the byte ranges these chunk sizes give."""
        own = {(c.name, c.entry): s for c, s in zip(self.chunks, sizes, strict=True)}
        stored = {}
        for name, where in self.model.probe.stored.items():
            entries = []
            for i, (pos, offset, length) in enumerate(where.entries):
                moved, length = offset + shifts(offset), own.get((name, i), length)
                if moved < 0 or moved + length > size:
                    return None
                entries.append((pos, moved, length))
            stored[name] = Stored(where.chunks, tuple(entries))
        return Probe(self.model.probe.key, stored)


class Shifts:
    """How far what lies at a place of the first input lies from it in a file whose
    chunks have ``sizes``: by the growth of every chunk that ends before it."""

    def __init__(self, chunks: Sequence[Moved], sizes: Sequence[int]):
        self.ends = [c.offset + c.size for c in chunks]
        grown = (s - c.size for c, s in zip(chunks, sizes, strict=True))
        self.growth = list(itertools.accumulate(grown, initial=0))

    @property
    def total(self) -> int:
        """How much the whole file grew."""
        return self.growth[-1]

    def __call__(self, at: int) -> int:
        return self.growth[bisect.bisect_right(self.ends, at)]


class Learnt[T]:
    """The relocations one reader learnt, by layout key, each with what it was learnt for
    (the parsed input, the layout); a key is given up on after :data:`TRIES` inputs that
    taught nothing. Thread-safe; the oldest beyond ``limit`` are forgotten."""

    def __init__(self, limit: int):
        self._limit = limit
        self._lock = threading.Lock()
        self._found: dict[Hashable, tuple[T, Relocation]] = {}
        self._misses: dict[Hashable, int] = {}

    def learn(
        self, key: Hashable, owner: T, model: Model | None, probe: Probe, source: RangeFile
    ) -> None:
        """Learn where inputs laid out as ``model`` differ from it, from another one
        (``source``, probed as ``probe``), unless known or given up on."""
        with self._lock:
            if key in self._found or self._misses.get(key, 0) >= TRIES:
                return
        relocation = None if model is None else relocation_of(model, probe, source)
        with self._lock:
            if relocation is None:
                self._misses[key] = self._misses.get(key, 0) + 1
                return
            self._found[key] = (owner, relocation)
            while len(self._found) > self._limit:
                del self._found[next(iter(self._found))]

    def newest_first(self) -> list[tuple[Hashable, T, Relocation]]:
        """Every relocation learnt, the newest first."""
        with self._lock:
            return [(k, owner, r) for k, (owner, r) in reversed(self._found.items())]

    def forget(self, key: Hashable) -> None:
        """Drop the relocation of ``key`` (its layout is forgotten)."""
        with self._lock:
            self._found.pop(key, None)


def relocation_of(model: Model, probe: Probe, source: RangeFile) -> Relocation | None:
    """Where inputs laid out like ``model`` differ from it, learnt from another one
    (``source``, whose parse found ``probe``); None if the two differ otherwise."""
    if source.fetches or probe.key != model.probe.key:
        return None
    paired = _chunks(model.probe, probe)
    if paired is None:
        return None
    chunks, theirs = paired
    shifts = Shifts(chunks, theirs)
    if not _placed_alike(model.probe, probe, shifts):
        return None
    if source.size != model.size + shifts.total:
        return None
    runs = []
    for start, end in _spans(model):
        mine = held_pieces(model.pieces, start, end - start)
        other = held_pieces(source.pieces, start + shifts(start), end - start)
        if mine is None or other is None:
            return None
        fields = _explain(mine, other, start, chunks, theirs, shifts, model.size)
        if fields is None:
            return None
        runs.append((start, mine, other, fields))
    sizes = [f for *_, fields in runs for f in fields if f.kind == "size"]
    if not sizes:
        return None  # no chunk's size differed: nothing learnt that the model does not know
    width = max({f.width for f in sizes}, key=[f.width for f in sizes].count)
    for k in set(range(len(chunks))) - {f.chunk for f in sizes}:
        _find_size(runs, k, chunks[k], width, shifts)
    first = chunks[0].offset + chunks[0].size
    places = _places(model, chunks)
    for start, mine, other, fields in runs:
        fields.extend(_still_addresses(start, mine, other, fields, shifts, first, places))
    regions = tuple(Region(start, mine, tuple(sorted(fields))) for start, mine, _, fields in runs)
    sized = frozenset(f.chunk for r in regions for f in r.fields if f.kind == "size")
    return Relocation(model, tuple(chunks), regions, sized)


def _places(model: Model, chunks: Sequence[Moved]) -> Places:
    """Where an address in the first input may point: the start of stored data (a chunk,
    a contiguous dataset's values), the end of the file, or into its bytes outside data."""
    starts = {offset for s in model.probe.stored.values() for _, offset, _ in s.entries}
    return starts | {model.size}, _spans(model)


def _points(value: int, places: Places) -> bool:
    """Whether ``value`` is a place an address may point at (see :func:`_places`)."""
    starts, spans = places
    return value in starts or any(a <= value < b for a, b in spans)


def _still_addresses(
    start: int,
    mine: bytes,
    other: bytes,
    fields: list[Field],
    shifts: Shifts,
    first: int,
    places: Places,
) -> list[Field]:
    """The addresses of a run that the other input did not move (the chunks before
    what they point at grew and shrank by as much), found by their values: eight bytes
    that read as a place past the ``first`` chunk where something starts (not inside a
    chunk), the same in both inputs. Other inputs may move them; a number that only
    looks like such an address refuses every input that moves it (those are parsed)."""
    n = len(mine) - ADDRESS + 1
    if n <= 0:
        return []
    values = np.ndarray((n,), "<u8", mine, strides=(1,))
    theirs = np.ndarray((n,), "<u8", other, strides=(1,))
    end = max(places[0])
    maybe = np.flatnonzero((values >= first) & (values <= end) & (values == theirs))
    found: list[Field] = []
    taken = [(f.at - start, f.at - start + f.width) for f in fields]
    for at in maybe.tolist():
        value = int(values[at])
        if shifts(value) or not _points(value, places):
            continue
        if any(a < at + ADDRESS and at < b for a, b in taken):
            continue
        taken.append((at, at + ADDRESS))
        found.append(Field(at + start, ADDRESS, "address", value=value))
    return found


def _find_size(
    runs: list[tuple[int, bytes, bytes, list[Field]]],
    k: int,
    chunk: Moved,
    width: int,
    shifts: Shifts,
) -> None:
    """Add the field of chunk ``k``'s size, the same in both inputs, to its run's fields:
    where the other chunks' sizes are stored alike, next to its address (in both), if
    there is exactly one such place. Else its size must repeat in every input."""
    if chunk.size >= 1 << (8 * width):
        return
    value = chunk.size.to_bytes(width, "little")
    found = []
    for start, mine, other, fields in runs:
        at = mine.find(value)
        while at >= 0:
            free = all(at + width <= f.at - start or f.at - start + f.width <= at for f in fields)
            if free and _addressed_near(mine, other, at, chunk, shifts):
                found.append((fields, Field(at + start, width, "size", chunk=k)))
            at = mine.find(value, at + 1)
    if len(found) == 1:
        fields, field = found[0]
        fields.append(field)


def _chunks(mine: Probe, theirs: Probe) -> tuple[list[Moved], list[int]] | None:
    """The chunks of the first input by offset, and each one's size in the other."""
    chunks: list[tuple[Moved, int]] = []
    for name, where in mine.stored.items():
        other = theirs.stored.get(name)
        if other is None or other.chunks != where.chunks:
            return None
        if len(other.entries) != len(where.entries):
            return None
        for i, (a, b) in enumerate(zip(where.entries, other.entries, strict=True)):
            if a[0] != b[0]:
                return None
            if where.chunks is None:
                if a[2] != b[2]:
                    return None  # a contiguous dataset is the same size in every file
                continue
            chunks.append((Moved(name, i, a[1], a[2]), b[2]))
    if not chunks:
        return None
    chunks.sort(key=lambda pair: pair[0].offset)
    return [c for c, _ in chunks], [s for _, s in chunks]


def _placed_alike(mine: Probe, theirs: Probe, shifts: Shifts) -> bool:
    """Whether every stored range of the other input is the first one's, moved by what
    the chunks before it grew or shrank."""
    for name, where in mine.stored.items():
        for a, b in zip(where.entries, theirs.stored[name].entries, strict=True):
            if b[1] != a[1] + shifts(a[1]):
                return False
    return True


def _spans(model: Model) -> list[tuple[int, int]]:
    """The first input's bytes outside data, as ``[start, end)`` runs in the file."""
    runs = sorted((start + a, start + b) for start, a, b in model.checked if b > a)
    merged: list[tuple[int, int]] = []
    for a, b in runs:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _explain(
    mine: bytes,
    theirs: bytes,
    start: int,
    chunks: Sequence[Moved],
    sizes: Sequence[int],
    shifts: Shifts,
    size: int,
) -> list[Field] | None:
    """The fields that explain every byte differing between two inputs' runs of bytes
    (the first one's from ``start``), or None if one cannot be explained."""
    differ = np.flatnonzero(np.frombuffer(mine, np.uint8) != np.frombuffer(theirs, np.uint8))
    fields: list[Field] = []
    done = 0  # bytes of the run before this are explained
    signatures: list[int] | None = None
    for i in differ.tolist():
        if i < done:
            continue
        field = _size_field(mine, theirs, i, done, chunks, sizes, shifts) or _address_field(
            mine, theirs, i, done, shifts, size
        )
        if field is None:
            if signatures is None:
                signatures = _signatures(mine)
            field = _checksum_field(mine, theirs, i, done, signatures)
        if field is None:
            return None
        if field.kind == "checksum":  # its structure's bounds, in the file
            end = field.value + start if field.value else 0
            field = replace(field, covers=field.covers + start, value=end)
        done = field.at + field.width
        fields.append(replace(field, at=field.at + start))
    return fields


def _size_field(
    mine: bytes,
    theirs: bytes,
    i: int,
    done: int,
    chunks: Sequence[Moved],
    sizes: Sequence[int],
    shifts: Shifts,
) -> Field | None:
    """A chunk's size stored over byte ``i`` (in both inputs, each its own). Chunks of
    the same sizes in both are told apart by their addresses, which a chunk index holds
    next to each size."""
    for width in SIZE_WIDTHS:
        for at in range(i, max(done, i - width + 1) - 1, -1):
            found = [
                k
                for k, (chunk, other) in enumerate(zip(chunks, sizes, strict=True))
                if chunk.size != other
                and max(chunk.size, other) < 1 << (8 * width)
                and mine[at : at + width] == chunk.size.to_bytes(width, "little")
                and theirs[at : at + width] == other.to_bytes(width, "little")
            ]
            if len(found) > 1:
                found = [k for k in found if _addressed_near(mine, theirs, at, chunks[k], shifts)]
            if len(found) == 1:
                return Field(at, width, "size", chunk=found[0])
    return None


def _addressed_near(mine: bytes, theirs: bytes, at: int, chunk: Moved, shifts: Shifts) -> bool:
    """Whether ``chunk``'s address lies near ``at`` in both inputs (each its own)."""
    a = chunk.offset.to_bytes(ADDRESS, "little")
    b = (chunk.offset + shifts(chunk.offset)).to_bytes(ADDRESS, "little")
    low = max(0, at - NEAR)
    where = mine.find(a, low, at + NEAR)
    while where >= 0:
        if theirs[where : where + ADDRESS] == b:
            return True
        where = mine.find(a, where + 1, at + NEAR)
    return False


def _address_field(
    mine: bytes,
    theirs: bytes,
    i: int,
    done: int,
    shifts: Shifts,
    size: int,
) -> Field | None:
    """An address stored over byte ``i``: in the other input, the first one's moved."""
    for at in range(i, max(done, i - ADDRESS + 1) - 1, -1):
        if at + ADDRESS > len(mine):
            continue
        value = int.from_bytes(mine[at : at + ADDRESS], "little")
        other = int.from_bytes(theirs[at : at + ADDRESS], "little")
        if value <= size and value != other and other == value + shifts(value):
            return Field(at, ADDRESS, "address", value=value)
    return None


def _checksum_field(
    mine: bytes, theirs: bytes, i: int, done: int, signatures: list[int]
) -> Field | None:
    """The checksum, stored over byte ``i``, of a structure that starts at a signature
    (in both inputs, each its own)."""
    for at in range(i, max(done, i - CHECKSUM + 1) - 1, -1):
        if at + CHECKSUM > len(mine):
            continue
        for covers in [s for s in signatures if s < at][-NEAREST:][::-1]:
            for end in _ends(mine, covers, at):
                if _sums(mine, covers, at, end) and _sums(theirs, covers, at, end):
                    return Field(at, CHECKSUM, "checksum", value=end, covers=covers)
    return None


def _ends(data: bytes, covers: int, at: int) -> list[int]:
    """Where the structure from ``covers`` whose checksum is at ``at`` may end: at the
    checksum (0), or, for a fractal heap's direct block, at the end of the whole block,
    which is checksummed with its checksum zeroed (its size a power of two)."""
    if data[covers : covers + 4] != b"FHDB":
        return [0]
    sizes = (1 << k for k in range(6, 21))
    return [covers + n for n in sizes if at + CHECKSUM <= covers + n <= len(data)]


def _sums(data: bytes, covers: int, at: int, end: int) -> bool:
    """Whether the checksum at ``at`` is that of the bytes from ``covers`` to it (``end``
    0), or to ``end`` with the checksum zeroed."""
    stored = int.from_bytes(data[at : at + CHECKSUM], "little")
    if not end:
        return lookup3(data[covers:at]) == stored
    block = data[covers:at] + bytes(CHECKSUM) + data[at + CHECKSUM : end]
    return lookup3(block) == stored


def _signatures(data: bytes) -> list[int]:
    """Where the structures that may end with a checksum start in ``data``."""
    found = set()
    for signature in SIGNATURES:
        at = data.find(signature)
        while at >= 0:
            found.add(at)
            at = data.find(signature, at + 1)
    return sorted(found)


def held_pieces(pieces: dict[int, bytes], start: int, length: int) -> bytes | None:
    """``length`` bytes from ``start`` out of ``pieces`` (by offset), if they hold them."""
    end, pos, parts = start + length, start, []
    for offset in sorted(pieces):
        piece = pieces[offset]
        if offset > pos:
            break
        if offset + len(piece) <= pos:
            continue
        take = piece[pos - offset : min(len(piece), end - offset)]
        parts.append(take)
        pos += len(take)
        if pos >= end:
            return b"".join(parts)
    return None if pos < end or start < 0 else b"".join(parts)
