"""FilePattern: an N-dimensional grid of keys mapped to the URLs of the inputs.

Each axis is a :class:`ConcatDim` (inputs laid end to end along a dimension,
such as time) or a :class:`MergeDim` (inputs holding different variables).
The pattern is the outer product of its axes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from arcoforge.errors import RecipeError


class OnMissing(StrEnum):
    """What a run does with inputs still missing after its retries."""

    FAIL = "fail"
    SKIP = "skip"


class FileType(StrEnum):
    """How inputs are read; ``auto`` sniffs each file's magic bytes.

    ``opendap`` inputs are datasets on an OPeNDAP server, read by slices (copies only).
    """

    AUTO = "auto"
    NETCDF3 = "netcdf3"
    NETCDF4 = "netcdf4"
    OPENDAP = "opendap"


@dataclass(frozen=True, slots=True)
class ConcatDim:
    """Inputs laid end to end along dimension ``name``; one key per input.

    ``items_per_file``, when given, is checked against every input's header.
    ``latest``: the keys run to today, and a run keeps those up to the newest input
    that exists (see arcoforge.recipe.latest).
    """

    name: str
    keys: tuple[Hashable, ...]
    items_per_file: int | None = None
    latest: bool = False

    def __init__(
        self,
        name: str,
        keys: Sequence[Hashable],
        items_per_file: int | None = None,
        *,
        latest: bool = False,
    ):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "keys", tuple(keys))
        object.__setattr__(self, "items_per_file", items_per_file)
        object.__setattr__(self, "latest", latest)
        _check_dim(self)


@dataclass(frozen=True, slots=True)
class MergeDim:
    """Inputs that hold different variables, one key per group of inputs."""

    name: str
    keys: tuple[Hashable, ...]

    def __init__(self, name: str, keys: Sequence[Hashable]):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "keys", tuple(keys))
        _check_dim(self)


CombineDim = ConcatDim | MergeDim


def _check_dim(dim: CombineDim) -> None:
    kind = type(dim).__name__
    if not dim.name.isidentifier():
        raise RecipeError(f"{kind}: expected a dimension name. Got {dim.name!r} instead.")
    if not dim.keys:
        raise RecipeError(f"{kind} {dim.name!r}: expected at least one key. Got none.")
    if len(set(dim.keys)) != len(dim.keys):
        dupes = sorted({str(k) for k in dim.keys if dim.keys.count(k) > 1})
        raise RecipeError(f"{kind} {dim.name!r}: keys must be unique. Repeated: {dupes}.")


@dataclass(frozen=True, slots=True, order=True)
class Index:
    """Where one input sits in its pattern: a position along each combine dim."""

    positions: tuple[tuple[str, int], ...]

    def __getitem__(self, dim: str) -> int:
        for name, pos in self.positions:
            if name == dim:
                return pos
        raise KeyError(dim)

    def __str__(self) -> str:
        return ",".join(f"{name}={pos}" for name, pos in self.positions)


@dataclass(frozen=True, slots=True)
class _UrlList:
    """Format function for a pattern given as an explicit list of URLs."""

    dim: str
    urls: tuple[str, ...]

    def __call__(self, **keys: Any) -> str:
        return self.urls[int(keys[self.dim])]


@dataclass(frozen=True)
class FilePattern:
    """The inputs of a recipe: ``format_function(**keys)`` gives each input's URL."""

    format_function: Callable[..., str]
    dims: tuple[CombineDim, ...]
    file_type: FileType = FileType.AUTO
    storage_options: dict[str, Any] = field(default_factory=dict)
    #: requests at once to one host for a whole run (None: the default)
    max_concurrency: int | None = None
    on_missing: OnMissing = OnMissing.FAIL
    #: the name of the auth profile its inputs are read with (see arcoforge.sources.auth)
    auth: str | None = None

    def __init__(
        self,
        format_function: Callable[..., str],
        *dims: CombineDim,
        file_type: FileType | str = FileType.AUTO,
        storage_options: dict[str, Any] | None = None,
        max_concurrency: int | None = None,
        on_missing: OnMissing | str = OnMissing.FAIL,
        auth: str | None = None,
    ):
        if not dims:
            raise RecipeError("FilePattern: expected at least one ConcatDim or MergeDim.")
        names = [d.name for d in dims]
        if len(set(names)) != len(names):
            raise RecipeError(f"FilePattern: dimension names must be unique. Got {names}.")
        try:
            ftype = FileType(file_type)
        except ValueError:
            choices = ", ".join(t.value for t in FileType)
            raise RecipeError(
                f"FilePattern: file_type must be one of {choices}. Got {file_type!r} instead."
            ) from None
        object.__setattr__(self, "format_function", format_function)
        object.__setattr__(self, "dims", tuple(dims))
        object.__setattr__(self, "file_type", ftype)
        object.__setattr__(self, "storage_options", dict(storage_options or {}))
        if max_concurrency is not None and (
            not isinstance(max_concurrency, int) or max_concurrency < 1
        ):
            raise RecipeError(
                "FilePattern: max_concurrency must be a whole number of at least 1. "
                f"Got {max_concurrency!r} instead."
            )
        if on_missing not in tuple(OnMissing):
            raise RecipeError(
                f"FilePattern: on_missing must be 'fail' or 'skip'. Got {on_missing!r} instead."
            )
        object.__setattr__(self, "max_concurrency", max_concurrency)
        object.__setattr__(self, "on_missing", OnMissing(on_missing))
        object.__setattr__(self, "auth", auth)

    @classmethod
    def from_urls(
        cls,
        urls: Sequence[str],
        concat_dim: str,
        *,
        items_per_file: int | None = None,
        file_type: FileType | str = FileType.AUTO,
        storage_options: dict[str, Any] | None = None,
        max_concurrency: int | None = None,
        on_missing: OnMissing | str = OnMissing.FAIL,
        auth: str | None = None,
    ) -> FilePattern:
        """A pattern over an explicit list of URLs concatenated along ``concat_dim``."""
        dim = ConcatDim(concat_dim, list(range(len(urls))), items_per_file)
        return cls(
            _UrlList(concat_dim, tuple(urls)),
            dim,
            file_type=file_type,
            storage_options=storage_options,
            max_concurrency=max_concurrency,
            on_missing=on_missing,
            auth=auth,
        )

    @property
    def concat_dims(self) -> tuple[ConcatDim, ...]:
        return tuple(d for d in self.dims if isinstance(d, ConcatDim))

    @property
    def merge_dims(self) -> tuple[MergeDim, ...]:
        return tuple(d for d in self.dims if isinstance(d, MergeDim))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(d.keys) for d in self.dims)

    def __len__(self) -> int:
        n = 1
        for size in self.shape:
            n *= size
        return n

    def keys(self, index: Index) -> dict[str, Hashable]:
        """The keys of each dim at ``index``, as passed to the format function."""
        return {d.name: d.keys[index[d.name]] for d in self.dims}

    def __getitem__(self, index: Index) -> str:
        return self.format_function(**self.keys(index))

    def indexes(self) -> Iterator[Index]:
        """Every input's index, in row-major order of the dims."""
        names = [d.name for d in self.dims]
        for combo in itertools.product(*(range(n) for n in self.shape)):
            yield Index(tuple(zip(names, combo, strict=True)))

    def items(self) -> Iterator[tuple[Index, str]]:
        """Every input as ``(index, url)``."""
        for index in self.indexes():
            yield index, self[index]

    def prune(self, nkeep: int = 2) -> FilePattern:
        """The same pattern with only the first ``nkeep`` keys of each concat dim."""
        if nkeep < 1:
            raise RecipeError(f"prune: expected a count of at least 1. Got {nkeep}.")
        dims = tuple(
            ConcatDim(d.name, d.keys[:nkeep], d.items_per_file) if isinstance(d, ConcatDim) else d
            for d in self.dims
        )
        fn = self.format_function
        if isinstance(fn, _UrlList):
            fn = _UrlList(fn.dim, fn.urls[:nkeep])
        return FilePattern(
            fn,
            *dims,
            file_type=self.file_type,
            storage_options=self.storage_options,
            max_concurrency=self.max_concurrency,
            on_missing=self.on_missing,
            auth=self.auth,
        )
