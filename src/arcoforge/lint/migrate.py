"""``forge migrate``: a first draft of meta.yaml and recipe.yaml from a legacy Pangeo Forge recipe.

recipe.py is read with :mod:`ast`, never run. Simple patterns translate: a format function
that returns an f-string or ``"...".format(dim=dim)`` over ConcatDims of ``pd.date_range``,
``range`` or literal lists, MergeDims of literal lists, ``pattern_from_file_sequence`` over
a literal list, and ``target_chunks``. Everything else is listed as not translated.
"""

from __future__ import annotations

import ast
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from arcoforge.errors import RecipeError
from arcoforge.lint.rules.legacy import slug

#: Legacy pandas frequency aliases and their pandas 3 spelling.
FREQ_ALIASES = {"Y": "YE", "A": "YE", "AS": "YS", "M": "ME", "H": "h", "T": "min", "S": "s"}
STAC_ROLES = ("licensor", "producer", "processor", "host")


class Untranslatable(Exception):
    """A part of recipe.py that has no static translation; the message says which."""


@dataclass
class Migration:
    """The drafts of meta.yaml and recipe.yaml, and what could not be translated."""

    meta: dict[str, Any]
    recipe: dict[str, Any]
    untranslated: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


def migrate_folder(src: Path, out: Path | None = None, *, overwrite: bool = False) -> Migration:
    """Write drafts for the legacy recipe in ``src`` to ``out`` (default ``./<id>``)."""
    migration = draft(src)
    target = out if out is not None else Path(migration.meta["id"])
    files = {"meta.yaml": migration.meta, "recipe.yaml": migration.recipe}
    existing = [target / name for name in files if (target / name).exists()]
    if existing and not overwrite:
        raise RecipeError(
            f"{existing[0]}: expected no file here, so as not to replace it. Found one. Choose "
            "another --out, or pass --overwrite."
        )
    if target.resolve() == src.resolve() and (src / "recipe.py").exists():
        migration.untranslated.append(
            "recipe.py is legacy code and stays as it was: delete it, or reduce it to a "
            "`preprocess(ds, index)` function"
        )
    target.mkdir(parents=True, exist_ok=True)
    for name, doc in files.items():
        path = target / name
        path.write_text(_header(name, src, migration.untranslated) + _dump(doc), encoding="utf-8")
        migration.written.append(path)
    return migration


