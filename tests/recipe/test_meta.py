"""meta.yaml: who made a dataset, who maintains its recipe, and under which licence."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from arcoforge.errors import RecipeError
from arcoforge.recipe import Maintainer, Meta, Provider, ProviderRole
from arcoforge.recipe.model import validate_doc
from arcoforge.recipe.yamlfile import read_yaml
from tests.helpers import META


def meta_with(**changes: Any) -> dict[str, Any]:
    """The test META with some fields replaced (``None`` removes one)."""
    data = copy.deepcopy(META)
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return data


def meta_error(tmp_path: Path, text: str) -> str:
    """The message of validating ``text`` as a meta.yaml file."""
    path = tmp_path / "meta.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError) as e:
        validate_doc(Meta, read_yaml(path))
    return str(e.value)


def dump_error(tmp_path: Path, data: dict[str, Any]) -> str:
    return meta_error(tmp_path, yaml.safe_dump(data, sort_keys=False))


def line_of(tmp_path: Path, text: str) -> str:
    """``meta.yaml:N``, N being the first line of the written meta.yaml that holds ``text``."""
    path = tmp_path / "meta.yaml"
    lines = path.read_text().splitlines()
    return f"{path}:{next(i for i, line in enumerate(lines, 1) if text in line)}"


FULL = {
    "id": "noaa-oisst-v2.1",
    "title": "NOAA OISST v2.1",
    "description": "Daily optimum interpolation sea surface temperature.",
    "license": "cc-by-4.0 or mit",
    "providers": [
        {
            "name": "NOAA NCEI",
            "roles": ["producer", "licensor"],
            "url": "https://www.ncei.noaa.gov",
            "description": "The archive.",
        },
        {"name": "Us", "roles": ["processor", "host"]},
    ],
    "maintainers": [
        {
            "name": "Octo Cat",
            "github": "@octocat",
            "orcid": "https://orcid.org/0000-0002-1825-0097",
        },
        {"name": "Jane Doe", "github": "jane-doe"},
    ],
    "tags": ["sea-surface-temperature", "noaa", "v2"],
}


def test_the_test_meta_is_valid() -> None:
    meta = Meta.model_validate(META)
    assert meta.title == META["title"]
    assert meta.id is None
    assert meta.tags == []


def test_a_full_meta_is_normalised() -> None:
    meta = Meta.model_validate(FULL)
    assert meta.id == "noaa-oisst-v2.1"
    assert meta.license == "CC-BY-4.0 OR MIT"
    assert meta.providers[0].roles == [ProviderRole.PRODUCER, ProviderRole.LICENSOR]
    assert str(meta.providers[0].url) == "https://www.ncei.noaa.gov/"
    assert meta.providers[1].url is None
    assert meta.maintainers[0].github == "octocat"
    assert meta.maintainers[0].orcid == "0000-0002-1825-0097"
    assert meta.maintainers[1].orcid is None
    assert meta.tags == ["sea-surface-temperature", "noaa", "v2"]


@pytest.mark.parametrize("mode", ["python", "json"])
def test_a_meta_round_trips_through_dump_and_validate(mode: str) -> None:
    meta = Meta.model_validate(FULL)
    dumped = meta.model_dump(mode=mode)  # type: ignore[arg-type]
    assert Meta.model_validate(dumped) == meta
    assert Meta.model_validate_json(meta.model_dump_json()) == meta


def test_a_meta_is_frozen() -> None:
    meta = Meta.model_validate(META)
    with pytest.raises(ValidationError):
        meta.title = "Another"  # type: ignore[misc]


def test_text_fields_are_stripped() -> None:
    meta = Meta.model_validate(meta_with(title="  Spaced  ", description="\nD\n"))
    assert meta.title == "Spaced"
    assert meta.description == "D"


@pytest.mark.parametrize("field", ["title", "description", "license", "providers", "maintainers"])
def test_each_required_field_must_be_given(tmp_path: Path, field: str) -> None:
    msg = dump_error(tmp_path, meta_with(**{field: None}))
    assert msg == f"{tmp_path / 'meta.yaml'}: {field}: required field is missing"


@pytest.mark.parametrize("field", ["providers", "maintainers"])
def test_providers_and_maintainers_may_not_be_empty(tmp_path: Path, field: str) -> None:
    msg = dump_error(tmp_path, meta_with(**{field: []}))
    assert msg.startswith(f"{tmp_path / 'meta.yaml'}:")
    assert f": {field}: List should have at least 1 item after validation, not 0" in msg
    assert msg.endswith("Got [] instead")


@pytest.mark.parametrize("title", ["", "   ", "x" * 201])
def test_bad_titles(tmp_path: Path, title: str) -> None:
    msg = dump_error(tmp_path, meta_with(title=title))
    assert ": title: " in msg
    expected = "at most 200" if title.strip() else "at least 1"
    assert expected in msg


def test_a_title_of_200_characters_is_fine() -> None:
    assert Meta.model_validate(meta_with(title="x" * 200)).title == "x" * 200


GOOD_LICENSES = [
    ("CC0-1.0", "CC0-1.0"),
    ("cc0-1.0", "CC0-1.0"),
    ("CC-BY-4.0", "CC-BY-4.0"),
    ("mit", "MIT"),
    ("CC-BY-4.0 OR MIT", "CC-BY-4.0 OR MIT"),
    ("cc-by-4.0 or mit", "CC-BY-4.0 OR MIT"),
    ("MIT AND (Apache-2.0 OR BSD-3-Clause)", "MIT AND (Apache-2.0 OR BSD-3-Clause)"),
    ("LicenseRef-Copernicus", "LicenseRef-Copernicus"),
    ("other", "other"),
]


@pytest.mark.parametrize(("given", "canonical"), GOOD_LICENSES)
def test_spdx_expressions_and_other_are_accepted(given: str, canonical: str) -> None:
    assert Meta.model_validate(meta_with(license=given)).license == canonical


@pytest.mark.parametrize("license", ["proprietary", "Proprietary", "various"])
def test_stac_deprecated_licenses_are_refused_with_advice(tmp_path: Path, license: str) -> None:
    msg = dump_error(tmp_path, meta_with(license=license))
    assert msg == (
        f"{line_of(tmp_path, 'license:')}: license: expected an SPDX license expression or "
        f"'other'. Got {license!r}, which STAC deprecates: use 'other' and link the terms in the "
        "description."
    )


def test_a_license_missing_its_version_suggests_one(tmp_path: Path) -> None:
    msg = dump_error(tmp_path, meta_with(license="CC0"))
    assert msg == (
        f"{line_of(tmp_path, 'license:')}: license: expected an SPDX license expression such as "
        "'CC-BY-4.0' or 'CC0-1.0', or 'other'. Got 'CC0' instead. Did you mean 'CC0-1.0'?"
    )


@pytest.mark.parametrize(
    "license", ["", "Creative Commons", "CC-BY-4.0 OR", "MIT AND", "(MIT", "public domain"]
)
def test_other_non_spdx_licenses_are_refused(tmp_path: Path, license: str) -> None:
    msg = dump_error(tmp_path, meta_with(license=license))
    assert msg.startswith(line_of(tmp_path, "license:"))
    assert ": license: expected an SPDX license expression such as 'CC-BY-4.0'" in msg
    assert f"Got {license!r} instead." in msg


def test_provider_roles_are_the_stac_roles() -> None:
    assert {r.value for r in ProviderRole} == {"licensor", "producer", "processor", "host"}


@pytest.mark.parametrize(
    "roles", [["licensor"], ["producer"], ["processor"], ["host"], [r.value for r in ProviderRole]]
)
def test_good_provider_roles(roles: list[str]) -> None:
    provider = Provider.model_validate({"name": "P", "roles": roles})
    assert [r.value for r in provider.roles] == roles


@pytest.mark.parametrize("role", ["owner", "Producer", "HOST", "distributor", ""])
def test_other_roles_are_refused(tmp_path: Path, role: str) -> None:
    msg = dump_error(tmp_path, meta_with(providers=[{"name": "P", "roles": ["host", role]}]))
    assert msg.endswith(
        ": providers.0.roles.1: Input should be 'licensor', 'producer', 'processor' or 'host'. "
        f"Got {role!r} instead"
    )


def test_a_provider_needs_a_role(tmp_path: Path) -> None:
    msg = dump_error(tmp_path, meta_with(providers=[{"name": "P", "roles": []}]))
    assert ": providers.0.roles: List should have at least 1 item" in msg


@pytest.mark.parametrize("url", ["ftp://example.org", "example.org", "not a url"])
def test_provider_urls_must_be_http(tmp_path: Path, url: str) -> None:
    msg = dump_error(tmp_path, meta_with(providers=[{"name": "P", "roles": ["host"], "url": url}]))
    assert ": providers.0.url: " in msg
    assert f"Got {url!r} instead" in msg


GOOD_ORCIDS = [
    ("0000-0002-1825-0097", "0000-0002-1825-0097"),
    ("0000-0001-5109-3700", "0000-0001-5109-3700"),
    ("0000-0002-1694-233X", "0000-0002-1694-233X"),
    ("https://orcid.org/0000-0002-1825-0097", "0000-0002-1825-0097"),
    ("http://orcid.org/0000-0002-1694-233X", "0000-0002-1694-233X"),
    ("  0000-0002-1825-0097\n", "0000-0002-1825-0097"),
]


@pytest.mark.parametrize(("given", "stored"), GOOD_ORCIDS)
def test_orcids_are_checked_and_normalised(given: str, stored: str) -> None:
    maintainer = Maintainer.model_validate({"name": "M", "github": "m", "orcid": given})
    assert maintainer.orcid == stored


@pytest.mark.parametrize(
    "valid", ["0000-0002-1825-0097", "0000-0001-5109-3700", "0000-0002-1694-233X"]
)
def test_every_other_check_digit_is_refused(valid: str) -> None:
    for check in "0123456789X":
        orcid = valid[:-1] + check
        if orcid == valid:
            continue
        with pytest.raises(ValidationError) as e:
            Maintainer.model_validate({"name": "M", "github": "m", "orcid": orcid})
        assert f"ORCID iD {orcid!r} has a wrong check digit; copy it from orcid.org." in str(
            e.value
        )


def test_a_wrong_check_digit_is_reported_at_its_line(tmp_path: Path) -> None:
    maintainers = [{"name": "M", "github": "m", "orcid": "https://orcid.org/0000-0002-1825-0098"}]
    msg = dump_error(tmp_path, meta_with(maintainers=maintainers))
    assert msg == (
        f"{line_of(tmp_path, 'orcid:')}: maintainers.0.orcid: ORCID iD '0000-0002-1825-0098' "
        "has a wrong check digit; copy it from orcid.org."
    )


BAD_ORCID_FORMS = [
    "0000000218250097",
    "0000-0002-1825-009",
    "0000-0002-1825-00977",
    "0000 0002 1825 0097",
    "orcid.org/0000-0002-1825-0097",
    "https://orcid.org/0000-0002-1825-0097/",
    "https://example.org/0000-0002-1825-0097",
    "0000-0002-1825-009Y",
    "",
]


@pytest.mark.parametrize("orcid", BAD_ORCID_FORMS)
def test_other_orcid_forms_are_refused(orcid: str) -> None:
    with pytest.raises(ValidationError) as e:
        Maintainer.model_validate({"name": "M", "github": "m", "orcid": orcid})
    assert f"expected an ORCID iD such as '0000-0002-1825-0097'. Got {orcid!r} instead." in str(
        e.value
    )


GOOD_HANDLES = [
    ("octocat", "octocat"),
    ("@octocat", "octocat"),
    ("Octo-Cat", "Octo-Cat"),
    ("a", "a"),
    ("user123", "user123"),
    ("a" * 39, "a" * 39),
]


@pytest.mark.parametrize(("given", "stored"), GOOD_HANDLES)
def test_github_handles_are_normalised(given: str, stored: str) -> None:
    assert Maintainer.model_validate({"name": "M", "github": given}).github == stored


BAD_HANDLES = [
    "",
    "@",
    "@@octocat",
    "-octocat",
    "octocat-",
    "octo--cat",
    "octo_cat",
    "octo.cat",
    "octo cat",
    "a" * 40,
    "https://github.com/octocat",
    "octocat/repo",
]


@pytest.mark.parametrize("handle", BAD_HANDLES)
def test_bad_github_handles_are_refused(tmp_path: Path, handle: str) -> None:
    msg = dump_error(tmp_path, meta_with(maintainers=[{"name": "M", "github": handle}]))
    assert msg == (
        f"{line_of(tmp_path, 'github:')}: maintainers.0.github: expected a GitHub user name such "
        f"as 'octocat'. Got {handle!r} instead."
    )


def test_a_maintainer_needs_a_github_handle(tmp_path: Path) -> None:
    msg = dump_error(tmp_path, meta_with(maintainers=[{"name": "M"}]))
    assert (
        msg == f"{line_of(tmp_path, '- name: M')}: maintainers.0.github: required field is missing"
    )


@pytest.mark.parametrize("tags", [[], ["sst"], ["sea-surface-temperature", "v2", "c++", "era5"]])
def test_good_tags(tags: list[str]) -> None:
    assert Meta.model_validate(meta_with(tags=tags)).tags == tags


@pytest.mark.parametrize("tag", ["SST", "sea surface", "sea_surface", "-sst", "", "été"])
def test_bad_tags(tmp_path: Path, tag: str) -> None:
    msg = dump_error(tmp_path, meta_with(tags=["ok", tag]))
    assert msg.endswith(
        ": tags.1: expected a lowercase tag of letters, digits and '-' "
        f"(e.g. 'sea-surface-temperature'). Got {tag!r} instead."
    )


@pytest.mark.parametrize("value", ["noaa-oisst-v2.1", "era5_t2m", "x" * 64])
def test_good_ids(value: str) -> None:
    assert Meta.model_validate(meta_with(id=value)).id == value


@pytest.mark.parametrize("value", ["NOAA", "a/b", "..", "a b", "-a", "x" * 65])
def test_bad_ids(tmp_path: Path, value: str) -> None:
    msg = dump_error(tmp_path, meta_with(id=value))
    assert ": id: " in msg
    assert "expected an id of at most 64 lowercase letters" in msg
    assert msg.endswith(f"Got {value!r} instead.")


UNKNOWN_KEYS = [
    ({"licence": "CC0-1.0"}, "licence", "Did you mean 'license'?"),
    ({"maintainer": []}, "maintainer", "Did you mean 'maintainers'?"),
    ({"tag": []}, "tag", "Did you mean 'tags'?"),
    ({"keywords": []}, "keywords", ""),
]


@pytest.mark.parametrize(("extra", "key", "hint"), UNKNOWN_KEYS)
def test_unknown_top_level_keys_point_at_their_line(
    tmp_path: Path, extra: dict[str, Any], key: str, hint: str
) -> None:
    msg = dump_error(tmp_path, {**META, **extra})
    assert msg == (
        f"{line_of(tmp_path, key + ':')}: {key}: unknown field {key!r}; expected one of "
        "citation, description, id, license, maintainers, providers, tags, title."
        + (f" {hint}" if hint else "")
    )


def test_unknown_nested_keys_point_at_their_line(tmp_path: Path) -> None:
    text = """\
