"""``forge migrate`` on real legacy recipes: drafts that load, and honest about the rest."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from arcoforge.errors import RecipeError
from arcoforge.lint import lint_paths
from arcoforge.lint.migrate import draft, migrate_folder
from arcoforge.recipe import load_recipe
from tests.lint.test_legacy import FOLDERS, LEGACY, needs_examples
from tests.test_cli import forge


def urls(folder: Path) -> list[str]:
    recipe = load_recipe(folder, run_code=False)
    return [url for _, url in recipe.pattern.items()]


@needs_examples
def test_a_date_range_and_a_format_string(tmp_path: Path) -> None:
    # casm: make_url(time) formats 'https://zenodo.org/.../CASM_SM_{time:%Y}.nc' over
    # pd.date_range('2002-01-01', '2020-12-31', freq='Y'): one file a year, 2002 to 2020.
    result = migrate_folder(LEGACY / "casm", tmp_path / "casm")
    assert result.untranslated == []
    got = urls(tmp_path / "casm")
    assert got == [
        f"https://zenodo.org/record/7072512/files/CASM_SM_{y}.nc" for y in range(2002, 2021)
    ]
    meta = yaml.safe_load((tmp_path / "casm" / "meta.yaml").read_text())
    assert meta["id"] == "casm-soil-moisture" and meta["license"] == "CC-BY-4.0"
    assert meta["providers"][0]["roles"] == ["licensor", "producer"]
    assert meta["maintainers"] == [
        {"name": "Olya Skulovich", "github": "os2328", "orcid": "0000-0002-3203-5166"}
    ]
    assert lint_paths([tmp_path / "casm"]).findings == []


@needs_examples
def test_an_f_string_over_years_and_variables(tmp_path: Path) -> None:
    # terraclimate: f".../TerraClimate_{variable}_{time}.nc" over years 1958-2020 and 14
    # variables, with target_chunks {lat: 1024, lon: 1024, time: 24}.
    result = migrate_folder(LEGACY / "terraclimate", tmp_path / "tc")
    got = urls(tmp_path / "tc")
    base = "http://thredds.northwestknowledge.net:8080/thredds/fileServer/TERRACLIMATE_ALL/data/"
    assert len(got) == 63 * 14
    assert got[0] == base + "TerraClimate_aet_1958.nc"
    assert got[-1] == base + "TerraClimate_PDSI_2020.nc"
    spec = yaml.safe_load((tmp_path / "tc" / "recipe.yaml").read_text())
    assert spec["outputs"] == {"zarr": {"chunks": {"lat": 1024, "lon": 1024, "time": 24}}}
    assert any(n.startswith("process_chunk=preproc (line 98)") for n in result.untranslated)
    text = (tmp_path / "tc" / "recipe.yaml").read_text()
    assert "#   - process_chunk=preproc (line 98): rewrite it as `preprocess(ds, index)`" in text


@needs_examples
def test_what_cannot_be_translated_is_said(tmp_path: Path) -> None:
    result = migrate_folder(LEGACY / "noaa-oisst", tmp_path / "oisst")
    assert result.untranslated == [
        "sources: the keys range(len(dates)) are positions the format function turns into "
        "values at run time; write `sources` in recipe.yaml by hand"
    ]
    report = lint_paths([tmp_path / "oisst"])
    assert [f.code for f in report.findings] == ["FG003"]
    isccp = draft(LEGACY / "noaa-atmosphere-climate-cloud-properties-isccp-hgh-basic")
    assert "sources: the list of files is computed at run time" in " ".join(isccp.untranslated)
    assert isccp.recipe["outputs"] == {"references": {"format": "json"}}


@needs_examples
@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_every_legacy_recipe_gets_a_draft(folder: Path, tmp_path: Path) -> None:
    result = migrate_folder(folder, tmp_path / "draft")
    assert [p.name for p in result.written] == ["meta.yaml", "recipe.yaml"]
    report = lint_paths([tmp_path / "draft"])
    # A draft is an ARCO Forge recipe, good or not: never legacy, never unreadable.
    assert not {f.code for f in report.findings} & {"FG001", "FG015", "FG016"}
    if "sources" not in result.recipe:
        assert any(n.startswith("sources:") or "sources" in n for n in result.untranslated)


def test_a_draft_never_replaces_files_unasked(tmp_path: Path) -> None:
    legacy = tmp_path / "old"
    legacy.mkdir()
    (legacy / "meta.yaml").write_text("title: T\nrecipes: [{id: t, object: 'recipe:r'}]\n")
    out = tmp_path / "new"
    out.mkdir()
    (out / "recipe.yaml").write_text("kept\n")
    with pytest.raises(RecipeError, match="expected no file here"):
        migrate_folder(legacy, out)
    assert (out / "recipe.yaml").read_text() == "kept\n"
    result = migrate_folder(legacy, out, overwrite=True)
    assert "there is no recipe.py: write `sources` in recipe.yaml by hand" in result.untranslated


def test_cli(tmp_path: Path) -> None:
    legacy = tmp_path / "old"
    legacy.mkdir()
    (legacy / "meta.yaml").write_text("title: T\nrecipes: [{id: My Data, object: 'recipe:r'}]\n")
    done = forge("migrate", str(legacy), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote my-data/meta.yaml" in done.stdout and "not translated:" in done.stdout
    assert (tmp_path / "my-data" / "recipe.yaml").is_file()
    done = forge("migrate", str(tmp_path / "nothing"), cwd=tmp_path)
    assert done.returncode == 1 and "expected a legacy recipe folder" in done.stderr


@pytest.mark.parametrize(
    "body",
    [
        'return "https://h.example.org/{y}/{var}_{ymd}.nc".format('
        'y=time.strftime("%Y"), var=variable, ymd=time.strftime("%Y%m%d"))',
        "return f\"https://h.example.org/{time.strftime('%Y')}/{variable}_{time:%Y%m%d}.nc\"",
    ],
)
def test_strftime_becomes_a_template_format(tmp_path: Path, body: str) -> None:
    legacy = tmp_path / "old"
    legacy.mkdir()
    (legacy / "meta.yaml").write_text(
        "title: T\ndescription: D\nrecipes: [{id: t, object: 'recipe:r'}]\n"
        "provenance: {license: CC-BY-4.0, providers: [{name: P, roles: [host]}]}\n"
        "maintainers: [{name: M, github: m}]\n"
    )
    (legacy / "recipe.py").write_text(
        "import pandas as pd\n"
        "from pangeo_forge_recipes.patterns import ConcatDim, FilePattern, MergeDim\n"
        "dates = pd.date_range('2020-01-30', '2020-02-02', freq='D')\n\n\n"
        f"def make_url(time, variable):\n    {body}\n\n\n"
        "variables = ['a', 'b']\n"
        "pattern = FilePattern(\n"
        "    make_url, ConcatDim('time', dates), MergeDim('variable', variables)\n"
        ")\n"
    )
    result = migrate_folder(legacy, tmp_path / "new")
    assert result.untranslated == []
    assert (
        result.recipe["sources"]["url"]
        == "https://h.example.org/{time:%Y}/{variable}_{time:%Y%m%d}.nc"
    )
    got = urls(tmp_path / "new")
    assert got[:2] == [
        "https://h.example.org/2020/a_20200130.nc",
        "https://h.example.org/2020/b_20200130.nc",
    ]
    assert got[-1] == "https://h.example.org/2020/b_20200202.nc" and len(got) == 8
    assert lint_paths([tmp_path / "new"]).findings == []
