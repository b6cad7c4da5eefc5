"""Validation of the URLs and ids that come from recipes, before anything uses them."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from arcoforge.errors import UnsafeUrlError

#: Schemes a recipe may read its inputs from.
SOURCE_SCHEMES = frozenset({"http", "https", "ftp", "s3", "gs", "gcs", "az", "abfs", "file"})
#: Schemes an output root may use.
OUTPUT_SCHEMES = frozenset({"s3", "gs", "gcs", "az", "abfs", "file", "memory"})
_NEEDS_HOST = frozenset({"http", "https", "ftp", "s3", "gs", "gcs", "az", "abfs"})

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: Characters a local path keeps as they are in its file:// URL (template fields included).
_PATH_SAFE = "/{}:%-._~+,=@"

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


def local_url(value: str, folder: Path) -> str:
    """``value`` as a URL: a plain path (absolute, or relative to ``folder``) as ``file://``.

    Anything with a scheme (``https://``, ``s3://``, ``file://``) is returned as it is.
    Template fields such as ``{time:%Y%m%d}`` are kept as they are.
    """
    if not isinstance(value, str) or not value or _SCHEME.match(value):
        return value
    path = os.path.normpath(os.path.join(os.path.abspath(folder), os.path.expanduser(value)))
    return "file://" + quote(Path(path).as_posix(), safe=_PATH_SAFE)


def is_local(url: str) -> bool:
    """Whether ``url`` names a file on the machine that runs the recipe."""
    return url.lower().startswith("file://")


def local_inputs_warning(urls: list[str]) -> str | None:
    """A warning when inputs are local files, which the platform's CI cannot read."""
    local = [u for u in urls if is_local(u)]
    if not local:
        return None
    return (
        f"{len(local)} of {len(urls)} inputs are local files (e.g. {local[0]}): fine for "
        "`forge run` on this machine, but a recipe meant for the platform needs URLs that "
        "CI can reach (https://, s3://, gs://, ...)."
    )


def validate_url(url: str, *, where: str, schemes: frozenset[str] = SOURCE_SCHEMES) -> str:
    """Check that ``url`` is an absolute URL with an allowed scheme and no traversal.

    Local files are ``file:///absolute`` URLs (a recipe's plain paths are made so,
    relative to its folder, by :func:`local_url`), so a recipe never names a path
    relative to wherever it happens to run.
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
