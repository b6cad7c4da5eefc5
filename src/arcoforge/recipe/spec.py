"""``recipe.yaml``: where a dataset's inputs are and what to make of them."""

from __future__ import annotations

import datetime as dt
import math
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from dask.utils import parse_bytes
from pandas.tseries.offsets import Tick
from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    PositiveInt,
    SerializerFunctionWrapHandler,
    StrictFloat,
    StrictInt,
    StringConstraints,
    Tag,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from arcoforge.recipe.model import URL_FIELDS, StrictModel
from arcoforge.recipe.pattern import ConcatDim, FilePattern, FileType, MergeDim, OnMissing
from arcoforge.recipe.template import UrlTemplate
from arcoforge.recipe.urls import local_url

#: The most inputs one recipe may expand to; a guard against a typo in a range.
MAX_INPUTS = 1_000_000

DimName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
#: The name of an auth profile (see arcoforge.sources.auth): a name, not a secret.
ProfileName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]

#: The start of an ISO 8601 date, such as 1981-09-01 or 1981-09-01T06:00.
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _scalar(value: Any) -> Any:
    """A key of a concat list, kept as written except for dates.

    Only YAML numbers are numbers: a quoted ``"001"`` stays the string ``001``
    (a lax conversion would make it ``1`` and change every URL). Quoted ISO dates
    become dates like unquoted ones, so ``{time:%Y%m%d}`` works on both.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str | dt.date):
        raise ValueError(f"expected a number, a date or a string. Got {value!r} instead.")
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day)
    return value


Scalar = Annotated[StrictInt | StrictFloat | dt.datetime | str, BeforeValidator(_scalar)]


def _timestamp(value: Any) -> dt.datetime:
    # Only dates and strings that start with a year: pandas would also read a number as
    # nanoseconds since 1970 and 'now' or 'today' as the moment the recipe is loaded.
    if not isinstance(value, dt.date | str) or (
        isinstance(value, str) and not re.match(r"\d{4}", value.strip())
    ):
        raise ValueError(f"expected a date such as '1981-09-01'. Got {value!r} instead.")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ValueError(f"expected a date such as '1981-09-01'. Got {value!r} instead.") from None
    if pd.isna(ts):
        raise ValueError(f"expected a date such as '1981-09-01'. Got {value!r} instead.")
    return ts.to_pydatetime()


#: ``end: latest``: the newest input that exists, found when a run starts.
LATEST = "latest"


def _end(value: Any) -> dt.datetime | str:
    """An end date; ``today`` is the UTC date now, ``latest`` is kept to be resolved."""
    if value == LATEST:
        return LATEST
    if value == "today":
        return today()
    return _timestamp(value)


def today() -> dt.datetime:
    """The UTC date now, as a datetime at midnight."""
    now = dt.datetime.now(dt.UTC)
    return dt.datetime(now.year, now.month, now.day)


class DateRange(StrictModel):
    """Dates from ``start`` to ``end`` (both included) every ``freq`` (a pandas frequency).

    ``end`` may be ``today`` (the UTC date when the recipe is loaded) or ``latest``: the
    dates run to today, and a run keeps those up to the newest input that exists.
    """

    start: Annotated[dt.datetime, BeforeValidator(_timestamp)]
    end: Annotated[dt.datetime | Literal["latest"], BeforeValidator(_end)]
    freq: str

    @property
    def last(self) -> dt.datetime:
        """The last date the range may reach: ``end``, or today for ``latest``."""
        return self.end if isinstance(self.end, dt.datetime) else today()

    @model_validator(mode="after")
    def _check(self) -> DateRange:
        try:
            offset = pd.tseries.frequencies.to_offset(self.freq)
        except ValueError:
            offset = None
        if offset is None or offset.n < 1:
            raise ValueError(
                f"freq: expected a pandas frequency such as 'D', 'MS', '6h' or '7D'. "
                f"Got {self.freq!r} instead."
            )
        if self.last < self.start:
            raise ValueError(f"end {self.last.date()} is before start {self.start.date()}.")
        # Checked here rather than when expanding, so the error names the file and line.
        count = _estimate_count(self)
        if count > MAX_INPUTS:
            raise ValueError(
                f"this range gives about {count:,} keys; the limit is {MAX_INPUTS:,}. Check freq."
            )
        if len(self._range()) == 0:
            raise ValueError(
                f"no date from {self.start} to {self.last} falls on freq {self.freq!r}; "
                "expected at least one."
            )
        return self

    def _range(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, self.last, freq=self.freq, inclusive="both")

    def values(self) -> list[pd.Timestamp]:
        count = _estimate_count(self)
        if count > MAX_INPUTS:
            raise ValueError(
                f"this range gives about {count:,} keys; the limit is {MAX_INPUTS:,}. Check freq."
            )
        return list(self._range())


def _estimate_count(r: DateRange) -> int:
    offset = pd.tseries.frequencies.to_offset(r.freq)
    # calendar offsets such as MS have no fixed length: at least a day apart
    step = pd.Timedelta(offset) if isinstance(offset, Tick) else pd.Timedelta(days=1)
    span = pd.Timestamp(r.last) - pd.Timestamp(r.start)
    return int(span / step) + 1 if step > pd.Timedelta(0) else MAX_INPUTS + 1


class NumberRange(StrictModel):
    """Integers from ``start`` to ``end`` (both included) every ``step``."""

    start: int
    end: int
    step: PositiveInt = 1

    @model_validator(mode="after")
    def _check(self) -> NumberRange:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}.")
        if (self.end - self.start) // self.step + 1 > MAX_INPUTS:
            raise ValueError(f"this range gives more than {MAX_INPUTS:,} keys.")
        return self

    def values(self) -> list[int]:
        return list(range(self.start, self.end + 1, self.step))


def _keys_kind(value: Any) -> str:
    if isinstance(value, DateRange):
        return "~dates"
    if isinstance(value, NumberRange):
        return "~numbers"
    if isinstance(value, dict):
        if "freq" in value or isinstance(value.get("start"), dt.date | str):
            return "~dates"
        return "~numbers"
    return "~list"


ConcatKeys = Annotated[
    Annotated[list[Scalar], Tag("~list"), Field(min_length=1)]
    | Annotated[DateRange, Tag("~dates")]
    | Annotated[NumberRange, Tag("~numbers")],
    Discriminator(_keys_kind),
]


def _keys(value: list[Any] | DateRange | NumberRange) -> list[Any]:
    return value if isinstance(value, list) else value.values()


def _count(value: list[Any] | DateRange | NumberRange) -> int:
    """How many keys ``value`` gives, without building them."""
    if isinstance(value, DateRange):
        return len(value._range())
    if isinstance(value, NumberRange):
        return len(range(value.start, value.end + 1, value.step))
    return len(value)


class TemplateSources(StrictModel):
    """Inputs named by a URL template over concat and merge dimensions."""

    url: str
    concat: dict[DimName, ConcatKeys] = Field(default_factory=dict)
    merge: dict[DimName, Annotated[list[str | int], Field(min_length=1)]] = Field(
        default_factory=dict
    )
    items_per_file: dict[DimName, PositiveInt] = Field(default_factory=dict)
    file_type: FileType = FileType.AUTO
    storage_options: dict[str, Any] = Field(default_factory=dict)
    max_concurrency: PositiveInt | None = None
    on_missing: OnMissing = OnMissing.FAIL
    #: the name of an auth profile of the machine that runs it (never a secret)
    auth: ProfileName | None = None

    @model_validator(mode="after")
    def _check(self) -> TemplateSources:
        if not self.concat and not self.merge:
            raise ValueError("expected at least one dimension under `concat` or `merge`.")
        both = set(self.concat) & set(self.merge)
        if both:
            raise ValueError(f"dimension {sorted(both)[0]!r} is under both concat and merge.")
        extra = set(self.items_per_file) - set(self.concat)
        if extra:
            raise ValueError(
                f"items_per_file: {sorted(extra)[0]!r} is not a concat dimension "
                f"(concat dimensions: {', '.join(self.concat) or 'none'})."
            )
        names = UrlTemplate.parse(self.url).names
        dims = set(self.concat) | set(self.merge)
        if names - dims:
            raise _url_fields(
                f"url: template field {{{sorted(names - dims)[0]}}} is not a dimension under "
                f"concat or merge (dimensions: {', '.join(sorted(dims))})."
            )
        if dims - names:
            raise _url_fields(
                f"url: dimension {sorted(dims - names)[0]!r} does not appear in the template, "
                "so every input would have the same URL."
            )
        # Each dimension is bounded on its own; their product is the number of inputs.
        total = math.prod(_count(keys) for keys in self.concat.values()) * math.prod(
            len(keys) for keys in self.merge.values()
        )
        if total > MAX_INPUTS:
            raise ValueError(
                f"these dimensions give {total:,} inputs; the limit is {MAX_INPUTS:,}. "
                "Check the ranges under concat and merge."
            )
        return self

    def located(self, folder: Path) -> TemplateSources:
        """These sources with a plain path as template made a ``file://`` URL (see local_url)."""
        return self.model_copy(update={"url": local_url(self.url, folder)})

    def pattern(self) -> FilePattern:
        dims: list[ConcatDim | MergeDim] = [
            ConcatDim(
                name,
                _keys(keys),
                self.items_per_file.get(name),
                latest=isinstance(keys, DateRange) and keys.end == LATEST,
            )
            for name, keys in self.concat.items()
        ]
        dims += [MergeDim(name, keys) for name, keys in self.merge.items()]
        return FilePattern(
            UrlTemplate.parse(self.url),
            *dims,
            file_type=self.file_type,
            storage_options=self.storage_options,
            max_concurrency=self.max_concurrency,
            on_missing=self.on_missing,
            auth=self.auth,
        )