def draft(src: Path) -> Migration:
    """The drafts for the legacy recipe in ``src``, without writing anything."""
    meta_file = src / "meta.yaml"
    if not meta_file.is_file():
        raise RecipeError(f"{src}: expected a legacy recipe folder with a meta.yaml. Found none.")
    try:
        legacy = yaml.safe_load(meta_file.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise RecipeError(f"{meta_file}: not valid YAML ({e}); fix it before migrating.") from None
    if not isinstance(legacy, dict):
        raise RecipeError(
            f"{meta_file}: expected a mapping of fields. Got a {type(legacy).__name__}."
        )
    notes: list[str] = []
    meta = _meta(legacy, src, notes)
    recipe: dict[str, Any] = {}
    py = src / "recipe.py"
    if py.is_file():
        try:
            module = ast.parse(py.read_bytes(), filename=str(py))
        except (SyntaxError, ValueError) as e:
            module = None
            notes.append(f"recipe.py is not valid Python ({e}); nothing of it was translated")
        if module is not None:
            recipe = _recipe(module, notes)
    else:
        notes.append("there is no recipe.py: write `sources` in recipe.yaml by hand")
    if "outputs" not in recipe:
        recipe["outputs"] = {"zarr": {"chunk_size": "100MB"}}
    return Migration(meta, recipe, notes)


# --- meta.yaml ---------------------------------------------------------------------


def _meta(legacy: dict[str, Any], src: Path, notes: list[str]) -> dict[str, Any]:
    about = _mapping(legacy.get("about"))
    source = _mapping(about.get("source"))
    provenance = _mapping(legacy.get("provenance"))
    ids = [
        e["id"]
        for e in legacy.get("recipes") or []
        if isinstance(e, dict) and isinstance(e.get("id"), str)
    ]
    if len(legacy.get("recipes") or []) > 1 or (legacy.get("recipes") and not ids):
        notes.append("meta.yaml lists several recipes (or a dict of them): one folder per dataset")
    recipe_id = slug(ids[0] if ids else src.resolve().name)
    dataset = _mapping(legacy.get("dataset"))
    title = legacy.get("title") or source.get("summary") or dataset.get("name") or recipe_id
    description = str(legacy.get("description") or source.get("description") or title).strip()
    license_, description = _license(
        provenance.get("license") or source.get("license"),
        provenance.get("license_link") or source.get("license_url"),
        description,
        notes,
    )
    meta: dict[str, Any] = {
        "id": recipe_id,
        "title": str(title).strip(),
        "description": description + "\n",
        "license": license_,
        "providers": _providers(provenance.get("providers"), notes),
        "maintainers": _maintainers(legacy, notes),
    }
    return meta


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _license(value: Any, link: Any, description: str, notes: list[str]) -> tuple[str, str]:
    from arcoforge.recipe.meta import _license as check

    if isinstance(value, str):
        try:
            return check(value), description
        except ValueError:
            pass
    terms = f"License terms: {value}" if value else "License terms: (state them here)"
    if link:
        terms += f", {link}"
    notes.append(
        f"license {value!r} is not an SPDX id: written as `other` with the terms in the "
        "description; check them"
    )
    return "other", f"{description}\n\n{terms}."


def _providers(value: Any, notes: list[str]) -> list[dict[str, Any]]:
    providers = []
    for p in value if isinstance(value, list) else []:
        if not isinstance(p, dict) or not p.get("name"):
            continue
        roles = []
        for role in p.get("roles") or []:
            if role in STAC_ROLES:
                roles.append(role)
            elif role == "provider":
                roles.append("host")
            else:
                notes.append(f"provider {p['name']!r}: role {role!r} is not a STAC role, left out")
        entry: dict[str, Any] = {"name": p["name"], "roles": sorted(set(roles)) or ["producer"]}
        for key in ("url", "description"):
            if p.get(key):
                entry[key] = p[key]
        providers.append(entry)
    if not providers:
        notes.append("no providers: add who produced, licensed and hosts the data")
        providers.append({"name": "(who made the data)", "roles": ["producer"]})
    return providers


def _maintainers(legacy: dict[str, Any], notes: list[str]) -> list[dict[str, Any]]:
    people = []
    for m in legacy.get("maintainers") or []:
        if isinstance(m, dict) and m.get("name"):
            entry = {k: m[k] for k in ("name", "github", "orcid") if m.get(k)}
            if "github" not in entry:
                notes.append(f"maintainer {m['name']!r} has no GitHub handle: add `github:`")
            people.append(entry)
    for handle in legacy.get("recipe-maintainers") or []:
        if isinstance(handle, str):
            people.append({"name": handle, "github": handle})
    if not people:
        notes.append("no maintainers: add yourself with `name` and `github`")
    return people


# --- recipe.yaml -------------------------------------------------------------------


class _Module:
    """recipe.py's top level: its constants, functions and the calls it makes."""

    def __init__(self, module: ast.Module):
        self.values: dict[str, ast.expr] = {}
        self.functions: dict[str, ast.FunctionDef] = {}
        for node in module.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    self.values[target.id] = node.value
            elif isinstance(node, ast.FunctionDef):
                self.functions[node.name] = node
        self.changed = _changed_names(module)
        self.calls = [
            node for stmt in module.body for node in ast.walk(stmt) if isinstance(node, ast.Call)
        ]
        self.top_calls = [
            n
            for stmt in module.body
            if not isinstance(stmt, ast.FunctionDef | ast.ClassDef)
            for n in ast.walk(stmt)
            if isinstance(n, ast.Call)
        ]

    def resolve(self, node: ast.expr, depth: int = 0) -> ast.expr:
        """Follow a name to the expression it was assigned at the top level."""
        while isinstance(node, ast.Name) and node.id in self.values and depth < 10:
            if node.id in self.changed:
                raise Untranslatable(f"{node.id} is changed after it is assigned")
            node, depth = self.values[node.id], depth + 1
        return node

    def literal(self, node: ast.expr) -> Any:
        """The value of a literal expression, following names; Untranslatable otherwise."""
        node = self.resolve(node)
        if isinstance(node, ast.List | ast.Tuple):
            return [self.literal(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                raise Untranslatable(f"{ast.unparse(node)!r} unpacks another mapping")
            pairs = zip(node.keys, node.values, strict=True)
            return {self.literal(k): self.literal(v) for k, v in pairs if k is not None}
        if isinstance(node, ast.Call) and _name(node.func) == "list" and len(node.args) == 1:
            return self.literal(node.args[0])
        try:
            return ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise Untranslatable(f"{ast.unparse(node)!r} is not a literal") from None


def _changed_names(module: ast.Module) -> set[str]:
    """Names bound more than once, or changed in place (``x += ...``, ``x.append(...)``)."""
    bound: dict[str, int] = {}
    changed: set[str] = set()
    for node in ast.walk(module):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.For | ast.AsyncFor):
            targets = [node.target]
            if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                changed.add(node.target.id)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.attr in ("append", "extend", "insert", "update", "pop", "remove")
        ):
            changed.add(node.func.value.id)
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    bound[name.id] = bound.get(name.id, 0) + 1
    return changed | {name for name, count in bound.items() if count > 1}


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _recipe(module: ast.Module, notes: list[str]) -> dict[str, Any]:
    mod = _Module(module)
    recipe: dict[str, Any] = {}
    patterns = [c for c in mod.top_calls if _name(c.func) == "FilePattern"]
    sequences = [c for c in mod.top_calls if _name(c.func) == "pattern_from_file_sequence"]
    try:
        if patterns:
            if len(patterns) > 1:
                notes.append(
                    f"recipe.py builds {len(patterns)} FilePatterns; only the first is drafted"
                )
            recipe["sources"] = _sources(mod, patterns[0], notes)
        elif sequences:
            recipe["sources"] = _sequence(mod, sequences[0])
        else:
            raise Untranslatable("no FilePattern is built at the top level of recipe.py")
    except Untranslatable as e:
        notes.append(f"sources: {e}; write `sources` in recipe.yaml by hand")
    outputs = _outputs(mod, notes)
    if outputs:
        recipe["outputs"] = outputs
    for call in mod.calls:
        for kw in call.keywords:
            if kw.arg in ("process_input", "process_chunk", "preprocess"):
                notes.append(
                    f"{kw.arg}={ast.unparse(kw.value)} (line {call.lineno}): rewrite it as "
                    "`preprocess(ds, index)` in recipe.py"
                )
            elif kw.arg in ("xarray_open_kwargs", "fsspec_open_kwargs", "subset_inputs",
                            "query_string_secrets", "is_opendap", "open_kwargs"):  # fmt: skip
                notes.append(
                    f"{kw.arg}={ast.unparse(kw.value)} (line {call.lineno}) has no equivalent"
                )
    if any(_name(c.func) in ("PTransform", "Map", "Create") for c in mod.calls) or any(
        isinstance(n, ast.ClassDef) for n in module.body
    ):
        notes.append("custom Beam transforms: per-input steps become `preprocess(ds, index)`")
    return recipe


def _sources(mod: _Module, call: ast.Call, notes: list[str]) -> dict[str, Any]:
    if not call.args:
        raise Untranslatable("FilePattern has no format function")
    fn_name = _name(call.args[0])
    fn = mod.functions.get(fn_name or "")
    if fn is None:
        raise Untranslatable(
            f"the format function {ast.unparse(call.args[0])} is not defined in recipe.py"
        )
    concat: dict[str, Any] = {}
    merge: dict[str, Any] = {}
    items: dict[str, int] = {}
    for arg in call.args[1:]:
        dim = mod.resolve(arg)
        kind = _name(dim.func) if isinstance(dim, ast.Call) else None
        if kind not in ("ConcatDim", "MergeDim") or not isinstance(dim, ast.Call):
            raise Untranslatable(f"{ast.unparse(arg)} is not a ConcatDim or MergeDim")
        params = _params(dim, ("name", "keys", "nitems_per_file"))
        name = mod.literal(params["name"])
        if kind == "MergeDim":
            merge[name] = mod.literal(params["keys"])
        else:
            concat[name] = _keys(mod, params["keys"])
            if "nitems_per_file" in params:
                items[name] = mod.literal(params["nitems_per_file"])
    sources: dict[str, Any] = {"url": _template(mod, fn, set(concat) | set(merge))}
    if concat:
        sources["concat"] = concat
    if merge:
        sources["merge"] = merge
    if items:
        sources["items_per_file"] = items
    for kw in call.keywords:
        if kw.arg == "file_type":
            sources["file_type"] = mod.literal(kw.value)
    return sources


def _params(call: ast.Call, names: tuple[str, ...]) -> dict[str, ast.expr]:
    out = _call_params(call, names)
    if "name" not in out or "keys" not in out:
        raise Untranslatable(f"{ast.unparse(call)} lacks a name or keys")
    return out


def _keys(mod: _Module, node: ast.expr) -> Any:
    node = mod.resolve(node)
    if isinstance(node, ast.Call) and _name(node.func) == "list" and len(node.args) == 1:
        node = mod.resolve(node.args[0])
    if isinstance(node, ast.Call) and _name(node.func) == "date_range":
        params = _call_params(node, ("start", "end", "periods", "freq"))
        if "periods" in params or "start" not in params or "end" not in params:
            raise Untranslatable(
                f"{ast.unparse(node)}: only date ranges with start and end translate"
            )
        freq = mod.literal(params["freq"]) if "freq" in params else "D"
        return {
            "start": _date(mod.literal(params["start"])),
            "end": _date(mod.literal(params["end"])),
            "freq": FREQ_ALIASES.get(freq, freq),
        }
    if isinstance(node, ast.Call) and _name(node.func) == "range":
        try:
            args = [mod.literal(a) for a in node.args]
        except Untranslatable:
            raise Untranslatable(
                f"the keys {ast.unparse(node)} are positions the format function turns into "
                "values at run time"
            ) from None
        if any(not isinstance(a, int) for a in args) or not args:
            raise Untranslatable(f"{ast.unparse(node)}: keys are positions computed at run time")
        start, stop, step = (
            (0, args[0], 1) if len(args) == 1 else (*args[:2], args[2] if len(args) > 2 else 1)
        )
        if stop <= start or step < 1:
            raise Untranslatable(f"{ast.unparse(node)} is empty")
        return (
            {"start": start, "end": stop - 1 - (stop - 1 - start) % step, "step": step}
            if step != 1
            else {"start": start, "end": stop - 1}
        )
    return mod.literal(node)


def _call_params(call: ast.Call, names: tuple[str, ...]) -> dict[str, ast.expr]:
    """A call's arguments by parameter name: positional ones take ``names`` in order."""
    out = dict(zip(names, call.args, strict=False))
    out.update({kw.arg: kw.value for kw in call.keywords if kw.arg})
    return out


def _date(value: Any) -> str:
    text = str(value).strip()
    if len(text) == 8 and text.isdigit():  # pandas reads 20181204 as a date
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise Untranslatable(f"{value!r} is not an ISO date") from None
    return parsed.strftime("%Y-%m-%d") if parsed.time() == dt.time(0) else parsed.isoformat()


def _template(mod: _Module, fn: ast.FunctionDef, dims: set[str]) -> str:
    """The URL template a format function returns, when it is one f-string or str.format."""
    local: dict[str, ast.expr] = {}
    returned: ast.expr | None = None
    for stmt in fn.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # the docstring
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            local[stmt.targets[0].id] = stmt.value
        elif isinstance(stmt, ast.Return) and stmt.value is not None:
            returned = stmt.value
        else:
            raise Untranslatable(
                f"{fn.name}() computes the URL with {type(stmt).__name__.lower()} statements "
                f"(line {stmt.lineno})"
            )
    while isinstance(returned, ast.Name) and returned.id in local:
        returned = local.pop(returned.id)
    params = {a.arg for a in fn.args.args}
    if isinstance(returned, ast.JoinedStr):
        return _fstring(mod, returned, params, dims, fn.name)
    if (
        isinstance(returned, ast.Call)
        and isinstance(returned.func, ast.Attribute)
        and returned.func.attr == "format"
        and not returned.args
    ):
        base = returned.func.value
        if isinstance(base, ast.Name) and base.id in local:
            base = local[base.id]
        text = mod.literal(base)
        if not isinstance(text, str):
            raise Untranslatable(f"{fn.name}() formats something that is not a string")
        renames = {}
        for kw in returned.keywords:
            field = _key_field(kw.value, params, dims) if kw.arg else None
            if kw.arg is None or field is None:
                raise Untranslatable(f"{fn.name}() formats {ast.unparse(kw)}, not a key as it is")
            renames[kw.arg] = field
        return _rename_fields(text, renames, fn.name)
    shown = ast.unparse(returned) if returned is not None else "nothing"
    raise Untranslatable(f"{fn.name}() returns {shown[:60]!r}, not a template")


def _fstring(mod: _Module, node: ast.JoinedStr, params: set[str], dims: set[str], fn: str) -> str:
    out = []
    for part in node.values:
        if isinstance(part, ast.Constant):
            out.append(str(part.value).replace("{", "{{").replace("}", "}}"))
            continue
        assert isinstance(part, ast.FormattedValue)
        value, spec = part.value, ""
        if part.format_spec is not None:
            pieces = getattr(part.format_spec, "values", [])
            if not pieces or not all(isinstance(v, ast.Constant) for v in pieces):
                raise Untranslatable(f"{fn}() computes a format inside the URL")
            spec = ":" + "".join(str(v.value) for v in pieces)
        field = _key_field(value, params, dims) if part.conversion == -1 else None
        if field is not None and not (spec and ":" in field):
            out.append(f"{{{field}{spec}}}")
        elif isinstance(value, ast.Name) and value.id in mod.values:
            out.append(format(mod.literal(value), spec[1:]))
        else:
            raise Untranslatable(
                f"{fn}() puts {ast.unparse(value)!r} in the URL, not a key as it is"
            )
    return "".join(out)


def _key_field(value: ast.expr, params: set[str], dims: set[str]) -> str | None:
    """``time`` for a key as it is, ``time:%Y`` for ``time.strftime("%Y")``; else None."""
    if isinstance(value, ast.Name) and value.id in params and value.id in dims:
        return value.id
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr == "strftime"
        and isinstance(value.func.value, ast.Name)
        and value.func.value.id in params & dims
        and len(value.args) == 1
        and not value.keywords
        and isinstance(value.args[0], ast.Constant)
        and isinstance(value.args[0].value, str)
        and not {"{", "}"} & set(value.args[0].value)
    ):
        return f"{value.func.value.id}:{value.args[0].value}"
    return None


