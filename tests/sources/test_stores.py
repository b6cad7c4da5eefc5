"""Object-store errors named for what they are (by type), whatever their messages hold."""

from __future__ import annotations

import pytest

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import InputFormatError, SourceAccessError, SourceNotFoundError
from arcoforge.recipe.pattern import Index
from arcoforge.sources.stores import source_errors
from arcoforge.sources.virtual import open_virtual

URL = "http://127.0.0.1:8000/a.nc"


@pytest.mark.parametrize(
    ("status", "expected"),
    [(404, SourceNotFoundError), (403, SourceAccessError), (401, SourceAccessError)],
)
def test_statuses_are_told_by_the_errors_types(
    http_server: SourceServer, status: int, expected: type[Exception]
) -> None:
    # The file's name holds another status: only the error's type may decide.
    name = "sst-404-403.nc"
    write_files(make_sst(days=1), http_server.root, steps=1, name=name)
    http_server.faults.status[name] = status
    url = f"{http_server.url}/{name}"
    with pytest.raises(expected) as info:
        open_virtual(Index((("time", 0),)), url)
    assert type(info.value) is expected and str(info.value).startswith(url)
    assert f"{status}" in str(info.value.__cause__)  # the store's own error is kept


def test_a_message_that_only_mentions_a_status_is_not_classified_by_it() -> None:
    message = f"Error performing GET {URL} in 404.1µs - non-2xx status code: 403 Forbidden"
    with pytest.raises(InputFormatError) as info, source_errors(URL):
        raise OSError(message)
    assert str(info.value).startswith(URL) and isinstance(info.value.__cause__, OSError)


def test_errors_about_this_machine_pass_through() -> None:
    with pytest.raises(MemoryError), source_errors(URL):
        raise MemoryError()
