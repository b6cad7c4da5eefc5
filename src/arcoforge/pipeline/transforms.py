"""The pipeline's Beam transforms: thin wrappers of ``copy_stages`` and ``virtual_stages``.

Elements are small (indexes, URLs, headers, task descriptions); arrays never
travel between stages. Workers read inputs from the cache and write target
chunks themselves. ``copy_stages`` (and with it xarray, zarr and h5py) is imported
where the work runs, so the launcher starts quickly.
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arcoforge.pipeline.batches import HEADER_BATCH, batches, copy_batches
from arcoforge.pipeline.context import RunContext
from arcoforge.pipeline.headstart import fetch_batch
from arcoforge.pipeline.quiet import beam
from arcoforge.recipe.pattern import Index

#: What every transform here takes and gives: small elements, never arrays.
Items = beam.PCollection[Any]

if TYPE_CHECKING:
    from arcoforge.plan.copy_plan import TaskWork
    from arcoforge.sources.cache import CachedInput
    from arcoforge.sources.fastheaders.prefetch import EdgePrefetcher
    from arcoforge.sources.fastheaders.templates import HeaderTemplates
    from arcoforge.sources.headers import HeaderSet, InputHeader

_NS = "arcoforge"
Metrics = beam.metrics.Metrics


def _copy_stages() -> Any:
    from arcoforge.pipeline import copy_stages

    return copy_stages


def _virtual_stages() -> Any:
    from arcoforge.pipeline import virtual_stages

    return virtual_stages


def _publishing() -> Any:
    from arcoforge.pipeline import publishing

    return publishing


class _FetchBatch(beam.DoFn):
    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.inputs = Metrics.counter(_NS, "in-items")
        self.bytes = Metrics.counter(_NS, "in-bytes")

    def process(self, batch: list[tuple[Index, str]]) -> Iterator[tuple[Index, CachedInput]]:
        for found in fetch_batch(self.ctx, batch):
            if found is None:  # missing, and left out (on_missing: skip)
                continue
            index, cached = found
            self.inputs.inc()
            self.bytes.inc(cached.size)
            yield index, cached


@dataclass
class CacheInputs(beam.PTransform[Items, Items]):
    """Fetch every input into the cache; the inputs of one batch are fetched at once.

    Input: ``PCollection[list[tuple[Index, str]]]`` (batches);
    output: ``PCollection[tuple[Index, CachedInput]]``.
    """

    ctx: RunContext

    def expand(self, pcoll: Items) -> Items:
        return pcoll | "Spread" >> beam.Reshuffle() | "Fetch" >> beam.ParDo(_FetchBatch(self.ctx))


@dataclass
class ReadHeaders(beam.PTransform[Items, Items]):
    """Read each cached input's header.

    Input: ``PCollection[tuple[Index, CachedInput]]``; output: ``PCollection[InputHeader]``.
    """

    ctx: RunContext

    def expand(self, pcoll: Items) -> Items:
        ctx = self.ctx
        return pcoll | "Read" >> beam.MapTuple(lambda i, c: _copy_stages().input_header(ctx, i, c))


class CollectHeaders(beam.CombineFn):
    """Gather headers into one HeaderSet, pooling repeated coordinates as it goes."""

    def __init__(self, concat_dims: tuple[str, ...]):
        self.concat_dims = concat_dims

    def create_accumulator(self) -> HeaderSet:
        from arcoforge.sources.headers import HeaderSet

        return HeaderSet(self.concat_dims)

    def add_input(self, acc: HeaderSet, header: InputHeader) -> HeaderSet:
        acc.add(header)
        return acc

    def merge_accumulators(self, accs: Iterable[HeaderSet]) -> HeaderSet:
        out = self.create_accumulator()
        for acc in accs:
            out.merge(acc)
        return out

    def extract_output(self, acc: HeaderSet) -> HeaderSet:
        return acc


@dataclass
class PlanWrites(beam.PTransform[Items, Items]):
    """Plan the copy from its one set of headers, prepare the target and emit the tasks
    to run.

    Input: ``PCollection[HeaderSet]`` (one element); output: ``PCollection[TaskWork]``.
    """

    ctx: RunContext

    def expand(self, pcoll: Items) -> Items:
        ctx = self.ctx
        return pcoll | "Plan" >> beam.FlatMap(
            lambda headers: _copy_stages().plan_writes(ctx, headers)
        )


class _Write(beam.DoFn):
    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.tasks = Metrics.counter(_NS, "out-tasks")
        self.bytes = Metrics.counter(_NS, "out-bytes")

    def process(self, work: TaskWork) -> Iterator[int]:
        nbytes = _copy_stages().write_within_memory(self.ctx, work)
        self.tasks.inc()
        self.bytes.inc(nbytes)
        yield nbytes


@dataclass
class WriteChunks(beam.PTransform[Items, Items]):
    """Run each task: read its input slices, write its whole target chunks.

    Input: ``PCollection[TaskWork]``; output: ``PCollection[int]`` (bytes written).
    """

    ctx: RunContext

    def expand(self, pcoll: Items) -> Items:
        return pcoll | "Spread" >> beam.Reshuffle() | "Write" >> beam.ParDo(_Write(self.ctx))


@dataclass
class Publish(beam.PTransform[Items, Items]):
    """Once every output's writes are done, check and publish them all together.

    Input: ``PCollection[tuple[str, Any]]``, each element tagged with its output
    (``("zarr", bytes written)``, ``("references", pickled batch)``); output:
    ``PCollection[list[dict]]`` (one element: the results).
    """

    ctx: RunContext
    #: whether every branch sends at least one element (then no default is needed)
    fed: bool = True

    def expand(self, pcoll: Items) -> Items:
        ctx = self.ctx
        return (
            pcoll
            | "Collect" >> self._collect()
            | "Publish" >> beam.Map(lambda items: _publishing().publish_outputs(ctx, items))
        )

    def _collect(self) -> beam.PTransform[Items, Items]:
        """Every element in one list. A global combine's default (an empty list where no
        element came) costs a stage of its own: only asked for where a branch may be empty."""
        gather = beam.CombineGlobally(beam.combiners.ToListCombineFn())
        return gather.without_defaults() if self.fed else gather


class _Virtualize(beam.DoFn):
    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.inputs = Metrics.counter(_NS, "virtual-items")
        # Made where the DoFn runs: the layouts hold a lock, the feed a child process.
        self.layouts: HeaderTemplates | None = None
        self.feed: EdgePrefetcher | None = None

    def process(self, batch: list[tuple[Index, str]]) -> Iterator[bytes]:
        if self.layouts is None or self.feed is None:
            from arcoforge.sources.fastheaders.prefetch import EdgePrefetcher
            from arcoforge.sources.fastheaders.templates import HeaderTemplates

            self.layouts = HeaderTemplates()
            self.feed = EdgePrefetcher(self.ctx.source_options, self.ctx.retry, self.ctx.auth)
        # Parsed one after another (h5py runs one parse at a time in a process), while
        # the feed's process fetches the next files' headers.
        done = _virtual_stages().virtualize_batch(self.ctx, batch, self.layouts, self.feed)
        self.inputs.inc(len(batch))
        yield pickle.dumps(done, protocol=pickle.HIGHEST_PROTOCOL)

    def teardown(self) -> None:
        if self.feed is not None:
            self.feed.close()


@dataclass
class VirtualizeInputs(beam.PTransform[Items, Items]):
    """Open every input where it lies as a virtual dataset (headers only, no download).

    Input: ``PCollection[list[tuple[Index, str]]]`` (batches); output:
    ``PCollection[bytes]``, each a pickled ``VirtualBatch`` (its virtual inputs and
    their identities). Beam's coders copy bytes cheaply, but pickle an object again at
    every stage boundary and to estimate its size (a good share of the time of reading
    a header: bench/README.md, *Measurements behind the design*); pickled together, the inputs of
    a batch share their layouts' metadata.
    """

    ctx: RunContext

    def expand(self, pcoll: Items) -> Items:
        return pcoll | "Spread" >> beam.Reshuffle() | "Open" >> beam.ParDo(_Virtualize(self.ctx))


def ship_by_value(fn: Any) -> None:
    """Pickle the module of a recipe.py function by value, for workers that cannot import it.

    Beam pickles with its own copy of cloudpickle; the Dask runner's tasks travel
    with the installed one. Both must be told.
    """
    import cloudpickle
    from apache_beam.internal.cloudpickle import cloudpickle as beam_cloudpickle

    module = sys.modules.get(getattr(fn, "__module__", ""))
    if module is None or module.__name__.startswith(("arcoforge.", "builtins")):
        return
    cloudpickle.register_pickle_by_value(module)
    beam_cloudpickle.register_pickle_by_value(module)


def build(pipeline: beam.Pipeline, inputs: list[tuple[Index, str]], ctx: RunContext) -> None:
    """Add the whole recipe run to ``pipeline``: a chain of stages per output, then
    one step that publishes them all.

    The copy reads the inputs by range or caches them, then writes Zarr, a batch of
    inputs at a time (see :mod:`arcoforge.pipeline.batches`); the virtual dataset reads
    only their headers where they lie, many per batch. Inputs are batched here, not with
    BatchElements, whose last batch Beam's Dask runner drops
    (it collects a bundle's outputs before ``finish_bundle``).
    """
    if ctx.preprocess is not None:
        ship_by_value(ctx.preprocess)
    branches = []
    if ctx.output is not None:
        # one header set, even of no headers (its plan then says why): a default, as
        # the plan must run
        headers = (
            pipeline
            | "Inputs" >> beam.Create(copy_batches(ctx, inputs), reshuffle=False)
            | "CacheInputs" >> CacheInputs(ctx)
            | "ReadHeaders" >> ReadHeaders(ctx)
            | "CollectHeaders" >> beam.CombineGlobally(CollectHeaders(ctx.concat_dims))
        )
        branches.append(
            headers
            | "PlanWrites" >> PlanWrites(ctx)
            | "WriteChunks" >> WriteChunks(ctx)
            | "TagCopy" >> beam.Map(lambda n: ("zarr", n))
        )
        # publishing is told of the copy even when every task was written early
        branches.append(headers | "Planned" >> beam.Map(lambda _: ("zarr", 0)))
    if ctx.references is not None:
        branches.append(
            pipeline
            | "HeaderInputs" >> beam.Create(batches(inputs, HEADER_BATCH), reshuffle=False)
            | "VirtualizeInputs" >> VirtualizeInputs(ctx)
            | "TagReferences" >> beam.Map(lambda b: ("references", b))
        )
    # One publishing step that every branch leads to: outputs are published together,
    # and it is the pipeline's only leaf (Beam's Dask runner computes just the last one).
    joined = tuple(branches) | "Join" >> beam.Flatten()
    _ = joined | "Publish" >> Publish(ctx, fed=bool(inputs))
