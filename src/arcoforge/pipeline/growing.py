"""Growing a published Zarr copy (``forge run --update``): append only the new inputs.

The plan is made from every input, as a full run's would be, but with the chunks the
store already has; only the tasks that reach past the store's end along the concat
dim run. Until publishing, readers see the previous version whole:

* chunks past the old end lie outside the shapes the published metadata records, so
  no reader of the old version reads them;
* the old partial last chunk is rewritten whole in one write (an atomic rename on
  local disk, one PUT on object storage), with the same values wherever the old shape
  reaches: a reader of the old version gets equal values from the old chunk or the new;
* the arrays' own documents keep their old shapes: tasks write through arrays made
  from the new documents held in the run state, and publishing writes the root
  document (consolidated metadata with the new shapes) as its one commit, then the
  arrays' documents.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from arcoforge.errors import UpdateRefusedError
from arcoforge.pipeline.context import RunContext
from arcoforge.pipeline.state import RunState
from arcoforge.plan.copy_plan import Plan
from arcoforge.sources.manifest import Manifest, check_unchanged
from arcoforge.targets.zarr import ARRAY_DOCS, ZarrTarget

#: Inputs named in a refusal; the rest are counted.
LISTED = 10
#: Encoding keys that say how a coordinate's values are stored.
_STORED = ("units", "calendar", "dtype", "scale_factor", "add_offset")


@dataclass(frozen=True)
class Published:
    """A published Zarr store as its root document records it."""

    zarr_format: int
    #: the root document(s) without consolidated metadata, for :func:`root_documents`
    root: dict[str, str]
    #: every array's documents (name -> document name -> text)
    arrays: dict[str, dict[str, str]]
    attrs: dict[str, Any]

    def dims(self, name: str) -> tuple[str, ...]:
        doc = json.loads(self.arrays[name][ARRAY_DOCS[self.zarr_format][0]])
        if self.zarr_format == 3:
            return tuple(doc.get("dimension_names") or ())
        attrs = json.loads(self.arrays[name].get(".zattrs", "{}"))
        return tuple(attrs.get("_ARRAY_DIMENSIONS", ()))

    def meta(self, name: str) -> dict[str, Any]:
        return dict(json.loads(self.arrays[name][ARRAY_DOCS[self.zarr_format][0]]))

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.meta(name)["shape"])

    def chunks(self, name: str) -> tuple[int, ...]:
        meta = self.meta(name)
        if self.zarr_format == 3:
            return tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
        return tuple(meta["chunks"])

    def dtype(self, name: str) -> np.dtype | None:
        """The stored dtype, or None where it is not a plain numpy type."""
        found = self.meta(name)["data_type" if self.zarr_format == 3 else "dtype"]
        try:
            return np.dtype(found) if isinstance(found, str) else None
        except TypeError:
            return None

    def length(self, dim: str) -> int:
        """The store's length along ``dim``."""
        for name in self.arrays:
            if dim in self.dims(name):
                return self.shape(name)[self.dims(name).index(dim)]
        raise UpdateRefusedError(f"no array of the published store has the dimension {dim!r}.")


def read_published(target: ZarrTarget) -> Published:
    """The root and array documents of the store at ``target``, from its root document."""
    fs = target.fs
    if fs.exists(target.path("zarr.json")):
        group = json.loads(fs.cat_file(target.path("zarr.json")))
        consolidated = (group.pop("consolidated_metadata", None) or {}).get("metadata", {})
        docs = {n: {"zarr.json": json.dumps(d, indent=2)} for n, d in consolidated.items()}
        attrs = dict(group.get("attributes", {}))
        return Published(3, {"zarr.json": json.dumps(group, indent=2)}, docs, attrs)
    meta = json.loads(fs.cat_file(target.path(".zmetadata")))["metadata"]
    arrays: dict[str, dict[str, str]] = {}
    for key, doc in meta.items():
        if "/" in key:
            name, part = key.rsplit("/", 1)
            arrays.setdefault(name, {})[part] = json.dumps(doc, indent=2)
    root = {doc: json.dumps(meta.get(doc, {}), indent=2) for doc in (".zattrs", ".zgroup")}
    return Published(2, root, arrays, dict(meta.get(".zattrs", {})))


def recorded_manifest(
    target: ZarrTarget, published: Published, planned: dict[str, Any] | None = None
) -> Manifest:
    """The manifest of the inputs the published version was made from.

    Publishing writes the manifest just before the root document: a killed update may
    leave one that also lists inputs the published version does not hold yet. Then the
    manifest the killed update planned from (``planned``, kept in the run state) is the
    published version's; without it, updates that only appended leave the published
    version's inputs first, ``arcoforge_inputs`` of them.
    """
    found = target.manifest()
    if found is None:
        raise UpdateRefusedError(
            f"{target.url} records no input manifest (it was made by an older ARCO Forge), "
            "so the inputs it holds are unknown. Run once with --overwrite to rebuild it; "
            "later runs can use --update."
        )
    count = published.attrs.get("arcoforge_inputs")
    if isinstance(count, int) and count < len(found):
        kept = Manifest.from_dict(planned) if planned else None
        if kept is not None and len(kept) == count:
            return kept
        return Manifest(dict(list(found.inputs.items())[:count]))
    return found