title: T
description: D
license: CC0-1.0
providers:
  - name: P
    role: [host]
maintainers:
  - name: M
    github: m
    orcd: 0000-0002-1825-0097
"""
    msg = meta_error(tmp_path, text)
    path = tmp_path / "meta.yaml"
    assert msg.splitlines() == [
        f"{path}:6: providers.0.role: unknown field 'role'; expected one of description, "
        "name, roles, url. Did you mean 'roles'?",
        f"{path}:10: maintainers.0.orcd: unknown field 'orcd'; expected one of github, name, "
        "orcid. Did you mean 'orcid'?",
    ]


def test_every_problem_is_reported_at_its_own_line(tmp_path: Path) -> None:
    text = """\
id: Bad Id
title: T
description: D
license: CC0
providers:
  - name: P
    roles:
      - producer
      - owner
maintainers:
  - name: M
    github: -bad
tags: [ok, Not-OK]
"""
    path = tmp_path / "meta.yaml"
    lines = meta_error(tmp_path, text).splitlines()
    assert [line.split(": ")[0] for line in lines] == [
        f"{path}:1",
        f"{path}:4",
        f"{path}:9",
        f"{path}:12",
        f"{path}:13",
    ]
    assert [line.split(": ")[1] for line in lines] == [
        "id",
        "license",
        "providers.0.roles.1",
        "maintainers.0.github",
        "tags.1",
    ]
    assert "Got 'Bad Id' instead." in lines[0]
    assert "Got 'CC0' instead." in lines[1]
    assert "Got 'owner' instead" in lines[2]
    assert "Got '-bad' instead." in lines[3]
    assert "Got 'Not-OK' instead." in lines[4]


def test_wrong_types_say_what_was_found(tmp_path: Path) -> None:
    msg = dump_error(tmp_path, meta_with(providers="NOAA"))
    assert msg == (
        f"{line_of(tmp_path, 'providers:')}: providers: Input should be a valid list. "
        "Got 'NOAA' instead"
    )
