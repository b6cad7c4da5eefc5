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
from typing import Any, Literal

import fsspec

from arcoforge.errors import TargetError
from arcoforge.sources.manifest import Manifest, check_unchanged

#: The manifest's file inside a Zarr store or a Parquet reference folder.
MANIFEST_FILE = "arcoforge-manifest.json"
#: The manifest's key in a Kerchunk JSON document and in an Icechunk commit's metadata.
MANIFEST_KEY = "arcoforge_manifest"

Kind = Literal["zarr", "json", "parquet", "icechunk"]


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


def check_output(
    kind: Kind,
    url: str,
    current: Manifest,
    storage_options: dict[str, Any] | None,
    *,
    overwrite: bool,
) -> None:
    """Refuse (SourceChangedError) if the output at ``url`` was made from changed sources.

    With ``overwrite`` the output is rebuilt whatever it records, so it is not read.
    """
    if not overwrite:
        recorded = read_manifest(kind, url, storage_options)
        check_unchanged(url, recorded, current, overwrite=False)


def read_manifest(
    kind: Kind, url: str, storage_options: dict[str, Any] | None = None
) -> Manifest | None:
    """The manifest recorded in the output at ``url``; None if it records none.

    Outputs made before manifests were recorded have none. A manifest that cannot be
    read is an error naming the output, since a run would otherwise rebuild or refuse
    on a guess.
    """
    try:
        doc = _icechunk_doc(url, storage_options) if kind == "icechunk" else None
        if kind != "icechunk":
            doc = _file_doc(kind, url, storage_options or {})
        return None if doc is None else Manifest.from_dict(doc)
    except (ValueError, KeyError, TypeError) as e:
        where = {
            "json": f"{url} (its key {MANIFEST_KEY!r})",
            "icechunk": f"{url} (the metadata of the last commit on main)",
        }.get(kind, f"{url.rstrip('/')}/{MANIFEST_FILE}")
        raise TargetError(
            f"{where}: expected the input manifest ARCO Forge records in every output; could "
            f"not read it ({type(e).__name__}: {e}). Run with --overwrite to rebuild the output."
        ) from None


def _file_doc(kind: Kind, url: str, options: dict[str, Any]) -> dict[str, Any] | None:
    if kind == "parquet":  # inside the version folder its pointer names
        from arcoforge.targets.kerchunk import KerchunkTarget

        version = KerchunkTarget(url, "parquet", options).version()
        if version is None:
            return None
        url = f"{url.rstrip('/')}/{version}"
    fs, path = fsspec.core.url_to_fs(url, **options)
    name = path if kind == "json" else f"{path.rstrip('/')}/{MANIFEST_FILE}"
    try:
        data = fs.cat_file(name)
    except FileNotFoundError:
        return None
    doc = json.loads(data)
    if kind == "json":
        return doc.get(MANIFEST_KEY) if isinstance(doc, dict) else None
    return dict(doc)


def _icechunk_doc(url: str, options: dict[str, Any] | None) -> dict[str, Any] | None:
    from arcoforge.targets.icechunk import BRANCH, IcechunkTarget, icechunk_module

    target = IcechunkTarget(url, options)
    if not target.exists():
        return None
    repo = icechunk_module().Repository.open(target.storage())
    head = next(iter(repo.ancestry(branch=BRANCH)), None)
    found = None if head is None else (head.metadata or {}).get(MANIFEST_KEY)
    return None if found is None else dict(found)


def _encoded(manifest: Manifest) -> bytes:
    return json.dumps(manifest.to_dict(), indent=1).encode()
