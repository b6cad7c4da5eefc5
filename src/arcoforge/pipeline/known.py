"""Inputs a run need not read again: the headers of a copy's inputs, kept between runs.

Planning keeps every input's header (with where its chunks lie) beside the run states,
in ``ROOT/.forge/known-headers/<id>.pkl`` (a run's state is removed when it succeeds).
A later run of the dataset (an update, a re-run that finds it up to date, a run resumed
after a kill) asks each input it finds there for its identity only (one HEAD request:
size, ETag, Last-Modified); if that is unchanged, the kept header stands for it, and its
bytes are not read. ``--overwrite`` reads every header again. A run stopped before
planning kept its headers only in its run state (``ROOT/.forge/<id>/headers/``, see
:func:`header_name`): the run that resumes it asks each input the same way, by
:func:`resumed_header`. The headers of new inputs are read, and so is the header of the
last input kept, so that a change in how headers are read (or in the recipe) is met by
the plan's schema checks rather than hidden by the kept copies.
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

from arcoforge.errors import SourceError
from arcoforge.pipeline.context import RunContext
from arcoforge.pipeline.state import RunState
from arcoforge.recipe.pattern import Index
from arcoforge.sources.cache import CachedInput
from arcoforge.sources.headers import HeaderSet, InputHeader
from arcoforge.sources.manifest import InputIdentity, iso_date

#: The folder (beside the runs' states) of the kept headers, one file per dataset.
KNOWN = "known-headers"


def _kept_at(ctx: RunContext) -> tuple[RunState, str]:
    """Where the kept headers of ``ctx``'s dataset are: a folder and a file name."""
    base, name = ctx.state_url.rsplit("/", 1)
    return RunState(f"{base}/{KNOWN}", ctx.storage_options), f"{name}.pkl"


def remember(ctx: RunContext, headers: HeaderSet) -> None:
    """Keep the headers of the inputs read by range (those an update can HEAD instead)."""
    kept = [h for h in headers.sorted() if isinstance(h.input, CachedInput) and h.input.ranged]
    doc = {"fingerprint": _fingerprint(ctx), "headers": kept}
    folder, name = _kept_at(ctx)
    folder.write_bytes(name, pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL))


def known_input(ctx: RunContext, index: Index, url: str, asked: Asked = None) -> CachedInput | None:
    """The kept copy of input ``url`` at ``index`` if a HEAD request finds it unchanged;
    None if it must be read (not kept, the one checked, changed, or the HEAD failed).
    ``asked``: the answer of a HEAD request made already (see :func:`head_identities`)."""
    found = _known(ctx).get(url)
    if found is None or found.index != index or url == _checked(ctx):
        return None
    cached = found.input
    if not (cached.etag or cached.last_modified):
        return None  # nothing but the size would tell a rewritten file
    now = _identity(ctx, url, asked)
    if now is None:
        return None  # the fetch that follows says what is wrong, or skips it
    if now.size != cached.size or cached.identity().changes_to(now):
        return None
    return cached


def unknown(ctx: RunContext, urls: list[str]) -> int:
    """How many of ``urls`` have no kept header: by the run that made the dataset, or by
    the unfinished run this one resumes."""
    return sum(not may_be_kept(ctx, url) for url in urls)


def may_be_kept(ctx: RunContext, url: str) -> bool:
    """Whether input ``url`` (read by range) has a kept header (see :func:`known_input`
    and :func:`resumed_header`): it is then asked for its identity before its bytes.
    The others are read as a first run reads them."""
    return url in _kept_urls(ctx)


def _kept_urls(ctx: RunContext) -> frozenset[str]:
    """The URLs of every kept header: the dataset's and an unfinished run's batches."""
    key = (ctx.state_url, ctx.run_id, ctx.overwrite, ctx.kept_headers)
    if key not in _URLS:
        _URLS.clear()
        _URLS[key] = frozenset(_known(ctx)) | {h.input.url for h in _batched(ctx).values()}
    return _URLS[key]


def known_header(ctx: RunContext, index: Index, cached: CachedInput) -> InputHeader | None:
    """The kept header of the very input ``cached`` (same place, same version), if any."""
    found = _known(ctx).get(cached.url)
    if found is None or found.index != index or found.input.version != cached.version:
        return None
    return found