@dataclass(frozen=True)
class Added:
    """What an update adds: keys (input indexes) of the inputs appended after the last
    one the dataset holds, and of the inputs it fills in (recorded as skipped before)."""

    appended: list[str]
    filled: list[str]

    def __bool__(self) -> bool:
        return bool(self.appended or self.filled)


def new_inputs(url: str, recorded: Manifest, current: Manifest) -> Added:
    """The inputs to append and those to fill in; refuses any other change to the inputs.

    Inputs are matched by URL: a recipe whose range starts earlier numbers every input
    anew, and is refused for going back in time, not for changing them all. The one way
    back in time allowed is an input the dataset records as skipped (``on_missing:
    skip``) that is there now: it is filled in where it belongs.
    """
    key_of = {i.url: k for k, i in current.inputs.items()}
    old = [i.url for i in recorded.inputs.values()]
    now = [i.url for i in current.inputs.values()]
    gone = [u for u in old if u not in key_of]
    if gone:
        raise UpdateRefusedError(
            f"{url} holds inputs this recipe no longer lists: {_listed(gone)}. "
            "Expected the recipe's inputs to be those of the dataset plus new ones after "
            "them. Run without --update, with --overwrite, to rebuild it."
        )
    same = Manifest({key_of[i.url]: i for i in recorded.inputs.values()})
    check_unchanged(url, same, current, overwrite=False)
    skipped, held = set(recorded.missing.values()), set(old)
    filled = [u for u in now if u in skipped and u not in held]
    rest = [u for u in now if u not in skipped or u in held]
    if rest[: len(old)] != old:
        earlier = [u for u in rest[: rest.index(old[-1]) + 1] if u not in held]
        raise UpdateRefusedError(
            f"{url}: an update only appends after the inputs it holds (or fills in those it "
            f"records as skipped), but {_listed(earlier)} would go before its last input "
            f"{old[-1]} (going back in time). Run without --update, with --overwrite, to "
            "rebuild it."
        )
    return Added([key_of[u] for u in rest[len(old) :]], [key_of[u] for u in filled])


def check_schema(ctx: RunContext, plan: Plan, published: Published) -> None:
    """Refuse if the plan's variables, dims, dtypes or grid differ from the store's."""
    schema, concat = plan.schema, ctx.concat_dims[0]
    names = set(schema.variables) | set(schema.coords)
    problems = []
    if names - set(published.arrays):
        problems.append(f"new variables {sorted(names - set(published.arrays))}")
    if set(published.arrays) - names:
        problems.append(f"variables no longer there {sorted(set(published.arrays) - names)}")
    for name, v in schema.variables.items():
        if name not in published.arrays:
            continue
        if published.dims(name) != v.dims:
            problems.append(f"{name}: dims {published.dims(name)} → {v.dims}")
            continue
        stored = published.dtype(name)
        if stored is not None and stored != v.stored_dtype:
            problems.append(f"{name}: dtype {stored} → {v.stored_dtype}")
        for d, old, new in zip(v.dims, published.shape(name), v.shape, strict=True):
            if d != concat and old != new:
                problems.append(f"{name}: length of {d} {old} → {new}")
    if problems:
        raise UpdateRefusedError(
            f"{ctx.target_url}: the inputs would change the dataset's schema, which an update "
            f"cannot do: {'; '.join(problems)}. Expected new inputs with the variables, dtypes "
            "and grid of those it holds. Run without --update, with --overwrite, to rebuild it."
        )


