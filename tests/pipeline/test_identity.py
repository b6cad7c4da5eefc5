"""Up to date means up to date with the sources: manifests in outputs, changed sources refused."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import xarray as xr

import arcoforge
from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import SourceChangedError, TargetError
from arcoforge.pipeline.virtual_stages import VirtualBatch, input_manifest
from arcoforge.recipe.pattern import Index
from arcoforge.sources.manifest import InputIdentity, Manifest
from arcoforge.targets.manifest import MANIFEST_KEY, read_manifest
from arcoforge.verify import compare, open_sources
from tests.helpers import run_folder, write_recipe
from tests.test_cli import forge

NAME = "in{i:03d}.nc"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _served_etag(path: Path) -> str:
    """The ETag aiohttp's static handler gives ``path``."""
    st = path.stat()
    return f'"{st.st_mtime_ns:x}-{st.st_size:x}"'


def _recipe(folder: Path, urls: list[str], outputs: dict) -> Path:
    return write_recipe(
        folder, {"sources": {"urls": urls, "concat_dim": "time"}, "outputs": outputs}
    )


def _replace(path: Path, scratch: Path, seed: int = 7) -> None:
    """Rewrite the served file ``path`` with other values (same grid, same layout)."""
    new = write_files(make_sst(days=4, seed=seed), scratch, name=NAME)
    shutil.copy(next(f.path for f in new if f.path.name == path.name), path)


@pytest.fixture
def served(http_server: SourceServer) -> tuple[list[Path], list[str]]:
    """Four daily files on the test server, and their URLs."""
    files = [f.path for f in write_files(make_sst(days=4), http_server.root, name=NAME)]
    return files, [f"{http_server.url}/{f.name}" for f in files]


def test_a_copy_records_its_inputs_and_refuses_changed_sources(served, tmp_path: Path) -> None:
    files, urls = served
    recipe = _recipe(tmp_path / "recipe", urls, {"zarr": {}})
    first = run_folder(recipe, tmp_path / "out")
    store = Path(first.zarr.url)
    manifest = Manifest.from_dict(json.loads((store / "arcoforge-manifest.json").read_text()))
    assert list(manifest.inputs) == [f"time={k}" for k in range(4)]
    for path, url, found in zip(files, urls, manifest.inputs.values(), strict=True):
        # read by byte range, never whole: identified without a checksum
        assert (found.url, found.size, found.sha256) == (url, path.stat().st_size, None)
        assert found.etag == _served_etag(path) and found.last_modified.endswith("Z")
    summary = {"count": 4, "bytes": sum(p.stat().st_size for p in files)}
    assert first.zarr.manifest == summary and first.to_json()["manifest"] == summary
    assert run_folder(recipe, tmp_path / "out").up_to_date

    before = xr.open_zarr(store).load()
    _replace(files[1], tmp_path / "new")
    with pytest.raises(SourceChangedError) as info:
        run_folder(recipe, tmp_path / "out")
    message = str(info.value)
    assert f"{urls[1]} (time=1): " in message and "(1 of 4 inputs changed)" in message
    assert f"ETag {manifest.inputs['time=1'].etag} → {_served_etag(files[1])}" in message
    assert "SHA-256" not in message and "--overwrite" in message
    assert urls[0] not in message and urls[2] not in message
    xr.testing.assert_identical(xr.open_zarr(store).load(), before)  # left as it was
    with pytest.raises(SourceChangedError):  # and so on, until rebuilt
        run_folder(recipe, tmp_path / "out")

    rebuilt = run_folder(recipe, tmp_path / "out", overwrite=True)
    assert not rebuilt.up_to_date
    sources = open_sources([str(p) for p in files], "time", engine="h5netcdf")
    assert compare(xr.open_zarr(store), sources) == []  # the new values, not the cached ones
    assert not xr.open_zarr(store).sst.equals(before.sst)
    now = read_manifest("zarr", str(store))
    assert now is not None and now.inputs["time=1"].etag == _served_etag(files[1])
    assert now.inputs["time=0"] == manifest.inputs["time=0"]
    assert run_folder(recipe, tmp_path / "out").up_to_date


