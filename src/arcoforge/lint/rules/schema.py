"""Rules from validating meta.yaml and recipe.yaml against their schemas, in one pass.

Every validation error becomes a finding with its file and line. Errors with a rule of
their own (license, provider roles, GitHub handles, ids, URL template fields) get that
rule's code; the rest are schema errors.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ValidationError

from arcoforge.errors import RecipeError
from arcoforge.lint.folder import META, RECIPE_YAML, RecipeFolder
from arcoforge.lint.registry import Finding, Rule, define
from arcoforge.lint.rules.context import LintContext
from arcoforge.recipe.meta import Meta
from arcoforge.recipe.model import URL_FIELDS, Problem, describe_errors
from arcoforge.recipe.spec import RecipeSpec
from arcoforge.recipe.urls import local_inputs_warning, validate_id
from arcoforge.recipe.validated import check_urls
from arcoforge.recipe.yamlfile import YamlDoc

SCHEMA = define(
    "FG002",
    "error",
    "A field is missing, unknown or of the wrong kind",
    """
    `meta.yaml` and `recipe.yaml` are checked against their schemas (see
    [writing-a-recipe.md](writing-a-recipe.md)); every problem is reported at once, each
    with its line, the field, what was expected and what was found. Unknown fields are
    refused with the nearest known name, so a typo never passes silently.
    """,
)

ID_SLUG = define(
    "FG004",
    "error",
    "The recipe id is not a slug",
    """
    A recipe's id names its dataset (`<output>/<id>.zarr`), its catalog entry and its
    feedstock repository (`<id>-feedstock`). It is the folder's name unless `meta.yaml`
    sets `id:`, and must be at most 64 lowercase letters, digits and single `-`, `_` or
    `.` between them, such as `noaa-oisst-avhrr-v2.1`.
    """,
)

LICENSE = define(
    "FG006",
    "error",
    "The license is not an SPDX license expression",
    """
    `license` is an [SPDX license expression](https://spdx.org/licenses/) such as
    `CC-BY-4.0`, `CC0-1.0` or `CC-BY-4.0 OR MIT`, checked against the SPDX license list
    shipped with the `packaging` library (no network). When the data's terms are not an
    SPDX license, write `other` and state the terms (see FG007). `proprietary` and
    `various` are refused: STAC deprecates them.
    """,
)

PROVIDER_ROLE = define(
    "FG008",
    "error",
    "A provider has a role STAC does not know",
    """
    Each provider's `roles` are taken from the STAC provider roles: `producer` (made the
    data), `licensor` (sets its terms), `processor` (reworked it) and `host` (serves the
    files). Legacy recipes often say `provider`: that is `host`.
    """,
)

MAINTAINER_GITHUB = define(
    "FG009",
    "error",
    "A maintainer has no GitHub handle",
    """
    Every maintainer has a `github:` user name (a leading `@` is dropped): reviewers
    reach them by it, and a recipe's maintainers become its feedstock's collaborators.
    An `orcid:` is welcome as well, but does not replace the handle.
    """,
)

URL_TEMPLATE = define(
    "FG010",
    "error",
    "The URL template's fields are not the combine dimensions",
    """
    Every field of `sources.url` (`{time:%Y%m%d}`, `{variable}`) must be a dimension under
    `concat` or `merge`, and every dimension must appear in the template: a dimension
    missing from it would give every input the same URL. Fields are plain names with an
    optional format; no attribute access, indexing or conversions.
    """,
)

INPUTS = define(
    "FG017",
    "error",
    "An input URL is not allowed or repeats another",
    """
    The inputs are expanded from `sources` (nothing is fetched) and each URL is checked:
    an allowed scheme (`https://`, `s3://`, `gs://`, `file:///`...), no credentials, no
    `.` or `..` segments, and no two inputs with the same URL (usually a template field
    that does not vary, such as `{time:%Y}` with daily keys).
    """,
)

LOCAL_INPUTS = define(
    "FG018",
    "hint",
    "Inputs are local files, which the platform's CI cannot read",
    """
    Plain paths (absolute, or relative to the recipe folder) and `file://` URLs work for
    `forge run` on the machine that has the files. A recipe meant for the platform is
    tested in CI and run by its feedstock elsewhere, so it needs URLs those machines can
    reach: `https://`, `ftp://`, `s3://`, `gs://`.
    """,
)


#: What to do, added to validation messages that only say what is wrong.
_ADVICE = {
    "FG008": "A provider that serves the files has the role `host`.",
    "FG009": "Add the maintainer's GitHub user name, such as `github: octocat`.",
}
_ADD_IT = "Add it: docs/writing-a-recipe.md describes every field."


def _message(rule: Rule, problem: Problem) -> str:
    text = f"{problem.field}: {problem.message}"
    advice = _ADVICE.get(rule.code) or (_ADD_IT if problem.type == "missing" else "")
    if advice:
        text = f"{text.rstrip('.')}. {advice}"
    return text


def _classify(problem: Problem, model: type[BaseModel]) -> Rule:
    """The rule a validation problem belongs to."""
    loc = problem.loc
    if model is Meta:
        if loc[:1] == ("license",):
            return LICENSE
        if loc[:1] == ("id",):
            return ID_SLUG
        if len(loc) == 4 and loc[0] == "providers" and loc[2] == "roles":
            return PROVIDER_ROLE
        if len(loc) == 3 and loc[0] == "maintainers" and loc[2] == "github":
            return MAINTAINER_GITHUB
    if problem.type == URL_FIELDS:
        return URL_TEMPLATE
    return SCHEMA


def validate(doc: YamlDoc, model: type[BaseModel], shown: str) -> tuple[object, list[Finding]]:
    """Validate ``doc``: the model (or None) and a finding per problem."""
    try:
        return model.model_validate(doc.data), []
    except ValidationError as e:
        findings = []
        for problem in describe_errors(e, doc):
            rule = _classify(problem, model)
            line = problem.line
            if rule is URL_TEMPLATE:  # point at the template rather than at `sources:`
                line = doc.line_of((*problem.loc, "url")) or line
            findings.append(rule.finding(shown, _message(rule, problem), line))
        return None, sorted(findings, key=lambda f: f.line or 0)


def check_schema(folder: RecipeFolder, ctx: LintContext) -> Iterator[Finding]:
    """FG002, FG004, FG006, FG008, FG009, FG010, FG017, FG018: the schemas and the inputs."""
    if folder.meta is not None:
        _, findings = validate(folder.meta, Meta, folder.show(META))
        yield from findings
    if folder.meta is not None and folder.meta.data.get("id") is None:
        try:
            validate_id(folder.folder_id, where="id")
        except RecipeError:
            yield ID_SLUG.finding(
                folder.shown,
                f"the folder name {folder.folder_id!r} is not a valid recipe id: expected "
                "lowercase letters, digits and single '-', '_' or '.' (e.g. 'noaa-oisst-v2.1'). "
                f"Rename the folder or set `id:` in {META}.",
            )
    if folder.spec is None:
        return
    spec, findings = validate(folder.spec, RecipeSpec, folder.show(RECIPE_YAML))
    yield from findings
    if isinstance(spec, RecipeSpec) and spec.sources is not None:
        line = folder.spec.line_of(("sources",))
        try:
            pattern = spec.sources.located(folder.path.resolve()).pattern()
            check_urls(pattern)
        except (RecipeError, ValueError) as e:  # repeated keys, a range too long
            yield INPUTS.finding(folder.show(RECIPE_YAML), str(e), line)
            return
        warning = local_inputs_warning([url for _, url in pattern.items()])
        if warning:
            yield LOCAL_INPUTS.finding(folder.show(RECIPE_YAML), warning, line)
