"""Each lint rule on folders made to break it: the code, the file, the line and the advice."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from arcoforge.lint import Finding, LintReport, lint_paths
from tests.helpers import META
from tests.lint.conftest import SPEC, write


def found(report: LintReport) -> list[tuple[str, str, int | None]]:
    """(code, file name, line) of every finding, in order."""
    return [(f.code, Path(f.path).name, f.line) for f in report.findings]


def line(file: Path, text: str) -> int:
    """The first line of ``file`` that holds ``text``."""
    return next(i for i, ln in enumerate(file.read_text().splitlines(), 1) if text in ln)


def only(report: LintReport, code: str) -> Finding:
    [finding] = [f for f in report.findings if f.code == code]
    return finding


def spec_with(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(SPEC)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = spec
        for p in parents:
            node = node[p]
        node[last] = value
    return spec


def test_a_valid_recipe_has_no_findings(tmp_path: Path) -> None:
    report = lint_paths([write(tmp_path / "good-sst", spec=SPEC)])
    assert report.findings == [] and report.ok
    assert report.folders == [f"{tmp_path}/good-sst"]


def test_every_schema_error_in_one_pass_with_its_line(tmp_path: Path) -> None:
    meta = {**META, "titel": "typo", "license": "CC0"}
    meta.pop("description")
    spec = """\
sources:
  url: "https://h.example.org/{time:%Y%m%d}.nc"
  concat:
    time: {start: "2020-01-01", end: "2020-01-03", freq: "D"}
outputs:
  zarr:
    chunk: {time: 2}
    compression: brotli