def _url_fields(message: str) -> PydanticCustomError:
    # A type of its own, so lint can tell this problem from other schema errors.
    return PydanticCustomError(URL_FIELDS, "{message}", {"message": message})


class UrlListSources(StrictModel):
    """Inputs given one by one, concatenated along ``concat_dim`` in the order listed."""

    urls: list[str] = Field(min_length=1)
    concat_dim: DimName
    items_per_file: PositiveInt | None = None
    file_type: FileType = FileType.AUTO
    storage_options: dict[str, Any] = Field(default_factory=dict)
    max_concurrency: PositiveInt | None = None
    on_missing: OnMissing = OnMissing.FAIL
    #: the name of an auth profile of the machine that runs it (never a secret)
    auth: ProfileName | None = None

    def located(self, folder: Path) -> UrlListSources:
        """These sources with plain paths made ``file://`` URLs (see local_url)."""
        return self.model_copy(update={"urls": [local_url(u, folder) for u in self.urls]})

    def pattern(self) -> FilePattern:
        return FilePattern.from_urls(
            self.urls,
            self.concat_dim,
            items_per_file=self.items_per_file,
            file_type=self.file_type,
            storage_options=self.storage_options,
            max_concurrency=self.max_concurrency,
            on_missing=self.on_missing,
            auth=self.auth,
        )


