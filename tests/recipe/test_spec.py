"""recipe.yaml: sources (a URL template or a list of URLs) and outputs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from arcoforge.errors import RecipeError
from arcoforge.recipe import spec as spec_module
from arcoforge.recipe.model import validate_doc
from arcoforge.recipe.pattern import ConcatDim, FileType, MergeDim
from arcoforge.recipe.spec import (
    MAX_INPUTS,
    Compression,
    Outputs,
    RecipeSpec,
    TemplateSources,
    UrlListSources,
    ZarrOutput,
)
from arcoforge.recipe.yamlfile import read_yaml

README_RECIPE = """\
sources:
  url: "https://www.ncei.noaa.gov/data/sea-surface-temperature-optimum-interpolation/v2.1/access/avhrr/{time:%Y%m}/oisst-avhrr-v02r01.{time:%Y%m%d}.nc"
  concat:
    time: {start: "1981-09-01", end: "1981-12-31", freq: "D"}
outputs:
  zarr:
    chunks: {time: 30}
"""

URL_LIST_RECIPE = """\
sources:
  urls:
    - https://example.org/sst/2020-01.nc
    - https://example.org/sst/2020-02.nc
    - s3://bucket/sst/2020-03.nc
  concat_dim: time
  items_per_file: 31
  file_type: netcdf4
  storage_options: {anon: true}
outputs:
  zarr:
    chunk_size: 100MB
    zarr_format: 2
    compression: zstd
"""

OUTPUTS = "outputs:\n  zarr:\n"


def load_spec(tmp_path: Path, text: str) -> RecipeSpec:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return validate_doc(RecipeSpec, read_yaml(path))


def spec_error(tmp_path: Path, text: str) -> str:
    """The message of validating ``text`` as a recipe.yaml file."""
    with pytest.raises(RecipeError) as e:
        load_spec(tmp_path, text)
    return str(e.value)


def where(tmp_path: Path, line: int) -> str:
    return f"{tmp_path / 'recipe.yaml'}:{line}"


def sources(**fields: Any) -> dict[str, Any]:
    """A spec dict with ``fields`` as its sources and default outputs."""
    return {"sources": fields, "outputs": {"zarr": None}}


def template_keys(url: str, **concat: Any) -> list[Any]:
    """The keys of the first concat dim of a template source."""
    spec = RecipeSpec.model_validate(sources(url=url, concat=concat))
    assert isinstance(spec.sources, TemplateSources)
    dim = spec.sources.pattern().dims[0]
    return list(dim.keys)


def test_the_readme_recipe(tmp_path: Path) -> None:
    spec = load_spec(tmp_path, README_RECIPE)
    assert isinstance(spec.sources, TemplateSources)
    pattern = spec.sources.pattern()
    urls = [url for _, url in pattern.items()]
    base = "https://www.ncei.noaa.gov/data/sea-surface-temperature-optimum-interpolation/v2.1"
    assert len(urls) == 30 + 31 + 30 + 31
    assert urls[0] == f"{base}/access/avhrr/198109/oisst-avhrr-v02r01.19810901.nc"
    assert urls[-1] == f"{base}/access/avhrr/198112/oisst-avhrr-v02r01.19811231.nc"
    assert pattern.file_type is FileType.AUTO
    assert spec.outputs.zarr == ZarrOutput(chunks={"time": 30})
    assert spec.outputs.zarr.zarr_format == 3
    assert spec.outputs.zarr.compression is Compression.LZ4


def test_the_url_list_form(tmp_path: Path) -> None:
    spec = load_spec(tmp_path, URL_LIST_RECIPE)
    assert isinstance(spec.sources, UrlListSources)
    pattern = spec.sources.pattern()
    assert [str(i) for i, _ in pattern.items()] == ["time=0", "time=1", "time=2"]
    assert [url for _, url in pattern.items()] == [
        "https://example.org/sst/2020-01.nc",
        "https://example.org/sst/2020-02.nc",
        "s3://bucket/sst/2020-03.nc",
    ]
    assert pattern.concat_dims == (ConcatDim("time", [0, 1, 2], 31),)
    assert pattern.file_type is FileType.NETCDF4
    assert pattern.storage_options == {"anon": True}
    zarr = spec.outputs.zarr
    assert zarr is not None
    assert (zarr.chunks, zarr.chunk_size) == (None, 100_000_000)
    assert (zarr.zarr_format, zarr.compression) == (2, Compression.ZSTD)


def test_a_spec_round_trips_through_dump_and_validate(tmp_path: Path) -> None:
    for text in (README_RECIPE, URL_LIST_RECIPE):
        spec = load_spec(tmp_path, text)
        assert RecipeSpec.model_validate(spec.model_dump()) == spec
        assert RecipeSpec.model_validate_json(spec.model_dump_json()) == spec


def test_merge_dims_and_items_per_file(tmp_path: Path) -> None:
    spec = load_spec(
        tmp_path,
        """\
