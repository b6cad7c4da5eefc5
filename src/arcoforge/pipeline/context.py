"""RunContext: the settings every stage of a run needs, passed explicitly to each transform."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from arcoforge.pipeline.state import RunState
from arcoforge.recipe.pattern import FileType, OnMissing
from arcoforge.recipe.spec import ReferenceFormat, ReferencesOutput, ZarrOutput
from arcoforge.recipe.validated import Preprocess
from arcoforge.sources.addresses import AddressPolicy
from arcoforge.sources.cache import InputCache
from arcoforge.sources.guarded import Guard
from arcoforge.sources.retry import RetryPolicy

if TYPE_CHECKING:
    from arcoforge.targets.base import ReferenceTarget
    from arcoforge.targets.zarr import ZarrTarget


@dataclass(frozen=True)
class RunContext:
    """Where a run reads and writes, and how; small and picklable."""

    recipe_id: str
    fingerprint: str
    target_url: str
    state_url: str
    cache_url: str
    output: ZarrOutput | None
    concat_dims: tuple[str, ...]
    references: ReferencesOutput | None = None
    references_url: str = ""
    merge_dims: tuple[str, ...] = ()
    items_per_file: dict[str, int | None] = field(default_factory=dict)
    file_type: FileType = FileType.AUTO
    source_options: dict[str, Any] = field(default_factory=dict)
    storage_options: dict[str, Any] = field(default_factory=dict)
    preprocess: Preprocess | None = None
    budget: int = 2 * 10**9
    overwrite: bool = False
    #: append the inputs that are new since the published copy was made (forge run --update)
    update: bool = False
    pruned: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: what to do with inputs still missing after the retries
    on_missing: OnMissing = OnMissing.FAIL
    fetch_concurrency: int = 4
    version: str = ""
    #: tells this run's files in the state folder from an earlier run's
    run_id: str = ""
    #: memory of each local worker process (0: each worker finds its own, see pipeline.slots)
    worker_memory: int = 0
    #: what the recipe asks for apart from its outputs (sources, code): each output's
    #: hash is made from it and that output's own settings, so changing one output's
    #: settings leaves the others up to date
    sources_fingerprint: str = ""
    #: the auth profile inputs are read with: its name only, each worker reads the secret
    auth: str | None = None
    #: whether the state held headers an unfinished run kept when this run started (see
    #: arcoforge.pipeline.known.resumed_header)
    kept_headers: bool = False
    #: the copy's length along its concat dim if batches write their chunks as soon as they
    #: are parsed, else 0 (see arcoforge.pipeline.early)
    early_length: int = 0
    #: an untrusted run's address policy (None: a trusted run)
    policy: AddressPolicy | None = None

    def guard(self) -> Guard:
        """How inputs' requests are made: credentials and address checks."""
        return Guard(self.auth, self.policy)

    #: read netCDF4 inputs on http(s)/s3/gs by byte range where they lie, not through
    #: the input cache (see arcoforge.sources.chunk_reads); inputs that cannot be, are cached
    read_by_range: bool = False

    def __post_init__(self) -> None:
        if not self.sources_fingerprint:
            object.__setattr__(self, "sources_fingerprint", self.fingerprint)

    def reads_by_range(self, url: str) -> bool:
        """Whether a copy asks for ``url``'s bytes by range (else it caches it whole)."""
        from arcoforge.sources.addresses import custom_resolver
        from arcoforge.sources.hosts import can_range

        if not self.read_by_range or self.preprocess is not None or not can_range(url):
            return False
        if self.file_type is FileType.OPENDAP:
            return False  # a DAP server answers queries, not byte ranges of a file
        # credentials, untrusted address checks and names known only to the resolver set
        # in Python (see sources.addresses) go through the cache's client
        return self.auth is None and self.policy is None and not custom_resolver()

    @property
    def zarr(self) -> ZarrOutput:
        """The Zarr output, for the stages of the copy."""
        assert self.output is not None
        return self.output

    def target(self) -> ZarrTarget:
        from arcoforge.targets.zarr import ZarrTarget  # zarr and dask load in workers only

        return ZarrTarget(self.target_url, self.storage_options)

    def references_target(self) -> ReferenceTarget[Any]:
        from arcoforge.targets.icechunk import IcechunkTarget
        from arcoforge.targets.kerchunk import KerchunkTarget

        assert self.references is not None
        if self.references.format is ReferenceFormat.ICECHUNK:
            return IcechunkTarget(self.references_url, self.storage_options)
        fmt: Literal["json", "parquet"] = (
            "json" if self.references.format is ReferenceFormat.JSON else "parquet"
        )
        return KerchunkTarget(self.references_url, fmt, self.storage_options)

    def state(self) -> RunState:
        return RunState(self.state_url, self.storage_options)

    def cache(self) -> InputCache:
        return InputCache(self.cache_url, storage_options=self.storage_options)
