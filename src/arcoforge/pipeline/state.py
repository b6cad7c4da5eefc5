"""RunState: the small files through which a run's workers and its launcher talk.

It lives at ``ROOT/.forge/<id>/`` (local or object storage), so it works the
same on every runner: workers leave a marker per fetched input and per written
task (the launcher counts them for progress, and a re-run skips finished
tasks), the planner leaves ``plan.json``, the publisher ``result.json``, and a
worker that fails on bad input leaves ``error.json`` for the launcher to show.

Other processes write here all the time, so nothing is read from a filesystem's
cached listings: every listing and existence check asks the store afresh.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any

from arcoforge.conditional import Conditional
from arcoforge.errors import ForgeError, error_from_name
from arcoforge.location import Location

#: The run-state document the launcher reads the virtual output's result from.
REFERENCES_RESULT = "references.json"
#: How a local file being written starts its name, until it is renamed into place.
_PARTIAL = ".tmp-"


class RunState(Location):
    """The state folder of one dataset's runs."""

    def write_json(self, name: str, value: Any) -> None:
        self.write_bytes(name, json.dumps(value, indent=1, default=str).encode())

    def read_json(self, name: str) -> Any | None:
        data = self.read_bytes(name)
        return None if data is None else json.loads(data)

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write a whole file at once: a run killed meanwhile leaves the old one or none
        (locally through a rename; an object store's PUT is whole by itself)."""
        path = self.path(name)
        folder = path.rsplit("/", 1)[0]
        self.fs.makedirs(folder, exist_ok=True)
        if not self.is_local:
            self.fs.pipe_file(path, data)
            return
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=_PARTIAL)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
            raise

    def read_bytes(self, name: str) -> bytes | None:
        try:
            data: bytes = self.fs.cat_file(self.path(name))
            return data
        except FileNotFoundError:
            return None

    def remove(self, name: str) -> None:
        self._remove(self.path(name))

    def _remove(self, path: str) -> None:
        self.fs.invalidate_cache(path)
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(path, recursive=True)
        self.fs.invalidate_cache(path)

    def mark(self, kind: str, name: str) -> None:
        """Leave marker ``name`` of ``kind`` (``fetched``, ``done``): an empty file, whole
        once it exists (no temporary name needed)."""
        if not self.is_local:
            self.write_bytes(f"{kind}/{name}", b"")
            return
        path = self.path(f"{kind}/{name}")
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        open(path, "wb").close()

    def marks(self, kind: str) -> set[str]:
        """The names of the markers of ``kind``."""
        path = self.path(kind)
        self.fs.invalidate_cache(path)  # markers written by other processes since
        try:
            found = {p.rsplit("/", 1)[-1] for p in self.fs.ls(path, detail=False)}
        except FileNotFoundError:
            return set()
        return {name for name in found if not name.startswith(_PARTIAL)}

    def report(self, error: ForgeError) -> None:
        """Record the first error a worker met, for the launcher to show.

        Workers fail at once when an input is bad; the first report wins, atomically.
        """
        doc = {"type": type(error).__name__, "message": str(error), "where": error.where}
        if Conditional.supports(self):
            Conditional(self).create("error.json", json.dumps(doc, indent=1).encode())
        elif self.read_bytes("error.json") is None:
            self.write_json("error.json", doc)

    def error(self) -> ForgeError | None:
        found = self.read_json("error.json")
        if found is None:
            return None
        return error_from_name(found["type"], found["message"], found.get("where"))

    def clear(self) -> None:
        """Remove the whole state folder."""
        self._remove(self.path())


def counted(names: set[str]) -> tuple[int, int]:
    """The inputs and bytes that markers named ``<key>.<inputs>.<bytes>`` count, summed."""
    counts = [name.rsplit(".", 2)[1:] for name in names]
    return sum(int(n) for n, _ in counts), sum(int(b) for _, b in counts)
