"""The copy's stage functions, called without a runner."""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import pytest

from arcoforge.demo.dataset import PACKED_INT16, make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import SourceAccessError
from arcoforge.pipeline import copy_stages
from arcoforge.recipe import load_recipe
from arcoforge.recipe.pattern import FileType
from arcoforge.run import RunOptions, run_context
from arcoforge.sources import chunk_reads
from arcoforge.sources.chunk_reads import open_ranged
from arcoforge.sources.headers import InputHeader
from tests.helpers import run_folder, write_recipe

#: A pickled header as an older version kept it, its class in a module since moved.
MOVED = b"carcoforge.plan.header\nInputHeader\n)\x81."


def test_a_header_kept_by_an_older_version_is_read_again(tmp_path: Path) -> None:
    files = write_files(make_sst(days=3), tmp_path / "src", encoding={"sst": PACKED_INT16})
    folder = write_recipe(
        tmp_path / "recipe",
        {
            "sources": {"urls": [f.path.as_uri() for f in files], "concat_dim": "time"},
            "outputs": {"zarr": {}},
        },
    )
    ctx, inputs = run_context(load_recipe(folder), RunOptions(output=str(tmp_path / "out")))
    index, url = inputs[1]
    fetched = copy_stages.fetch_input(ctx, index, url)
    assert fetched is not None
    cached = fetched[1]
    name = copy_stages.header_name(ctx.sources_fingerprint, index, cached)
    ctx.state().write_bytes(name, MOVED)

    header = copy_stages.input_header(ctx, index, cached)

    assert isinstance(header, InputHeader) and header.index == index
    assert set(header.variables) >= {"sst"}
    kept = pickle.loads(ctx.state().read_bytes(name) or b"")
    assert isinstance(kept, InputHeader) and kept.index == index


def _served_recipe(tmp_path: Path, server: SourceServer, days: int, **sources: object) -> Path:
    names = [f.path.name for f in write_files(make_sst(days=days), server.root, steps=1)]
    spec = {
        "sources": {"urls": [f"{server.url}/{n}" for n in names], "concat_dim": "time", **sources},
        "outputs": {"zarr": {"chunks": {"time": 2}}},
    }
    return write_recipe(tmp_path / "recipe", spec)


def test_a_batch_read_by_range_fetches_each_edge_once_within_the_limit(
    http_server: SourceServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _served_recipe(tmp_path, http_server, days=6, max_concurrency=2)
    http_server.faults.delay["*"] = 0.05  # so that requests overlap if they may
    ctx, inputs = run_context(load_recipe(folder), RunOptions(output=str(tmp_path / "out")))
    assert ctx.reads_by_range(inputs[0][1])

    def here(*args: object, **kwargs: object) -> None:
        raise AssertionError("edges fetched by this process, not by the prefetcher")

    monkeypatch.setattr(chunk_reads, "fetch_ranged", here)
    found = copy_stages.fetch_batch(ctx, inputs)
    monkeypatch.undo()

    assert [f[0] if f else None for f in found] == [index for index, _ in inputs]
    assert all(f is not None and f[1].ranged for f in found)
    gets = Counter(r.path for r in http_server.requests if r.method == "GET")
    assert sorted(gets.values()) == [2] * len(inputs)  # both edges, nothing read again
    assert http_server.max_in_flight <= ctx.retry.per_host
    for (index, url), fetched in zip(inputs, found, strict=True):
        assert fetched is not None
        alone = open_ranged(url, file_type=FileType.AUTO, options={}, retry=ctx.retry, index=index)
        assert alone is not None
        header = copy_stages.input_header(ctx, index, fetched[1])
        # the same header, and chunks in the same places, as a read of its own
        assert repr(header) == repr(alone[1])
        assert [(n, m.chunks) for n, m in fetched[1].chunks or ()] == [
            (n, m.chunks) for n, m in alone[0].chunks or ()
        ]
    # one progress marker and one file of headers for the batch: <key>.<inputs>.<bytes>
    (marker,) = ctx.state().marks("fetched")
    assert int(marker.rsplit(".", 2)[1]) == len(inputs)
    assert len(ctx.state().marks("headers")) == 1


def test_a_missing_input_of_a_streamed_batch_is_left_out(
    http_server: SourceServer, tmp_path: Path
) -> None:
    folder = _served_recipe(tmp_path, http_server, days=4, on_missing="skip")
    ctx, inputs = run_context(load_recipe(folder), RunOptions(output=str(tmp_path / "out")))
    gone = inputs[2][1].rsplit("/", 1)[-1]
    (http_server.root / gone).unlink()

    found = copy_stages.fetch_batch(ctx, inputs)

    assert [f is None for f in found] == [False, False, True, False]
    assert [e["url"] for e in copy_stages.missing_inputs(ctx.state())] == [inputs[2][1]]


def test_a_first_input_that_fails_leaves_the_batch_to_the_threads(
    http_server: SourceServer, tmp_path: Path
) -> None:
    folder = _served_recipe(tmp_path, http_server, days=3)
    ctx, inputs = run_context(load_recipe(folder), RunOptions(output=str(tmp_path / "out")))
    first = inputs[0][1].rsplit("/", 1)[-1]
    http_server.faults.status[first] = 403

    with pytest.raises(SourceAccessError, match=first):
        copy_stages.fetch_batch(ctx, inputs)

    gets = Counter(r.path.rsplit("/", 1)[-1] for r in http_server.requests if r.method == "GET")
    # the helper asked for the first input alone; the others' edges were fetched here, once
    # at most (one not yet started when the first failed is dropped)
    second, third = (gets[u.rsplit("/", 1)[-1]] for _, u in inputs[1:])
    assert gets[first] >= 4 and second == 2 and third in (0, 2)


def test_a_re_run_asks_its_batch_for_identities_together(
    http_server: SourceServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _served_recipe(tmp_path, http_server, days=5)
    run_folder(folder, tmp_path / "out")
    ctx, inputs = run_context(load_recipe(folder), RunOptions(output=str(tmp_path / "out")))
    http_server.requests.clear()

    def alone(*args: object) -> None:
        raise AssertionError("an input asked for its identity on its own")

    monkeypatch.setattr("arcoforge.pipeline.known.head_identity", alone)
    found = copy_stages.fetch_batch(ctx, inputs)

    assert all(f is not None and f[1].chunks for f in found)
    heads = Counter(r.path for r in http_server.requests if r.method == "HEAD")
    gets = Counter(r.path for r in http_server.requests if r.method == "GET")
    assert sorted(heads.values()) == [1] * len(inputs)
    last = "/" + inputs[-1][1].rsplit("/", 1)[-1]
    assert set(gets) == {last}  # the last input's header is read again, as a check