def kept_header(kept: bytes | None) -> InputHeader | None:
    """A header kept in the run state, or None if there is none, it names classes that
    have moved since (kept by another version of ARCO Forge) or it is cut short (written
    where state writes are not atomic): it is read again."""
    if kept is None:
        return None
    try:
        header: InputHeader = pickle.loads(kept)
    except (ModuleNotFoundError, AttributeError, EOFError, pickle.UnpicklingError):
        return None
    return header


def keep_headers(ctx: RunContext, headers: list[InputHeader]) -> None:
    """Keep the headers of a batch of inputs in the run state, in one file (one write
    for the batch; see :func:`state_header`)."""
    named = {header_name(ctx.sources_fingerprint, h.index, h.input): h for h in headers}
    if named:
        first = min(named).removeprefix("headers/")
        data = pickle.dumps(named, protocol=pickle.HIGHEST_PROTOCOL)
        ctx.state().write_bytes(f"headers/{BATCH}{first}", data)


def state_header(ctx: RunContext, name: str) -> InputHeader | None:
    """The header the run state keeps under ``name`` (see :func:`header_name`), in a file
    of its own or in a batch's; None if there is none or it does not read."""
    found = kept_header(ctx.state().read_bytes(name))
    return found if found is not None else _batched(ctx).get(name)


#: The name that starts the state's files of headers kept a batch at a time.
BATCH = "batch-"


def _batched(ctx: RunContext) -> dict[str, InputHeader]:
    """The headers an unfinished run kept a batch at a time, read once per process and run."""
    if not ctx.kept_headers:
        return {}
    key = (ctx.state_url, ctx.run_id)
    if key not in _BATCHES:
        state, found = ctx.state(), {}
        for name in sorted(state.marks("headers")):
            if name.startswith(BATCH):
                found.update(_batch(state.read_bytes(f"headers/{name}")))
        _BATCHES.clear()
        _BATCHES[key] = found
    return _BATCHES[key]


def _batch(kept: bytes | None) -> dict[str, InputHeader]:
    """A batch's kept headers by name; none if it does not read (see :func:`kept_header`)."""
    try:
        found = pickle.loads(kept) if kept else {}
    except (ModuleNotFoundError, AttributeError, EOFError, pickle.UnpicklingError):
        return {}
    return found if isinstance(found, dict) else {}


#: The batches of headers kept by the unfinished run the run of a process resumes.
_BATCHES: dict[tuple[str, str], dict[str, InputHeader]] = {}
#: The URLs of the kept headers of the run of a process (see :func:`_kept_urls`).
_URLS: dict[tuple[str, str, bool, bool], frozenset[str]] = {}


def header_name(fingerprint: str, index: Index, cached: CachedInput) -> str:
    """The run-state file of an input's header: named after its position, its bytes and
    the recipe's sources and code, so a header is reused only for what it describes."""
    where = hashlib.sha256(f"{index!r}{cached.url}".encode()).hexdigest()[:16]
    version = hashlib.sha256(cached.version.encode()).hexdigest()[:16]
    what = f"{version}-{cached.size}-{fingerprint[:12]}"
    return f"headers/{where}-{what}.pkl"


def resumed_header(
    ctx: RunContext, index: Index, url: str, asked: Asked = None
) -> InputHeader | None:
    """The header an unfinished run of this recipe kept for input ``url`` (read by range)
    at ``index``, if one HEAD request (or ``asked``) finds the input unchanged since; None
    otherwise.

    Kept headers are named after the input's validators (see :func:`header_name`), so
    only an input that gives an ETag or a Last-Modified date can be matched.
    """
    if not ctx.kept_headers:
        return None
    now = _identity(ctx, url, asked)
    if now is None or now.size is None or not (now.etag or now.last_modified):
        return None
    named = CachedInput(url, url, now.size, "", ctx.file_type, now.etag, now.last_modified)
    header = state_header(ctx, header_name(ctx.sources_fingerprint, index, named))
    if header is None or not header.input.ranged or header.input.version != named.version:
        return None
    return header


