"""URLs and ids from recipes: what may be read, and what is refused before any use."""

from __future__ import annotations

import pytest

from arcoforge.errors import RecipeError, UnsafeUrlError
from arcoforge.recipe.urls import OUTPUT_SCHEMES, SOURCE_SCHEMES, validate_id, validate_url

GOOD_SOURCES = [
    "https://www.ncei.noaa.gov/data/oisst/v2.1/access/avhrr/198109/oisst.19810901.nc",
    "http://example.org/a.nc",
    "http://127.0.0.1:8080/a.nc",
    "https://[::1]:8443/a.nc",
    "HTTPS://EXAMPLE.ORG/a.nc",
    "https://example.org/a%20b.nc",
    "https://example.org/a..b.nc",
    "https://example.org/..hidden/b.nc",
    "https://example.org/a.nc?version=2&x=../y",
    "https://example.org/a.nc#../y",
    "s3://bucket/key/a.nc",
    "gs://bucket/a.nc",
    "gcs://bucket/a.nc",
    "az://container/a.nc",
    "abfs://container/a.nc",
    "file:///data/sst/a.nc",
    "ftp://ftp.example.org/pub/a.nc",
]


@pytest.mark.parametrize("url", GOOD_SOURCES)
def test_good_source_urls_are_returned_unchanged(url: str) -> None:
    assert validate_url(url, where="input time=0") == url


BAD_SCHEMES = [
    "sftp://example.org/a.nc",
    "memory://bucket/a.nc",
    "data:text/plain,hello",
    "javascript:alert(1)",
    "/data/sst/a.nc",
    "data/sst/a.nc",
    "a.nc",
    "//example.org/a.nc",
]


@pytest.mark.parametrize("url", BAD_SCHEMES)
def test_other_schemes_and_plain_paths_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrlError) as e:
        validate_url(url, where="input time=3")
    msg = str(e.value)
    assert msg.startswith("input time=3: expected a URL starting with one of ")
    assert "abfs://, az://, file://, ftp://, gcs://, gs://, http://, https://, s3://" in msg
    assert f"Got {url!r} instead." in msg


CREDENTIALS = [
    "https://user:secret@example.org/a.nc",
    "https://user@example.org/a.nc",
    "https://:secret@example.org/a.nc",
    "s3://AKIAKEY:secret@bucket/a.nc",
]


@pytest.mark.parametrize("url", CREDENTIALS)
def test_urls_with_credentials_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrlError) as e:
        validate_url(url, where="input time=0")
    msg = str(e.value)
    # the URL is named with its user info blanked, so the secret is not repeated
    scheme, rest = url.split("://", 1)
    blanked = f"{scheme}://***@{rest.split('@', 1)[1]}"
    assert msg.startswith(f"input time=0: URL {blanked!r} carries credentials.")
    assert "secret" not in msg and "credentials come from the environment" in msg


TRAVERSAL = [
    "https://example.org/../a.nc",
    "https://example.org/data/../../etc/passwd",
    "https://example.org/./a.nc",
    "https://example.org/data/..",
    "https://example.org/%2e%2e/a.nc",
    "https://example.org/%2E%2E/a.nc",
    "https://example.org/.%2e/a.nc",
    "https://example.org/%2e./a.nc",
    "https://example.org/%2e/a.nc",
    "https://example.org/data%2f..%2fsecret",
    "s3://bucket/../other-bucket/a.nc",
    "file:///data/../etc/passwd",
    "file:///data/%2e%2e/etc/passwd",
]


@pytest.mark.parametrize("url", TRAVERSAL)
def test_dot_segments_are_refused_even_percent_encoded(url: str) -> None:
    with pytest.raises(UnsafeUrlError) as e:
        validate_url(url, where="input time=0")
    assert str(e.value) == (
        f"input time=0: URL {url!r} contains a '.' or '..' path segment; "
        "give the path without them."
    )


UNSAFE_CHARACTERS = [
    "https://example.org/a b.nc",
    "https://example.org/a\\b.nc",
    "https://example.org\\@evil.org/a.nc",
    "https://example.org/a\tb.nc",
    "https://example.org/a.nc\n",
    "https://example.org/a\rb.nc",
    "https://example.org/a\x00b.nc",
    "https://example.org/a\x1fb.nc",
    "https://example.org/a\x7fb.nc",
    " https://example.org/a.nc",
]


