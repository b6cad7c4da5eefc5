"""FG013, FG014: what recipe.py would reach when imported, found by reading its syntax tree.

Lint never runs recipe code: it parses it with :mod:`ast` and follows names statically,
through imports and the functions the file defines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from arcoforge.lint.folder import RECIPE_PY, RecipeFolder
from arcoforge.lint.registry import Finding, define
from arcoforge.lint.rules.context import LintContext

NETWORK_IMPORT = define(
    "FG013",
    "hint",
    "recipe.py imports a module for the network or other programs",
    """
    `recipe.py` builds a pattern and reshapes datasets; fetching is the platform's job
    (retried, cached, checksummed, and limited per host). Importing `requests`,
    `urllib.request`, `socket`, `http.client`, `aiohttp`, `httpx`, `ftplib`, `subprocess`
    and the like at the top of the file suggests the recipe fetches or runs things
    itself. Describe the inputs in `sources` instead; credentials come from the
    environment of the machine that runs the recipe, never from the recipe.
    """,
)

REACH_AT_IMPORT = define(
    "FG014",
    "hint",
    "recipe.py reaches the network, the environment or files when imported",
    """
    Code at the top level of `recipe.py` runs whenever the recipe is loaded: on every
    worker, in CI, and for the pull request check, which holds no secrets. Lint reads the
    file (never runs it) and follows, through the file's own functions, what that code
    would reach: the network (`requests`, `urllib.request`, `socket`, `fsspec`, CMR
    queries...), the environment (`os.environ`, `os.getenv`, `getpass`,
    `os.path.expanduser`), other programs (`subprocess`, `os.system`) or files (`open`,
    `os.makedirs`, `shutil`). Move such code into functions that the pipeline calls
    (`preprocess`), and list inputs in `sources` rather than querying for them at import.
    """,
)

NETWORK, ENVIRONMENT, PROGRAMS, FILES = "the network", "the environment", "other programs", "files"

#: Client libraries whose mere import means a recipe talks to the network.
_NETWORK_CLIENTS = (
    "requests",
    "urllib.request",
    "urllib3",
    "http.client",
    "socket",
    "aiohttp",
    "httpx",
    "ftplib",
    "smtplib",
    "paramiko",
    "pycurl",
)

#: Dotted names (and every name under them) and what using them reaches.
REACHES: dict[str, str] = {
    **dict.fromkeys(
        [
            *_NETWORK_CLIENTS,
            "cmr",
            "earthaccess",
            "fsspec",
            "s3fs",
            "gcsfs",
            "adlfs",
            "boto3",
            "botocore",
            "pydap",
            "siphon",
            "webbrowser",
            "xarray.open_dataset",
            "xarray.open_mfdataset",
        ],
        NETWORK,
    ),
    **dict.fromkeys(
        [
            "os.environ",
            "os.environb",
            "os.getenv",
            "os.putenv",
            "os.getlogin",
            "getpass",
            "os.path.expanduser",
            "os.path.expandvars",
            "netrc",
            "dotenv",
        ],
        ENVIRONMENT,
    ),
    **dict.fromkeys(
        ["subprocess", "os.system", "os.popen", "os.spawnv", "os.execv", "os.fork", "pty"], PROGRAMS
    ),
    **dict.fromkeys(
        [
            "open",
            "os.makedirs",
            "os.mkdir",
            "os.remove",
            "os.unlink",
            "os.rename",
            "os.listdir",
            "os.scandir",
            "os.walk",
            "shutil",
            "glob",
            "tempfile",
        ],
        FILES,
    ),
}
#: Modules whose import alone earns FG013.
NETWORK_MODULES = frozenset([*_NETWORK_CLIENTS, "subprocess"])
_BUILTINS = frozenset(("open",))


@dataclass(frozen=True, slots=True)
class Reach:
    """A use of something that reaches outside: its dotted name, kind and line."""

    name: str
    kind: str
    line: int


def check_recipe_code(folder: RecipeFolder, ctx: LintContext) -> Iterator[Finding]:
    """FG013 and FG014 for the folder's recipe.py, if it parses."""
    if folder.code is None:
        return
    shown = folder.show(RECIPE_PY)
    yield from _network_imports(folder.code, shown)
    try:
        findings = list(_reach_at_import(folder.code, shown))
    except RecursionError:  # code nested deeper than the walk can follow
        findings = [
            REACH_AT_IMPORT.finding(
                shown, "nested too deeply to follow what it reaches at import; simplify it."
            )
        ]
    yield from findings


