"""FilePattern: the grid of keys, its inputs in order, pruning and pickling."""

from __future__ import annotations

import datetime as dt
import pickle
from types import ModuleType

import cloudpickle
import pytest

from arcoforge.errors import RecipeError
from arcoforge.recipe import ConcatDim, FilePattern, FileType, Index, MergeDim, RecipeSpec
from arcoforge.recipe.template import UrlTemplate

PICKLERS = pytest.mark.parametrize("module", [pickle, cloudpickle], ids=["pickle", "cloudpickle"])


def grid() -> FilePattern:
    """Three times by two variables, over a URL template."""
    return FilePattern(
        UrlTemplate.parse("https://h/{variable}/{time:%Y%m%d}.nc"),
        ConcatDim("time", [dt.date(2020, 1, 1), dt.date(2020, 1, 2), dt.date(2020, 1, 3)], 1),
        MergeDim("variable", ["sst", "ice"]),
        file_type="netcdf4",
        storage_options={"anon": True},
    )


def from_spec() -> FilePattern:
    spec = RecipeSpec.model_validate(
        {
            "sources": {
                "url": "https://h/{time:%Y%m%d}_{var}.nc",
                "concat": {"time": {"start": "2020-01-30", "end": "2020-02-02", "freq": "D"}},
                "merge": {"var": ["sst", "ice"]},
            },
            "outputs": {"zarr": None},
        }
    )
    assert spec.sources is not None
    return spec.sources.pattern()


URLS = ["https://h/a.nc", "https://h/b.nc", "https://h/c.nc", "https://h/d.nc"]


def test_items_are_in_row_major_order() -> None:
    assert [(str(i), url) for i, url in grid().items()] == [
        ("time=0,variable=0", "https://h/sst/20200101.nc"),
        ("time=0,variable=1", "https://h/ice/20200101.nc"),
        ("time=1,variable=0", "https://h/sst/20200102.nc"),
        ("time=1,variable=1", "https://h/ice/20200102.nc"),
        ("time=2,variable=0", "https://h/sst/20200103.nc"),
        ("time=2,variable=1", "https://h/ice/20200103.nc"),
    ]


def test_the_last_dim_varies_fastest_whatever_its_kind() -> None:
    pattern = FilePattern(
        UrlTemplate.parse("{v}{t}"), MergeDim("v", ["a", "b"]), ConcatDim("t", [1, 2])
    )
    assert [url for _, url in pattern.items()] == ["a1", "a2", "b1", "b2"]


def test_len_shape_and_dims() -> None:
    pattern = grid()
    assert len(pattern) == 6
    assert pattern.shape == (3, 2)
    assert [d.name for d in pattern.concat_dims] == ["time"]
    assert [d.name for d in pattern.merge_dims] == ["variable"]
    assert [d.name for d in pattern.dims] == ["time", "variable"]
    assert len(list(pattern.indexes())) == len(pattern)


def test_index_str_getitem_and_keys() -> None:
    index = Index((("time", 2), ("variable", 1)))
    assert str(index) == "time=2,variable=1"
    assert index["time"] == 2
    assert index["variable"] == 1
    with pytest.raises(KeyError, match="depth"):
        index["depth"]
    pattern = grid()
    assert pattern.keys(index) == {"time": dt.date(2020, 1, 3), "variable": "ice"}
    assert pattern[index] == "https://h/ice/20200103.nc"


def test_indexes_are_hashable_equal_and_ordered() -> None:
    a = Index((("time", 0), ("variable", 1)))
    assert a == Index((("time", 0), ("variable", 1)))
    assert len({a, Index((("time", 0), ("variable", 1)))}) == 1
    assert sorted([Index((("t", 2),)), Index((("t", 0),)), Index((("t", 1),))]) == [
        Index((("t", 0),)),
        Index((("t", 1),)),
        Index((("t", 2),)),
    ]


def test_file_type_and_storage_options() -> None:
    pattern = grid()
    assert pattern.file_type is FileType.NETCDF4
    assert pattern.storage_options == {"anon": True}
    options = {"anon": True}
    own = FilePattern(str, ConcatDim("t", [1]), storage_options=options)
    options["anon"] = False
    assert own.storage_options == {"anon": True}
    assert FilePattern(str, ConcatDim("t", [1])).file_type is FileType.AUTO


def test_prune_keeps_every_merge_key_and_the_first_concat_keys() -> None:
    pruned = grid().prune(2)
    assert pruned.shape == (2, 2)
    assert [url for _, url in pruned.items()] == [
        "https://h/sst/20200101.nc",
        "https://h/ice/20200101.nc",
        "https://h/sst/20200102.nc",
        "https://h/ice/20200102.nc",
    ]
    assert pruned.merge_dims == grid().merge_dims


def test_prune_keeps_the_rest_of_the_pattern() -> None:
    pruned = grid().prune(1)
    assert pruned.concat_dims == (ConcatDim("time", [dt.date(2020, 1, 1)], 1),)
    assert pruned.file_type is FileType.NETCDF4
    assert pruned.storage_options == {"anon": True}
    assert pruned.format_function == grid().format_function


def test_prune_defaults_to_two_and_allows_more_than_there_are() -> None:
    assert grid().prune().shape == (2, 2)
    assert grid().prune(100) == grid()


