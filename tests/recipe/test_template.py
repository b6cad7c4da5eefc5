"""URL templates: formatting keys, and refusing anything but plain fields."""

from __future__ import annotations

import datetime as dt
import pickle
from types import ModuleType

import cloudpickle
import pandas as pd
import pytest

from arcoforge.errors import RecipeError
from arcoforge.recipe.template import MAX_WIDTH, UrlTemplate, format_key

DATES = [
    ("{time:%Y%m%d}", dt.datetime(1981, 9, 1), "19810901"),
    ("{time:%Y%m}/oisst.{time:%Y%m%d}.nc", dt.datetime(1981, 9, 1), "198109/oisst.19810901.nc"),
    ("{time:%Y/%j}", dt.datetime(2020, 12, 31), "2020/366"),
    ("{time:%Y%m%d%H}", dt.datetime(2020, 1, 2, 6), "2020010206"),
    ("{time:%Y-%m-%dT%H:%M}", pd.Timestamp("2020-01-02T18:30"), "2020-01-02T18:30"),
    ("{time:%Y%m%d}", pd.Timestamp("2020-02-29"), "20200229"),
    ("{time:%Y%m%d}", dt.date(2020, 2, 29), "20200229"),
    ("{time:%b}", dt.date(2020, 3, 1), "Mar"),
]


@pytest.mark.parametrize(("template", "value", "expected"), DATES)
def test_dates_use_strftime_specs(template: str, value: object, expected: str) -> None:
    assert UrlTemplate.parse(template)(time=value) == expected


DEFAULT_DATES = [
    (dt.date(2020, 1, 2), "2020-01-02"),
    (dt.datetime(2020, 1, 2), "2020-01-02"),
    (pd.Timestamp("2020-01-02"), "2020-01-02"),
    (dt.datetime(2020, 1, 2, 6), "2020-01-02T06:00:00"),
    (pd.Timestamp("2020-01-02T06:30:15"), "2020-01-02T06:30:15"),
]


@pytest.mark.parametrize(("value", "expected"), DEFAULT_DATES)
def test_dates_without_a_spec_are_iso_dates_or_iso_times(value: object, expected: str) -> None:
    assert UrlTemplate.parse("https://h/{time}.nc")(time=value) == f"https://h/{expected}.nc"


OTHERS = [
    ("{n:03d}", 7, "007"),
    ("{n:03d}", 1234, "1234"),
    ("{n}", 7, "7"),
    ("{n:>4}", 7, "   7"),
    ("{n:x}", 255, "ff"),
    ("{n:+d}", 5, "+5"),
    ("{n:_>6}", 42, "____42"),
    ("{x:.2f}", 1.5, "1.50"),
    ("{x}", 0.25, "0.25"),
    ("{variable}", "sst", "sst"),
    ("{variable:.3}", "temperature", "tem"),
    ("{variable}", "001", "001"),
]


@pytest.mark.parametrize(("template", "value", "expected"), OTHERS)
def test_other_keys_use_format_specs(template: str, value: object, expected: str) -> None:
    t = UrlTemplate.parse(template)
    (name,) = t.names
    assert t(**{name: value}) == expected


def test_several_fields_repeated_fields_and_literal_braces() -> None:
    t = UrlTemplate.parse("s3://b/{{raw}}/{variable}/{time:%Y}/{variable}_{time:%Y%m%d}.nc")
    assert t.names == frozenset({"variable", "time"})
    url = t(variable="sst", time=dt.date(2020, 5, 17))
    assert url == "s3://b/{raw}/sst/2020/sst_20200517.nc"


def test_a_template_without_fields_has_no_names() -> None:
    t = UrlTemplate.parse("https://example.org/one.nc")
    assert t.names == frozenset()
    assert t() == "https://example.org/one.nc"


def test_extra_keys_are_ignored() -> None:
    t = UrlTemplate.parse("https://h/{time}.nc")
    assert t(time=1, unused="x") == "https://h/1.nc"


NOT_PLAIN = [
    "{time.__class__}",
    "{time.year}",
    "{time.__class__.__init__.__globals__}",
    "{time[0]}",
    "{time[__class__]}",
    "{0}",
    "{0.real}",
    "{}",
    "{ time }",
    "{time-1}",
]


