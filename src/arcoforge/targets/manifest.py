"""Where each output keeps its input manifest, and reading it back.

* Zarr store and Parquet reference version folder: a file ``arcoforge-manifest.json``
  inside, written before the document that publishes them (Zarr readers and fsspec's
  reference reader ignore it);
* Kerchunk JSON: a top-level key ``arcoforge_manifest`` of the reference document
  (version 1 documents, whose readers take only ``refs``, ``templates`` and ``gen``);
* Icechunk: the ``arcoforge_manifest`` entry of the commit's metadata.

So each manifest is published in the same write as its output: readers and later runs
never see a dataset with another dataset's manifest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import fsspec

from arcoforge.errors import TargetError
from arcoforge.sources.manifest import Manifest, check_unchanged

if TYPE_CHECKING:
    from arcoforge.targets.base import Target

#: The manifest's file inside a Zarr store or a Parquet reference folder.
MANIFEST_FILE = "arcoforge-manifest.json"
#: The manifest's key in a Kerchunk JSON document and in an Icechunk commit's metadata.
MANIFEST_KEY = "arcoforge_manifest"


def write_manifest(folder: str, manifest: Manifest, storage_options: dict[str, Any] | None) -> None:
    """Write ``manifest`` as a file in ``folder`` (a Zarr store or a Parquet folder)."""
    fs, path = fsspec.core.url_to_fs(folder, **(storage_options or {}))
    fs.makedirs(path, exist_ok=True)
    fs.pipe_file(f"{path.rstrip('/')}/{MANIFEST_FILE}", _encoded(manifest))


def with_manifest(refs: dict[str, Any], manifest: Manifest | None) -> dict[str, Any]:
    """A Kerchunk reference document with ``manifest`` as a top-level key."""
    if manifest is None:
        return refs
    if "version" not in refs:  # version 0: every key is a store key, so wrap it
        refs = {"version": 1, "refs": refs}
    return {**refs, MANIFEST_KEY: manifest.to_dict()}


def commit_metadata(manifest: Manifest | None) -> dict[str, Any]:
    """The entry of an Icechunk commit's metadata that records ``manifest``."""
    return {} if manifest is None else {MANIFEST_KEY: manifest.to_dict()}


def check_output(target: Target[Any], current: Manifest, *, overwrite: bool) -> None:
    """Refuse (SourceChangedError) if ``target`` was made from changed sources.

    With ``overwrite`` the output is rebuilt whatever it records, so it is not read.
    """
    if not overwrite:
        check_unchanged(target.url, target.manifest(), current, overwrite=False)


def read_manifest(
    kind: str, url: str, storage_options: dict[str, Any] | None = None
) -> Manifest | None:
    """The manifest recorded in the output of format ``kind`` at ``url``; None if it
    records none (outputs made before manifests were recorded)."""
    from arcoforge.targets.base import target_at

    return target_at(kind, url, storage_options).manifest()


def read_manifest_file(fs: Any, folder: str, url: str) -> Manifest | None:
    """The manifest file in ``folder`` (a Zarr store or a Parquet version folder) of the
    output at ``url``; None if there is none."""
    try:
        data = fs.cat_file(f"{folder.rstrip('/')}/{MANIFEST_FILE}")
    except FileNotFoundError:
        return None
    with manifest_errors(f"{url.rstrip('/')}/{MANIFEST_FILE}"):
        return Manifest.from_dict(json.loads(data))


@contextmanager
def manifest_errors(where: str) -> Iterator[None]:
    """A manifest that cannot be read is an error naming where it is, since a run would
    otherwise rebuild or refuse on a guess."""
    try:
        yield
    except (ValueError, KeyError, TypeError) as e:
        raise TargetError(
            f"{where}: expected the input manifest ARCO Forge records in every output; could "
            f"not read it ({type(e).__name__}: {e}). Run with --overwrite to rebuild the output."
        ) from e


def _encoded(manifest: Manifest) -> bytes:
    return json.dumps(manifest.to_dict(), indent=1).encode()
