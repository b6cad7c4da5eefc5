"""What a task holds in memory at its peak: the estimate tasks are cut by.

A task writes its variables one after another (see ``pipeline.copy_blocks.read_blocks``
and ``targets.zarr.ZarrTarget.write``). For one variable over a block of ``E``
values whose largest input slice (piece) has ``P`` values, with ``s`` bytes per
stored value and ``d`` per decoded one, three phases follow each other:

* **read**: the block being assembled, plus one piece as the source library
  returns it (``s·P``; decoded, the stored slice and one decoded copy, or two
  decoded copies, whichever is more);
* **encode** (decoded variables only): the decoded block, the CF encoding's
  whole-block temporaries (two for packing with ``scale_factor``/``add_offset``
  or times, one for a non-NaN fill value) and the stored-dtype result;
* **write**: the stored block and the compressor's output (at most the chunk's
  size) of each chunk; when the block holds more than one chunk, a copy of each
  chunk too, and one more of each chunk zarr encodes at once (up to its
  ``async.concurrency``, 10). Measured with 16 chunks per block, the pages of
  all the chunks' copies and outputs were held at the peak, and more besides:
  the last term covers that.

A variable's peak is the largest phase, plus HDF5's buffers for a compressed
source chunk (the compressed bytes and the whole decompressed chunk, even when a
slice of it is needed) and its 1 MiB chunk cache: measured, these stay with the
process after the read, through the write. A ``preprocess`` that computes on
variables holds the whole input it was given, decoded (counted twice: the result
and the operand it was computed from), one input at a time, during the read only:
the input is closed once the block is assembled, before it is encoded and
written. The task's peak is the largest variable's, plus what stays for the whole
task: netCDF3 inputs are memory-mapped, so the source pages read stay mapped
until the task closes them.
Inputs read by byte range (see ``sources.chunk_reads``) skip HDF5: a task reads up to
``PIECES_IN_FLIGHT`` pieces of a raw variable at once, each holding the bytes fetched
for it (a contiguous span at most ``SPAN_SLACK`` times the piece, or the chunks that
cover it, which exceed the piece by at most a chunk's worth of edges, plus up to
``COALESCE_GAP`` of merged gaps) and, while it decodes a chunk, that chunk twice
(inflated, then unshuffled). Like HDF5's, the pages of those pieces stay with the
process after the read, so they count in every phase of the task. Python and the
libraries are not counted here: the estimate adds a process's own memory before its
first task (``plan.estimate``), as ``bench/memory_benchmark.py`` measures it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from arcoforge.sources.chunk_reads import COALESCE_GAP, PIECES_IN_FLIGHT, SPAN_SLACK

#: Chunks zarr encodes at once (its ``async.concurrency`` default).
ZARR_CHUNKS_IN_FLIGHT = 10
#: HDF5's default chunk cache of an open dataset (``rdcc_nbytes``).
HDF5_CHUNK_CACHE = 1024**2


@dataclass(frozen=True, slots=True)
class VarFootprint:
    """A variable's sizes and storage, as the task cutter and the memory estimate need them."""

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    group: tuple[int, ...]
    decoded_itemsize: int
    stored_itemsize: int
    raw: bool
    #: bytes of the largest source chunk, decompressed; 0 for contiguous storage
    source_chunk: int = 0
    #: whether source chunks go through a filter (zlib, szip, ...) that needs buffers
    compressed: bool = False
    #: whether some inputs, or every input, of its group are read by byte range
    ranged: bool = False
    only_ranged: bool = False
    #: whether inputs are netCDF3, read through a memory map
    mapped: bool = False
    #: whole-block temporaries of CF encoding, in decoded values (decoded mode only)
    encode_copies: int = 0
    #: whether encoding ends in a cast to another dtype (a stored-size result)
    recast: bool = False

    @property
    def chunk_values(self) -> int:
        """Values in one (full) target chunk."""
        return math.prod(min(c, n) for c, n in zip(self.chunks, self.shape, strict=True))


@dataclass(frozen=True, slots=True)
class Block:
    """The extent of a task's block: its values, its largest piece and its chunks."""

    values: int
    piece: int
    chunks: int


def source_buffers(v: VarFootprint) -> int:
    """HDF5's buffers while reading a slice: a compressed chunk, decompressed whole."""
    if v.source_chunk <= 0:
        return 0
    if v.compressed:
        return 2 * v.source_chunk + HDF5_CHUNK_CACHE
    return HDF5_CHUNK_CACHE


def variable_peak(v: VarFootprint, block: Block, preprocess_input: int = 0) -> int:
    """Peak bytes while one variable of a task is read, encoded and written.

    ``preprocess_input``: the decoded bytes of the preprocessed input held while reading.
    """
    s, d, e, p = v.stored_itemsize, v.decoded_itemsize, block.values, block.piece
    if v.raw:
        read = s * e + s * p + 2 * preprocess_input
        encode = 0
    else:
        read = d * e + max(s + d, 2 * d) * p + 2 * preprocess_input
        encode = d * e * (1 + v.encode_copies) + (s * e if v.recast else 0)
    if block.chunks == 1:  # handed to the compressor as it is
        write = 2 * s * e
    else:
        chunk = min(v.chunk_values, e)
        write = 3 * s * e + s * chunk * min(ZARR_CHUNKS_IN_FLIGHT, block.chunks)
    # the source chunk buffers outlive the read: measured, their pages stay with the
    # process (HDF5's free lists, and malloc's trim threshold raised by large frees)
    buffers = 0 if v.only_ranged else source_buffers(v)
    if v.ranged:  # decoded pieces are read one at a time, stored then decoded
        held = s * e if v.raw else d * e + (s + d) * p
        read = max(read, held)
        # the pieces in flight, and so do theirs (the decoding threads' malloc arenas):
        # measured, the write phase holds them too (bench/README.md, *Memory*)
        buffers += ranged_pieces(v, block)
    return max(read, encode, write) + buffers


def ranged_pieces(v: VarFootprint, block: Block) -> int:
    """Bytes held by the pieces a task reads by range at once (fetched and decoding)."""
    s, p = v.stored_itemsize, block.piece
    fetched = max(SPAN_SLACK * s * p, s * p + v.source_chunk) + COALESCE_GAP
    return PIECES_IN_FLIGHT * (fetched + 2 * v.source_chunk)


def task_memory(variables: Sequence[VarFootprint], block: Block, preprocess_input: int = 0) -> int:
    """Peak bytes of a task writing ``variables`` over ``block``.

    ``preprocess_input`` is the decoded size of the largest input the task opens
    when the recipe has a ``preprocess`` (0 without one).
    """
    peak = max(variable_peak(v, block, preprocess_input) for v in variables)
    mapped = sum(v.stored_itemsize * block.values for v in variables if v.mapped)
    return peak + mapped


def input_bytes(
    variables: Sequence[VarFootprint], extent: dict[str, int], concat_dims: Sequence[str]
) -> int:
    """Decoded bytes of ``variables`` in one input spanning ``extent`` along the concat dims."""
    total = 0
    for v in variables:
        sizes = (
            extent.get(d, 0) if d in concat_dims else n
            for d, n in zip(v.dims, v.shape, strict=True)
        )
        total += v.decoded_itemsize * math.prod(sizes)
    return total
