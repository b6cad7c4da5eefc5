"""Running ``recipe.py`` where it can do no harm: a child process with a scrubbed
environment and limits on memory, CPU time and wall time.

An untrusted run (``forge test``, ``forge run --untrusted``) never imports a recipe's
code itself. The child (``python -m arcoforge.recipe.sandbox FOLDER``) imports it and
answers with plain JSON: the inputs (key values and URLs), the outputs, and whether a
``preprocess`` is defined. Nothing the child sends is unpickled or executed here.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from arcoforge.errors import RecipeError, UntrustedRefusedError
from arcoforge.recipe.pattern import ConcatDim, FilePattern, MergeDim


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """What the child may use: address space (bytes), CPU seconds, wall seconds."""

    memory: int = 4 << 30
    cpu_seconds: int = 120
    wall_seconds: float = 180.0


#: Variables the child keeps: enough to start Python; no credentials, tokens or config.
_KEPT = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "PYTHONPATH",
    "ARCOFORGE_NET_GUARD",
    "ARCOFORGE_NET_GUARD_LOG",
)


def scrubbed_env(home: str) -> dict[str, str]:
    """The child's environment: the variables of :data:`_KEPT`, and an empty HOME."""
    env = {k: os.environ[k] for k in _KEPT if k in os.environ}
    env.update(HOME=home, TMPDIR=home, PYTHONDONTWRITEBYTECODE="1")
    return env


def _limit(limits: SandboxLimits) -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def describe(folder: Path, limits: SandboxLimits = SandboxLimits()) -> dict[str, Any]:
    """What ``folder``'s recipe.py defines, as the sandboxed child reports it."""
    with tempfile.TemporaryDirectory(prefix="forge-sandbox-") as home:
        try:
            done = subprocess.run(
                [sys.executable, "-m", "arcoforge.recipe.sandbox", str(folder.resolve())],
                env=scrubbed_env(home),
                cwd=home,
                capture_output=True,
                timeout=limits.wall_seconds,
                preexec_fn=lambda: _limit(limits),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise UntrustedRefusedError(
                f"{folder / 'recipe.py'}: importing it took more than {limits.wall_seconds:g} s; "
                "a recipe.py must define its pattern quickly (no downloads, no long loops)."
            ) from None
    lines = done.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        last = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise RecipeError(
            f"{folder / 'recipe.py'}: importing it in the sandbox failed (exit status "
            f"{done.returncode}: {last[0]}). It may have gone over the limits of "
            f"{limits.memory >> 20} MiB of memory or {limits.cpu_seconds} s of CPU time."
        )
    if "error" in answer:
        raise RecipeError(str(answer["error"]))
    return answer


def load_described(folder: Path, limits: SandboxLimits = SandboxLimits()) -> Any:
    """A stand-in for the recipe.py module: ``pattern``, ``outputs``, and whether
    ``preprocess`` is defined (as a function untrusted runs refuse to call)."""
    found = describe(folder, limits)
    names = [d["name"] for d in found.get("dims", [])]
    pattern = None
    if found.get("dims"):
        dims: list[ConcatDim | MergeDim] = []
        for d in found["dims"]:
            keys = [_decode(k) for k in d["keys"]]
            if d["kind"] == "concat":
                dims.append(ConcatDim(d["name"], keys, d.get("items_per_file")))
            else:
                dims.append(MergeDim(d["name"], keys))
        table = {tuple(_decode(k) for k in keys): url for keys, url in found["urls"]}
        pattern = FilePattern(
            UrlTable(tuple(names), table),
            *dims,
            file_type=found.get("file_type", "auto"),
            storage_options=found.get("storage_options") or {},
            auth=found.get("auth"),
        )
    preprocess = _Refused(folder) if found.get("preprocess") else None
    return _Described(pattern, found.get("outputs"), preprocess)


@dataclass(frozen=True)
class _Described:
    pattern: FilePattern | None
    outputs: Any
    preprocess: Any


@dataclass(frozen=True)
class UrlTable:
    """The format function of a sandboxed recipe's pattern: each input's URL, as reported."""

    names: tuple[str, ...]
    urls: dict[tuple[Any, ...], str]

    def __call__(self, **keys: Any) -> str:
        return self.urls[tuple(keys[n] for n in self.names)]


@dataclass(frozen=True)
class _Refused:
    """The place of a recipe's preprocess in an untrusted run: it is never called."""

    folder: Path

    def __call__(self, ds: Any, index: Any) -> Any:
        raise UntrustedRefusedError(
            f"{self.folder / 'recipe.py'}: an untrusted run does not run `preprocess` (recipe "
            "code applied to every input). Run the recipe on a trusted machine "
            "(`forge run` without --untrusted), or fix the inputs with recipe.yaml settings."
        )


def _encode(value: Any) -> Any:
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    raise RecipeError(
        f"recipe.py: pattern keys must be numbers, strings or dates. Got {type(value).__name__} "
        f"{value!r}."
    )


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "datetime" in value:
        return dt.datetime.fromisoformat(value["datetime"])
    if isinstance(value, dict) and "date" in value:
        return dt.date.fromisoformat(value["date"])
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    return value


def _describe_here(folder: Path) -> dict[str, Any]:
    """In the child: import recipe.py and report what it defines, as JSON."""
    from arcoforge.recipe.load import RECIPE_PY, _import_recipe_py
    from arcoforge.recipe.spec import Outputs

    module = _import_recipe_py(folder / RECIPE_PY, "sandboxed")
    out: dict[str, Any] = {"preprocess": callable(getattr(module, "preprocess", None))}
    outputs = getattr(module, "outputs", None)
    if isinstance(outputs, Outputs):
        outputs = outputs.model_dump(mode="json")
    if outputs is not None:
        json.dumps(outputs)  # must be plain data
        out["outputs"] = outputs
    pattern = getattr(module, "pattern", None)
    if pattern is not None:
        if not isinstance(pattern, FilePattern):
            raise RecipeError(
                f"{folder / RECIPE_PY}: `pattern` must be an arcoforge.FilePattern. "
                f"Got a {type(pattern).__name__} instead."
            )
        out["dims"] = [
            {
                "kind": "concat" if isinstance(d, ConcatDim) else "merge",
                "name": d.name,
                "keys": [_encode(k) for k in d.keys],
                "items_per_file": getattr(d, "items_per_file", None),
            }
            for d in pattern.dims
        ]
        out["urls"] = [
            [[_encode(v) for v in pattern.keys(index).values()], url]
            for index, url in pattern.items()
        ]
        out["file_type"] = pattern.file_type.value
        out["storage_options"] = pattern.storage_options
        out["auth"] = pattern.auth
    return out


def main() -> NoReturn:  # pragma: no cover - runs in the child
    """Import the recipe.py of the folder given and print what it defines as one JSON line."""
    from arcoforge.exiting import exit_now

    try:
        answer = _describe_here(Path(sys.argv[1]))
    except Exception as e:
        answer = {"error": str(e) if isinstance(e, RecipeError) else f"{type(e).__name__}: {e}"}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    exit_now(0)


if __name__ == "__main__":
    main()