#: The answer of a HEAD request asked already: an identity, the error met, or None (not asked).
Asked = InputIdentity | SourceError | None


def _identity(ctx: RunContext, url: str, asked: Asked) -> InputIdentity | None:
    """``url``'s identity as ``asked`` found it, or as one HEAD request finds it now;
    None if the request failed."""
    if isinstance(asked, InputIdentity):
        return asked
    if asked is not None:
        return None
    try:
        return head_identity(ctx, url)
    except SourceError:
        return None


def head_identities(ctx: RunContext, urls: list[str]) -> dict[str, Asked]:
    """The identity of each of ``urls`` (or the error met) from one HEAD request each,
    made together on one event loop within the per-host limit (this process's every
    place for the hosts is held meanwhile)."""
    import asyncio

    import obstore

    from arcoforge.sources.hosts import whole_hosts
    from arcoforge.sources.stores import registry_for, source_errors

    async def one(url: str, limit: asyncio.Semaphore) -> InputIdentity:
        async with limit:
            with source_errors(url):
                store, path = registry_for(url, ctx.source_options, ctx.retry).resolve(url)
                meta = await obstore.head_async(store, path)
        return _from_meta(url, meta)

    async def every() -> list[InputIdentity | BaseException]:
        limit = asyncio.Semaphore(max(1, ctx.retry.per_host))
        return await asyncio.gather(*(one(u, limit) for u in urls), return_exceptions=True)

    with whole_hosts(urls, ctx.retry.per_host):
        found = asyncio.run(every())
    answers: dict[str, Asked] = {}
    for url, answer in zip(urls, found, strict=True):
        if isinstance(answer, BaseException) and not isinstance(answer, SourceError):
            raise answer
        answers[url] = answer
    return answers


def _from_meta(url: str, meta: Any) -> InputIdentity:
    etag = meta.get("e_tag") or None
    return InputIdentity(url, int(meta["size"]), etag, iso_date(meta.get("last_modified")))


def head_identity(ctx: RunContext, url: str) -> InputIdentity:
    """The identity of ``url`` from one metadata (HEAD) request."""
    import obstore

    from arcoforge.sources.hosts import host_slot
    from arcoforge.sources.stores import registry_for, source_errors

    with source_errors(url), host_slot(url, ctx.retry.per_host):
        store, path = registry_for(url, ctx.source_options, ctx.retry).resolve(url)
        meta = obstore.head(store, path)
    return _from_meta(url, meta)


def _known(ctx: RunContext) -> dict[str, InputHeader]:
    """The kept headers by URL, read once per process and run; empty with ``--overwrite``."""
    if ctx.overwrite:  # rebuilt from what the sources hold now, every header read again
        return {}
    key = (ctx.state_url, ctx.run_id)
    if key not in _KEPT:
        _KEPT.clear()
        _KEPT[key] = _read(ctx)
    return _KEPT[key]


def _read(ctx: RunContext) -> dict[str, InputHeader]:
    folder, name = _kept_at(ctx)
    data = folder.read_bytes(name)
    if data is None:
        return {}
    try:
        doc: dict[str, Any] = pickle.loads(data)
    except Exception:  # written by another version: read the headers again
        return {}
    if doc.get("fingerprint") != _fingerprint(ctx):
        return {}
    return {h.input.url: h for h in doc.get("headers", [])}


def _fingerprint(ctx: RunContext) -> str:
    """What a header read by range depends on besides the input's bytes and index.

    Not the recipe's range of inputs (an update's recipe ends later) nor its preprocess
    (inputs of a recipe with one are never read by range).
    """
    what = (ctx.concat_dims, ctx.merge_dims, str(ctx.file_type), ctx.version)
    return hashlib.sha256(repr(what).encode()).hexdigest()


def _checked(ctx: RunContext) -> str | None:
    """The URL of the kept input whose header is read again: the last one."""
    kept = _known(ctx)
    return max(kept.values(), key=lambda h: h.index).input.url if kept else None


#: The kept headers of the run a worker process works for.
_KEPT: dict[tuple[str, str], dict[str, InputHeader]] = {}