sources:
  url: "https://h/{variable}/{time:%Y%m%d}.nc"
  concat:
    time: {start: 2020-01-30, end: 2020-02-02, freq: D}
  merge:
    variable: [sst, ice]
  items_per_file: {time: 1}
outputs:
  zarr:
""",
    )
    assert isinstance(spec.sources, TemplateSources)
    pattern = spec.sources.pattern()
    assert pattern.shape == (4, 2)
    assert pattern.concat_dims[0].items_per_file == 1
    assert pattern.merge_dims == (MergeDim("variable", ["sst", "ice"]),)
    assert [url for _, url in pattern.items()][:3] == [
        "https://h/sst/20200130.nc",
        "https://h/ice/20200130.nc",
        "https://h/sst/20200131.nc",
    ]


def test_a_merge_only_template(tmp_path: Path) -> None:
    spec = RecipeSpec.model_validate(sources(url="https://h/{v}.nc", merge={"v": ["a", 2]}))
    assert isinstance(spec.sources, TemplateSources)
    assert [u for _, u in spec.sources.pattern().items()] == ["https://h/a.nc", "https://h/2.nc"]


# Date ranges --------------------------------------------------------------------------------

DATE_RANGES = [
    (
        {"start": "2020-01-01", "end": "2020-01-03", "freq": "D"},
        ["2020-01-01", "2020-01-02", "2020-01-03"],
    ),
    ({"start": "2020-01-01", "end": "2020-01-01", "freq": "D"}, ["2020-01-01"]),
    (
        {"start": "2020-02-27", "end": "2020-03-01", "freq": "D"},
        ["2020-02-27", "2020-02-28", "2020-02-29", "2020-03-01"],
    ),
    (
        {"start": "2020-01-01", "end": "2020-04-01", "freq": "MS"},
        ["2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01"],
    ),
    ({"start": "2020-01-15", "end": "2020-03-31", "freq": "MS"}, ["2020-02-01", "2020-03-01"]),
    (
        {"start": "2020-01-01", "end": "2020-01-20", "freq": "7D"},
        ["2020-01-01", "2020-01-08", "2020-01-15"],
    ),
    (
        {"start": "2020-01-01", "end": "2020-01-01T18:00", "freq": "6h"},
        ["2020-01-01T00", "2020-01-01T06", "2020-01-01T12", "2020-01-01T18"],
    ),
    (
        {"start": "2019-01-01", "end": "2021-12-31", "freq": "YS"},
        ["2019-01-01", "2020-01-01", "2021-01-01"],
    ),
]


@pytest.mark.parametrize(("keys", "expected"), DATE_RANGES)
def test_date_ranges_include_both_ends(keys: dict[str, str], expected: list[str]) -> None:
    got = template_keys("https://h/{time}.nc", time=keys)
    assert got == [pd.Timestamp(e) for e in expected]


def test_unquoted_and_quoted_yaml_dates_give_the_same_range(tmp_path: Path) -> None:
    def range_of(start: str, end: str) -> Any:
        text = f"""\
sources:
  url: "https://h/{{time:%Y%m%d}}.nc"
  concat:
    time: {{start: {start}, end: {end}, freq: D}}
{OUTPUTS}"""
        spec = load_spec(tmp_path, text)
        assert isinstance(spec.sources, TemplateSources)
        return spec.sources.concat["time"]

    unquoted = range_of("1981-09-01", "1981-09-03")
    assert unquoted == range_of('"1981-09-01"', "'1981-09-03'")
    assert (unquoted.start, unquoted.end) == (dt.datetime(1981, 9, 1), dt.datetime(1981, 9, 3))


BAD_FREQS = ["DD", "bogus", "", "0D", "-1D", "1 day"]


@pytest.mark.parametrize("freq", BAD_FREQS)
def test_bad_freqs_are_refused(tmp_path: Path, freq: str) -> None:
    text = f"""\
sources:
  url: "https://h/{{time}}.nc"
  concat:
    time: {{start: 2020-01-01, end: 2020-02-01, freq: "{freq}"}}
{OUTPUTS}"""
    assert spec_error(tmp_path, text) == (
        f"{where(tmp_path, 4)}: sources.concat.time: freq: expected a pandas frequency such as "
        f"'D', 'MS', '6h' or '7D'. Got {freq!r} instead."
    )


def test_end_before_start_is_refused(tmp_path: Path) -> None:
    text = f"""\
