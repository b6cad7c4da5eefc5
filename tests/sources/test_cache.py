"""The input cache against a real HTTP server with faults, local files and S3 (moto)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import (
    InputFormatError,
    SourceAccessError,
    SourceError,
    SourceNotFoundError,
    UnsafeUrlError,
)
from arcoforge.recipe.pattern import FileType
from arcoforge.sources.cache import InputCache, cache_key
from arcoforge.sources.retry import RetryPolicy

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, timeout=1.0)


@pytest.fixture
def served(http_server: SourceServer) -> tuple[SourceServer, list[Path]]:
    files = write_files(make_sst(days=3), http_server.root, steps=1)
    return http_server, [f.path for f in files]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_caches_once_with_checksum(served, tmp_path: Path) -> None:
    server, files = served
    cache = InputCache(str(tmp_path / "cache"))
    url = f"{server.url}/{files[0].name}"
    first = cache.fetch(url, retry=FAST)
    assert first.size == files[0].stat().st_size
    assert first.sha256 == _sha(files[0])
    assert first.file_type is FileType.NETCDF4
    assert Path(first.path).read_bytes() == files[0].read_bytes()
    again = cache.fetch(url, retry=FAST)
    assert again == first
    # served from the cache, once the server confirmed it still holds that version
    assert [a.status for a in server.answers if a.method == "GET"] == [200, 304]
    assert server.requests[-1].if_none_match == first.etag
    sidecar = json.loads(Path(first.path + ".json").read_text())
    assert sidecar["url"] == url and sidecar["sha256"] == first.sha256


def test_retries_server_errors_then_succeeds(served, tmp_path: Path) -> None:
    server, files = served
    server.faults.errors[files[0].name] += [503, 500]
    cached = InputCache(str(tmp_path / "c")).fetch(f"{server.url}/{files[0].name}", retry=FAST)
    assert cached.sha256 == _sha(files[0])
    assert [r.method for r in server.requests if r.path.endswith(files[0].name)] == ["GET"] * 3


def test_retries_a_body_cut_short(served, tmp_path: Path) -> None:
    server, files = served
    server.faults.truncate[files[1].name] = 1
    cached = InputCache(str(tmp_path / "c")).fetch(f"{server.url}/{files[1].name}", retry=FAST)
    assert cached.sha256 == _sha(files[1])
    assert not list((tmp_path / "c").glob("*.part-*"))  # no half-written file left behind


def test_gives_up_after_the_last_attempt(served, tmp_path: Path) -> None:
    server, files = served
    server.faults.errors[files[0].name] += [503] * 10
    with pytest.raises(SourceError, match=r"could not fetch it in 3 attempts.*503") as info:
        InputCache(str(tmp_path / "c")).fetch(f"{server.url}/{files[0].name}", retry=FAST)
    assert files[0].name in str(info.value)
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())


def test_timeout_is_retried_and_reported(served, tmp_path: Path) -> None:
    server, files = served
    server.faults.delay[files[0].name] = 3.0
    with pytest.raises(SourceError, match="sent nothing for 1 s"):
        InputCache(str(tmp_path / "c")).fetch(
            f"{server.url}/{files[0].name}", retry=RetryPolicy(attempts=1, timeout=1.0)
        )


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (404, SourceNotFoundError, "not found"),
        (403, SourceAccessError, "refused access"),
        (401, SourceAccessError, "HTTP 401"),
        (410, SourceError, "HTTP 410"),
    ],
)
def test_client_errors_are_not_retried(served, tmp_path: Path, status, error, message) -> None:
    server, files = served
    server.faults.status[files[0].name] = status
    with pytest.raises(error, match=message):
        InputCache(str(tmp_path / "c")).fetch(f"{server.url}/{files[0].name}", retry=FAST)
    assert len([r for r in server.requests if r.path.endswith(files[0].name)]) == 1


def test_an_html_page_is_refused(http_server: SourceServer, tmp_path: Path) -> None:
    (http_server.root / "login.nc").write_text("<!DOCTYPE html><html><body>Sign in</body></html>")
    with pytest.raises(InputFormatError, match="an HTML page") as info:
        InputCache(str(tmp_path / "c")).fetch(f"{http_server.url}/login.nc", retry=FAST)
    assert "login.nc" in str(info.value)


def test_declared_file_type_must_match(served, tmp_path: Path) -> None:
    server, files = served
    with pytest.raises(InputFormatError, match=r"expected netcdf3.*Got a netcdf4 file"):
        InputCache(str(tmp_path / "c")).fetch(
            f"{server.url}/{files[0].name}", file_type=FileType.NETCDF3, retry=FAST
        )


def test_local_files_are_read_in_place(tmp_path: Path) -> None:
    files = write_files(make_sst(days=2), tmp_path / "src", fmt="netcdf3")
    cache = InputCache(str(tmp_path / "cache"))
    cached = cache.fetch(files[0].path.as_uri())
    assert cached.path == str(files[0].path)
    assert cached.file_type is FileType.NETCDF3
    assert cached.sha256 == _sha(files[0].path)
    assert [p.suffix for p in (tmp_path / "cache").iterdir()] == [".json"]  # only the sidecar


def test_changed_local_file_is_hashed_again(tmp_path: Path) -> None:
    files = write_files(make_sst(days=2), tmp_path / "src")
    cache = InputCache(str(tmp_path / "cache"))
    before = cache.fetch(files[0].path.as_uri())
    write_files(make_sst(days=2, seed=7), tmp_path / "src")
    after = cache.fetch(files[0].path.as_uri())
    assert after.sha256 != before.sha256 == before.sha256
    assert after.sha256 == _sha(files[0].path)


def test_missing_local_file(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="no such file"):
        InputCache(str(tmp_path / "c")).fetch((tmp_path / "nope.nc").as_uri())


@pytest.mark.parametrize("url", ["sftp://host/a.nc", "http://user:pw@host/a.nc", "/etc/passwd"])
def test_unsafe_urls_are_refused_before_any_request(tmp_path: Path, url: str) -> None:
    with pytest.raises(UnsafeUrlError):
        InputCache(str(tmp_path / "c")).fetch(url)


def test_cache_keys_are_unique_and_readable() -> None:
    a = cache_key("https://host/a/sst.19810901.nc")
    b = cache_key("https://host/b/sst.19810901.nc")
    assert a != b and a.endswith("sst.19810901.nc") and b.endswith("sst.19810901.nc")
    assert "/" not in cache_key("https://host/?q=../../x")


def test_fetch_from_s3_into_an_s3_cache(s3_bucket: str, tmp_path: Path) -> None:
    import fsspec

    files = write_files(make_sst(days=1), tmp_path / "src")
    fs = fsspec.filesystem("s3")
    fs.put_file(str(files[0].path), f"{s3_bucket}/inputs/a.nc")
    cache = InputCache(f"s3://{s3_bucket}/cache")
    cached = cache.fetch(f"s3://{s3_bucket}/inputs/a.nc", retry=FAST)
    assert cached.sha256 == _sha(files[0].path)
    assert cached.path == f"s3://{s3_bucket}/cache/{cache_key(f's3://{s3_bucket}/inputs/a.nc')}"
    assert fs.cat_file(cached.path) == files[0].path.read_bytes()
    assert cache.fetch(f"s3://{s3_bucket}/inputs/a.nc", retry=FAST) == cached
    with pytest.raises(SourceNotFoundError):
        cache.fetch(f"s3://{s3_bucket}/inputs/missing.nc", retry=FAST)


def test_a_changed_source_is_fetched_again(served, tmp_path: Path) -> None:
    server, files = served
    cache = InputCache(str(tmp_path / "cache"))
    url = f"{server.url}/{files[0].name}"
    before = cache.fetch(url, retry=FAST)
    assert before.etag and before.last_modified and before.last_modified.endswith("Z")
    write_files(make_sst(days=3, seed=7), server.root)  # the server now has other values
    after = cache.fetch(url, retry=FAST)
    assert after.sha256 == _sha(files[0]) != before.sha256
    assert after.etag != before.etag
    assert Path(after.path).read_bytes() == files[0].read_bytes()  # the stale copy replaced
    assert server.requests[-1].if_none_match == before.etag
    assert [a.status for a in server.answers if a.method == "GET"] == [200, 200]
    assert not list((tmp_path / "cache").glob("*.part-*"))
    identity = after.identity()
    assert (identity.url, identity.size, identity.sha256) == (url, after.size, after.sha256)


def test_a_source_without_validators_is_read_again(served, tmp_path: Path) -> None:
    server, files = served
    server.faults.no_validators.add(files[0].name)
    cache = InputCache(str(tmp_path / "cache"))
    url = f"{server.url}/{files[0].name}"
    first = cache.fetch(url, retry=FAST)
    assert first.etag is None and first.last_modified is None
    again = cache.fetch(url, retry=FAST)  # nothing to ask a conditional request with
    assert again == first
    assert server.requests[-1].if_none_match is None
    assert [a.status for a in server.answers if a.method == "GET"] == [200, 200]


def test_a_changed_s3_source_is_fetched_again(s3_bucket: str, tmp_path: Path) -> None:
    import fsspec

    one = write_files(make_sst(days=1), tmp_path / "one")[0].path
    two = write_files(make_sst(days=1, seed=7), tmp_path / "two")[0].path
    fs = fsspec.filesystem("s3")
    url = f"s3://{s3_bucket}/inputs/a.nc"
    fs.put_file(str(one), url)
    cache = InputCache(str(tmp_path / "cache"))
    before = cache.fetch(url, retry=FAST)
    assert before.etag and before.last_modified and before.sha256 == _sha(one)
    stamp = Path(before.path).stat().st_mtime_ns
    assert cache.fetch(url, retry=FAST) == before
    assert Path(before.path).stat().st_mtime_ns == stamp  # unchanged: not copied again
    fs.put_file(str(two), url)  # another process replaces the object
    after = cache.fetch(url, retry=FAST)
    assert after.sha256 == _sha(two) and after.etag != before.etag
    assert Path(after.path).read_bytes() == two.read_bytes()


def test_a_changed_source_replaces_its_copy_in_an_s3_cache(served, s3_bucket: str) -> None:
    import fsspec

    server, files = served
    cache = InputCache(f"s3://{s3_bucket}/cache")
    url = f"{server.url}/{files[0].name}"
    before = cache.fetch(url, retry=FAST)
    assert cache.fetch(url, retry=FAST) == before  # a 304: the copy is left as it is
    old = files[0].read_bytes()
    write_files(make_sst(days=3, seed=7), server.root)
    after = cache.fetch(url, retry=FAST)
    fs = fsspec.filesystem("s3")
    fs.invalidate_cache()
    assert after.path == before.path and fs.cat_file(after.path) == files[0].read_bytes() != old
    sidecar = json.loads(fs.cat_file(after.path + ".json"))
    assert sidecar["sha256"] == _sha(files[0]) == after.sha256 != before.sha256
    assert sidecar["etag"] == after.etag != before.etag
    assert [a.status for a in server.answers if a.method == "GET"] == [200, 304, 200]


def test_a_large_download_into_an_s3_cache(http_server: SourceServer, s3_bucket: str) -> None:
    import fsspec
    import numpy as np
    import xarray as xr

    # Larger than one part of the S3 upload, so parts go out while the body streams in.
    path = http_server.root / "big.nc"
    values = np.random.default_rng(0).random(1_000_000)
    xr.Dataset({"x": ("n", values)}).to_netcdf(path, engine="h5netcdf")
    part = 5 * 2**20
    assert path.stat().st_size > part
    cache = InputCache(f"s3://{s3_bucket}/cache", storage_options={"default_block_size": part})
    cached = cache.fetch(f"{http_server.url}/big.nc", retry=FAST)
    assert cached.sha256 == _sha(path)
    fs = fsspec.filesystem("s3")
    fs.invalidate_cache()
    assert fs.cat_file(cached.path) == path.read_bytes()
