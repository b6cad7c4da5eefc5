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

from arcoforge.errors import ForgeError, error_from_name
from arcoforge.location import Location

#: The run-state document the launcher reads the virtual output's result from.
REFERENCES_RESULT = "references.json"


class RunState(Location):
    """The state folder of one dataset's runs."""

    def write_json(self, name: str, value: Any) -> None:
        self.write_bytes(name, json.dumps(value, indent=1, default=str).encode())

    def read_json(self, name: str) -> Any | None:
        data = self.read_bytes(name)
        return None if data is None else json.loads(data)

    def write_bytes(self, name: str, data: bytes) -> None:
        path = self.path(name)
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        self.fs.pipe_file(path, data)

    def read_bytes(self, name: str) -> bytes | None:
        try:
            return self.fs.cat_file(self.path(name))
        except FileNotFoundError:
            return None

    def remove(self, name: str) -> None:
        path = self.path(name)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def mark(self, kind: str, name: str) -> None:
        """Leave marker ``name`` of ``kind`` (``fetched``, ``done``)."""
        self.write_bytes(f"{kind}/{name}", b"")

    def marks(self, kind: str) -> set[str]:
        """The names of the markers of ``kind``."""
        try:
            return {p.rsplit("/", 1)[-1] for p in self.fs.ls(self.path(kind), detail=False)}
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
        if self.fs.exists(self.path()):
            self.fs.rm(self.path(), recursive=True)