def test_prune_prunes_every_concat_dim() -> None:
    pattern = FilePattern(
        UrlTemplate.parse("{a}-{b}-{v}"),
        ConcatDim("a", [1, 2, 3]),
        ConcatDim("b", [4, 5, 6]),
        MergeDim("v", ["x", "y", "z"]),
    )
    pruned = pattern.prune(2)
    assert pruned.shape == (2, 2, 3)
    assert [url for _, url in pruned.items()][:4] == ["1-4-x", "1-4-y", "1-4-z", "1-5-x"]


@pytest.mark.parametrize("nkeep", [0, -1])
def test_prune_needs_at_least_one(nkeep: int) -> None:
    with pytest.raises(RecipeError) as e:
        grid().prune(nkeep)
    assert str(e.value) == f"prune: expected a count of at least 1. Got {nkeep}."


def test_from_urls() -> None:
    pattern = FilePattern.from_urls(URLS, "time", items_per_file=24, file_type="netcdf3")
    assert pattern.shape == (4,)
    assert [(str(i), url) for i, url in pattern.items()] == [
        (f"time={n}", url) for n, url in enumerate(URLS)
    ]
    assert pattern.concat_dims == (ConcatDim("time", [0, 1, 2, 3], 24),)
    assert pattern.file_type is FileType.NETCDF3


def test_from_urls_prunes_the_list_too() -> None:
    pruned = FilePattern.from_urls(URLS, "time").prune(2)
    assert [url for _, url in pruned.items()] == URLS[:2]
    assert len(pruned) == 2
    assert pruned == FilePattern.from_urls(URLS[:2], "time")


DUPLICATE_KEYS = [
    ([1, 2, 1], "['1']"),
    (["a", "b", "a", "b"], "['a', 'b']"),
    ([dt.date(2020, 1, 1), dt.date(2020, 1, 1)], "['2020-01-01']"),
]


@pytest.mark.parametrize(("keys", "repeated"), DUPLICATE_KEYS)
@pytest.mark.parametrize("kind", [ConcatDim, MergeDim])
def test_duplicate_keys_are_refused(kind: type, keys: list[object], repeated: str) -> None:
    with pytest.raises(RecipeError) as e:
        kind("d", keys)
    assert str(e.value) == f"{kind.__name__} 'd': keys must be unique. Repeated: {repeated}."


@pytest.mark.parametrize("kind", [ConcatDim, MergeDim])
def test_a_dim_needs_keys(kind: type) -> None:
    with pytest.raises(RecipeError) as e:
        kind("d", [])
    assert str(e.value) == f"{kind.__name__} 'd': expected at least one key. Got none."


@pytest.mark.parametrize("name", ["1d", "bad-name", "", "a b"])
def test_a_dim_needs_an_identifier(name: str) -> None:
    with pytest.raises(RecipeError) as e:
        ConcatDim(name, [1])
    assert str(e.value) == f"ConcatDim: expected a dimension name. Got {name!r} instead."


def test_dims_keep_their_keys_as_a_tuple() -> None:
    dim = ConcatDim("time", (k for k in [3, 1, 2]))  # type: ignore[arg-type]
    assert dim.keys == (3, 1, 2)
    assert dim.items_per_file is None


def test_a_pattern_needs_dims() -> None:
    with pytest.raises(RecipeError) as e:
        FilePattern(str)
    assert str(e.value) == "FilePattern: expected at least one ConcatDim or MergeDim."


def test_dim_names_must_be_unique() -> None:
    with pytest.raises(RecipeError) as e:
        FilePattern(str, ConcatDim("t", [1]), MergeDim("t", ["a"]))
    assert str(e.value) == "FilePattern: dimension names must be unique. Got ['t', 't']."


def test_file_type_must_be_known() -> None:
    with pytest.raises(RecipeError) as e:
        FilePattern(str, ConcatDim("t", [1]), file_type="grib")
    assert str(e.value) == (
        "FilePattern: file_type must be one of auto, netcdf3, netcdf4, opendap. Got 'grib' instead."
    )


@PICKLERS
@pytest.mark.parametrize("make", [grid, from_spec, lambda: FilePattern.from_urls(URLS, "time")])
def test_patterns_survive_pickling(module: ModuleType, make: object) -> None:
    pattern = make()  # type: ignore[operator]
    back = module.loads(module.dumps(pattern))
    assert back == pattern
    assert list(back.items()) == list(pattern.items())
    assert back.prune(1) == pattern.prune(1)


@PICKLERS
def test_indexes_and_dims_survive_pickling(module: ModuleType) -> None:
    index = Index((("time", 3), ("variable", 0)))
    assert module.loads(module.dumps(index)) == index
    dim = ConcatDim("time", [1, 2], 5)
    assert module.loads(module.dumps(dim)) == dim


def test_patterns_with_a_lambda_survive_cloudpickle() -> None:
    # recipe.py patterns often format with a lambda; distributed runners ship them by value.
    pattern = FilePattern(lambda time: f"https://h/{time:03d}.nc", ConcatDim("time", [1, 2]))
    back = cloudpickle.loads(cloudpickle.dumps(pattern))
    assert [url for _, url in back.items()] == ["https://h/001.nc", "https://h/002.nc"]