def _rename_fields(text: str, renames: dict[str, str], fn: str) -> str:
    """``text``'s fields filled by ``renames`` (field name to ``dim`` or ``dim:format``)."""
    import string

    out = []
    for literal, name, spec, conversion in string.Formatter().parse(text):
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if name is None:
            continue
        field = renames.get(name)
        if field is None or conversion or (spec and ":" in field):
            raise Untranslatable(f"{fn}() fills {{{name}}} with something other than a key")
        out.append(f"{{{field}{':' + spec if spec else ''}}}")
    return "".join(out)


def _sequence(mod: _Module, call: ast.Call) -> dict[str, Any]:
    params = _call_params(call, ("file_list", "concat_dim", "nitems_per_file"))
    if "file_list" not in params or "concat_dim" not in params:
        raise Untranslatable("pattern_from_file_sequence lacks its list or concat_dim")
    try:
        urls = mod.literal(params["file_list"])
    except Untranslatable:
        raise Untranslatable("the list of files is computed at run time (a query?)") from None
    sources: dict[str, Any] = {"urls": urls, "concat_dim": mod.literal(params["concat_dim"])}
    if "nitems_per_file" in params:
        sources["items_per_file"] = mod.literal(params["nitems_per_file"])
    return sources


def _outputs(mod: _Module, notes: list[str]) -> dict[str, Any]:
    for call in mod.top_calls:
        kind = _name(call.func)
        if kind == "HDFReferenceRecipe" or kind == "WriteCombinedReference":
            return {"references": {"format": "json"}}
        if kind in ("XarrayZarrRecipe", "StoreToZarr"):
            chunks = next((kw.value for kw in call.keywords if kw.arg == "target_chunks"), None)
            if chunks is None:
                return {"zarr": {"chunk_size": "100MB"}}
            try:
                value = mod.literal(chunks)
            except Untranslatable as e:
                notes.append(f"target_chunks: {e}; chunks left to chunk_size: 100MB")
                return {"zarr": {"chunk_size": "100MB"}}
            return {"zarr": {"chunks": value}}
    return {}


def _header(name: str, src: Path, notes: list[str]) -> str:
    lines = [f"# Drafted by `forge migrate` from the Pangeo Forge recipe in {src}."]
    if name == "recipe.yaml" and notes:
        lines.append("# Not translated, or to check; finish by hand:")
        lines += [f"#   - {n}" for n in notes]
    lines.append("# Check it with `forge lint` and a pruned `forge run --prune 2`.")
    return "\n".join(lines) + "\n"


#: PyYAML's safe dumper, writing text of several lines as a literal block as a person would
#: (a class of its own, so the library's dumper is left as it is).
_Dumper: Any = type("_Dumper", (yaml.SafeDumper,), {})


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def _dump(doc: dict[str, Any]) -> str:
    text: str = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=88)
    return text