def _network_imports(module: ast.Module, shown: str) -> Iterator[Finding]:
    for node in _top_level(module.body):
        if isinstance(node, ast.Import):
            names = [(a.name, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [(node.module, f"{node.module}.{a.name}") for a in node.names]
        else:
            continue
        for shown_name, dotted in names:
            parts = dotted.split(".")
            if any(".".join(parts[:i]) in NETWORK_MODULES for i in range(1, len(parts) + 1)):
                yield NETWORK_IMPORT.finding(
                    shown,
                    f"imports {shown_name} at the top level. Let the platform fetch the inputs "
                    "(list them in `sources`) rather than fetching or running programs in the "
                    "recipe.",
                    node.lineno,
                )
                break


def _reach_at_import(module: ast.Module, shown: str) -> Iterator[Finding]:
    aliases = _aliases(module)
    functions = {
        n.name: n for n in module.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    direct = {name: _uses(fn.body, aliases, set()) for name, fn in functions.items()}
    calls = {name: _called(fn.body, functions) for name, fn in functions.items()}
    reached = _closure(direct, calls)
    seen: set[tuple[int, str]] = set()
    for stmt in _top_level(module.body):
        for use in _uses([stmt], aliases, set(functions)):
            if (use.line, use.name) not in seen:
                seen.add((use.line, use.name))
                yield REACH_AT_IMPORT.finding(
                    shown,
                    f"reaches {use.kind} ({use.name}) when recipe.py is imported. Move it "
                    "into a function the pipeline calls, or list inputs in `sources`.",
                    use.line,
                )
        for call_line, name in _calls_at_import(stmt, functions):
            for use in reached.get(name, []):
                key = (call_line, f"{name}:{use.name}")
                if key not in seen:
                    seen.add(key)
                    yield REACH_AT_IMPORT.finding(
                        shown,
                        f"calls {name}() when recipe.py is imported, which reaches {use.kind} "
                        f"({use.name}, line {use.line}). Call it only from functions the "
                        "pipeline runs, or list inputs in `sources`.",
                        call_line,
                    )


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run at import: the module's, and those of its classes and ifs."""
    for stmt in body:
        if _is_main_guard(stmt):
            continue
        if isinstance(stmt, ast.ClassDef):
            yield from _top_level(stmt.body)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        else:
            yield stmt


def _is_main_guard(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.If)
        and isinstance(stmt.test, ast.Compare)
        and isinstance(stmt.test.left, ast.Name)
        and stmt.test.left.id == "__name__"
    )


def _aliases(module: ast.Module) -> dict[str, str]:
    """Local names bound by imports anywhere in the file, to their dotted origin."""
    out: dict[str, str] = {}
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    out[a.asname] = a.name
                else:
                    head = a.name.split(".")[0]
                    out[head] = head
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    if node.id in aliases:
        head = aliases[node.id]
    elif node.id in _BUILTINS:
        head = node.id
    else:
        return None
    return ".".join([head, *reversed(parts)])


def _kind(dotted: str) -> str | None:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        kind = REACHES.get(".".join(parts[:i]))
        if kind:
            return kind
    return None


def _uses(body: list[ast.stmt], aliases: dict[str, str], shadowed: set[str]) -> list[Reach]:
    """Every use in ``body`` of a name that reaches outside (longest dotted name only)."""
    found: list[Reach] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            return
        if isinstance(node, ast.Attribute | ast.Name) and not (
            isinstance(node, ast.Name) and node.id in shadowed
        ):
            dotted = _dotted(node, aliases)
            kind = _kind(dotted) if dotted else None
            if dotted and kind:
                found.append(Reach(dotted, kind, node.lineno))
                return
        for child in ast.iter_child_nodes(node):
            visit(child)

    for stmt in body:
        visit(stmt)
    return found


def _called(body: list[ast.stmt], functions: Mapping[str, ast.AST]) -> set[str]:
    return {
        node.func.id
        for stmt in body
        for node in ast.walk(stmt)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in functions
    }


def _closure(direct: dict[str, list[Reach]], calls: dict[str, set[str]]) -> dict[str, list[Reach]]:
    """What each function reaches, itself or through the functions it calls."""
    out: dict[str, list[Reach]] = {}
    for name in direct:
        todo, seen, reach = [name], {name}, []
        while todo:
            current = todo.pop()
            reach.extend(direct.get(current, []))
            for callee in calls.get(current, set()) - seen:
                seen.add(callee)
                todo.append(callee)
        out[name] = reach
    return out


def _calls_at_import(stmt: ast.stmt, functions: Mapping[str, ast.AST]) -> Iterator[tuple[int, str]]:
    """Calls in ``stmt`` to the file's own functions, outside lambdas and nested defs."""

    def visit(node: ast.AST) -> Iterator[tuple[int, str]]:
        if isinstance(node, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef):
            return
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in functions
        ):
            yield node.lineno, node.func.id
        for child in ast.iter_child_nodes(node):
            yield from visit(child)

    yield from visit(stmt)
