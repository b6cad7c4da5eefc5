"""FG007: a license of `other` comes with its terms."""

from __future__ import annotations

import re
from collections.abc import Iterator

from arcoforge.lint.folder import META, RecipeFolder
from arcoforge.lint.registry import Finding, define
from arcoforge.lint.rules.context import LintContext

LICENSE_TEXT = define(
    "FG007",
    "error",
    "`license: other` without the license's terms",
    """
    `license: other` says the data's terms are not an SPDX license, so they must be
    given: in a `LICENSE` file (`LICENSE`, `LICENSE.txt` or `LICENSE.md`) in the recipe
    folder, or in a paragraph of `description` that states them (it mentions the
    "license", "licence" or "terms" and what they are). The catalog shows them to
    everyone who opens the dataset.
    """,
)

LICENSE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md")
_TERMS = re.compile(r"\b(licen[cs]e[sd]?|terms)\b", re.IGNORECASE)


def check_license_text(folder: RecipeFolder, ctx: LintContext) -> Iterator[Finding]:
    """FG007: `other` needs a LICENSE file or a description that states the terms."""
    if folder.meta is None or folder.meta.data.get("license") != "other":
        return
    if any(folder.has(name) for name in LICENSE_FILES):
        return
    description = folder.meta.data.get("description")
    if isinstance(description, str) and _TERMS.search(description):
        return
    yield LICENSE_TEXT.finding(
        folder.show(META),
        "license: 'other' needs the data's terms. State them in `description` (e.g. "
        '"License terms: free to use with attribution ...") or add a LICENSE file to the '
        "recipe folder; if the terms are an SPDX license, give its id instead.",
        folder.meta.line_of(("license",)),
    )
