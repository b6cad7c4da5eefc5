"""FG015, FG016: legacy Pangeo Forge recipes, recognised and given a way forward."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import Any

from arcoforge.lint.folder import META, RECIPE_PY, RecipeFolder
from arcoforge.lint.registry import Finding, define
from arcoforge.lint.rules.context import LintContext

LEGACY = define(
    "FG015",
    "error",
    "A legacy Pangeo Forge recipe",
    """
    Pangeo Forge recipes (a `meta.yaml` with `recipes: [{id, object}]`, `provenance:`,
    `pangeo_forge_version` and `bakery:`, and a `recipe.py` that builds a `FilePattern`
    and an `XarrayZarrRecipe` or a Beam pipeline) are recognised, never run, and not
    accepted as they are: ARCO Forge reads a declarative `recipe.yaml`. `forge migrate
    FOLDER` writes a first draft of `meta.yaml` and `recipe.yaml` where the pattern is
    simple and says what it could not translate; the FG016 hints say what to do with
    each legacy field.
    """,
)

MIGRATE_FIELD = define(
    "FG016",
    "hint",
    "How to migrate one field of a legacy recipe",
    """
    One hint per legacy field: `recipes` becomes `id:` (and `sources` in `recipe.yaml`),
    `provenance.providers` and `provenance.license` move to the top level,
    `pangeo_forge_version`, `pangeo_notebook_version` and `bakery` are dropped (the
    platform chooses versions and runners), a `FilePattern` becomes `sources`, an
    `XarrayZarrRecipe`'s `target_chunks` becomes `outputs.zarr.chunks`, and
    `process_input`/`preprocess` functions become `preprocess(ds, index)`.
    """,
)

#: Top-level meta.yaml keys that only legacy recipes have (0.x and the 2020 draft format).
LEGACY_KEYS = (
    "recipes",
    "provenance",
    "pangeo_forge_version",
    "pangeo_notebook_version",
    "bakery",
    "recipe-maintainers",
    "pipeline",
    "about",
    "dataset",
    "build",
)
#: Modules whose import in recipe.py marks a legacy recipe.
LEGACY_MODULES = ("pangeo_forge_recipes", "pangeo_forge", "apache_beam")


def is_legacy(folder: RecipeFolder) -> bool:
    """Whether the folder looks like a Pangeo Forge recipe rather than an ARCO Forge one."""
    meta = folder.meta.data if folder.meta else {}
    return any(key in meta for key in LEGACY_KEYS) or bool(_legacy_imports(folder.code))


def check_legacy(folder: RecipeFolder, ctx: LintContext) -> Iterator[Finding]:
    """FG015 once per legacy folder, then FG016 for each legacy field or construct."""
    if not is_legacy(folder):
        return
    meta = folder.meta.data if folder.meta else {}
    found = [key for key in LEGACY_KEYS if key in meta]
    found += [f"{RECIPE_PY} imports {m}" for m in _legacy_imports(folder.code)]
    version = meta.get("pangeo_forge_version")
    what = f"Pangeo Forge {version}" if version else "Pangeo Forge"
    where = folder.show(META) if folder.meta else folder.shown
    yield LEGACY.finding(
        where,
        f"this is a legacy {what} recipe ({', '.join(found)}), which ARCO Forge does not "
        f"run. Run `forge migrate {folder.shown}` for a first draft of meta.yaml and "
        "recipe.yaml, then follow the FG016 hints.",
    )
    if folder.meta is not None:
        yield from sorted(_meta_hints(folder), key=lambda f: f.line or 0)
    if folder.code is not None:
        yield from _code_hints(folder, folder.code)


def slug(value: str) -> str:
    """``value`` made into a recipe id: lowercase, runs of other characters as one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:64].strip("-") or "recipe"


