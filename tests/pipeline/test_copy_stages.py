"""The copy's stage functions, called without a runner."""

from __future__ import annotations

import pickle
from pathlib import Path

from arcoforge.demo.dataset import PACKED_INT16, make_sst, write_files
from arcoforge.pipeline import copy_stages
from arcoforge.recipe import load_recipe
from arcoforge.run import RunOptions, run_context
from arcoforge.sources.headers import InputHeader
from tests.helpers import write_recipe

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
