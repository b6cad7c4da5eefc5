"""Object-store errors named for what they are, whatever else their messages hold."""

from __future__ import annotations

import pytest

from arcoforge.errors import SourceAccessError, SourceNotFoundError
from arcoforge.sources.stores import source_errors

URL = "http://127.0.0.1:8000/a.nc"


@pytest.mark.parametrize(
    ("message", "error"),
    [
        # the request's duration is in the message: 404.1 µs is not a 404
        (f"Error performing HEAD {URL} in 404.1µs - non-2xx status code: 403 Forbidden", "access"),
        (
            f"Error performing GET {URL} in 1.404ms - non-2xx status code: 401 Unauthorized",
            "access",
        ),
        (f"Error performing GET {URL} in 403.2µs - non-2xx status code: 404 Not Found", "missing"),
    ],
)
def test_statuses_are_told_apart_from_durations(message: str, error: str) -> None:
    expected = SourceAccessError if error == "access" else SourceNotFoundError
    with pytest.raises(expected) as info, source_errors(URL):
        raise OSError(message)
    assert type(info.value) is expected and str(info.value).startswith(URL)