def _meta_hints(folder: RecipeFolder) -> Iterator[Finding]:
    assert folder.meta is not None
    doc, shown = folder.meta, folder.show(META)
    data: dict[str, Any] = doc.data

    def hint(loc: tuple[str | int, ...], message: str) -> Finding:
        return MIGRATE_FIELD.finding(shown, message, doc.line_of(loc))

    recipes = data.get("recipes")
    if recipes is not None:
        entries = recipes if isinstance(recipes, list) else []
        ids = [e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]
        if len(ids) == 1:
            yield hint(
                ("recipes",),
                f"recipes: a folder is one dataset in ARCO Forge. Set `id: {slug(ids[0])}` in "
                f"{META} and describe the inputs as `sources` in recipe.yaml instead of "
                "pointing at a recipe object.",
            )
        else:
            yield hint(
                ("recipes",),
                "recipes: this lists several datasets (or a dict of recipes). Make one "
                "folder per dataset, each with its `id:` and recipe.yaml.",
            )
    provenance = data.get("provenance")
    if provenance is not None:
        yield hint(
            ("provenance",),
            "provenance: move `providers` and `license` to the top level of meta.yaml "
            "(`providers:` and `license:`), then drop `provenance`.",
        )
    if isinstance(provenance, dict):
        yield from _provenance_hints(provenance, hint)
    for key, why in (
        ("pangeo_forge_version", "recipes do not pin a library version"),
        ("pangeo_notebook_version", "recipes do not pin an environment"),
        ("bakery", "where a recipe runs is chosen when it runs (`forge run --runner`)"),
        ("build", "there is no build number; the recipe's fingerprint identifies a run"),
    ):
        if key in data:
            yield hint((key,), f"{key}: remove it; {why}.")
    if "recipe-maintainers" in data:
        yield hint(
            ("recipe-maintainers",),
            "recipe-maintainers: becomes `maintainers:`, a list of `{name, github}` entries.",
        )
    if "about" in data or "dataset" in data:
        key = "about" if "about" in data else "dataset"
        yield hint(
            (key,),
            f"{key}: the dataset's name, summary, description and license become the "
            "top-level `title`, `description` and `license` fields.",
        )
    if "pipeline" in data:
        yield hint(
            ("pipeline",),
            "pipeline: there is no pipeline file; describe the inputs and outputs in recipe.yaml.",
        )
    for i, m in enumerate(data.get("maintainers") or []):
        if isinstance(m, dict) and not m.get("github"):
            yield hint(("maintainers", i), "maintainers: add the maintainer's `github:` handle.")


def _provenance_hints(provenance: dict[str, Any], hint: Any) -> Iterator[Finding]:
    from arcoforge.recipe.meta import ProviderRole, _license

    lic = provenance.get("license")
    if isinstance(lic, str):
        try:
            _license(lic)
        except ValueError:
            yield hint(
                ("provenance", "license"),
                f"provenance.license: {lic!r} is not an SPDX id. Use the SPDX id if there is "
                "one, else `license: other` with the terms in `description`.",
            )
    if "license_link" in provenance:
        yield hint(
            ("provenance", "license_link"),
            "provenance.license_link: state the terms and this link in `description`.",
        )
    roles = {r.value for r in ProviderRole}
    for i, provider in enumerate(provenance.get("providers") or []):
        for j, role in enumerate(provider.get("roles") or [] if isinstance(provider, dict) else []):
            if role not in roles:
                better = "host" if role == "provider" else "one of " + ", ".join(sorted(roles))
                yield hint(
                    ("provenance", "providers", i, "roles", j),
                    f"provenance.providers: role {role!r} is not a STAC role; use {better}.",
                )


def _legacy_imports(code: ast.Module | None) -> list[str]:
    found: list[str] = []
    for node in ast.walk(code) if code else []:
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            head = name.split(".")[0]
            if head in LEGACY_MODULES and head not in found:
                found.append(head)
    return found


_CONSTRUCTS = {
    "FilePattern": "FilePattern: write the inputs as `sources` in recipe.yaml (a URL template "
    "over `concat` and `merge` dimensions); `forge migrate` drafts it when the pattern is simple.",
    "pattern_from_file_sequence": "pattern_from_file_sequence: write `sources: {urls: [...], "
    "concat_dim: ...}` in recipe.yaml.",
    "XarrayZarrRecipe": "XarrayZarrRecipe: becomes `outputs: {zarr: {chunks: ...}}` in "
    "recipe.yaml (`target_chunks` are the chunks; inputs_per_chunk and caching are chosen "
    "by the platform).",
    "HDFReferenceRecipe": "HDFReferenceRecipe: becomes `outputs: {references: {format: json}}`.",
    "StoreToZarr": "StoreToZarr: the platform builds the Beam pipeline; give "
    "`outputs: {zarr: {chunks: ...}}` (target_chunks) in recipe.yaml.",
    "WriteCombinedReference": "WriteCombinedReference: becomes `outputs: {references: {}}`.",
}
_HOOKS = ("process_input", "process_chunk", "preprocess")


def _code_hints(folder: RecipeFolder, code: ast.Module) -> Iterator[Finding]:
    shown = folder.show(RECIPE_PY)
    seen: set[str] = set()
    for node in ast.walk(code):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        if name in _CONSTRUCTS and name not in seen:
            seen.add(name)
            yield MIGRATE_FIELD.finding(shown, _CONSTRUCTS[name], node.lineno)
        for kw in node.keywords:
            if kw.arg in _HOOKS and kw.arg not in seen:
                seen.add(kw.arg)
                yield MIGRATE_FIELD.finding(
                    shown,
                    f"{kw.arg}: per-input changes become a function `preprocess(ds, index)` "
                    "in recipe.py, which receives each opened input.",
                    node.lineno,
                )
    if "apache_beam" in _legacy_imports(code):
        yield MIGRATE_FIELD.finding(
            shown,
            "apache_beam: recipes do not build Beam pipelines; the platform does. Custom "
            "per-input steps become `preprocess(ds, index)`.",
        )


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None
