"""Location: a local folder or object-store prefix, reached through fsspec, picklable.

Pipeline elements carry locations to workers on other machines: only the URL
and storage options travel; the filesystem object is made again on first use.
"""

from __future__ import annotations

from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem


class Location:
    """A folder or prefix at ``url`` (a local path or an fsspec URL such as ``s3://b/p``)."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        self.url = url.rstrip("/")
        self.storage_options = dict(storage_options or {})
        self._fs: fsspec.AbstractFileSystem | None = None
        self._root = ""

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "storage_options": self.storage_options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        Location.__init__(self, state["url"], state["storage_options"])

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        if self._fs is None:
            self._fs, self._root = fsspec.core.url_to_fs(self.url, **self.storage_options)
        return self._fs

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def path(self, *parts: str) -> str:
        """The filesystem path of ``parts`` below this location (no protocol)."""
        _ = self.fs
        return "/".join((self._root, *parts)) if parts else self._root

    def url_of(self, *parts: str) -> str:
        """The full URL of ``parts`` below this location (a plain path when local)."""
        if self.is_local:
            return self.path(*parts)
        return "/".join((self.url, *parts))


def stored_bytes(fs: fsspec.AbstractFileSystem, path: str) -> int:
    """The bytes of the files under ``path``, listed afresh (other processes and clients
    write there), from one listing rather than a request per file."""
    fs.invalidate_cache()
    if fs.isfile(path):
        return int(fs.size(path))
    return int(sum(info.get("size") or 0 for info in fs.find(path, detail=True).values()))