sources:
  url: "https://h/{{time}}.nc"
  concat:
    time:
      start: 2020-02-01
      end: 2020-01-01
      freq: D
{OUTPUTS}"""
    assert spec_error(tmp_path, text) == (
        f"{where(tmp_path, 4)}: sources.concat.time: end 2020-01-01 is before start 2020-02-01."
    )


def test_a_range_with_no_date_on_its_freq_is_refused(tmp_path: Path) -> None:
    text = f"""\
sources:
  url: "https://h/{{time}}.nc"
  concat:
    time: {{start: 2020-01-15, end: 2020-01-20, freq: MS}}
{OUTPUTS}"""
    assert spec_error(tmp_path, text) == (
        f"{where(tmp_path, 4)}: sources.concat.time: no date from 2020-01-15 00:00:00 to "
        "2020-01-20 00:00:00 falls on freq 'MS'; expected at least one."
    )


BAD_DATES = ["now", "today", "yesterday", "not a date", "", "2020-13-45", 1, 20200101, 1.5, True]


@pytest.mark.parametrize("start", BAD_DATES)
def test_bad_dates_are_refused(tmp_path: Path, start: object) -> None:
    # Numbers would be nanoseconds since 1970 and 'now' the time of loading: neither is a date.
    data = sources(
        url="https://h/{time}.nc",
        concat={"time": {"start": start, "end": "2020-01-01", "freq": "D"}},
    )
    msg = spec_error(tmp_path, yaml.safe_dump(data, sort_keys=False))
    assert msg.startswith(f"{where(tmp_path, 5)}: sources.concat.time.start: ")
    assert msg.endswith(f"expected a date such as '1981-09-01'. Got {start!r} instead.")


@pytest.mark.parametrize("missing", ["start", "end", "freq"])
def test_a_date_range_needs_start_end_and_freq(tmp_path: Path, missing: str) -> None:
    keys = {"start": "2020-01-01", "end": "2020-01-03", "freq": "D"}
    del keys[missing]
    data = sources(url="https://h/{time}.nc", concat={"time": keys})
    msg = spec_error(tmp_path, yaml.safe_dump(data, sort_keys=False))
    assert msg.endswith(f": sources.concat.time.{missing}: required field is missing")


def test_a_date_range_with_an_unknown_key(tmp_path: Path) -> None:
    text = f"""\
sources:
  url: "https://h/{{time}}.nc"
  concat:
    time:
      start: 2020-01-01
      end: 2020-01-03
      frequency: D
{OUTPUTS}"""
    msg = spec_error(tmp_path, text)
    assert msg == (
        f"{where(tmp_path, 7)}: sources.concat.time.frequency: unknown field 'frequency'; "
        "expected one of end, freq, start. Did you mean 'freq'?"
    )


def test_a_date_range_too_long_for_its_freq_is_refused_at_its_line(tmp_path: Path) -> None:
    text = f"""\
