"""Target: what every output of a run does, whatever its format.

A run writes a new version of each output where no reader looks (staging), then
makes it visible in one write (publishing). How a version is staged depends on what
the format is made from: a copy (:class:`~arcoforge.targets.zarr.ZarrTarget`) is
prepared from a plan and written task by task; references
(:class:`ReferenceTarget`) are staged from one virtual dataset. Everything else, the
pipeline, the catalog and the conformance tests reach through :class:`Target`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, get_args, runtime_checkable

from arcoforge.errors import TargetError

if TYPE_CHECKING:
    import xarray as xr

    from arcoforge.plan.mixed import NativeTask
    from arcoforge.sources.manifest import Manifest

#: The output formats, as run results and catalogs name them.
Kind = Literal["zarr", "json", "parquet", "icechunk"]
KINDS: tuple[Kind, ...] = get_args(Kind)

#: What a target's staging hands to its ``publish``.
StagedT = TypeVar("StagedT", contravariant=True)
#: The same, for targets that also stage (and so return it).
S = TypeVar("S")


@runtime_checkable
class Target(Protocol[StagedT]):
    """An output at ``url``: what is published there, and how a new version replaces it."""

    url: str
    storage_options: dict[str, Any]

    @property
    def kind(self) -> Kind:
        """The output's format."""
        ...

    def exists(self) -> bool:
        """Whether a dataset (or something not written by a run) is in place; an unfinished
        run's staging alone does not count."""
        ...

    def published_attrs(self) -> dict[str, Any] | None:
        """The root attributes of the published dataset; None if nothing is published."""
        ...

    def manifest(self) -> Manifest | None:
        """The input manifest recorded with the published dataset; None if it records none
        (TargetError if it cannot be read)."""
        ...

    def publish(self, staged: StagedT) -> str | None:
        """Make a staged version the one readers open, in one write; returns the new
        snapshot's id where the format has one."""
        ...

    def remove(self) -> None:
        """Remove the output, what makes it readable first: readers never open a part."""
        ...

    def stored_bytes(self) -> int:
        """The bytes stored at ``url``, listed afresh."""
        ...


@dataclass(frozen=True)
class StageOptions:
    """What staging references needs beyond the dataset and its manifest (used by the
    formats that record them: an Icechunk commit's message and metadata, the inputs'
    URL prefixes and how to read them, the chunks written natively)."""

    message: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    prefixes: Sequence[str] = ()
    source_options: dict[str, Any] = field(default_factory=dict)
    native: Sequence[NativeTask] = ()


@runtime_checkable
class ReferenceTarget(Target[S], Protocol[S]):
    """A target of references to the inputs' bytes, staged from one virtual dataset."""

    def stage(self, ds: xr.Dataset, manifest: Manifest | None, options: StageOptions) -> S:
        """Write ``ds`` (and the manifest of its inputs) where no reader looks yet;
        returns what :meth:`publish` needs."""
        ...


def target_at(kind: str, url: str, storage_options: dict[str, Any] | None = None) -> Target[Any]:
    """The target of format ``kind`` at ``url``."""
    if kind == "zarr":
        from arcoforge.targets.zarr import ZarrTarget  # zarr loads only where it is used

        return ZarrTarget(url, storage_options)
    if kind in ("json", "parquet"):
        from arcoforge.targets.kerchunk import KerchunkTarget

        return KerchunkTarget(url, "json" if kind == "json" else "parquet", storage_options)
    if kind == "icechunk":
        from arcoforge.targets.icechunk import IcechunkTarget

        return IcechunkTarget(url, storage_options)
    raise TargetError(
        f"{url}: expected an output kind among {', '.join(KINDS)}. Got {kind!r} instead. "
        "Name the output with its suffix (.zarr, .json, .parquet or .icechunk)."
    )
