"""Rules about a recipe folder's files: present, readable, each part defined once."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from arcoforge.lint.folder import META, RECIPE_PY, RECIPE_YAML, RecipeFolder
from arcoforge.lint.registry import Finding, define
from arcoforge.lint.rules.context import LintContext

UNREADABLE = define(
    "FG001",
    "error",
    "A recipe file cannot be read",
    """
    `meta.yaml` and `recipe.yaml` must be UTF-8 YAML mappings (`key: value`) with each key
    given once, and `recipe.py` must be valid Python. The message gives the line where
    the parser stopped. Nothing else in a file that cannot be read is checked, so fix
    this first.
    """,
)

LAYOUT = define(
    "FG003",
    "error",
    "The recipe folder is incomplete or says something twice",
    """
    A recipe folder holds a `meta.yaml` and a `recipe.yaml` (or, for what YAML cannot
    say, a `recipe.py`). The inputs are given once: as `sources` in `recipe.yaml` or as
    a `pattern` in `recipe.py`; the outputs likewise, as `outputs` in either file.
    `recipe.py` is read without being run, so only names assigned at the top of the file
    (`pattern = ...`, `outputs = ...`, `def preprocess`) count; an `outputs` written as a
    literal is checked like recipe.yaml's. `preprocess` takes `(ds, index)`, and cannot go
    with a `references` output: a virtual dataset shows the inputs' bytes as they are.
    """,
)


def check_readable(folder: RecipeFolder, ctx: LintContext) -> Iterator[Finding]:
    """FG001: every recipe file that exists parses."""
    for bad in folder.unreadable:
        yield UNREADABLE.finding(folder.show(bad.name), bad.message, bad.line)


def check_layout(folder: RecipeFolder, ctx: LintContext) -> Iterator[Finding]:
    """FG003: meta.yaml present, inputs and outputs each defined exactly once."""
    if not folder.has(META):
        near = sorted(p.name for p in folder.path.iterdir() if p.stem == "meta" and p.is_file())
        hint = f" Found {near[0]}: rename it to {META}." if near else ""
        yield LAYOUT.finding(
            folder.show(META), f"expected a {META} with the dataset's metadata. Found none.{hint}"
        )
    has_yaml, has_py = folder.has(RECIPE_YAML), folder.has(RECIPE_PY)
    if not has_yaml and not has_py:
        yield LAYOUT.finding(
            folder.shown,
            f"expected a {RECIPE_YAML} (sources and outputs) or a {RECIPE_PY}. Found neither. "
            "`forge migrate` drafts a recipe.yaml from a legacy recipe.",
        )
        return
    if any(bad.name in (RECIPE_YAML, RECIPE_PY) for bad in folder.unreadable):
        return
    py_names = top_level_names(folder.code) if folder.code else {}
    spec = folder.spec.data if folder.spec else {}
    for part, py_name in (("sources", "pattern"), ("outputs", "outputs")):
        in_yaml, in_py = spec.get(part) is not None, py_name in py_names
        if in_yaml and in_py:
            yield LAYOUT.finding(
                folder.show(RECIPE_PY),
                f"`{part}` in {RECIPE_YAML} and `{py_name}` in {RECIPE_PY} both give the "
                f"{'inputs' if part == 'sources' else 'outputs'}. Keep one.",
                py_names[py_name],
            )
        elif not in_yaml and not in_py and (part == "sources" or not has_yaml):
            yield LAYOUT.finding(
                folder.show(RECIPE_YAML if has_yaml else RECIPE_PY),
                f"expected `{part}` in {RECIPE_YAML} or `{py_name} = ...` at the top level of "
                f"{RECIPE_PY}. Found neither.",
            )


def top_level_names(module: ast.Module) -> dict[str, int]:
    """Names bound by the module's top-level statements, with the line of the first."""
    names: dict[str, int] = {}
    for node in module.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.setdefault(node.name, node.lineno)
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    names.setdefault(name.id, node.lineno)
    return names


def check_code_parts(folder: RecipeFolder, ctx: LintContext) -> Iterator[Finding]:
    """FG002 and FG003 for what recipe.py defines, as far as it can be known unrun.

    An ``outputs`` given as a literal is validated like recipe.yaml's; ``preprocess``
    must take ``(ds, index)`` and cannot go with a virtual dataset.
    """
    if folder.code is None:
        return
    from arcoforge.lint.rules.schema import SCHEMA

    shown = folder.show(RECIPE_PY)
    outputs: object = folder.spec.data.get("outputs") if folder.spec else None
    for node in folder.code.body:
        if (
            isinstance(node, ast.Assign)
            and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["outputs"]
            and folder.spec is None
        ):
            try:
                outputs = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue  # computed: known only when run
            for problem in _outputs_problems(outputs):
                yield SCHEMA.finding(shown, problem, node.lineno)
    preprocess = next(
        (n for n in folder.code.body if isinstance(n, ast.FunctionDef) and n.name == "preprocess"),
        None,
    )
    if preprocess is None:
        return
    args = preprocess.args
    positional = len(args.posonlyargs) + len(args.args)
    required = positional - len(args.defaults)
    if not (args.vararg or positional >= 2) or required > 2:
        yield LAYOUT.finding(
            shown,
            f"`preprocess` must take two arguments, (ds, index). Got "
            f"preprocess({ast.unparse(args)}) instead.",
            preprocess.lineno,
        )
    if isinstance(outputs, dict) and outputs.get("references", "absent") != "absent":
        yield LAYOUT.finding(
            shown,
            "a `preprocess` function changes the data, which a virtual dataset cannot show: its "
            "references point at the inputs' bytes as they are. Drop `references` from the "
            "outputs (the zarr copy runs preprocess), or drop preprocess.",
            preprocess.lineno,
        )


def _outputs_problems(outputs: object) -> list[str]:
    from pydantic import ValidationError

    from arcoforge.recipe.model import describe_errors
    from arcoforge.recipe.spec import Outputs
    from arcoforge.recipe.yamlfile import YamlDoc

    try:
        Outputs.model_validate(outputs)
    except ValidationError as e:
        no_lines = YamlDoc(Path(RECIPE_PY), {}, {})
        return [f"{p.field}: {p.message}" for p in describe_errors(e, no_lines, ("outputs",))]
    return []