sources:
  url: "https://h/{{time:%Y%m%d%H%M%S}}.nc"
  concat:
    time: {{start: 1981-09-01, end: 2981-12-31, freq: s}}
{OUTPUTS}"""
    msg = spec_error(tmp_path, text)
    assert msg.startswith(f"{where(tmp_path, 4)}: sources.concat.time: this range gives about ")
    assert msg.endswith(f"keys; the limit is {MAX_INPUTS:,}. Check freq.")


def test_the_key_limit_of_a_date_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spec_module, "MAX_INPUTS", 10)
    ten = {"start": "2020-01-01", "end": "2020-01-10", "freq": "D"}
    assert len(template_keys("https://h/{t}.nc", t=ten)) == 10
    with pytest.raises(ValidationError) as e:
        template_keys("https://h/{t}.nc", t={**ten, "end": "2020-01-11"})
    assert "this range gives about 11 keys; the limit is 10. Check freq." in str(e.value)


# Integer ranges and lists ---------------------------------------------------------------------

NUMBER_RANGES = [
    ({"start": 1, "end": 5}, [1, 2, 3, 4, 5]),
    ({"start": 1, "end": 5, "step": 2}, [1, 3, 5]),
    ({"start": 1, "end": 6, "step": 2}, [1, 3, 5]),
    ({"start": 7, "end": 7}, [7]),
    ({"start": -2, "end": 1}, [-2, -1, 0, 1]),
    ({"start": 0, "end": 100, "step": 50}, [0, 50, 100]),
]


@pytest.mark.parametrize(("keys", "expected"), NUMBER_RANGES)
def test_integer_ranges_include_both_ends(keys: dict[str, int], expected: list[int]) -> None:
    assert template_keys("https://h/{n:03d}.nc", n=keys) == expected


def test_integer_ranges_format_with_their_spec() -> None:
    spec = RecipeSpec.model_validate(
        sources(url="https://h/ens{member:02d}.nc", concat={"member": {"start": 1, "end": 3}})
    )
    assert isinstance(spec.sources, TemplateSources)
    urls = [u for _, u in spec.sources.pattern().items()]
    assert urls == ["https://h/ens01.nc", "https://h/ens02.nc", "https://h/ens03.nc"]


BAD_NUMBER_RANGES = [
    ({"start": 5, "end": 1}, ": sources.concat.n: end 1 is before start 5."),
    (
        {"start": 1, "end": 5, "step": 0},
        ": sources.concat.n.step: Input should be greater than 0. Got 0 instead",
    ),
    (
        {"start": 1, "end": 5, "step": -1},
        ": sources.concat.n.step: Input should be greater than 0. Got -1 instead",
    ),
    (
        {"start": 1, "end": 10_000_000},
        f": sources.concat.n: this range gives more than {MAX_INPUTS:,} keys.",
    ),
    (
        {"start": 1, "stop": 5},
        ": sources.concat.n.stop: unknown field 'stop'; expected one of end, start, step.",
    ),
    ({"start": 1.5, "end": 5}, ": sources.concat.n.start: Input should be a valid integer"),
]


@pytest.mark.parametrize(("keys", "expected"), BAD_NUMBER_RANGES)
def test_bad_integer_ranges(tmp_path: Path, keys: dict[str, Any], expected: str) -> None:
    data = sources(url="https://h/{n}.nc", concat={"n": keys})
    msg = spec_error(tmp_path, yaml.safe_dump(data, sort_keys=False))
    assert msg.startswith(f"{tmp_path / 'recipe.yaml'}:")
    assert expected in msg


LISTS = [
    ("[1, 2, 3]", [1, 2, 3]),
    ("[0.5, 1.5]", [0.5, 1.5]),
    ("[sst, ice]", ["sst", "ice"]),
    ('["001", "002", "010"]', ["001", "002", "010"]),
    ('["1_000", " 7 ", "1e3", "nan"]', ["1_000", " 7 ", "1e3", "nan"]),
    ("[2020-01-01, 2020-01-02]", [dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 2)]),
    ('["2020-01-01", "2020-01-02"]', [dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 2)]),
    (
        '["2020-01-01T06:00", 2020-01-01 12:00:00]',
        [dt.datetime(2020, 1, 1, 6), dt.datetime(2020, 1, 1, 12)],
    ),
    ('["2020-13-01"]', ["2020-13-01"]),
    ("[1, a, 2020-01-01]", [1, "a", dt.datetime(2020, 1, 1)]),
]


@pytest.mark.parametrize(("text", "expected"), LISTS)
def test_list_keys_keep_what_was_written_but_read_dates(
    tmp_path: Path, text: str, expected: list[Any]
) -> None:
    spec = load_spec(
        tmp_path, f'sources:\n  url: "https://h/{{k}}.nc"\n  concat:\n    k: {text}\n{OUTPUTS}'
    )
    assert isinstance(spec.sources, TemplateSources)
    got = spec.sources.concat["k"]
    assert got == expected
    assert [type(k) for k in got] == [type(k) for k in expected]


def test_quoted_numbers_stay_as_written_in_urls(tmp_path: Path) -> None:
    spec = load_spec(
        tmp_path,
        f'sources:\n  url: "https://h/{{n}}.nc"\n  concat:\n    n: ["01", "02"]\n{OUTPUTS}',
    )
    assert isinstance(spec.sources, TemplateSources)
    assert [u for _, u in spec.sources.pattern().items()] == ["https://h/01.nc", "https://h/02.nc"]


@pytest.mark.parametrize("quote", ["", '"'])
def test_list_dates_format_with_strftime(tmp_path: Path, quote: str) -> None:
    text = f"""\
sources:
  url: "https://h/{{time:%Y%m%d}}.nc"
  concat:
    time: [{quote}2020-01-01{quote}, {quote}2020-03-01{quote}]
{OUTPUTS}"""
    spec = load_spec(tmp_path, text)
    assert isinstance(spec.sources, TemplateSources)
    urls = [u for _, u in spec.sources.pattern().items()]
    assert urls == ["https://h/20200101.nc", "https://h/20200301.nc"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("[true, false]", "True"),
        ("[1, null]", "None"),
        ("[[1, 2]]", "[1, 2]"),
        ("[{a: 1}]", "{'a': 1}"),
    ],
)
def test_list_keys_must_be_numbers_dates_or_strings(tmp_path: Path, text: str, shown: str) -> None:
    msg = spec_error(
        tmp_path, f'sources:\n  url: "https://h/{{k}}.nc"\n  concat:\n    k: {text}\n{OUTPUTS}'
    )
    assert f"{where(tmp_path, 4)}: sources.concat.k." in msg
    assert f"expected a number, a date or a string. Got {shown} instead." in msg


def test_an_empty_list_is_refused(tmp_path: Path) -> None:
    msg = spec_error(
        tmp_path, f'sources:\n  url: "https://h/{{k}}.nc"\n  concat:\n    k: []\n{OUTPUTS}'
    )
    assert msg == (
        f"{where(tmp_path, 4)}: sources.concat.k: List should have at least 1 item after "
        "validation, not 0. Got [] instead"
    )


def test_the_key_limit_counts_all_dims_together(tmp_path: Path) -> None:
    text = f"""\
