"""Real legacy Pangeo Forge recipes: recognised, never run, never crashing the linter.

They live outside the project, in ``../shared/examples/pangeo-forge-legacy`` beside the
repository (a work tree may sit one level deeper); the tests skip when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from arcoforge.lint import lint_paths
from arcoforge.lint.engine import find_recipe_folders
from tests.lint.conftest import write

ROOT = Path(__file__).resolve().parents[2]
_CANDIDATES = [
    base / "shared" / "examples" / "pangeo-forge-legacy" for base in (ROOT.parent, ROOT.parents[1])
]
LEGACY = next((p for p in _CANDIDATES if p.is_dir()), None)
FOLDERS = find_recipe_folders(LEGACY) if LEGACY else []
needs_examples = pytest.mark.skipif(
    LEGACY is None, reason="../shared/examples/pangeo-forge-legacy is not beside the repository"
)


@needs_examples
def test_there_are_legacy_examples() -> None:
    assert len(FOLDERS) >= 20


@needs_examples
@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_each_legacy_recipe_is_named_as_such(folder: Path) -> None:
    report = lint_paths([folder])
    assert not report.ok
    [legacy] = [f for f in report.findings if f.code == "FG015"]
    assert legacy.level == "error" and legacy.path == f"{folder}/meta.yaml"
    assert "legacy Pangeo Forge" in legacy.message and "forge migrate" in legacy.message
    # The legacy error stands alone: the rest are hints on how to migrate, not a
    # schema error per field of a format the contributor did not mean to write.
    assert [f.code for f in report.errors] == ["FG015"]
    hints = [f for f in report.findings if f.code == "FG016"]
    assert hints and all(f.level == "hint" for f in hints)


@needs_examples
def test_the_whole_folder_at_once() -> None:
    report = lint_paths([LEGACY])
    assert len(report.folders) == len(FOLDERS)
    assert sum(f.code == "FG015" for f in report.findings) == len(FOLDERS)


@needs_examples
def test_hints_name_each_legacy_field_at_its_line() -> None:
    folder = LEGACY / "noaa-oisst"
    report = lint_paths([folder])
    meta = (folder / "meta.yaml").read_text().splitlines()
    hints = {f.message.split(":")[0]: f for f in report.findings if f.path.endswith("meta.yaml")}
    for field in ("recipes", "provenance", "pangeo_forge_version", "bakery"):
        assert meta[hints[field].line - 1].startswith(f"{field}:"), field
    assert "Set `id: noaa-oisst-avhrr-only`" in hints["recipes"].message
    code = {f.message.split(":")[0] for f in report.findings if f.path.endswith("recipe.py")}
    assert code == {"FilePattern", "XarrayZarrRecipe"}


@needs_examples
def test_secrets_and_network_at_import_are_hinted() -> None:
    report = lint_paths([LEGACY / "mursst"])
    reach = [f for f in report.findings if f.code == "FG014"]
    assert any("os.environ" in f.message for f in reach)
    assert any(
        "calls gen_data_links()" in f.message and "cmr.GranuleQuery" in f.message for f in reach
    )


def test_a_legacy_meta_alone_is_recognised(tmp_path: Path) -> None:
    meta = {
        "title": "T",
        "pangeo_forge_version": "0.9.0",
        "recipes": [{"id": "My_Recipe", "object": "recipe:recipe"}],
        "provenance": {"providers": [{"name": "P", "roles": ["provider"]}], "license": "Open"},
        "maintainers": [{"name": "M", "orcid": "0000-0002-1825-0097"}],
    }
    report = lint_paths([write(tmp_path / "old", meta=meta)])
    assert [f.code for f in report.errors] == ["FG015"]
    messages = " | ".join(f.message for f in report.hints)
    assert "Set `id: my-recipe`" in messages
    assert "role 'provider' is not a STAC role; use host" in messages
    assert "'Open' is not an SPDX id" in messages
    assert "add the maintainer's `github:` handle" in messages
