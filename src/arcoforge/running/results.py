"""What a run made: one result per output, as the publishing stages recorded them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from arcoforge.errors import PipelineError
from arcoforge.pipeline.state import RunState


@dataclass(frozen=True, kw_only=True)
class _Published:
    """What every output's result says, whatever its kind."""

    url: str
    up_to_date: bool
    stored_bytes: int
    #: the summary of the input manifest recorded in it: count and total bytes
    manifest: dict[str, int] = field(default_factory=dict)
    #: with --update: how many inputs were appended (0: it was up to date)
    appended: int | None = None
    #: inputs left out as missing (``on_missing: skip``): ``{index, url}`` each
    missing: tuple[dict[str, str], ...] = ()
    #: with --update: how many inputs skipped before were filled in
    filled: int | None = None

    @staticmethod
    def _shared(doc: dict[str, Any]) -> dict[str, Any]:
        """The shared fields, as a publishing stage recorded them in the run state."""
        return {
            "url": doc["url"],
            "up_to_date": doc["up_to_date"],
            "stored_bytes": doc["stored_bytes"],
            "manifest": doc.get("manifest", {}),
            "appended": doc.get("appended"),
            "missing": tuple(doc.get("missing") or ()),
            "filled": doc.get("filled"),
        }

    def _shared_json(self) -> dict[str, Any]:
        return {
            "up_to_date": self.up_to_date,
            "stored_bytes": self.stored_bytes,
            "manifest": self.manifest,
            **({} if self.appended is None else {"appended": self.appended}),
            **({} if self.filled is None else {"filled": self.filled}),
            "missing": list(self.missing),
        }


@dataclass(frozen=True)
class ZarrResult(_Published):
    """The Zarr copy a run made."""

    zarr_format: int
    compression: str
    tasks: int
    skipped: int
    bytes_written: int

    kind = "zarr"

    @classmethod
    def from_state(cls, doc: dict[str, Any]) -> ZarrResult:
        """The result the publishing stage recorded in the run state."""
        return cls(
            zarr_format=doc["zarr_format"],
            compression=doc["compression"],
            tasks=doc["tasks"],
            skipped=doc["skipped"],
            bytes_written=doc["written"],
            **cls._shared(doc),
        )

    @property
    def open_code(self) -> str:
        """The line of Python that opens it."""
        return f'xr.open_zarr("{self.url}")'

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": self.url,
            "zarr_format": self.zarr_format,
            "compression": self.compression,
            "tasks": self.tasks,
            "tasks_skipped": self.skipped,
            "bytes_written": self.bytes_written,
            **self._shared_json(),
        }


@dataclass(frozen=True)
class ReferencesResult(_Published):
    """The virtual dataset a run made: Kerchunk JSON or Parquet, or an Icechunk repository."""

    format: str
    references: int
    prefixes: tuple[str, ...]
    snapshot: str | None = None
    #: Icechunk: how many chunks are virtual and how many were written from the inputs
    chunks: dict[str, int] | None = None

    kind = "references"

    @classmethod
    def from_state(cls, doc: dict[str, Any]) -> ReferencesResult:
        """The result the references stage recorded in the run state."""
        return cls(
            format=doc["format"],
            references=doc["references"],
            prefixes=tuple(doc["prefixes"]),
            snapshot=doc.get("snapshot"),
            chunks=doc.get("chunks"),
            **cls._shared(doc),
        )

    @property
    def open_code(self) -> str:
        """The line of Python that opens it."""
        if self.format == "json":
            return f'xr.open_dataset("{self.url}", engine="kerchunk")'
        # Parquet references are versions behind a pointer, which xarray cannot follow.
        return f'arcoforge.open_dataset("{self.url}")'

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format": self.format,
            "url": self.url,
            "references": self.references,
            "sources": list(self.prefixes),
            **({} if self.snapshot is None else {"snapshot": self.snapshot}),
            **({} if self.chunks is None else {"chunks": dict(self.chunks)}),
            **self._shared_json(),
        }


Output = ZarrResult | ReferencesResult


@dataclass(frozen=True)
class RunResult:
    """What a run made: one result per output, and the dataset they hold."""

    id: str
    inputs: int
    seconds: float
    nbytes: int
    sizes: dict[str, int]
    variables: dict[str, Any]
    outputs: tuple[Output, ...]

    @property
    def up_to_date(self) -> bool:
        """Whether every output was already up to date, so nothing was written."""
        return all(o.up_to_date for o in self.outputs)

    @property
    def zarr(self) -> ZarrResult | None:
        return next((o for o in self.outputs if isinstance(o, ZarrResult)), None)

    @property
    def references(self) -> ReferencesResult | None:
        return next((o for o in self.outputs if isinstance(o, ReferencesResult)), None)

    @property
    def missing(self) -> list[dict[str, str]]:
        """The inputs left out as missing (``on_missing: skip``), ``{index, url}`` each."""
        return next((list(o.missing) for o in self.outputs if o.missing), [])

    @property
    def manifest(self) -> dict[str, int]:
        """The summary of the run's input manifest (count, bytes), as its outputs record it.

        Every output records the same inputs; a copy's manifest also has their SHA-256.
        """
        return next((o.manifest for o in self.outputs if o.manifest), {})

    @property
    def appended(self) -> int | None:
        """With --update: the inputs appended (the most any output took); None otherwise."""
        found = [o.appended for o in self.outputs if o.appended is not None]
        return max(found) if found else None

    @property
    def filled(self) -> int | None:
        """With --update: the inputs skipped before that were filled in; None otherwise."""
        found = [o.filled for o in self.outputs if o.filled is not None]
        return max(found) if found else None

    def to_json(self) -> dict[str, Any]:
        appended, filled = self.appended, self.filled
        return {
            **({} if appended is None else {"appended": appended}),
            **({} if filled is None else {"filled": filled}),
            "id": self.id,
            "outputs": [o.to_json() for o in self.outputs],
            "inputs": self.inputs,
            "manifest": self.manifest,
            "missing": self.missing,
            "seconds": round(self.seconds, 3),
            "up_to_date": self.up_to_date,
            "nbytes": self.nbytes,
            "sizes": self.sizes,
            "variables": self.variables,
        }


def read_result(state: RunState, name: str) -> dict[str, Any]:
    """The result document ``name`` the publishing stage wrote; the run's error if none."""
    result = state.read_json(name)
    if result is None:
        raise state.error() or PipelineError("the pipeline ended without publishing a result.")
    return dict(result)
