"""Validation of the URLs and ids that come from recipes, before anything uses them."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from arcoforge.errors import UnsafeUrlError

#: Schemes a recipe may read its inputs from.
SOURCE_SCHEMES = frozenset({"http", "https", "s3", "gs", "gcs", "az", "abfs", "file"})
#: Schemes an output root may use.
OUTPUT_SCHEMES = frozenset({"s3", "gs", "gcs", "az", "abfs", "file", "memory"})
_NEEDS_HOST = frozenset({"http", "https", "s3", "gs", "gcs", "az", "abfs"})

_ID = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_CONTROL = re.compile(r"[\x00-\x20\x7f\\]")


def validate_id(value: str, *, where: str) -> str:
    """Check a dataset id: a lowercase slug that is safe as a path component."""
    if not isinstance(value, str) or not _ID.match(value) or len(value) > 64:
        raise UnsafeUrlError(
            f"{where}: expected an id of at most 64 lowercase letters, digits and single "
            f"'-', '_' or '.' between them (e.g. 'noaa-oisst-v2.1'). Got {value!r} instead."
        )
    return value


def validate_url(url: str, *, where: str, schemes: frozenset[str] = SOURCE_SCHEMES) -> str:
    """Check that ``url`` is an absolute URL with an allowed scheme and no traversal.

    Local files must be given as ``file://`` URLs, so a recipe can never name a
    path relative to wherever it happens to run.
    """
    if not isinstance(url, str) or not url:
        raise UnsafeUrlError(f"{where}: expected a URL. Got {url!r} instead.")
    if _CONTROL.search(url):
        raise UnsafeUrlError(
            f"{where}: URL {url!r} contains a space, a backslash or a control character; "
            "percent-encode it (a space is %20)."
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in 0-65535
    except ValueError as e:
        raise UnsafeUrlError(f"{where}: expected a URL. Got {url!r} instead ({e}).") from None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        allowed = ", ".join(f"{s}://" for s in sorted(schemes))
        raise UnsafeUrlError(
            f"{where}: expected a URL starting with one of {allowed}. Got {url!r} instead."
        )
    if scheme in _NEEDS_HOST and not parts.hostname:
        raise UnsafeUrlError(f"{where}: URL {url!r} has no host name.")
    if scheme == "file" and (
        not url[len(scheme) :].startswith(":///") or not parts.path.startswith("/")
    ):
        # fsspec reads file:name, file://name and file://host/path relative to the
        # working directory.
        raise UnsafeUrlError(
            f"{where}: expected a local file as file:///absolute/path. Got {url!r} instead."
        )
    if parts.username or parts.password:
        raise UnsafeUrlError(
            f"{where}: URL {url!r} carries credentials. Remove them: credentials come from "
            "the environment of the machine that runs the recipe, never from the recipe."
        )
    segments = unquote(parts.path).split("/")
    if any(seg in ("..", ".") for seg in segments):
        raise UnsafeUrlError(
            f"{where}: URL {url!r} contains a '.' or '..' path segment; give the path without them."
        )
    return url