@pytest.mark.parametrize("field", NOT_PLAIN)
def test_attribute_and_item_access_and_odd_names_are_refused(field: str) -> None:
    with pytest.raises(RecipeError) as e:
        UrlTemplate.parse(f"https://h/{field}.nc", where="sources.url")
    assert str(e.value) == (
        f"sources.url: template field {field} is not a plain name; fields may only name "
        "a dimension, like {time} or {variable}."
    )


@pytest.mark.parametrize("conversion", ["r", "s", "a"])
def test_conversions_are_refused(conversion: str) -> None:
    with pytest.raises(RecipeError) as e:
        UrlTemplate.parse(f"https://h/{{time!{conversion}}}.nc")
    assert str(e.value) == (
        f"url: template field {{time!{conversion}}} uses a conversion; "
        "write {time} or {time:format} instead."
    )


@pytest.mark.parametrize("spec", ["{x}", "%Y{x}", "{time.__class__}", ">{width}", "{}"])
def test_nested_fields_in_a_spec_are_refused(spec: str) -> None:
    with pytest.raises(RecipeError) as e:
        UrlTemplate.parse(f"https://h/{{time:{spec}}}.nc")
    assert str(e.value) == (
        f"url: template field {{time:{spec}}} nests another field; "
        "formats must be literal, like %Y%m%d or 03d."
    )


UNBALANCED = [
    ("https://h/{time.nc", "expected '}' before end of string"),
    ("https://h/time}.nc", "Single '}' encountered"),
    ("https://h/}{time}", "Single '}' encountered"),
    ("https://h/{", "Single '{' encountered"),
]


@pytest.mark.parametrize(("template", "problem"), UNBALANCED)
def test_unbalanced_braces_are_refused(template: str, problem: str) -> None:
    with pytest.raises(RecipeError) as e:
        UrlTemplate.parse(template)
    msg = str(e.value)
    assert msg.startswith(
        f"url: expected a template with fields like {{time:%Y%m%d}}. Got {template!r}"
    )
    assert problem in msg
    assert msg.endswith("Write a literal brace as {{ or }}.")


MISMATCHED = [
    ("{n:03d}", "a", "n='a'", "Unknown format code 'd'"),
    ("{time:%Y}", 5, "time=5", "Invalid format specifier"),
    ("{x:.2f}", "sst", "x='sst'", "Unknown format code 'f'"),
]


@pytest.mark.parametrize(("template", "value", "shown", "problem"), MISMATCHED)
def test_a_key_that_does_not_fit_its_spec_names_field_and_value(
    template: str, value: object, shown: str, problem: str
) -> None:
    t = UrlTemplate.parse(template)
    (name,) = t.names
    with pytest.raises(RecipeError) as e:
        t(**{name: value})
    msg = str(e.value)
    assert msg.startswith(f"url: cannot format {shown} with {template}: ")
    assert problem in msg


HUGE = ["{n:>65}", "{n:0100d}", "{n:a>1000000000}", "{n:=+099999d}", "{x:.65f}", "{x:8.1000f}"]


@pytest.mark.parametrize("template", HUGE)
def test_widths_and_precisions_are_capped(template: str) -> None:
    # A recipe must not be able to make one URL gigabytes long.
    t = UrlTemplate.parse(template)
    (name,) = t.names
    with pytest.raises(RecipeError) as e:
        t(**{name: 7})
    assert str(e.value) == (
        f"url: {template} pads or rounds to more than {MAX_WIDTH} characters; "
        f"expected a width and precision of at most {MAX_WIDTH}."
    )


def test_the_widest_allowed_field() -> None:
    assert format_key(7, f"0{MAX_WIDTH}d", "n") == "7".zfill(MAX_WIDTH)
    assert format_key(1.0, f".{MAX_WIDTH}f", "x") == "1." + "0" * MAX_WIDTH


def test_digits_in_a_strftime_spec_are_literal_not_widths() -> None:
    assert format_key(dt.date(2020, 5, 1), "%Y0101000000000000000", "time") == (
        "20200101000000000000000"
    )


@pytest.mark.parametrize("module", [pickle, cloudpickle], ids=["pickle", "cloudpickle"])
def test_templates_survive_pickling(module: ModuleType) -> None:
    t = UrlTemplate.parse("https://h/{variable}/{time:%Y%m%d}.nc")
    back = module.loads(module.dumps(t))
    assert back == t
    assert back(variable="sst", time=dt.date(2020, 1, 2)) == "https://h/sst/20200102.nc"
