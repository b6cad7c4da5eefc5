"""``lint_paths``: find the recipe folders under some paths and run every rule on them."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from arcoforge.errors import LintSetupError
from arcoforge.lint.folder import RECIPE_FILES, RecipeFolder, read_folder
from arcoforge.lint.registry import Finding
from arcoforge.lint.rules import FOLDER_CHECKS, LEGACY_CHECKS, LintContext, changes, legacy
from arcoforge.lint.rules.files import LAYOUT, UNREADABLE
from arcoforge.lint.rules.identity import recipe_id

FEEDSTOCKS = "feedstocks.yaml"


@dataclass
class LintReport:
    """What lint found: the findings in order, and the recipe folders it checked."""

    findings: list[Finding] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when there is no error-level finding (hints do not count)."""
        return not self.errors

    @property
    def errors(self) -> list[Finding]:
        """The error-level findings."""
        return [f for f in self.findings if f.level == "error"]

    @property
    def hints(self) -> list[Finding]:
        """The hint-level findings."""
        return [f for f in self.findings if f.level == "hint"]


def lint_paths(
    paths: Sequence[Path], *, changed_from: str | None = None, repo: Path | None = None
) -> LintReport:
    """Lint every recipe folder under ``paths``; no recipe code is run.

    ``repo`` is the repository's root (found with git when not given): ids are checked
    against every folder in its ``recipes/`` and its ``feedstocks.yaml``, and findings are
    printed relative to it. With ``changed_from`` (a git revision), only the recipe
    folders with changed files are linted, and changed files outside ``recipes/`` are
    reported (FG012).
    """
    paths = [Path(p) for p in paths]
    root = repo or (changes.repo_root(paths[0]) if paths else None)
    report = LintReport()
    changed: list[str] | None = None
    if changed_from is not None:
        if root is None:
            raise LintSetupError(
                "--changed-from: expected the paths to be inside a git repository. Found none."
            )
        changed = changes.changed_files(root, changed_from)
        report.findings.extend(changes.check_outside_recipes(changed))

    folders: list[RecipeFolder] = []
    for path in paths:
        shown = _shown(path, root if repo else None)
        if not path.exists():
            report.findings.append(
                LAYOUT.finding(
                    shown, "expected a recipe folder or a folder of recipes. Found nothing."
                )
            )
            continue
        found = [
            read_folder(p, _shown(p, root if repo else None)) for p in find_recipe_folders(path)
        ]
        if not found and changed is None:
            report.findings.append(
                LAYOUT.finding(
                    shown,
                    "expected a recipe folder (meta.yaml with recipe.yaml or recipe.py) or "
                    "folders of them. Found none.",
                )
            )
        folders.extend(found)
    if changed is not None and root is not None:
        folders = [f for f in folders if _touched(f.path, root, changed)]

    ctx = _context(folders, root, report)
    for folder in folders:
        report.folders.append(folder.shown)
        checks = LEGACY_CHECKS if legacy.is_legacy(folder) else FOLDER_CHECKS
        for check in checks:
            report.findings.extend(check(folder, ctx))
    return report


def find_recipe_folders(path: Path) -> list[Path]:
    """``path`` if it is a recipe folder (or a file in one), else the recipe folders below it.

    Hidden folders and those starting with ``_`` are skipped; a recipe folder's own
    subfolders are not searched.
    """
    if path.is_file() and path.name in RECIPE_FILES:  # a file of a recipe: its folder
        return [path.parent]
    if not path.is_dir():
        return []
    if _is_recipe_folder(path):
        return [path]
    found: list[Path] = []
    for dirpath, dirnames, _ in os.walk(path):
        here = Path(dirpath)
        if here != path and _is_recipe_folder(here):
            found.append(here)
            dirnames.clear()
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
    return sorted(found)


def _is_recipe_folder(path: Path) -> bool:
    return any((path / name).is_file() for name in RECIPE_FILES)


def _shown(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def _touched(folder: Path, root: Path, changed: list[str]) -> bool:
    try:
        rel = folder.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return False
    return any(name.startswith(rel + "/") for name in changed)


def _context(folders: list[RecipeFolder], root: Path | None, report: LintReport) -> LintContext:
    """The ids claimed by the linted folders, by every folder in recipes/ and by feedstocks."""
    ctx = LintContext()
    claimants: dict[Path, RecipeFolder] = {f.path.resolve(): f for f in folders}
    if root is not None and (root / changes.RECIPES_DIR).is_dir():
        for path in find_recipe_folders(root / changes.RECIPES_DIR):
            if path.resolve() not in claimants:
                shown = _shown(path, root)
                claimants[path.resolve()] = read_folder(path, shown)
    for folder in claimants.values():
        ctx.recipe_ids.setdefault(recipe_id(folder), []).append(folder.shown)
    if root is not None and (root / FEEDSTOCKS).is_file():
        ctx.feedstocks_file = FEEDSTOCKS
        for finding in _read_feedstocks(root / FEEDSTOCKS, ctx):
            report.findings.append(finding)
    return ctx


def _read_feedstocks(path: Path, ctx: LintContext) -> Iterator[Finding]:
    """Fill ``ctx.feedstock_ids`` from feedstocks.yaml; FG001 when it cannot be read."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        yield UNREADABLE.finding(FEEDSTOCKS, f"not valid YAML: {e}. Fix the file.")
        return
    entries = data.get("feedstocks") if isinstance(data, dict) else data
    if entries is None:
        return
    if not isinstance(entries, list):
        yield UNREADABLE.finding(
            FEEDSTOCKS, f"expected a list under `feedstocks:`. Got a {type(entries).__name__}."
        )
        return
    for i, entry in enumerate(entries):
        fid = entry.get("id") if isinstance(entry, dict) else entry
        if not isinstance(fid, str):
            yield UNREADABLE.finding(
                FEEDSTOCKS, f"feedstocks[{i}]: expected an entry with an `id`. Got {entry!r}."
            )
            continue
        repo = entry.get("repo") if isinstance(entry, dict) else None
        ctx.feedstock_ids[fid] = str(repo or f"{fid}-feedstock")


__all__ = ["LintReport", "find_recipe_folders", "lint_paths"]
