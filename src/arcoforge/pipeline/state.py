"""RunState: the small files through which a run's workers and its launcher talk.

It lives at ``ROOT/.forge/<id>/`` (local or object storage), so it works the
same on every runner: workers leave a marker per fetched input and per written
task (the launcher counts them for progress, and a re-run skips finished
tasks), the planner leaves ``plan.json``, the publisher ``result.json``, and a
worker that fails on bad input leaves ``error.json`` for the launcher to show.
"""

from __future__ import annotations

import json
from typing import Any

import fsspec

from arcoforge.errors import ForgeError, error_from_name


class RunState:
    """The state folder of one dataset's runs."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        self.url = url.rstrip("/")
        self.storage_options = dict(storage_options or {})
        self._fs: fsspec.AbstractFileSystem | None = None
        self._root = ""

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "storage_options": self.storage_options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], state["storage_options"])  # type: ignore[misc]

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        if self._fs is None:
            self._fs, self._root = fsspec.core.url_to_fs(self.url, **self.storage_options)
        return self._fs

    def _path(self, *parts: str) -> str:
        _ = self.fs
        return "/".join((self._root, *parts))

    def write_json(self, name: str, value: Any) -> None:
        self.write_bytes(name, json.dumps(value, indent=1, default=str).encode())

    def read_json(self, name: str) -> Any | None:
        data = self.read_bytes(name)
        return None if data is None else json.loads(data)

    def write_bytes(self, name: str, data: bytes) -> None:
        path = self._path(name)
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        self.fs.pipe_file(path, data)

    def read_bytes(self, name: str) -> bytes | None:
        try:
            return self.fs.cat_file(self._path(name))
        except FileNotFoundError:
            return None

    def remove(self, name: str) -> None:
        path = self._path(name)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def mark(self, kind: str, name: str) -> None:
        """Leave marker ``name`` of ``kind`` (``fetched``, ``done``)."""
        self.write_bytes(f"{kind}/{name}", b"")

    def marks(self, kind: str) -> set[str]:
        """The names of the markers of ``kind``."""
        try:
            return {p.rsplit("/", 1)[-1] for p in self.fs.ls(self._path(kind), detail=False)}
        except FileNotFoundError:
            return set()

    def report(self, error: ForgeError) -> None:
        """Record the first error a worker met, for the launcher to show."""
        if self.read_bytes("error.json") is None:
            self.write_json("error.json", {"type": type(error).__name__, "message": str(error)})

    def error(self) -> ForgeError | None:
        found = self.read_json("error.json")
        return None if found is None else error_from_name(found["type"], found["message"])

    def clear(self) -> None:
        """Remove the whole state folder."""
        if self.fs.exists(self._path()):
            self.fs.rm(self._path(), recursive=True)
