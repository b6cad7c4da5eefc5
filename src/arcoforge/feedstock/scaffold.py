"""``forge new``: a new recipe folder whose comments teach each field.

With an example input's URL, the date in the URL is turned into a template field
(``{time:%Y%m%d}``) and the concat dim's frequency is guessed from the date's form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from arcoforge.errors import RecipeError

# Longest forms first, so 20200115 is read as a day and not as a month plus digits.
_DATES = (
    (re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)"), "%Y-%m-%d", "D"),
    (re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)"), "%Y%m%d", "D"),
    (re.compile(r"(?<!\d)(\d{4})-(\d{2})(?![\d-])"), "%Y-%m", "MS"),
    (re.compile(r"(?<!\d)(\d{4})(\d{2})(?!\d)"), "%Y%m", "MS"),
    (re.compile(r"(?<!\d)(\d{4})(?!\d)"), "%Y", "YS"),
)


@dataclass(frozen=True)
class Guess:
    """A URL template and concat dim guessed from one input's URL."""

    template: str
    freq: str
    start: str
    fmt: str


def guess_template(url: str) -> Guess | None:
    """The URL with its file name's date as a ``time`` field; None when no date is found.

    The same date elsewhere in the URL (a folder per year or month) becomes a field too.
    """
    base, _, name = url.rpartition("/")
    for pattern, fmt, freq in _DATES:
        match = pattern.search(name)
        if not match or not _plausible(match.groups()):
            continue
        parts = [int(g) for g in match.groups()] + [1, 1]
        year, month, day = parts[0], parts[1], parts[2]
        field = f"{{time:{fmt}}}"
        name = name[: match.start()] + field + name[match.end() :]
        base = _folders(base, year, month)
        start = f"{year:04d}-{month:02d}-{day:02d}"
        return Guess(f"{base}/{name}", freq, start, fmt)
    return None


def _plausible(groups: tuple[str, ...]) -> bool:
    year = int(groups[0])
    month = int(groups[1]) if len(groups) > 1 else 1
    day = int(groups[2]) if len(groups) > 2 else 1
    return 1800 <= year <= 2200 and 1 <= month <= 12 and 1 <= day <= 31


def _folders(base: str, year: int, month: int) -> str:
    """Folders named for the file's year or month (``/1981/``, ``/198109/``) as fields."""
    base = re.sub(rf"/{year:04d}{month:02d}(?=/|$)", "/{time:%Y%m}", base)
    return re.sub(rf"/{year:04d}(?=/|$)", "/{time:%Y}", base)


META_TEXT = """\
# meta.yaml: who made this dataset, who looks after the recipe, under which license.
# Every field is checked by `forge lint {id}`; see docs/writing-a-recipe.md.

# title: one line, as the catalog shows it (at most 200 characters)
title: "The dataset's name, as people know it"
# description: what the data are, where they come from, how to cite them (Markdown)
description: |
  What the data are: variables, grid, period, provider, and how to cite them.
# license: an SPDX id such as CC-BY-4.0 or CC0-1.0; or `other`, with the terms linked
# in the description
license: CC-BY-4.0
# providers: who produced, licensed, processed or hosts the data (STAC provider roles:
# producer, licensor, processor, host)
providers:
  - name: "The organisation that produces the data"
    roles: [producer, host]
    url: https://example.org/
# maintainers: people who look after this recipe, by GitHub handle
maintainers:
  - name: "Your name"
    github: your-github-handle
# tags: lowercase words to find the dataset by
tags: []
"""

RECIPE_TEXT = """\
# recipe.yaml: where the inputs live and what to make of them.
# Try it with `forge test {id}` (a few inputs), then `forge run {id}`.
sources:
  # url: a template; {{time:...}} fields are filled from the concat dim's keys with
  # strftime codes (%Y year, %m month, %d day)
  url: "{template}"
  # concat: the dim the files follow each other along, with its keys: dates from
  # start to end (both included) every freq (D: daily, MS: monthly, YS: yearly)
  concat:
    time: {{start: "{start}", end: "{end}", freq: "{freq}"}}
  # items_per_file: how many steps of the concat dim each file holds (if always the same)
  items_per_file: {{time: 1}}
outputs:
  # zarr: a rechunked copy; aim for chunks of 10-100 MB (uncompressed)
  zarr:
    chunks: {{time: {chunk}}}
  # references: a virtual dataset as well (json, parquet or icechunk); nothing copied
  # references:
  #   format: json
"""


def scaffold(recipe_id: str, folder: Path, *, url: str | None = None) -> list[Path]:
    """Write ``folder`` (``./ID/``) with a commented meta.yaml and recipe.yaml."""
    from arcoforge.recipe.urls import validate_id

    validate_id(recipe_id, where="ID")
    if folder.exists() and any(folder.iterdir()):
        raise RecipeError(
            f"{folder}: expected a new or empty folder for the recipe. Found files there; "
            "choose another ID or remove them."
        )
    guess = guess_template(url) if url else None
    if url and guess is None:
        raise RecipeError(
            f"--from-url {url}: expected a date in the file name (e.g. 20200115, 2020-01, "
            "2020) to make a template of. Found none; start without --from-url and write "
            "the url template yourself."
        )
    template = guess.template if guess else "https://example.org/data/{time:%Y%m%d}.nc"
    freq = guess.freq if guess else "D"
    start = guess.start if guess else "2020-01-01"
    end = _end(start, freq)
    chunk = {"D": 365, "MS": 120, "YS": 10}[freq]
    folder.mkdir(parents=True, exist_ok=True)
    meta = folder / "meta.yaml"
    recipe = folder / "recipe.yaml"
    meta.write_text(META_TEXT.format(id=recipe_id))
    recipe.write_text(
        RECIPE_TEXT.format(
            id=recipe_id, template=template, start=start, end=end, freq=freq, chunk=chunk
        )
    )
    return [meta, recipe]


def _end(start: str, freq: str) -> str:
    """A short first range (a month of days, a year of months, a decade of years)."""
    import pandas as pd

    step = {"D": pd.DateOffset(days=30), "MS": pd.DateOffset(months=11)}.get(
        freq, pd.DateOffset(years=9)
    )
    return str((pd.Timestamp(start) + step).date())