@pytest.mark.parametrize("fmt", ["json", "parquet", "icechunk"])
def test_references_into_a_changed_file_are_stale(served, tmp_path: Path, fmt: str) -> None:
    files, urls = served
    recipe = _recipe(tmp_path / "recipe", urls, {"references": {"format": fmt}})
    first = run_folder(recipe, tmp_path / "out")
    refs = first.references
    manifest = read_manifest(fmt, refs.url)
    assert manifest is not None and refs.manifest == manifest.summary()
    assert manifest.summary() == {"count": 4, "bytes": sum(p.stat().st_size for p in files)}
    for path, url, found in zip(files, urls, manifest.inputs.values(), strict=True):
        assert (found.url, found.size, found.sha256) == (url, path.stat().st_size, None)
        assert found.etag == _served_etag(path) and found.last_modified.endswith("Z")
    if fmt == "json":
        assert MANIFEST_KEY in json.loads(Path(refs.url).read_text())
    assert (
        compare(arcoforge.open_dataset(refs.url), open_sources(list(map(str, files)), "time")) == []
    )
    assert run_folder(recipe, tmp_path / "out").up_to_date

    # Same layout, other values: the references still point at the right bytes, but the
    # output no longer holds what it was made from.
    _replace(files[2], tmp_path / "new")
    with pytest.raises(SourceChangedError, match=rf"{urls[2]} \(time=2\): ETag") as info:
        run_folder(recipe, tmp_path / "out")
    assert urls[1] not in str(info.value)
    assert read_manifest(fmt, refs.url) == manifest  # nothing written

    again = run_folder(recipe, tmp_path / "out", overwrite=True)
    assert not again.up_to_date
    now = read_manifest(fmt, refs.url)
    assert now is not None and now.inputs["time=2"].etag == _served_etag(files[2])
    out = arcoforge.open_dataset(refs.url)
    assert compare(out, open_sources(list(map(str, files)), "time")) == []
    assert run_folder(recipe, tmp_path / "out").up_to_date


def test_s3_sources_replaced_are_refused_by_both_outputs(s3_bucket: str, tmp_path: Path) -> None:
    import fsspec

    files = [f.path for f in write_files(make_sst(days=4), tmp_path / "src", steps=2, name=NAME)]
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    urls = [f"s3://{s3_bucket}/in/{p.name}" for p in files]
    for path, url in zip(files, urls, strict=True):
        fs.put_file(str(path), url)
    recipe = _recipe(tmp_path / "recipe", urls, {"zarr": {}, "references": {"format": "json"}})
    first = run_folder(recipe, tmp_path / "out")
    copy = read_manifest("zarr", first.zarr.url)
    refs = read_manifest("json", first.references.url)
    assert copy is not None and refs is not None
    assert [i.sha256 for i in copy.inputs.values()] == [None, None]  # read by range
    assert [i.etag for i in copy.inputs.values()] == [i.etag for i in refs.inputs.values()]
    assert all(i.etag and i.sha256 is None for i in refs.inputs.values())
    assert copy.summary() == refs.summary() == first.to_json()["manifest"]
    assert run_folder(recipe, tmp_path / "out").up_to_date

    new = write_files(make_sst(days=4, seed=7), tmp_path / "new", steps=2, name=NAME)
    fs.put_file(str(new[0].path), urls[0])  # another process replaces the object
    with pytest.raises(SourceChangedError, match=rf"{urls[0]} \(time=0\): ETag"):
        run_folder(recipe, tmp_path / "out")
    rebuilt = run_folder(recipe, tmp_path / "out", overwrite=True)
    sources = open_sources([str(new[0].path), str(files[1])], "time", engine="h5netcdf")
    assert compare(xr.open_zarr(rebuilt.zarr.url), sources) == []
    assert compare(arcoforge.open_dataset(rebuilt.references.url), sources) == []
    now = read_manifest("json", rebuilt.references.url)
    assert now is not None and now.inputs["time=0"].etag != refs.inputs["time=0"].etag
    assert now.inputs["time=1"] == refs.inputs["time=1"]  # the other one is as it was


