"""Telling netCDF3 from netCDF4/HDF5 (and from what is neither) by magic bytes."""

from __future__ import annotations

from arcoforge.errors import InputFormatError
from arcoforge.recipe.pattern import FileType

_HDF5 = b"\x89HDF\r\n\x1a\n"
#: HDF5 files may start with a user block: the signature is at 0, 512, 1024, 2048, ...
_HDF5_OFFSETS = (0, 512, 1024, 2048, 4096)
#: How many leading bytes :func:`sniff` wants to see.
SNIFF_BYTES = 4096 + len(_HDF5)


def sniff(head: bytes, *, url: str) -> FileType:
    """The format of a file whose first bytes are ``head``."""
    if head[:4] in (b"CDF\x01", b"CDF\x02"):
        return FileType.NETCDF3
    if head[:4] == b"CDF\x05":
        raise InputFormatError(
            f"{url}: this is a CDF-5 (64-bit data) netCDF file, which cannot be read here. "
            "Convert it to netCDF4 (nccopy -k nc4) or ask the provider for netCDF4."
        )
    if any(head[o : o + len(_HDF5)] == _HDF5 for o in _HDF5_OFFSETS):
        return FileType.NETCDF4
    raise InputFormatError(f"{url}: expected a netCDF3 or netCDF4 file. Got {_describe(head)}.")


def check_declared(declared: FileType, found: FileType, *, url: str) -> FileType:
    """``found``, unless the recipe declared another type."""
    if declared not in (FileType.AUTO, found):
        raise InputFormatError(
            f"{url}: expected {declared.value} (file_type in the recipe). Got a {found.value} "
            "file instead. Set file_type: auto or the right type."
        )
    return found


def _describe(head: bytes) -> str:
    text = head[:64].lstrip().lower()
    if not head:
        return "an empty file"
    if text.startswith((b"<!doctype html", b"<html")):
        return "an HTML page (a login or error page?)"
    if text.startswith((b"<?xml", b"<")):
        return "an XML document"
    if text.startswith((b"{", b"[")):
        return "a JSON document"
    if head[:2] == b"\x1f\x8b":
        return "a gzip archive (decompress it first)"
    if head[:4] == b"PK\x03\x04":
        return "a zip archive"
    if head[:4] == b"GRIB":
        return "a GRIB file (not supported)"
    return f"a file starting with {head[:8]!r}"
