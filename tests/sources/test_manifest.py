"""Input identities and manifests: round trips, what counts as a change, the refusal."""

from __future__ import annotations

import json

import pytest

from arcoforge.errors import SourceChangedError, SourceError
from arcoforge.sources.manifest import (
    InputIdentity,
    Manifest,
    check_unchanged,
    http_date,
    iso_date,
)

A = InputIdentity("http://h/a.nc", 123, '"a"', "2026-11-30T11:20:00Z", "a" * 64)
B = InputIdentity("http://h/b.nc", 456, '"b"', "2026-11-30T11:21:00Z")


def _manifest(*identities: InputIdentity) -> Manifest:
    return Manifest({f"time={k}": i for k, i in enumerate(identities)})


def test_round_trip_through_json() -> None:
    m = _manifest(A, B, InputIdentity("s3://b/c.nc"))
    doc = json.loads(json.dumps(m.to_dict()))
    assert Manifest.from_dict(doc) == m
    assert list(Manifest.from_dict(doc).inputs) == ["time=0", "time=1", "time=2"]  # order kept
    assert doc["format"] == "arcoforge-manifest" and doc["version"] == 1
    assert doc["inputs"][1] == {
        "index": "time=1",
        "url": "http://h/b.nc",
        "size": 456,
        "etag": '"b"',
        "last_modified": "2026-11-30T11:21:00Z",
        "sha256": None,
    }


def test_summary_counts_inputs_and_known_bytes() -> None:
    assert _manifest(A, B, InputIdentity("s3://b/c.nc")).summary() == {"count": 3, "bytes": 579}
    assert Manifest().summary() == {"count": 0, "bytes": 0}


@pytest.mark.parametrize("doc", [{"inputs": []}, {"format": "other", "inputs": []}, []])
def test_from_dict_refuses_other_documents(doc) -> None:
    with pytest.raises(ValueError, match="arcoforge-manifest"):
        Manifest.from_dict(doc)


def test_a_newer_version_is_refused() -> None:
    with pytest.raises(ValueError, match="newer"):
        Manifest.from_dict({"format": "arcoforge-manifest", "version": 2, "inputs": []})


def test_changes_name_what_changed() -> None:
    now = InputIdentity(B.url, 789, '"c"', B.last_modified)
    (change,) = _manifest(A, now).changes_since(_manifest(A, B))
    assert str(change) == 'http://h/b.nc (time=1): size 456 → 789, ETag "b" → "c"'


def test_equal_sha256_means_unchanged_whatever_the_validators() -> None:
    touched = InputIdentity(A.url, A.size, '"new"', "2027-01-01T00:00:00Z", A.sha256)
    assert A.changes_to(touched) == []
    rewritten = InputIdentity(A.url, A.size, A.etag, A.last_modified, "b" * 64)
    assert A.changes_to(rewritten) == [f"SHA-256 {'a' * 12}… → {'b' * 12}…"]


def test_unknown_fields_are_not_changes() -> None:
    assert B.changes_to(InputIdentity(B.url, None, '"b"', None)) == []
    assert B.changes_to(InputIdentity(B.url, 456, None, "2027-01-01T00:00:00Z")) == [
        "Last-Modified 2026-11-30T11:21:00Z → 2027-01-01T00:00:00Z"
    ]


def test_inputs_added_removed_or_moved_are_not_source_changes() -> None:
    moved = InputIdentity("http://h/elsewhere.nc", 1, '"z"')
    assert _manifest(A, moved).changes_since(_manifest(A, B)) == []
    assert _manifest(A).changes_since(_manifest(A, B)) == []
    assert _manifest(A, B, moved).changes_since(_manifest(A)) == []


def test_check_unchanged_refuses_naming_each_changed_input() -> None:
    now = _manifest(A, InputIdentity(B.url, 789, '"c"', B.last_modified))
    with pytest.raises(SourceChangedError) as info:
        check_unchanged("out/r.zarr", _manifest(A, B), now, overwrite=False)
    text = str(info.value)
    assert text.startswith("out/r.zarr was made from sources that have changed since")
    assert "(1 of 2 inputs changed)" in text
    assert 'http://h/b.nc (time=1): size 456 → 789, ETag "b" → "c"' in text
    assert text.endswith("Run with --overwrite to rebuild it from the sources as they are now.")
    assert isinstance(info.value, SourceError)
    check_unchanged("out/r.zarr", _manifest(A, B), now, overwrite=True)  # rebuilt: no refusal
    check_unchanged("out/r.zarr", None, now, overwrite=False)  # nothing recorded to compare


def test_a_long_list_of_changes_is_cut() -> None:
    before = Manifest({f"time={k}": InputIdentity(f"http://h/{k}.nc", k) for k in range(30)})
    after = Manifest({f"time={k}": InputIdentity(f"http://h/{k}.nc", k + 1) for k in range(30)})
    with pytest.raises(SourceChangedError, match=r"… and 10 more\n") as info:
        check_unchanged("r.json", before, after, overwrite=False)
    assert str(info.value).count("size ") == 20


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 30 Nov 2026 11:20:00 GMT", "2026-11-30T11:20:00Z"),
        ("2026-11-30T12:20:00+01:00", "2026-11-30T11:20:00Z"),
        (1796037600.5, "2026-11-30T11:20:00.500000Z"),
        ("not a date", "not a date"),
        (None, None),
    ],
)
def test_dates_are_iso_utc(value, expected) -> None:
    assert iso_date(value) == expected


def test_http_date_round_trip() -> None:
    assert http_date("2026-11-30T11:20:00Z") == "Mon, 30 Nov 2026 11:20:00 GMT"
    assert iso_date(http_date("2026-11-30T11:20:00Z")) == "2026-11-30T11:20:00Z"
    assert http_date("not a date") is None