def test_a_copy_through_the_cache_records_checksums(served, tmp_path: Path) -> None:
    files, urls = served
    recipe = _recipe(tmp_path / "recipe", urls, {"zarr": {}})
    first = run_folder(recipe, tmp_path / "out", cache=str(tmp_path / "cache"))
    found = read_manifest("zarr", first.zarr.url)
    assert found is not None
    assert [i.sha256 for i in found.inputs.values()] == [_sha(p) for p in files]
    # the same sources read by range are the same inputs: up to date, not "changed"
    assert run_folder(recipe, tmp_path / "out").up_to_date


def test_the_command_line_refuses_and_reports(tmp_path: Path) -> None:
    files = [f.path for f in write_files(make_sst(days=4), tmp_path / "src", name=NAME)]
    recipe = _recipe(tmp_path / "r", [p.as_uri() for p in files], {"zarr": {}})
    args = ("run", str(recipe), "-o", str(tmp_path / "out"), "--workers", "1")
    done = forge(*args, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    summary = {"count": 4, "bytes": sum(p.stat().st_size for p in files)}
    assert result["manifest"] == summary and result["outputs"][0]["manifest"] == summary
    _replace(files[3], tmp_path / "new")
    refused = forge(*args)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert f"error: {tmp_path / 'out' / 'r.zarr'} was made from sources" in refused.stderr
    assert f"{files[3].as_uri()} (time=3): " in refused.stderr
    assert forge(*args, "--overwrite").returncode == 0


@pytest.mark.parametrize("text", ["{not json", '{"format": "something else", "inputs": []}'])
def test_an_unreadable_manifest_is_named_and_overwrite_replaces_it(
    tmp_path: Path, text: str
) -> None:
    files = [f.path for f in write_files(make_sst(days=2), tmp_path / "src", name=NAME)]
    recipe = _recipe(tmp_path / "r", [p.as_uri() for p in files], {"zarr": {}})
    first = run_folder(recipe, tmp_path / "out")
    found = Path(first.zarr.url) / "arcoforge-manifest.json"
    found.write_text(text)
    with pytest.raises(TargetError, match="expected the input manifest") as info:
        run_folder(recipe, tmp_path / "out")
    assert str(info.value).startswith(f"{found}: ") and "--overwrite" in str(info.value)
    run_folder(recipe, tmp_path / "out", overwrite=True)
    manifest = read_manifest("zarr", first.zarr.url)
    assert manifest is not None and [i.sha256 for i in manifest.inputs.values()] == [
        _sha(p) for p in files
    ]


def test_identities_from_batches_come_in_input_order() -> None:
    def at(day: int, var: int) -> Index:
        return Index((("time", day), ("variable", var)))

    def ident(day: int, var: int) -> InputIdentity:
        return InputIdentity(f"http://h/{day}-{var}.nc", 10 * day + var)

    # batches arrive in whatever order workers finish them
    late = VirtualBatch([], [(at(1, 0), ident(1, 0)), (at(1, 1), ident(1, 1))])
    early = VirtualBatch([], [(at(0, 1), ident(0, 1)), (at(0, 0), ident(0, 0))])
    manifest = input_manifest([late, early])
    assert list(manifest.inputs) == [
        "time=0,variable=0",
        "time=0,variable=1",
        "time=1,variable=0",
        "time=1,variable=1",
    ]
    assert manifest.inputs["time=1,variable=0"] == ident(1, 0)
    assert manifest.summary() == {"count": 4, "bytes": 22}