"""
    folder = write(tmp_path / "bad", meta=meta, spec=spec)
    report = lint_paths([folder])
    assert not report.ok
    assert found(report) == [
        ("FG002", "meta.yaml", None),  # description is missing: no line of its own
        ("FG006", "meta.yaml", line(folder / "meta.yaml", "license:")),
        ("FG002", "meta.yaml", line(folder / "meta.yaml", "titel:")),
        ("FG002", "recipe.yaml", 7),
        ("FG002", "recipe.yaml", 8),
    ]
    messages = [f.message for f in report.findings]
    assert messages[0] == (
        "description: required field is missing. Add it: docs/writing-a-recipe.md describes "
        "every field."
    )
    assert "Did you mean 'CC0-1.0'?" in messages[1]
    assert messages[2].startswith("titel: unknown field 'titel'") and "'title'" in messages[2]
    assert "Did you mean 'chunks'?" in messages[3]
    assert messages[4].startswith("outputs.zarr.compression: Input should be 'lz4'")


def test_unreadable_files_are_reported_not_raised(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "broken",
        spec="sources: [unclosed\n",
        files={"recipe.py": "def f(:\n    pass\n"},
    )
    (folder / "meta.yaml").write_text("title: a\ntitle: b\n")
    report = lint_paths([folder])
    assert found(report) == [
        ("FG001", "meta.yaml", 2),
        ("FG001", "recipe.yaml", 2),
        ("FG001", "recipe.py", 1),
    ]
    assert "'title' is given twice" in report.findings[0].message
    assert report.findings[2].message.startswith("not valid Python")


def test_layout(tmp_path: Path) -> None:
    no_recipe = write(tmp_path / "no-recipe")
    report = lint_paths([no_recipe])
    assert found(report) == [("FG003", "no-recipe", None)]
    assert "expected a recipe.yaml" in report.findings[0].message

    twice = write(
        tmp_path / "twice",
        spec=SPEC,
        files={"recipe.py": "import arcoforge\n\npattern = arcoforge.FilePattern(str)\n"},
    )
    assert found(lint_paths([twice])) == [("FG003", "recipe.py", 3)]

    py_only = write(tmp_path / "py-only", files={"recipe.py": "x = 1\n"})
    report = lint_paths([py_only])
    assert [(c, n) for c, n, _ in found(report)] == [("FG003", "recipe.py"), ("FG003", "recipe.py")]
    assert "`pattern = ...`" in report.findings[0].message
    assert "`outputs = ...`" in report.findings[1].message

    (tmp_path / "meta-less").mkdir()
    (tmp_path / "meta-less" / "meta.yml").write_text("title: x\n")
    (tmp_path / "meta-less" / "recipe.yaml").write_text("outputs: {zarr: {}}\n")
    report = lint_paths([tmp_path / "meta-less"])
    assert found(report)[0] == ("FG003", "meta.yaml", None)
    assert "Found meta.yml: rename it to meta.yaml" in report.findings[0].message


def test_a_path_with_nothing_to_lint(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    report = lint_paths([tmp_path / "empty", tmp_path / "missing"])
    assert [f.code for f in report.findings] == ["FG003", "FG003"]
    assert "Found none" in report.findings[0].message
    assert "Found nothing" in report.findings[1].message


def test_id_not_a_slug(tmp_path: Path) -> None:
    report = lint_paths([write(tmp_path / "My_SST", spec=SPEC)])
    assert found(report) == [("FG004", "My_SST", None)]
    assert "Rename the folder or set `id:`" in report.findings[0].message
    folder = write(tmp_path / "ok", meta={**META, "id": "Bad Id"}, spec=SPEC)
    assert found(lint_paths([folder])) == [
        ("FG004", "meta.yaml", line(folder / "meta.yaml", "id:"))
    ]


def test_id_taken_by_another_recipe_or_a_feedstock(repo: Path) -> None:
    second = write(repo / "recipes" / "second", meta={**META, "id": "first-sst"}, spec=SPEC)
    report = lint_paths([repo / "recipes" / "second"], repo=repo)
    finding = only(report, "FG005")
    assert finding.path == "recipes/second/meta.yaml"
    assert finding.line == line(second / "meta.yaml", "id: first-sst")
    assert "also the id of recipes/first-sst" in finding.message

    (repo / "feedstocks.yaml").write_text(
        "feedstocks:\n  - id: taken-sst\n    repo: arcoforge/taken-sst-feedstock\n"
    )
    write(repo / "recipes" / "taken-sst", spec=SPEC)
    finding = only(lint_paths([repo / "recipes" / "taken-sst"], repo=repo), "FG005")
    assert finding.path == "recipes/taken-sst"
    assert "feedstock arcoforge/taken-sst-feedstock listed in feedstocks.yaml" in finding.message


def test_the_committed_feedstocks_file_is_an_empty_list() -> None:
    import yaml

    root = Path(__file__).resolve().parents[2]
    assert yaml.safe_load((root / "feedstocks.yaml").read_text()) == {"feedstocks": []}


@pytest.mark.parametrize(
    ("license", "code"),
    [("CC-BY-4.0", None), ("CC-BY-4.0 OR MIT", None), ("Open Data", "FG006"), ("various", "FG006")],
)
def test_license_is_spdx(tmp_path: Path, license: str, code: str | None) -> None:
    report = lint_paths([write(tmp_path / "sst", meta={**META, "license": license}, spec=SPEC)])
    assert [f.code for f in report.findings] == ([code] if code else [])


def test_other_needs_the_terms(tmp_path: Path) -> None:
    meta = {**META, "license": "other", "description": "Daily SST."}
    report = lint_paths([write(tmp_path / "sst", meta=meta, spec=SPEC)])
    assert found(report) == [("FG007", "meta.yaml", 3)]
    stated = {**meta, "description": "Daily SST.\n\nLicense terms: free to use, cite NOAA."}
    assert lint_paths([write(tmp_path / "sst2", meta=stated, spec=SPEC)]).ok
    write(tmp_path / "sst3", meta=meta, spec=SPEC, files={"LICENSE.txt": "Free to use."})
    assert lint_paths([tmp_path / "sst3"]).ok


def test_provider_roles_and_github_handles(tmp_path: Path) -> None:
    meta = {
        **META,
        "providers": [{"name": "NOAA", "roles": ["producer", "provider"]}],
        "maintainers": [
            {"name": "Jane", "orcid": "0000-0002-1825-0097"},
            {"name": "Joe", "github": "not a handle"},
        ],
    }
    folder = write(tmp_path / "sst", meta=meta, spec=SPEC)
    report = lint_paths([folder])
    file = folder / "meta.yaml"
    assert found(report) == [
        ("FG008", "meta.yaml", line(file, "- provider")),
        ("FG009", "meta.yaml", line(file, "- name: Jane")),
        ("FG009", "meta.yaml", line(file, "github: not a handle")),
    ]
    assert "'licensor', 'producer', 'processor' or 'host'" in report.findings[0].message
    assert report.findings[1].message == (
        "maintainers.0.github: required field is missing. Add the maintainer's GitHub user "
        "name, such as `github: octocat`."
    )


def test_url_template_fields_match_the_dims(tmp_path: Path) -> None:
    unknown = spec_with(sources__url="https://h.example.org/{variable}/{time:%Y%m%d}.nc")
    report = lint_paths([write(tmp_path / "a", spec=unknown)])
    assert found(report) == [("FG010", "recipe.yaml", 2)]
    assert "template field {variable} is not a dimension" in report.findings[0].message
    missing = spec_with(sources__merge={"variable": ["sst", "ice"]})
    report = lint_paths([write(tmp_path / "b", spec=missing)])
    assert found(report) == [("FG010", "recipe.yaml", 2)]
    assert "dimension 'variable' does not appear in the template" in report.findings[0].message


def test_inputs_are_expanded_and_checked(tmp_path: Path) -> None:
    repeat = spec_with(sources__url="https://h.example.org/sst.{time:%Y}.nc")
    report = lint_paths([write(tmp_path / "a", spec=repeat)])
    assert found(report) == [("FG017", "recipe.yaml", 1)]
    assert "the URL of input time=0 too" in report.findings[0].message
    creds = spec_with(sources__url="https://me:pw@h.example.org/{time:%Y%m%d}.nc")
    assert (
        "carries credentials"
        in only(lint_paths([write(tmp_path / "b", spec=creds)]), "FG017").message
    )


@pytest.mark.parametrize(
    ("zarr", "hint"),
    [
        ({"chunks": {"time": 30, "lat": 180, "lon": 360}}, None),  # 7.8 MB
        ({"chunks": {"time": 3650, "lat": 720, "lon": 1440}}, "at least 15.1 GB a chunk"),
        ({"chunks": {"time": 1, "lat": 10, "lon": 10}}, "about 0.4 kB a chunk"),
        ({"chunks": {"time": 1}}, None),  # the grid is unknown: nothing to say
        ({"chunk_size": "100MB"}, None),
        ({"chunk_size": "2GB"}, "2.0 GB is outside 1-100 MB"),
        ({"chunk_size": "10kB"}, "10.0 kB is outside 1-100 MB"),
    ],
)
def test_chunk_sizes_are_a_hint(tmp_path: Path, zarr: dict[str, Any], hint: str | None) -> None:
    folder = write(tmp_path / "sst", spec=spec_with(outputs={"zarr": zarr}))
    report = lint_paths([folder])
    assert report.ok  # hints never fail
    if hint is None:
        assert report.findings == []
    else:
        finding = only(report, "FG011")
        assert finding.level == "hint" and hint in finding.message
        assert finding.line == line(folder / "recipe.yaml", next(iter(zarr)) + ":")


def test_a_hint_never_fails_the_cli(tmp_path: Path) -> None:
    from tests.test_cli import forge

    folder = write(tmp_path / "sst", spec=spec_with(outputs={"zarr": {"chunk_size": "2GB"}}))
    done = forge("lint", str(folder))
    assert done.returncode == 0, done.stdout
    assert "FG011 hint" in done.stdout and "0 errors, 1 hint" in done.stdout