def _sources_kind(value: Any) -> str:
    if isinstance(value, UrlListSources) or (
        isinstance(value, dict) and "urls" in value and "url" not in value
    ):
        return "~urls"
    return "~template"


def _check_sources_form(value: Any) -> Any:
    if isinstance(value, dict):
        if "url" in value and "urls" in value:
            raise ValueError("give either `url` (a template) or `urls` (a list), not both.")
        if "url" not in value and "urls" not in value:
            raise ValueError(
                "expected `url` (a template such as https://host/sst.{time:%Y%m%d}.nc) "
                "or `urls` (a list of URLs)."
            )
    return value


Sources = Annotated[
    Annotated[TemplateSources, Tag("~template")] | Annotated[UrlListSources, Tag("~urls")],
    Discriminator(_sources_kind),
    BeforeValidator(_check_sources_form),
]


class Compression(StrEnum):
    """Compressors for the Zarr output, all through Blosc with byte shuffling."""

    LZ4 = "lz4"
    ZSTD = "zstd"
    NONE = "none"


def _bytes(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    # A number must lead: parse_bytes reads '' as 1 byte and 'MB' as 1MB.
    if isinstance(value, str) and re.match(r"\s*\d", value):
        try:
            return int(parse_bytes(value))
        except (ValueError, TypeError):
            pass
    raise ValueError(f"expected a size such as '100MB' or '1GiB'. Got {value!r} instead.")


ByteSize = Annotated[int, BeforeValidator(_bytes), Field(gt=0)]


def _empty_as_default(value: Any) -> Any:
    return {} if value is None else value


class ZarrOutput(StrictModel):
    """A rechunked copy in Zarr.

    ``chunks`` gives the chunk length of some dims (the others stay whole);
    ``chunk_size`` instead asks for chunks of about that many bytes.
    """

    chunks: dict[DimName, PositiveInt] | None = None
    chunk_size: ByteSize | None = None
    zarr_format: Literal[2, 3] = 3
    compression: Compression = Compression.LZ4

    @model_validator(mode="after")
    def _check(self) -> ZarrOutput:
        if self.chunks is not None and self.chunk_size is not None:
            raise ValueError("give either `chunks` or `chunk_size`, not both.")
        return self


class ReferenceFormat(StrEnum):
    """How a virtual dataset's references are stored."""

    JSON = "json"
    PARQUET = "parquet"
    ICECHUNK = "icechunk"


class ReferencesOutput(StrictModel):
    """A virtual dataset: references into the original files, nothing copied."""

    format: ReferenceFormat = ReferenceFormat.JSON

    @property
    def suffix(self) -> str:
        return f".{self.format.value}"


class Outputs(StrictModel):
    """What a recipe produces: a Zarr copy, a virtual dataset, or both."""

    zarr: Annotated[ZarrOutput | None, BeforeValidator(_empty_as_default)] = None
    references: Annotated[ReferencesOutput | None, BeforeValidator(_empty_as_default)] = None

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # An absent output dumps as absent: `references: null` would read back as
        # `references:` (an output with default settings).
        return {k: v for k, v in handler(self).items() if v is not None}

    @model_validator(mode="after")
    def _check(self) -> Outputs:
        if self.zarr is None and self.references is None:
            raise ValueError(
                "expected at least one output, such as `zarr: {chunks: {time: 30}}` "
                "or `references: {format: json}`."
            )
        return self


class RecipeSpec(StrictModel):
    """The contents of ``recipe.yaml``."""

    sources: Sources | None = None
    outputs: Outputs
