"""Input identity and the manifest: which version of each source an output was made from.

An :class:`InputIdentity` is what a source says about itself (URL, size, ETag,
Last-Modified) plus the SHA-256 of its bytes when the whole file was read. A
:class:`Manifest` holds one per input, keyed by the input's index, and is recorded
inside every output, so a later run can tell whether the sources still are what the
output was made from.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from dataclasses import asdict, dataclass, field
from typing import Any

from arcoforge.errors import SourceChangedError

#: The ``format`` field of a manifest document, and the version of its layout.
FORMAT = "arcoforge-manifest"
VERSION = 1
#: Changed inputs named in a refusal; the rest are counted.
LISTED = 20


@dataclass(frozen=True, slots=True)
class InputIdentity:
    """One source as it was read: each field None where the source does not give it."""

    url: str
    size: int | None = None
    etag: str | None = None
    #: ISO 8601 in UTC (``2026-11-30T11:20:00Z``), whatever form the source gave it in
    last_modified: str | None = None
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputIdentity:
        size = d.get("size")
        return cls(
            url=str(d["url"]),
            size=None if size is None else int(size),
            etag=d.get("etag"),
            last_modified=d.get("last_modified"),
            sha256=d.get("sha256"),
        )

    def changes_to(self, now: InputIdentity) -> list[str]:
        """How the source changed from this identity to ``now``; empty if it did not.

        When both sides have a SHA-256, it decides: a file rewritten with the same
        bytes (a new ETag, a new date) is unchanged. Otherwise any field both sides
        know that differs is a change.
        """
        if self.sha256 and now.sha256 and self.sha256 == now.sha256:
            return []
        out = []
        if self.size is not None and now.size is not None and self.size != now.size:
            out.append(f"size {self.size} → {now.size}")
        if self.etag and now.etag and self.etag != now.etag:
            out.append(f"ETag {self.etag} → {now.etag}")
        if self.last_modified and now.last_modified and self.last_modified != now.last_modified:
            out.append(f"Last-Modified {self.last_modified} → {now.last_modified}")
        if self.sha256 and now.sha256 and self.sha256 != now.sha256:
            out.append(f"SHA-256 {self.sha256[:12]}… → {now.sha256[:12]}…")
        return out


@dataclass(frozen=True, slots=True)
class Change:
    """An input whose source changed since a manifest recorded it."""

    key: str
    url: str
    what: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.url} ({self.key}): {', '.join(self.what)}"


@dataclass(frozen=True)
class Manifest:
    """The identities of an output's inputs, in input order, keyed by each input's index."""

    inputs: dict[str, InputIdentity] = field(default_factory=dict)
    #: the inputs left out because they were missing (``on_missing: skip``): index → URL
    missing: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.inputs)

    def summary(self) -> dict[str, int]:
        """How many inputs, and their total bytes (of those whose size is known)."""
        return {
            "count": len(self.inputs),
            "bytes": sum(i.size for i in self.inputs.values() if i.size is not None),
        }

    def changes_since(self, recorded: Manifest) -> list[Change]:
        """The inputs that ``recorded`` also holds, at the same URL, whose source changed.

        Inputs added, removed or moved to another URL are a different recipe, not a
        changed source, and are left to the plan's comparison.
        """
        out = []
        for key, now in self.inputs.items():
            before = recorded.inputs.get(key)
            if before is None or before.url != now.url:
                continue
            what = before.changes_to(now)
            if what:
                out.append(Change(key, now.url, tuple(what)))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            **self.summary(),
            "inputs": [{"index": key, **i.to_dict()} for key, i in self.inputs.items()],
            "missing": self.missing_list(),
        }

    def missing_list(self) -> list[dict[str, str]]:
        """The inputs left out as missing, as ``{index, url}`` entries in input order."""
        return [{"index": key, "url": url} for key, url in self.missing.items()]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        """A manifest from :meth:`to_dict`'s document; ValueError if it is not one."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"expected a document with format {FORMAT!r}")
        if int(d.get("version", 0)) > VERSION:
            raise ValueError(
                f"manifest version {d['version']} is newer than this ARCO Forge reads ({VERSION})"
            )
        return cls(
            {str(e["index"]): InputIdentity.from_dict(e) for e in d["inputs"]},
            missing={str(e["index"]): str(e["url"]) for e in d.get("missing") or []},
        )


def check_unchanged(
    output: str, recorded: Manifest | None, current: Manifest, *, overwrite: bool
) -> None:
    """Refuse to go on when ``output`` was made from sources that changed since.

    ``recorded`` is the manifest found in the output (None: it has none, or there is
    no output); ``current`` the sources as this run found them. With ``overwrite`` the
    output is rebuilt from them, so nothing is refused.
    """
    if recorded is None or overwrite:
        return
    changes = current.changes_since(recorded)
    if not changes:
        return
    lines = [f"  {c}" for c in changes[:LISTED]]
    if len(changes) > LISTED:
        lines.append(f"  … and {len(changes) - LISTED} more")
    raise SourceChangedError(
        f"{output} was made from sources that have changed since, so it is not up to date "
        f"with them ({len(changes)} of {len(current)} inputs changed):\n"
        + "\n".join(lines)
        + "\nNothing was changed. Run with --overwrite to rebuild it from the sources as "
        "they are now."
    )


def iso_date(value: Any) -> str | None:
    """``value`` (an HTTP date, an ISO string, a datetime) as ISO 8601 UTC, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            try:
                value = dt.datetime.fromisoformat(value)
            except ValueError:
                return str(value)  # kept as the source gave it: comparable with itself
    if isinstance(value, int | float):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    if not isinstance(value, dt.datetime):
        return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    timespec = "microseconds" if value.microsecond else "seconds"
    return str(value.isoformat(timespec=timespec)).replace("+00:00", "Z")


def http_date(iso: str) -> str | None:
    """An ISO 8601 date from :func:`iso_date` as an HTTP date (for If-Modified-Since)."""
    try:
        value = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    return email.utils.format_datetime(value.astimezone(dt.UTC), usegmt=True)
