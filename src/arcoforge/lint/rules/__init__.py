"""The lint rules, grouped by what they look at; importing this registers them all."""

from __future__ import annotations

from arcoforge.lint.rules import changes, chunks, code, files, identity, legacy, license, schema
from arcoforge.lint.rules.context import FolderCheck, LintContext

#: Checks for an ARCO Forge recipe folder, in the order their findings are listed.
FOLDER_CHECKS: tuple[FolderCheck, ...] = (
    files.check_readable,
    files.check_layout,
    schema.check_schema,
    files.check_code_parts,
    identity.check_id_taken,
    license.check_license_text,
    chunks.check_chunk_size,
    code.check_recipe_code,
)
#: Checks for a legacy Pangeo Forge folder: what to migrate, and what its code reaches.
LEGACY_CHECKS: tuple[FolderCheck, ...] = (
    files.check_readable,
    legacy.check_legacy,
    code.check_recipe_code,
)

__all__ = ["FOLDER_CHECKS", "LEGACY_CHECKS", "LintContext", "changes", "legacy"]
