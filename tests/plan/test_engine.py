"""The same inputs through both outputs' combine: the same outcome and the same message.

Each case writes a few small CMIP-like files, combines them as a copy would
(:func:`arcoforge.plan.schema.combine` over their headers) and as references
would (:func:`arcoforge.plan.virtual.combine_virtual` over their virtual
datasets), and checks both answers against the table.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from arcoforge.errors import IncompatibleInputsError, UnrepresentableError
from arcoforge.plan.schema import Mode, TargetSchema, combine
from arcoforge.plan.virtual import combine_virtual
from arcoforge.recipe.pattern import Index
from arcoforge.sources.cache import InputCache
from arcoforge.sources.headers import HeaderSet, read_header
from arcoforge.sources.virtual import open_virtual
from tests.helpers import write_recipe

NLAT, NLON, STEPS = 4, 6, 3


def cmip(
    var: str = "tas",
    *,
    start: int = 0,
    units: str = "days since 2000-01-01",
    calendar: str = "standard",
    seed: int = 0,
) -> xr.Dataset:
    """One CMIP-like file: a variable on a lat/lon grid with CF bounds and a time axis."""
    rng = np.random.default_rng(seed)
    lat = np.linspace(-67.5, 67.5, NLAT)
    lon = np.linspace(30.0, 330.0, NLON)
    days = np.arange(start, start + STEPS, dtype="float64")
    per_day = {"days": 1.0, "hours": 24.0}[units.split()[0]]
    ds = xr.Dataset(
        {
            var: (("time", "lat", "lon"), rng.normal(280, 5, (STEPS, NLAT, NLON)).astype("f4")),
            "lat_bnds": (("lat", "bnds"), np.stack([lat - 22.5, lat + 22.5], axis=1)),
            "lon_bnds": (("lon", "bnds"), np.stack([lon - 30, lon + 30], axis=1)),
        },
        coords={
            "time": ("time", days * per_day, {"units": units, "calendar": calendar}),
            "lat": ("lat", lat, {"bounds": "lat_bnds", "units": "degrees_north"}),
            "lon": ("lon", lon, {"bounds": "lon_bnds", "units": "degrees_east"}),
        },
    )
    return xr.decode_cf(ds)


@dataclass(frozen=True)
class Piece:
    """One input file: its dataset, its encoding, and its place (time step, variable)."""

    ds: xr.Dataset
    time: int
    variable: int = 0
    encoding: dict[str, dict] = field(default_factory=dict)


def concat(
    a: xr.Dataset, b: xr.Dataset, first: dict | None = None, second: dict | None = None
) -> list[Piece]:
    """Two inputs along time, each with its own encoding."""
    return [Piece(a, 0, encoding=first or {}), Piece(b, 1, encoding=second or {})]


def merged(other: xr.Dataset) -> list[Piece]:
    return [Piece(cmip("tas"), 0, 0), Piece(other, 0, 1)]


def _bumped_lon_bnds(ds: xr.Dataset) -> xr.Dataset:
    bnds = ds.lon_bnds.values.copy()
    bnds[2, 1] += 1.0
    return ds.assign(lon_bnds=(("lon", "bnds"), bnds))


PACKED = {
    "dtype": "int16",
    "scale_factor": np.float32(0.01),
    "add_offset": np.float32(280.0),
    "_FillValue": np.int16(-999),
}


@dataclass(frozen=True)
class Case:
    """Inputs, and what both outputs answer: None (accepted) or a message fragment."""

    name: str
    pieces: Callable[[], list[Piece]]
    refused: str | None
    #: where references answer otherwise (something they cannot represent), its fragment
    unrepresentable: str | None = None


CASES = [
    Case("equal shared lon_bnds", lambda: merged(cmip("uas", seed=1)), None),
    Case(
        "differing shared lon_bnds",
        lambda: merged(_bumped_lon_bnds(cmip("uas", seed=1))),
        r"Variable 'lon_bnds' is in .*in0\.nc and in .*in1\.nc, which are merged, but differs "
        r"between them: 1 of 12 values differ, the first at \[lon=2, bnds=1\]: 180.0 vs 181.0",
    ),
    Case(
        "differing lon_bnds along time",
        lambda: concat(cmip(), _bumped_lon_bnds(cmip(start=STEPS))),
        r"Variable 'lon_bnds' differs between .*in0\.nc and .*in1\.nc, which are concatenated, "
        r"though it has no concat dimension: 1 of 12 values differ, the first at \[lon=2, bnds=1\]",
    ),
    Case(
        "mixed calendars",
        lambda: concat(cmip(), cmip(start=STEPS, calendar="noleap")),
        r"'time' uses calendar 'standard' in .*in0\.nc but 'noleap' in .*in1\.nc",
    ),
    Case(
        "time units differ",
        lambda: concat(cmip(), cmip(start=STEPS, units="hours since 2000-01-01")),
        None,
    ),
    Case(
        "scale_factor differs",
        lambda: concat(
            cmip(),
            cmip(start=STEPS),
            {"tas": PACKED},
            {"tas": {**PACKED, "scale_factor": np.float32(0.02)}},
        ),
        None,
        unrepresentable=r"Variable 'tas' is stored with scale_factor 0.01 in .*in0\.nc but 0.02 in "
        r".*in1\.nc; references would decode every input with one value",
    ),
    Case(
        "dtype differs",
        lambda: concat(cmip(), cmip(start=STEPS).assign(tas=lambda d: d.tas.astype("f8"))),
        r"Different dtypes: variable 'tas' decodes to float32 in .*in0\.nc but to float64 in "
        r".*in1\.nc",
    ),
    Case(
        "variable missing",
        lambda: concat(cmip().assign(uas=cmip().tas), cmip(start=STEPS)),
        r"Different variables: compared with .*in0\.nc, .*in1\.nc lacks 'uas'",
    ),
    Case(
        "dims differ",
        lambda: concat(cmip(), cmip(start=STEPS).transpose("time", "lon", "lat", "bnds")),
        r"Variable 'tas' has dimensions \('time', 'lat', 'lon'\) in .*in0\.nc but "
        r"\('time', 'lon', 'lat'\) in .*in1\.nc",
    ),
    Case(
        "grid differs",
        lambda: concat(cmip(), cmip(start=STEPS).assign_coords(lat=cmip().lat + 1)),
        r"Different grids: coordinate 'lat' differs between .*in0\.nc \(4 values, float64, "
        r"from -67.5 to 67.5\) and .*in1\.nc \(4 values, float64, from -66.5 to 68.5\)",
    ),
]


def _write(tmp: Path, pieces: list[Piece]) -> list[tuple[Path, Index]]:
    out = []
    for i, p in enumerate(pieces):
        path = tmp / f"in{i}.nc"
        p.ds.to_netcdf(path, engine="h5netcdf", encoding=p.encoding)
        out.append((path, Index((("time", p.time), ("variable", p.variable)))))
    return out


def as_copy(files: list[tuple[Path, Index]], merge_dims: tuple[str, ...]) -> TargetSchema:
    cache = InputCache(str(files[0][0].parent / ".cache"))
    headers = HeaderSet(("time",))
    for path, index in files:
        headers.add(read_header(cache.fetch(path.as_uri()), index, concat_dims=("time",)))
    return combine(headers, merge_dims=merge_dims)


def as_references(files: list[tuple[Path, Index]], merge_dims: tuple[str, ...]) -> xr.Dataset:
    inputs = [open_virtual(index, path.as_uri()) for path, index in files]
    return combine_virtual(inputs, concat_dims=("time",), merge_dims=merge_dims)


def _answer(combine_with: Callable[[], object]) -> tuple[object, Exception | None]:
    try:
        return combine_with(), None
    except IncompatibleInputsError as e:
        return None, e


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_both_outputs_answer_alike(tmp_path: Path, case: Case) -> None:
    pieces = case.pieces()
    files = _write(tmp_path, pieces)
    merge_dims = ("variable",) if any(p.variable for p in pieces) else ()
    schema, copy_error = _answer(lambda: as_copy(files, merge_dims))
    refs, refs_error = _answer(lambda: as_references(files, merge_dims))
    if case.refused is not None:
        assert copy_error is not None and refs_error is not None
        assert type(copy_error) is IncompatibleInputsError
        assert type(refs_error) is IncompatibleInputsError
        assert str(copy_error) == str(refs_error)
        assert len(re.findall(case.refused, str(copy_error))) == 1
        return
    assert copy_error is None, copy_error
    assert isinstance(schema, TargetSchema)
    if case.unrepresentable is not None:
        assert isinstance(refs_error, UnrepresentableError)
        assert re.search(case.unrepresentable, str(refs_error)), refs_error
        return
    assert refs_error is None, refs_error
    assert isinstance(refs, xr.Dataset)
    _same_dataset(schema, refs, pieces)


def _same_dataset(schema: TargetSchema, refs: xr.Dataset, pieces: list[Piece]) -> None:
    """Both outputs describe the dataset xarray makes of the pieces."""
    expected = xr.merge(
        [
            xr.concat([p.ds for p in pieces if p.variable == v], "time", data_vars="minimal")
            for v in sorted({p.variable for p in pieces})
        ],
        compat="equals",
    )
    assert set(schema.variables) | set(schema.coords) == set(map(str, expected.variables))
    assert set(map(str, refs.variables)) == set(map(str, expected.variables))
    for name in ("time", "lat", "lon"):
        np.testing.assert_array_equal(schema.coords[name].values, expected[name].values)
        np.testing.assert_array_equal(refs[name].values, expected[name].values)
    np.testing.assert_array_equal(refs.lon_bnds.values, expected.lon_bnds.values)
    assert schema.coords["time"].encoding["units"] == refs.time.encoding["units"]
    assert schema.coords["time"].encoding["units"] == "days since 2000-01-01"


def test_different_packing_is_decoded_by_copies(tmp_path: Path) -> None:
    """The case references refuse: a copy decodes each input's own packing."""
    files = _write(
        tmp_path,
        concat(
            cmip(),
            cmip(start=STEPS),
            {"tas": PACKED},
            {"tas": {**PACKED, "scale_factor": np.float32(0.02)}},
        ),
    )
    tas = as_copy(files, ()).variables["tas"]
    assert tas.mode is Mode.DECODED
    assert tas.encoding["dtype"] == np.float32


