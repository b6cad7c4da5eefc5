"""The compressors behind ``outputs.zarr.compression``, for Zarr format 2 and 3.

All go through Blosc with byte shuffling, which groups the bytes of numbers
by significance before compressing (a large gain on floating-point grids) and
compresses in blocks that decode independently. ``lz4`` (level 5, Zarr v2's
long-time default) is ours too: it compresses far faster than a worker reads its
sources, so it never holds the pipeline back. ``zstd`` at level 1 makes stores
smaller for several times the CPU (level 3 costs much more again for almost no
gain). ``bench/`` shows both side by side, with the figures (bench/README.md).
"""

from __future__ import annotations

from typing import Any, Literal

import numcodecs
from zarr.codecs import BloscCodec

from arcoforge.recipe.spec import Compression

_LEVEL = {Compression.LZ4: 5, Compression.ZSTD: 1}
_CNAME: dict[Compression, Literal["lz4", "zstd"]] = {
    Compression.LZ4: "lz4",
    Compression.ZSTD: "zstd",
}


def compressors(compression: Compression, zarr_format: int) -> list[Any] | None:
    """The ``compressors`` encoding for one variable, or None for uncompressed."""
    if compression is Compression.NONE:
        return None
    cname, level = _CNAME[compression], _LEVEL[compression]
    if zarr_format == 2:
        return [numcodecs.Blosc(cname=cname, clevel=level, shuffle=numcodecs.Blosc.SHUFFLE)]
    return [BloscCodec(cname=cname, clevel=level, shuffle="shuffle")]
