"""IcechunkTarget: an Icechunk repository of virtual chunks that point into the inputs.

Each run is one commit on ``main``, whose message names the recipe and the hash
of what it references: readers see the previous snapshot or the new one. The
repository lists the inputs' URL prefixes as virtual chunk containers; readers
authorise them (``arcoforge.open_dataset`` does).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import xarray as xr

from arcoforge.errors import TargetError
from arcoforge.sources.manifest import Manifest
from arcoforge.sources.stores import s3_endpoint
from arcoforge.targets.base import Kind, StageOptions
from arcoforge.targets.manifest import MANIFEST_KEY, commit_metadata, manifest_errors

if TYPE_CHECKING:
    from arcoforge.plan.mixed import NativeTask

BRANCH = "main"
_MISSING = (
    "Icechunk outputs need the icechunk package: pip install 'arcoforge[icechunk]' "
    "(or choose format: json or parquet)."
)


def icechunk_module() -> Any:
    """The icechunk package, or an error that says how to install it."""
    try:
        import icechunk
    except ImportError:
        raise TargetError(_MISSING) from None
    if "ICECHUNK_LOG" not in os.environ:
        # One process commits per run, so the warning about concurrent commits to
        # local storage does not apply; ICECHUNK_LOG still chooses other logs.
        icechunk.set_logs_filter("error")
    return icechunk


@dataclass
class Staged:
    """An uncommitted session holding a run's references, and its commit's message."""

    session: Any
    message: str
    metadata: dict[str, Any]


class IcechunkTarget:
    """An Icechunk repository at ``url`` (a local path, ``s3://`` or ``gs://``); a
    :class:`~arcoforge.targets.base.ReferenceTarget`."""

    kind: Kind = "icechunk"

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        self.url = url
        self.storage_options = dict(storage_options or {})

    def storage(self) -> Any:
        ic = icechunk_module()
        parts = urlsplit(self.url)
        prefix = parts.path.lstrip("/")
        if parts.scheme == "s3":
            endpoint = s3_endpoint(self.storage_options) or None
            return ic.s3_storage(
                bucket=parts.netloc,
                prefix=prefix,
                endpoint_url=endpoint,
                allow_http=bool(endpoint and endpoint.startswith("http://")),
                force_path_style=bool(endpoint),
                anonymous=bool(self.storage_options.get("anon")) or None,
                from_env=None if self.storage_options.get("anon") else True,
            )
        if parts.scheme in ("gs", "gcs"):
            return ic.gcs_storage(bucket=parts.netloc, prefix=prefix, from_env=True)
        if "://" in self.url and parts.scheme != "file":
            raise TargetError(
                f"{self.url}: Icechunk outputs go to a local folder, s3:// or gs://; "
                f"got {parts.scheme!r}."
            )
        return ic.local_filesystem_storage(os.path.abspath(parts.path or self.url))

    def exists(self) -> bool:
        """Whether a repository with commits is here (one that a run created and never
        committed to holds only its initial snapshot)."""
        ic = icechunk_module()
        storage = self.storage()
        if not ic.Repository.exists(storage):
            return False
        history = ic.Repository.open(storage).ancestry(branch=BRANCH)
        return sum(1 for _ in zip(range(2), history, strict=False)) > 1

    def published_attrs(self) -> dict[str, Any] | None:
        """The root attributes at the head of ``main``, or None if nothing was committed."""
        import zarr

        if not self.exists():
            return None
        repo = icechunk_module().Repository.open(self.storage())
        try:
            group = zarr.open_group(repo.readonly_session(BRANCH).store, mode="r")
        except (FileNotFoundError, zarr.errors.GroupNotFoundError):
            return None
        return dict(group.attrs)

    def manifest(self) -> Manifest | None:
        """The input manifest in the metadata of the last commit on ``main``."""
        if not self.exists():
            return None
        repo = icechunk_module().Repository.open(self.storage())
        head = next(iter(repo.ancestry(branch=BRANCH)), None)
        found = None if head is None else (head.metadata or {}).get(MANIFEST_KEY)
        if found is None:
            return None
        with manifest_errors(f"{self.url} (the metadata of the last commit on {BRANCH})"):
            return Manifest.from_dict(dict(found))

    def remove(self) -> None:
        """Remove the repository, its branches and tags first: readers find no snapshot."""
        import fsspec

        fs, path = fsspec.core.url_to_fs(self.url, **self.storage_options)
        fs.invalidate_cache()
        if fs.exists(f"{path}/refs"):
            fs.rm(f"{path}/refs", recursive=True)
        if fs.exists(path):
            fs.rm(path, recursive=True)

    def stage(self, ds: xr.Dataset, manifest: Manifest | None, options: StageOptions) -> Staged:
        """Write ``ds`` into an uncommitted session on ``main``: readers see none of it.

        The commit records ``manifest`` in its metadata, beside ``options.metadata``.
        ``options.native`` tasks (the chunks of inputs that don't fit an array's grid) are
        read from their inputs and written as native chunks with the array's codecs, in
        the same session (and so the same commit) as the virtual ones.
        """
        prefixes, source_options = list(options.prefixes), options.source_options
        native = options.native
        metadata = {**options.metadata, **commit_metadata(manifest)}
        message = options.message
        ic = icechunk_module()
        storage = self.storage()
        existing = ic.Repository.exists(storage)
        # An existing repository keeps its containers: the snapshot readers see until the
        # commit (and every older one) may point under prefixes this run does not use.
        config = ic.Repository.open(storage).config if existing else ic.RepositoryConfig.default()
        for prefix in prefixes:
            config.set_virtual_chunk_container(
                ic.VirtualChunkContainer(prefix, container_store(prefix, source_options))
            )
        access = credentials(list(config.virtual_chunk_containers or {}), source_options)
        if existing:
            repo = ic.Repository.open(storage, config, authorize_virtual_chunk_access=access)
            repo.save_config()
        else:
            repo = ic.Repository.create(storage, config, authorize_virtual_chunk_access=access)
        session = repo.writable_session(BRANCH)
        ds.vz.to_icechunk(session.store, mode="w")
        if native:
            write_native(session.store, native, source_options)
        return Staged(session, message, metadata)

    def publish(self, staged: Staged) -> str:
        """Commit the staged session: the one write that readers see; returns its id."""
        return str(staged.session.commit(staged.message, metadata=staged.metadata))

    def stored_bytes(self) -> int:
        import fsspec

        from arcoforge.location import stored_bytes

        fs, path = fsspec.core.url_to_fs(self.url, **self.storage_options)
        return stored_bytes(fs, path)  # listed afresh: Icechunk writes through its own client


def write_native(store: Any, tasks: Sequence[NativeTask], options: dict[str, Any]) -> None:
    """Run each task: read its pieces' stored values from their inputs, write its block.

    Tasks run one after another, so this process holds one task's block at a time (its
    estimate is within the run's ``--max-memory``, see :func:`arcoforge.plan.mixed.plan_native`).
    """
    import numpy as np
    import zarr

    from arcoforge.sources.stored import read_stored

    for task in tasks:
        array = zarr.open_array(store, path=task.name, mode="r+")
        shape = tuple(b - a for a, b in task.region)
        block = np.empty(shape, dtype=array.dtype)
        for piece in task.pieces:
            region = piece.region
            key = tuple(slice(a, b) for a, b in piece.source)
            values = read_stored(region.url, region.name, region.file_type, options, key)
            expected = tuple(b - a for a, b in piece.dest)
            if values.shape != expected:
                raise TargetError(
                    f"{region.url}: expected {expected} values of {region.name!r} at "
                    f"{list(piece.source)}. Found {values.shape}: the input changed while "
                    "the run read it; run again."
                )
            block[tuple(slice(a, b) for a, b in piece.dest)] = values
        array[tuple(slice(a, b) for a, b in task.region)] = block
        del block


def container_store(prefix: str, options: dict[str, Any]) -> Any:
    """The object-store settings Icechunk uses to read virtual chunks under ``prefix``."""
    ic = icechunk_module()
    scheme = prefix.split("://", 1)[0]
    if scheme in ("http", "https"):
        return ic.http_store()
    if scheme == "file":
        return ic.local_filesystem_store("/")
    if scheme == "s3":
        endpoint = s3_endpoint(options) or None
        return ic.s3_store(
            region=os.environ.get("AWS_DEFAULT_REGION"),
            endpoint_url=endpoint,
            allow_http=bool(endpoint and endpoint.startswith("http://")),
            anonymous=bool(options.get("anon")),
            s3_compatible=bool(endpoint),
            force_path_style=bool(endpoint),
        )
    if scheme in ("gs", "gcs"):
        return ic.gcs_store()
    raise TargetError(f"{prefix}: Icechunk cannot read virtual chunks over {scheme!r}.")


def credentials(prefixes: list[str], options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Authorisations for reading virtual chunks under each of ``prefixes``."""
    ic = icechunk_module()
    options = options or {}
    out: dict[str, Any] = {}
    for prefix in prefixes:
        scheme = prefix.split("://", 1)[0]
        if scheme in ("http", "https"):
            out[prefix] = ic.credentials.HttpAccess
        elif scheme == "file":
            out[prefix] = ic.credentials.LocalFileSystemAccess
        elif scheme == "s3":
            anon = options.get("anon")
            out[prefix] = ic.s3_anonymous_credentials() if anon else ic.s3_from_env_credentials()
        elif scheme in ("gs", "gcs"):
            out[prefix] = ic.gcs_from_env_credentials()
    authorised: dict[str, Any] = ic.containers_credentials(out)
    return authorised
