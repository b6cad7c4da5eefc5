"""The example recipes under ``recipes/``: every folder loads, and the three reference
recipes expand to exactly the inputs their providers publish.

The expected counts and URLs below are written out by hand from each provider's
documented layout, not computed with the recipe code, so a wrong template, date range
or frequency fails here. Nothing is fetched: loading a recipe only expands URLs.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from arcoforge.recipe import FileType, Recipe, load_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _recipe_folders() -> list[Path]:
    if not RECIPES.is_dir():
        return []
    return sorted(p for p in RECIPES.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


FOLDERS = _recipe_folders()


def _urls(recipe: Recipe) -> list[str]:
    return [url for _, url in recipe.pattern.items()]


def test_recipes_dir_is_not_empty() -> None:
    assert FOLDERS, f"no recipe folders found under {RECIPES}"


@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_recipe_folder_loads(folder: Path) -> None:
    recipe = load_recipe(folder)
    assert recipe.id == folder.name
    urls = _urls(recipe)
    assert urls
    not_https = [u for u in urls if urlsplit(u).scheme != "https"]
    assert not not_https, f"{len(not_https)} input URLs are not https, e.g. {not_https[0]}"
    assert len(set(urls)) == len(urls), "two inputs share a URL"


# --- NOAA OISST v2.1 -----------------------------------------------------------------

OISST = "noaa-oisst-avhrr-v2.1"
OISST_BASE = (
    "https://www.ncei.noaa.gov/data/sea-surface-temperature-optimum-interpolation/"
    "v2.1/access/avhrr/"
)
# 1981-09-01 to 2024-12-31, one file a day, counted by the calendar
OISST_DAYS = (dt.date(2024, 12, 31) - dt.date(1981, 9, 1)).days + 1


def test_oisst_inputs() -> None:
    recipe = load_recipe(RECIPES / OISST)
    urls = _urls(recipe)
    assert len(urls) == OISST_DAYS
    days = [dt.datetime.strptime(u.rsplit(".", 2)[-2], "%Y%m%d").date() for u in urls]
    assert all(b - a == dt.timedelta(days=1) for a, b in itertools.pairwise(days))
    assert urls[0] == OISST_BASE + "198109/oisst-avhrr-v02r01.19810901.nc"
    assert urls[-1] == OISST_BASE + "202412/oisst-avhrr-v02r01.20241231.nc"
    # A leap day, and a month boundary that changes the folder.
    assert OISST_BASE + "200002/oisst-avhrr-v02r01.20000229.nc" in urls
    assert OISST_BASE + "199901/oisst-avhrr-v02r01.19990101.nc" in urls
    assert not [u for u in urls if "preliminary" in u]


def test_oisst_pattern() -> None:
    pattern = load_recipe(RECIPES / OISST).pattern
    [time] = pattern.concat_dims
    assert (time.name, time.items_per_file) == ("time", 1)
    assert not pattern.merge_dims
    assert pattern.file_type is FileType.NETCDF4


# --- NOAA ERSST v5 -------------------------------------------------------------------

ERSST = "noaa-ersst-v5"
ERSST_BASE = "https://www.ncei.noaa.gov/pub/data/cmb/ersst/v5/netcdf/"
# January 1854 to December 2024, one file a month: (2024 - 1854 + 1) years x 12.
ERSST_COUNT = 171 * 12


def test_ersst_inputs() -> None:
    recipe = load_recipe(RECIPES / ERSST)
    urls = _urls(recipe)
    assert len(urls) == ERSST_COUNT
    # one file a month, none missing nor repeated: the months count up by one
    months = [int(u[-9:-5]) * 12 + int(u[-5:-3]) - 1 for u in urls]
    assert months == list(range(months[0], months[0] + len(urls)))
    assert urls[0] == ERSST_BASE + "ersst.v5.185401.nc"
    assert urls[1] == ERSST_BASE + "ersst.v5.185402.nc"
    assert urls[11] == ERSST_BASE + "ersst.v5.185412.nc"
    assert urls[12] == ERSST_BASE + "ersst.v5.185501.nc"
    assert urls[-1] == ERSST_BASE + "ersst.v5.202412.nc"


def test_ersst_pattern() -> None:
    pattern = load_recipe(RECIPES / ERSST).pattern
    [time] = pattern.concat_dims
    assert (time.name, time.items_per_file) == ("time", 1)
    assert not pattern.merge_dims


# --- NCEP/NCAR Reanalysis 1, surface fields from NOAA PSL ---------------------------

NCEP = "ncep-ncar-reanalysis1-surface"
NCEP_BASE = "https://downloads.psl.noaa.gov/Datasets/ncep.reanalysis/surface/"
# The file names of one variable, without the year: sea level pressure has no level
# suffix, the others are on the 0.995 sigma level.
NCEP_VARIABLES = ["air.sig995", "slp", "rhum.sig995", "uwnd.sig995", "vwnd.sig995"]
# 1948 to 2024, one file per variable and year: 77 years x 5 variables.
NCEP_YEARS = 2024 - 1948 + 1
NCEP_COUNT = NCEP_YEARS * len(NCEP_VARIABLES)


def test_ncep_inputs() -> None:
    recipe = load_recipe(RECIPES / NCEP)
    urls = _urls(recipe)
    assert len(urls) == NCEP_COUNT
    assert urls[0] == NCEP_BASE + "air.sig995.1948.nc"
    assert urls[-1] == NCEP_BASE + "vwnd.sig995.2024.nc"
    assert urls[:5] == [
        NCEP_BASE + "air.sig995.1948.nc",
        NCEP_BASE + "slp.1948.nc",
        NCEP_BASE + "rhum.sig995.1948.nc",
        NCEP_BASE + "uwnd.sig995.1948.nc",
        NCEP_BASE + "vwnd.sig995.1948.nc",
    ]
    for variable in NCEP_VARIABLES:
        files = [u for u in urls if u.removeprefix(NCEP_BASE).rsplit(".", 2)[0] == variable]
        years = [int(u.rsplit(".", 2)[-2]) for u in files]
        assert years == list(range(1948, 1948 + NCEP_YEARS)), variable
        assert files[0] == f"{NCEP_BASE}{variable}.1948.nc"
        assert files[-1] == f"{NCEP_BASE}{variable}.2024.nc"


def test_ncep_pattern() -> None:
    pattern = load_recipe(RECIPES / NCEP).pattern
    [time] = pattern.concat_dims
    [variable] = pattern.merge_dims
    # The concat dim is the files' time dimension, keyed by year; a year holds 1460 or
    # 1464 six-hourly steps, so the count per file is left to the headers.
    assert time.name == "time"
    assert time.keys == tuple(range(1948, 2025))
    assert time.items_per_file is None
    assert variable.name == "variable"
    assert list(variable.keys) == NCEP_VARIABLES
