"""Loading a recipe folder: ``meta.yaml`` plus ``recipe.yaml`` and/or ``recipe.py``."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from arcoforge.errors import RecipeError
from arcoforge.recipe.meta import Meta
from arcoforge.recipe.model import format_errors, validate_doc
from arcoforge.recipe.pattern import FilePattern
from arcoforge.recipe.spec import Outputs, RecipeSpec
from arcoforge.recipe.urls import validate_id
from arcoforge.recipe.validated import Preprocess, Recipe
from arcoforge.recipe.yamlfile import YamlDoc, read_yaml

META = "meta.yaml"
RECIPE_YAML = "recipe.yaml"
RECIPE_PY = "recipe.py"


def load_recipe(folder: str | Path, *, run_code: bool = True, sandbox: bool = False) -> Recipe:
    """Load and validate the recipe in ``folder``.

    ``recipe.py``, when present, is executed only if ``run_code`` is true: it is
    untrusted code, to be run only where no secrets are held. With ``sandbox`` it runs
    only in a child process with a scrubbed environment and resource limits
    (:mod:`arcoforge.recipe.sandbox`), and its ``preprocess`` is never called.
    """
    path = Path(folder)
    if not path.is_dir():
        what = "a file" if path.exists() else "nothing"
        raise RecipeError(f"{path}: expected a recipe folder. Found {what} there.")
    meta_doc = _read_required(path, META)
    meta = validate_doc(Meta, meta_doc)
    recipe_id = meta.id or path.resolve().name
    if meta.id is None:
        try:
            validate_id(recipe_id, where=f"{path}")
        except RecipeError:
            raise RecipeError(
                f"{path}: the folder name {recipe_id!r} is not a valid recipe id (lowercase "
                "letters, digits and single '-', '_' or '.'). Rename the folder or set `id:` "
                f"in {META}."
            ) from None

    yaml_path, py_path = path / RECIPE_YAML, path / RECIPE_PY
    if not yaml_path.exists() and not py_path.exists():
        raise RecipeError(f"{path}: expected {RECIPE_YAML} or {RECIPE_PY}. Found neither.")
    spec: RecipeSpec | None = None
    spec_doc: YamlDoc | None = None
    if yaml_path.exists():
        spec_doc = read_yaml(yaml_path)
        spec = validate_doc(RecipeSpec, spec_doc)

    fingerprint = hashlib.sha256()
    sources = hashlib.sha256()  # the same without the outputs
    if spec is not None:
        fingerprint.update(spec.model_dump_json().encode())
        sources.update(spec.model_dump_json(exclude={"outputs"}).encode())
    module: ModuleType | None = None
    if py_path.exists():
        fingerprint.update(py_path.read_bytes())
        sources.update(py_path.read_bytes())
        if run_code and sandbox:
            from arcoforge.recipe.sandbox import load_described

            module = load_described(path)
        elif run_code:
            module = _import_recipe_py(py_path, recipe_id)

    pattern = _pattern(spec, module, path, run_code)
    outputs = _outputs(spec, module, py_path)
    preprocess = _preprocess(module, py_path)
    recipe = Recipe(
        id=recipe_id,
        meta=meta,
        pattern=pattern,
        outputs=outputs,
        preprocess=preprocess,
        path=path,
        fingerprint=fingerprint.hexdigest(),
        sources_fingerprint=sources.hexdigest(),
    )
    recipe.check_urls()
    return recipe


def _read_required(folder: Path, name: str) -> YamlDoc:
    file = folder / name
    if not file.is_file():
        near = [p.name for p in folder.iterdir() if p.stem == Path(name).stem]
        hint = f" Found {near[0]}: rename it to {name}." if near else ""
        raise RecipeError(f"{folder}: expected a {name} file. Found none.{hint}")
    return read_yaml(file)


def _import_recipe_py(file: Path, recipe_id: str) -> ModuleType:
    name = "arcoforge_recipe_" + recipe_id.replace("-", "_").replace(".", "_")
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(name, None)
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == str(file)]
        line = f":{frames[-1].lineno}" if frames else ""
        if isinstance(e, SyntaxError) and e.filename == str(file) and e.lineno:
            line = f":{e.lineno}"  # a syntax error has no frame in the file
        raise RecipeError(
            f"{file}{line}: running recipe.py failed with {type(e).__name__}: {e}"
        ) from e
    return module


def _pattern(
    spec: RecipeSpec | None, module: ModuleType | None, folder: Path, run_code: bool
) -> FilePattern:
    from_py = getattr(module, "pattern", None) if module else None
    if spec is not None and spec.sources is not None:
        if from_py is not None:
            raise RecipeError(
                f"{folder}: sources are given twice, as `sources` in {RECIPE_YAML} and as "
                f"`pattern` in {RECIPE_PY}. Keep one."
            )
        try:
            return spec.sources.located(folder).pattern()
        except ValidationError as e:  # a range that expands too far
            raise RecipeError(f"{folder / RECIPE_YAML}: sources: {e}") from None
    if from_py is None:
        if module is None and not run_code and (folder / RECIPE_PY).exists():
            raise RecipeError(
                f"{folder}: the inputs are defined in {RECIPE_PY}, which is not run here."
            )
        raise RecipeError(
            f"{folder}: expected `sources` in {RECIPE_YAML} or a `pattern` in {RECIPE_PY}. "
            "Found neither."
        )
    if not isinstance(from_py, FilePattern):
        raise RecipeError(
            f"{folder / RECIPE_PY}: `pattern` must be an arcoforge.FilePattern. "
            f"Got a {type(from_py).__name__} instead."
        )
    return from_py


def _outputs(spec: RecipeSpec | None, module: ModuleType | None, py_path: Path) -> Outputs:
    from_py: Any = getattr(module, "outputs", None) if module else None
    if spec is not None:
        if from_py is not None:
            raise RecipeError(
                f"{py_path}: `outputs` is given in both {RECIPE_YAML} and {RECIPE_PY}. Keep one."
            )
        return spec.outputs
    if from_py is None:
        raise RecipeError(
            f"{py_path}: expected `outputs` in {RECIPE_PY} (e.g. "
            "outputs = {'zarr': {'chunks': {'time': 30}}}) or a "
            f"{RECIPE_YAML} with `outputs`. Found neither."
        )
    try:
        return Outputs.model_validate(from_py)
    except ValidationError as e:
        no_lines = YamlDoc(py_path, {}, {})
        raise RecipeError(format_errors(e, no_lines, prefix=("outputs",))) from None


def _preprocess(module: ModuleType | None, py_path: Path) -> Preprocess | None:
    fn = getattr(module, "preprocess", None) if module else None
    if fn is None:
        return None
    if not callable(fn):
        raise RecipeError(f"{py_path}: `preprocess` must be a function preprocess(ds, index).")
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        raise RecipeError(
            f"{py_path}: `preprocess` must take two arguments, (ds, index). "
            f"Got preprocess{inspect.signature(fn)} instead."
        ) from None
    checked: Preprocess = fn
    return checked