def _forge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arcoforge.cli", *args], capture_output=True, text=True, timeout=300
    )


def _recipes(tmp: Path, case: Case) -> dict[str, Path]:
    """One recipe per output over the case's inputs: a copy, and references."""
    pieces = case.pieces()
    names = ["tas", "uas"] if any(p.variable for p in pieces) else None
    src = tmp / "src"
    src.mkdir()
    for p in pieces:
        name = f"{names[p.variable]}_{p.time}.nc" if names else f"in{p.time}.nc"
        p.ds.to_netcdf(src / name, engine="h5netcdf", encoding=p.encoding)
    if names:
        sources: dict = {
            "url": f"file://{src}/{{variable}}_{{time}}.nc",
            "concat": {"time": {"start": 0, "end": 0}},
            "merge": {"variable": names},
        }
    else:
        urls = [(src / f"in{p.time}.nc").as_uri() for p in pieces]
        sources = {"urls": urls, "concat_dim": "time"}
    outputs = {"zarr": {"chunks": {"time": 2}}, "references": {"format": "json"}}
    return {
        kind: write_recipe(tmp / kind, {"sources": sources, "outputs": {kind: spec}})
        for kind, spec in outputs.items()
    }


def _named(pattern: str) -> str:
    """``pattern`` with the merged inputs named as :func:`_recipes` names them."""
    return pattern.replace(r"in0\.nc and", r"tas_0\.nc and").replace(
        r"in1\.nc, which", r"uas_0\.nc, which"
    )


CLI_CASES = [c for c in CASES if c.name in ("differing shared lon_bnds", "dtype differs")]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.name for c in CLI_CASES])
def test_forge_run_says_the_same_for_both_outputs(tmp_path: Path, case: Case) -> None:
    """``forge run`` prints the same message whether the recipe copies or references."""
    assert case.refused is not None
    said = {}
    for kind, folder in _recipes(tmp_path, case).items():
        out = tmp_path / f"out-{kind}"
        done = _forge("run", str(folder), "-o", str(out), "--workers", "1", "--json")
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        error = json.loads(done.stdout)["error"]
        assert error["kind"] == "incompatible-inputs"
        assert re.search(_named(case.refused), error["message"]), error["message"]
        # the terminal shows the same words (wrapped to its width)
        assert " ".join(error["message"].split()) in " ".join(done.stderr.split())
        # nothing half-written: only the run's own hidden state, if anything
        assert not [p for p in out.glob("*") if not p.name.startswith(".")]
        said[kind] = error["message"]
    assert said["zarr"] == said["references"]