def check_coords(
    ctx: RunContext,
    plan: Plan,
    new: list[str],
    old_length: int,
    inserted: list[tuple[int, int]] | None = None,
) -> None:
    """Refuse if the grid changed, or the new inputs overlap the dataset or go back in time.

    ``inserted``: where along the concat dim filled inputs lie that the dataset held no
    room for; the dataset's values are compared with the others'.
    """
    schema, concat = plan.schema, ctx.concat_dims[0]
    with xr.open_zarr(ctx.target().store(read_only=True), consolidated=True) as ds:
        for name, c in schema.coords.items():
            before = ds[name].values
            now = c.values
            if name == concat:
                kept = np.ones(len(now), dtype=bool)
                for a, b in inserted or []:
                    kept[a:b] = False
                now = now[kept][:old_length]
            if before.shape != now.shape or not np.array_equal(before, now):
                if name != concat:
                    raise UpdateRefusedError(
                        f"{ctx.target_url}: the coordinate {name!r} of the inputs differs from "
                        "the dataset's (another grid). Expected the grid of the inputs it "
                        "holds. Run without --update, with --overwrite, to rebuild it."
                    )
                raise UpdateRefusedError(
                    f"{ctx.target_url}: the {concat} values of the inputs it holds are not "
                    f"the ones it recorded. Expected new inputs only after its last {concat} "
                    f"{before[-1] if len(before) else None}. Run without --update, with "
                    "--overwrite, to rebuild it."
                )
    if concat not in schema.coords or old_length == 0:
        return
    values = schema.coords[concat].values
    last = values[old_length - 1]
    k = schema.concat_dims.index(concat)
    overlapping = []
    for i in schema.inputs:
        a, b = i.box[k]
        if str(i.index) in new and b > a and bool(np.any(values[a:b] <= last)):
            overlapping.append(f"{i.input.url} ({i.index})")
    if overlapping:
        raise UpdateRefusedError(
            f"{ctx.target_url}: {_listed(overlapping)} overlap the dataset or go back in time "
            f"(values of {concat} at or before its last, {last}). Expected new inputs after "
            "it. Run without --update, with --overwrite, to rebuild it."
        )


def filled_boxes(ctx: RunContext, plan: Plan, filled: list[str]) -> list[tuple[int, int]]:
    """Where along the concat dim the filled inputs lie in ``plan``: [start, end) each."""
    schema = plan.schema
    k = schema.concat_dims.index(ctx.concat_dims[0])
    return sorted(i.box[k] for i in schema.inputs if str(i.index) in filled)


def gaps_hold_room(ctx: RunContext) -> bool:
    """Whether skipped inputs kept their steps (as fill values) along the concat dim
    (``items_per_file`` declared): filling them in then moves no other input."""
    return bool(ctx.items_per_file.get(ctx.concat_dims[0]))


def changed_ranges(
    ctx: RunContext, plan: Plan, filled: list[str], new_length: int
) -> list[tuple[int, int]]:
    """The ranges along the concat dim whose values a fill changes: the filled inputs'
    steps where the dataset held room for them, else everything from the first on."""
    boxes = filled_boxes(ctx, plan, filled)
    if not boxes or gaps_hold_room(ctx):
        return boxes
    return [(boxes[0][0], new_length)]


def overlaps(region: tuple[int, int], ranges: list[tuple[int, int]]) -> bool:
    """Whether ``region`` [start, end) shares a step with any of ``ranges``."""
    return any(region[0] < b and a < region[1] for a, b in ranges)


#: The run-state store where an update that fills gaps writes the chunks readers of the
#: published version read; they are put in place just before the commit.
STAGED = "staged.zarr"


def staging_target(state: RunState) -> ZarrTarget:
    """The store, in the run ``state``, that an update's chunks replacing published ones
    are written to first."""
    staging = ZarrTarget(f"{state.url}/{STAGED}", state.storage_options)
    staging.write_empty_chunks = True  # each must replace the chunk in place, whatever it holds
    return staging


def move_staged(target: ZarrTarget, state: RunState) -> int:
    """Put every staged chunk in its place in ``target`` (one write each); returns how many.

    Run again after a failure, it writes the same chunks again: the staged store is
    removed only after the commit.
    """
    staging = staging_target(state)
    root = staging.path()
    staging.fs.invalidate_cache()
    try:
        files = sorted(staging.fs.find(root))
    except FileNotFoundError:
        return 0
    for path in files:
        target._put(staging.fs.cat_file(path), *path[len(root) :].strip("/").split("/"))
    return len(files)


def pinned_chunks(published: Published) -> dict[str, int]:
    """The chunk length along each dim, as the published data variables have them
    (a dimension coordinate is written in one chunk of its own, so it does not count)."""
    chunks: dict[str, int] = {}
    for name in published.arrays:
        dims = published.dims(name)
        if dims == (name,):
            continue
        for d, c in zip(dims, published.chunks(name), strict=True):
            chunks.setdefault(d, c)
    return chunks


def grown_arrays(published: Published, concat: str, length: int) -> dict[str, dict[str, str]]:
    """Every array's documents with its length along ``concat`` set to ``length``."""
    fmt, out = published.zarr_format, {}
    for name, docs in published.arrays.items():
        dims = published.dims(name)
        if concat not in dims:
            out[name] = dict(docs)
            continue
        meta = published.meta(name)
        meta["shape"][dims.index(concat)] = length
        out[name] = {**docs, ARRAY_DOCS[fmt][0]: json.dumps(meta, indent=2)}
    return out


