"""The compressors behind ``outputs.zarr.compression``, for Zarr format 2 and 3.

All go through Blosc with byte shuffling, which groups the bytes of numbers
by significance before compressing (a large gain on floating-point grids) and
compresses in blocks that decode independently. ``lz4`` is the default: it
keeps pace with the pipeline, where zstd is slower to write but smaller on
disk. ``bench/`` shows both side by side.
"""

from __future__ import annotations

from typing import Any

import numcodecs
from zarr.codecs import BloscCodec

from arcoforge.recipe.spec import Compression

_LEVEL = {Compression.LZ4: 5, Compression.ZSTD: 3}


def compressors(compression: Compression, zarr_format: int) -> list[Any] | None:
    """The ``compressors`` encoding for one variable, or None for uncompressed."""
    if compression is Compression.NONE:
        return None
    cname, level = compression.value, _LEVEL[compression]
    if zarr_format == 2:
        return [numcodecs.Blosc(cname=cname, clevel=level, shuffle=numcodecs.Blosc.SHUFFLE)]
    return [BloscCodec(cname=cname, clevel=level, shuffle="shuffle")]