@pytest.mark.parametrize("url", UNSAFE_CHARACTERS)
def test_spaces_backslashes_and_control_characters_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrlError) as e:
        validate_url(url, where="input time=0")
    msg = str(e.value)
    assert msg.startswith(f"input time=0: URL {url!r} contains a space, a backslash")
    assert "percent-encode it (a space is %20)" in msg


NO_HOST = ["https:///a.nc", "https://", "http://:8080/a.nc", "s3:///key.nc", "s3://", "gs:///a"]


@pytest.mark.parametrize("url", NO_HOST)
def test_remote_urls_need_a_host(url: str) -> None:
    with pytest.raises(UnsafeUrlError) as e:
        validate_url(url, where="input time=0")
    assert str(e.value) == f"input time=0: URL {url!r} has no host name."


RELATIVE_FILES = [
    "file:a.nc",
    "file:data/a.nc",
    "file://a.nc",
    "file://localhost/data/a.nc",
    "file://example.org/data/a.nc",
    "file:/data/a.nc",
]


@pytest.mark.parametrize("url", RELATIVE_FILES)
def test_local_files_must_be_absolute_file_urls(url: str) -> None:
    # fsspec reads all of these relative to the working directory.
    with pytest.raises(UnsafeUrlError) as e:
        validate_url(url, where="input time=0")
    assert str(e.value) == (
        f"input time=0: expected a local file as file:///absolute/path. Got {url!r} instead."
    )


MALFORMED = [
    ("https://[::1/a.nc", "Invalid IPv6 URL"),
    ("https://example.org:99999/a.nc", "Port out of range"),
    ("https://example.org:http/a.nc", "Port could not be cast to integer"),
]


@pytest.mark.parametrize(("url", "problem"), MALFORMED)
def test_malformed_urls_raise_a_recipe_error(url: str, problem: str) -> None:
    with pytest.raises(UnsafeUrlError) as e:
        validate_url(url, where="input time=0")
    msg = str(e.value)
    assert msg.startswith(f"input time=0: expected a URL. Got {url!r} instead (")
    assert problem in msg


@pytest.mark.parametrize("value", ["", None, 5, b"https://example.org/a.nc"])
def test_non_strings_and_empty_urls_are_refused(value: object) -> None:
    with pytest.raises(UnsafeUrlError) as e:
        validate_url(value, where="sources.urls.0")  # type: ignore[arg-type]
    assert str(e.value) == f"sources.urls.0: expected a URL. Got {value!r} instead."


def test_output_schemes_allow_memory_and_refuse_http() -> None:
    assert validate_url("memory://bucket/out", where="--output", schemes=OUTPUT_SCHEMES)
    assert validate_url("s3://bucket/arco", where="--output", schemes=OUTPUT_SCHEMES)
    with pytest.raises(UnsafeUrlError) as e:
        validate_url("https://example.org/out", where="--output", schemes=OUTPUT_SCHEMES)
    msg = str(e.value)
    assert msg.startswith("--output: expected a URL starting with one of ")
    assert "memory://" in msg
    assert "https://" not in msg.split("Got")[0]


def test_scheme_sets() -> None:
    assert {"http", "https", "s3", "gs", "file"} <= SOURCE_SCHEMES
    assert "memory" not in SOURCE_SCHEMES
    assert not {"http", "https"} & OUTPUT_SCHEMES


def test_unsafe_url_error_is_a_recipe_error() -> None:
    # The CLI prints RecipeErrors without a traceback; callers may catch either.
    assert issubclass(UnsafeUrlError, RecipeError)
    assert issubclass(UnsafeUrlError, ValueError)


GOOD_IDS = ["noaa-oisst-v2.1", "sst", "a", "1", "era5_t2m", "a.b-c_d", "x" * 64, "2020"]


@pytest.mark.parametrize("value", GOOD_IDS)
def test_good_ids(value: str) -> None:
    assert validate_id(value, where="id") == value


BAD_IDS = [
    "",
    "NOAA-oisst",
    "noaa oisst",
    "noaa/oisst",
    "noaa\\oisst",
    "..",
    ".",
    ".hidden",
    "trailing-",
    "-leading",
    "double--dash",
    "dot..dot",
    "mixed-_",
    "x" * 65,
    "café",
    None,
    42,
]


@pytest.mark.parametrize("value", BAD_IDS)
def test_bad_ids(value: object) -> None:
    with pytest.raises(UnsafeUrlError) as e:
        validate_id(value, where="recipe id")  # type: ignore[arg-type]
    msg = str(e.value)
    assert msg.startswith("recipe id: expected an id of at most 64 lowercase letters, digits")
    assert msg.endswith(f"Got {value!r} instead.")