def write_concat_coord(
    ctx: RunContext,
    plan: Plan,
    published: Published,
    meta: str,
    start: int,
    *,
    staged: bool = False,
) -> None:
    """Write the concat dim's coordinate from the chunk step ``start`` lies in to the new
    end, encoded as the store encodes it, through its grown array document ``meta``;
    into the staging store (see :func:`move_staged`) if it replaces published values."""
    concat = ctx.concat_dims[0]
    coord = plan.schema.coords.get(concat)
    if coord is None:
        return
    target = ctx.target()
    with xr.open_zarr(target.store(read_only=True), consolidated=True) as ds:
        encoding = {k: v for k, v in ds[concat].encoding.items() if k in _STORED}
    variable = xr.Variable((concat,), coord.values, encoding=encoding)
    encoded = xr.conventions.encode_cf_variable(variable, name=concat).values
    chunk = published.chunks(concat)[0]
    first = (start // chunk) * chunk
    into = staging_target(ctx.state()) if staged else target
    into.write_region(
        concat, meta, published.zarr_format, ((first, len(encoded)),), encoded[first:]
    )


#: The root attribute counting the versions of a dataset: 1 when made, one more per update.
VERSION_ATTR = "arcoforge_dataset_version"


def next_version(attrs: dict[str, Any]) -> int:
    """The version an update of a dataset with root attributes ``attrs`` makes."""
    found = attrs.get(VERSION_ATTR, 1)
    return (int(found) if isinstance(found, int | float | str) and str(found).isdigit() else 1) + 1


def update_attrs(provenance: dict[str, Any], version: int) -> dict[str, Any]:
    """The root attributes an update sets: the run's provenance and the dataset's new
    version; the dataset keeps the date it was created (in its root document already)
    and records when it was updated."""
    attrs = {k: v for k, v in provenance.items() if k != "arcoforge_created"}
    attrs[VERSION_ATTR] = version
    attrs["arcoforge_updated"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return attrs


def stale_arrays(target: ZarrTarget, published: Published) -> dict[str, dict[str, str]]:
    """The arrays whose own documents differ from the consolidated metadata (an update
    killed after its commit, before it rewrote them)."""
    out = {}
    for name, docs in published.arrays.items():
        doc = ARRAY_DOCS[published.zarr_format][0]
        try:
            found = json.loads(target.fs.cat_file(target.path(name, doc)))
        except FileNotFoundError:
            found = None
        if found is None or found.get("shape") != json.loads(docs[doc]).get("shape"):
            out[name] = docs
    return out


def check_extends(
    url: str, old: xr.Dataset, new: xr.Dataset, concat: str, *, filled: bool = False
) -> None:
    """Refuse unless ``new`` is ``old`` with values appended along ``concat`` (and, if
    ``filled``, inserted where skipped inputs were filled in): the same variables, dims,
    dtypes and grid, and the same ``concat`` values where ``old`` has them."""
    problems = []
    names_old, names_new = set(map(str, old.variables)), set(map(str, new.variables))
    if names_new - names_old:
        problems.append(f"new variables {sorted(names_new - names_old)}")
    if names_old - names_new:
        problems.append(f"variables no longer there {sorted(names_old - names_new)}")
    for name in sorted(names_old & names_new):
        a, b = old[name], new[name]
        if a.dims != b.dims:
            problems.append(f"{name}: dims {a.dims} → {b.dims}")
        elif a.dtype != b.dtype:
            problems.append(f"{name}: dtype {a.dtype} → {b.dtype}")
    for d in set(map(str, old.dims)) - {concat}:
        if old.sizes[d] != new.sizes.get(d):
            problems.append(f"length of {d} {old.sizes[d]} → {new.sizes.get(d)}")
        elif d in old.coords and not np.array_equal(old[d].values, new[d].values):
            problems.append(f"values of {d} (another grid)")
    if problems:
        raise UpdateRefusedError(
            f"{url}: the inputs would change the dataset's schema, which an update cannot "
            f"do: {'; '.join(problems)}. Expected new inputs with the variables, dtypes and "
            "grid of those it holds. Run without --update, with --overwrite, to rebuild it."
        )
    if concat in old.coords and concat in new.coords:
        n = old.sizes[concat]
        before, now = old[concat].values, new[concat].values
        if filled:  # the dataset's steps, with those of the filled inputs among them
            now = now[np.isin(now, before)]
        if n > len(now) or (filled and len(now) != n) or not np.array_equal(before, now[:n]):
            raise UpdateRefusedError(
                f"{url}: the {concat} values of the inputs it holds are not the ones it "
                f"recorded (new inputs overlap it or go back in time). Expected new inputs "
                "only after its last one. Run without --update, with --overwrite, to rebuild it."
            )


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")