sources:
  url: "https://h/{{a}}/{{b}}/{{v}}.nc"
  concat:
    a: {{start: 1, end: 1000}}
    b: {{start: 1, end: 500}}
  merge:
    v: [x, y, z]
{OUTPUTS}"""
    assert spec_error(tmp_path, text) == (
        f"{where(tmp_path, 1)}: sources: these dimensions give 1,500,000 inputs; the limit is "
        f"{MAX_INPUTS:,}. Check the ranges under concat and merge."
    )


def test_the_key_limit_is_inclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spec_module, "MAX_INPUTS", 12)
    ok = sources(
        url="https://h/{a}{v}.nc", concat={"a": {"start": 1, "end": 4}}, merge={"v": [1, 2, 3]}
    )
    assert isinstance(RecipeSpec.model_validate(ok).sources, TemplateSources)
    with pytest.raises(ValidationError) as e:
        RecipeSpec.model_validate(
            sources(
                url="https://h/{a}{v}.nc",
                concat={"a": {"start": 1, "end": 5}},
                merge={"v": [1, 2, 3]},
            )
        )
    assert "these dimensions give 15 inputs; the limit is 12." in str(e.value)


# Template sources: how dims and fields fit together ------------------------------------------

TEMPLATE_MISMATCHES = [
    (
        {"url": "https://h/{time}/{var}.nc", "concat": {"time": [1, 2]}},
        "url: template field {var} is not a dimension under concat or merge (dimensions: time).",
    ),
    (
        {"url": "https://h/{time}.nc", "concat": {"time": [1, 2]}, "merge": {"var": ["a", "b"]}},
        "url: dimension 'var' does not appear in the template, so every input would have the "
        "same URL.",
    ),
    (
        {"url": "https://h/a.nc", "concat": {"time": [1, 2]}},
        "url: dimension 'time' does not appear in the template, so every input would have the "
        "same URL.",
    ),
    (
        {"url": "https://h/{time}.nc"},
        "expected at least one dimension under `concat` or `merge`.",
    ),
    (
        {"url": "https://h/{time}.nc", "concat": {"time": [1]}, "merge": {"time": ["a"]}},
        "dimension 'time' is under both concat and merge.",
    ),
    (
        {
            "url": "https://h/{time}{v}.nc",
            "concat": {"time": [1]},
            "merge": {"v": ["a"]},
            "items_per_file": {"v": 1},
        },
        "items_per_file: 'v' is not a concat dimension (concat dimensions: time).",
    ),
    (
        {"url": "https://h/{v}.nc", "merge": {"v": ["a"]}, "items_per_file": {"time": 1}},
        "items_per_file: 'time' is not a concat dimension (concat dimensions: none).",
    ),
    (
        {"url": "https://h/{time.__class__}.nc", "concat": {"time": [1]}},
        "url: template field {time.__class__} is not a plain name; fields may only name a "
        "dimension, like {time} or {variable}.",
    ),
    (
        {"url": "https://h/{time!r}.nc", "concat": {"time": [1]}},
        "url: template field {time!r} uses a conversion; write {time} or {time:format} instead.",
    ),
    (
        {"url": "https://h/{time.nc", "concat": {"time": [1]}},
        "url: expected a template with fields like {time:%Y%m%d}. Got 'https://h/{time.nc' "
        "instead (expected '}' before end of string). Write a literal brace as {{ or }}.",
    ),
]


@pytest.mark.parametrize(("fields", "expected"), TEMPLATE_MISMATCHES)
def test_template_and_dims_must_fit(tmp_path: Path, fields: dict[str, Any], expected: str) -> None:
    msg = spec_error(tmp_path, yaml.safe_dump(sources(**fields), sort_keys=False))
    assert msg == f"{where(tmp_path, 1)}: sources: {expected}"


@pytest.mark.parametrize("name", ["1time", "bad-name", "time.x", "", "a b"])
def test_dim_names_must_be_identifiers(tmp_path: Path, name: str) -> None:
    fields = {"url": "https://h/{time}.nc", "concat": {name: [1]}}
    msg = spec_error(tmp_path, yaml.safe_dump(sources(**fields), sort_keys=False))
    assert f": sources.concat.{name}: String should match pattern" in msg
    assert f"Got {name!r} instead" in msg


@pytest.mark.parametrize("value", [0, -1, "two"])
def test_items_per_file_must_be_a_positive_integer(tmp_path: Path, value: object) -> None:
    fields = {
        "url": "https://h/{time}.nc",
        "concat": {"time": [1]},
        "items_per_file": {"time": value},
    }
    msg = spec_error(tmp_path, yaml.safe_dump(sources(**fields), sort_keys=False))
    assert ": sources.items_per_file.time: " in msg
    assert f"Got {value!r} instead" in msg


def test_file_type_must_be_known(tmp_path: Path) -> None:
    fields = {"url": "https://h/{time}.nc", "concat": {"time": [1]}, "file_type": "grib"}
    msg = spec_error(tmp_path, yaml.safe_dump(sources(**fields), sort_keys=False))
    assert msg.endswith(
        ": sources.file_type: Input should be 'auto', 'netcdf3', 'netcdf4' or 'opendap'. "
        "Got 'grib' instead"
    )


def test_template_storage_options_and_file_type_reach_the_pattern() -> None:
    spec = RecipeSpec.model_validate(
        sources(
            url="s3://b/{time}.nc",
            concat={"time": [1]},
            file_type="netcdf3",
            storage_options={"anon": True, "client_kwargs": {"region_name": "eu-west-1"}},
        )
    )
    assert isinstance(spec.sources, TemplateSources)
    pattern = spec.sources.pattern()
    assert pattern.file_type is FileType.NETCDF3
    assert pattern.storage_options == {"anon": True, "client_kwargs": {"region_name": "eu-west-1"}}


# Which form of sources ------------------------------------------------------------------------

SOURCE_FORMS = [
    (
        {"url": "https://h/{time}.nc", "urls": ["https://h/a.nc"], "concat_dim": "time"},
        "give either `url` (a template) or `urls` (a list), not both.",
    ),
    (
        {"concat": {"time": [1]}},
        "expected `url` (a template such as https://host/sst.{time:%Y%m%d}.nc) or `urls` "
        "(a list of URLs).",
    ),
    (
        {"concat_dim": "time"},
        "expected `url` (a template such as https://host/sst.{time:%Y%m%d}.nc) or `urls` "
        "(a list of URLs).",
    ),
]


@pytest.mark.parametrize(("fields", "expected"), SOURCE_FORMS)
def test_exactly_one_of_url_and_urls(tmp_path: Path, fields: dict[str, Any], expected: str) -> None:
    msg = spec_error(tmp_path, yaml.safe_dump(sources(**fields), sort_keys=False))
    assert msg == f"{where(tmp_path, 1)}: sources: {expected}"


BAD_URL_LISTS = [
    ({"urls": [], "concat_dim": "time"}, "sources.urls: List should have at least 1 item"),
    (
        {"urls": "https://h/a.nc", "concat_dim": "time"},
        "sources.urls: Input should be a valid list. Got 'https://h/a.nc' instead",
    ),
    ({"urls": ["https://h/a.nc"]}, "sources.concat_dim: required field is missing"),
    (
        {"urls": ["https://h/a.nc"], "concat_dim": "1time"},
        "sources.concat_dim: String should match pattern",
    ),
    (
        {"urls": ["https://h/a.nc"], "concat_dim": "time", "items_per_file": 0},
        "sources.items_per_file: Input should be greater than 0",
    ),
    (
        {"urls": ["https://h/a.nc"], "concat_dim": "time", "concat": {"time": [1]}},
        "sources.concat: unknown field 'concat'; expected one of auth, concat_dim, file_type, "
        "items_per_file, max_concurrency, on_missing, storage_options, urls. "
        "Did you mean 'concat_dim'?",
    ),
]


@pytest.mark.parametrize(("fields", "expected"), BAD_URL_LISTS)
def test_bad_url_lists(tmp_path: Path, fields: dict[str, Any], expected: str) -> None:
    msg = spec_error(tmp_path, yaml.safe_dump(sources(**fields), sort_keys=False))
    assert msg.startswith(f"{tmp_path / 'recipe.yaml'}:")
    assert expected in msg


def test_unknown_template_keys_get_a_hint(tmp_path: Path) -> None:
    text = """\
sources:
  url: "https://h/{time}.nc"
  concats:
    time: [1]
outputs:
  zarr:
"""
    assert spec_error(tmp_path, text) == (
        f"{where(tmp_path, 3)}: sources.concats: unknown field 'concats'; expected one of "
        "auth, concat, file_type, items_per_file, max_concurrency, merge, on_missing, "
        "storage_options, url. Did you mean 'concat'?"
    )


def test_sources_may_be_left_to_recipe_py(tmp_path: Path) -> None:
    assert load_spec(tmp_path, OUTPUTS).sources is None


# Outputs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("zarr", ["", " null", " {}", " ~"])
def test_an_empty_zarr_output_means_the_defaults(tmp_path: Path, zarr: str) -> None:
    spec = load_spec(tmp_path, f"outputs:\n  zarr:{zarr}\n")
    assert spec.outputs.zarr == ZarrOutput()
    assert spec.outputs.zarr == ZarrOutput(
        chunks=None, chunk_size=None, zarr_format=3, compression=Compression.LZ4
    )


@pytest.mark.parametrize("outputs", ["{}", "null"])
def test_some_output_is_required(tmp_path: Path, outputs: str) -> None:
    msg = spec_error(tmp_path, f"outputs: {outputs}\n")
    if outputs == "{}":
        assert msg == (
            f"{where(tmp_path, 1)}: outputs: expected at least one output, such as "
            "`zarr: {chunks: {time: 30}}` or `references: {format: json}`."
        )
    else:
        assert msg == (
            f"{where(tmp_path, 1)}: outputs: Input should be a valid dictionary or instance "
            "of Outputs. Got None instead"
        )


def test_outputs_are_required(tmp_path: Path) -> None:
    msg = spec_error(tmp_path, 'sources:\n  urls: ["https://h/a.nc"]\n  concat_dim: time\n')
    assert msg == f"{tmp_path / 'recipe.yaml'}: outputs: required field is missing"


def test_chunks_and_chunk_size_are_exclusive(tmp_path: Path) -> None:
    text = "outputs:\n  zarr:\n    chunks: {time: 30}\n    chunk_size: 100MB\n"
    assert spec_error(tmp_path, text) == (
        f"{where(tmp_path, 2)}: outputs.zarr: give either `chunks` or `chunk_size`, not both."
    )


CHUNK_SIZES = [
    ("100MB", 100_000_000),
    ("100 MB", 100_000_000),
    ("100mb", 100_000_000),
    ("1GiB", 2**30),
    ("512KiB", 512 * 1024),
    ("1.5MB", 1_500_000),
    ("1000", 1000),
    (1048576, 1048576),
    (1048576.0, 1048576),
]


@pytest.mark.parametrize(("given", "expected"), CHUNK_SIZES)
def test_chunk_sizes(given: object, expected: int) -> None:
    assert ZarrOutput.model_validate({"chunk_size": given}).chunk_size == expected


BAD_CHUNK_SIZES = [
    ("lots", "expected a size such as '100MB' or '1GiB'. Got 'lots' instead."),
    ("100 MBs", "expected a size such as '100MB' or '1GiB'. Got '100 MBs' instead."),
    ("", "expected a size such as '100MB' or '1GiB'. Got '' instead."),
    ("MB", "expected a size such as '100MB' or '1GiB'. Got 'MB' instead."),
    (1.5, "expected a size such as '100MB' or '1GiB'. Got 1.5 instead."),
    (True, "expected a size such as '100MB' or '1GiB'. Got True instead."),
    ([100], "expected a size such as '100MB' or '1GiB'. Got [100] instead."),
    (0, "Input should be greater than 0"),
    ("0MB", "Input should be greater than 0"),
    (-5, "Input should be greater than 0"),
]


@pytest.mark.parametrize(("given", "expected"), BAD_CHUNK_SIZES)
def test_bad_chunk_sizes(tmp_path: Path, given: object, expected: str) -> None:
    text = yaml.safe_dump({"outputs": {"zarr": {"chunk_size": given}}})
    msg = spec_error(tmp_path, text)
    assert msg.startswith(f"{where(tmp_path, 3)}: outputs.zarr.chunk_size: {expected}")


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ({"time": 0}, "outputs.zarr.chunks.time: Input should be greater than 0. Got 0 instead"),
        ({"time": "all"}, "outputs.zarr.chunks.time: Input should be a valid integer"),
        ({"bad-dim": 3}, "outputs.zarr.chunks.bad-dim: String should match pattern"),
    ],
)
def test_bad_chunks(tmp_path: Path, chunks: dict[str, Any], expected: str) -> None:
    msg = spec_error(tmp_path, yaml.safe_dump({"outputs": {"zarr": {"chunks": chunks}}}))
    assert f"{where(tmp_path, 4)}: {expected}" in msg


@pytest.mark.parametrize("fmt", [2, 3])
def test_zarr_formats(fmt: int) -> None:
    assert ZarrOutput.model_validate({"zarr_format": fmt}).zarr_format == fmt


@pytest.mark.parametrize("fmt", [1, 4, "3", "v3"])
def test_other_zarr_formats_are_refused(tmp_path: Path, fmt: object) -> None:
    msg = spec_error(tmp_path, yaml.safe_dump({"outputs": {"zarr": {"zarr_format": fmt}}}))
    assert msg == (
        f"{where(tmp_path, 3)}: outputs.zarr.zarr_format: Input should be 2 or 3. "
        f"Got {fmt!r} instead"
    )


@pytest.mark.parametrize("name", ["lz4", "zstd", "none"])
def test_compressions(name: str) -> None:
    assert ZarrOutput.model_validate({"compression": name}).compression == Compression(name)


@pytest.mark.parametrize("name", ["gzip", "LZ4", "blosc", ""])
def test_other_compressions_are_refused(tmp_path: Path, name: str) -> None:
    msg = spec_error(tmp_path, yaml.safe_dump({"outputs": {"zarr": {"compression": name}}}))
    assert msg == (
        f"{where(tmp_path, 3)}: outputs.zarr.compression: Input should be 'lz4', 'zstd' or "
        f"'none'. Got {name!r} instead"
    )


def test_unknown_output_keys_point_at_their_line(tmp_path: Path) -> None:
    # Both problems at once: an unknown key does not hide the errors of its siblings.
    text = "outputs:\n  zarr:\n    chunk: {time: 30}\n  netcdf: {}\n"
    assert spec_error(tmp_path, text).splitlines() == [
        f"{where(tmp_path, 4)}: outputs.netcdf: unknown field 'netcdf'; "
        "expected one of references, zarr.",
        f"{where(tmp_path, 3)}: outputs.zarr.chunk: unknown field 'chunk'; expected one of "
        "chunk_size, chunks, compression, zarr_format. Did you mean 'chunks'?",
    ]
    text = "outputs:\n  zarr:\n    chunk: {time: 30}\n"
    assert spec_error(tmp_path, text) == (
        f"{where(tmp_path, 3)}: outputs.zarr.chunk: unknown field 'chunk'; expected one of "
        "chunk_size, chunks, compression, zarr_format. Did you mean 'chunks'?"
    )


def test_unknown_top_level_keys_point_at_their_line(tmp_path: Path) -> None:
    text = "outputs:\n  zarr:\nsource:\n  url: x\n"
    assert spec_error(tmp_path, text) == (
        f"{where(tmp_path, 3)}: source: unknown field 'source'; expected one of outputs, "
        "sources. Did you mean 'sources'?"
    )


def test_outputs_validate_from_python_dicts() -> None:
    outputs = Outputs.model_validate({"zarr": {"chunks": {"time": 30, "lat": 90}}})
    assert outputs.zarr is not None
    assert outputs.zarr.chunks == {"time": 30, "lat": 90}


def test_long_values_are_shortened_in_messages(tmp_path: Path) -> None:
    msg = spec_error(tmp_path, yaml.safe_dump({"outputs": {"zarr": {"compression": "x" * 100}}}))
    shown = repr("x" * 100)[:77] + "..."
    assert msg == (
        f"{where(tmp_path, 3)}: outputs.zarr.compression: Input should be 'lz4', 'zstd' or "
        f"'none'. Got {shown} instead"
    )


def test_long_mappings_are_not_repeated_in_messages(tmp_path: Path) -> None:
    urls = {f"key{i}": f"https://h/{i}.nc" for i in range(10)}
    data = {"sources": {"urls": urls, "concat_dim": "time"}, "outputs": {"zarr": None}}
    msg = spec_error(tmp_path, yaml.safe_dump(data, sort_keys=False))
    assert msg == f"{where(tmp_path, 2)}: sources.urls: Input should be a valid list"


@pytest.mark.parametrize("fmt", ["json", "parquet", "icechunk"])
def test_references_output(tmp_path: Path, fmt: str) -> None:
    spec = load_spec(tmp_path, f"outputs:\n  references: {{format: {fmt}}}\n")
    assert spec.outputs.zarr is None and spec.outputs.references is not None
    assert spec.outputs.references.format.value == fmt
    assert spec.outputs.references.suffix == f".{fmt}"


def test_references_default_to_json_beside_zarr(tmp_path: Path) -> None:
    spec = load_spec(tmp_path, "outputs:\n  zarr:\n  references:\n")
    assert spec.outputs.zarr is not None and spec.outputs.references is not None
    assert spec.outputs.references.format.value == "json"
    assert RecipeSpec.model_validate(spec.model_dump()) == spec


def test_unknown_reference_format(tmp_path: Path) -> None:
    msg = spec_error(tmp_path, "outputs:\n  references: {format: netcdf}\n")
    assert msg.startswith(f"{where(tmp_path, 2)}: outputs.references.format: ")
    assert "'json', 'parquet' or 'icechunk'" in msg and "netcdf" in msg
