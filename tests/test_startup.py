"""The ``forge`` executable imports with the collector off and freezes what it imported."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from importlib.metadata import entry_points

from arcoforge.startup import YOUNG_THRESHOLD, imports_frozen

#: ``forge --help`` through the entry point, reporting the collector's state at exit
_PROGRAM = """
import gc, json, os, sys
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(1))
import arcoforge.exiting

def report(code):
    print(json.dumps({
        "code": code,
        "collections_while_importing": importing,
        "frozen": gc.get_freeze_count(),
        "threshold": gc.get_threshold()[0],
        "enabled": gc.isenabled(),
        "openblas": os.environ.get("OPENBLAS_NUM_THREADS"),
    }))
    sys.stdout.flush()
    os._exit(0)

arcoforge.exiting.exit_now = report
import arcoforge.startup
frozen = arcoforge.startup.imports_frozen

class Watched:
    def __enter__(self):
        self.before = len(collections)
        self.inner = frozen()
        self.inner.__enter__()
    def __exit__(self, *exc):
        global importing
        importing = len(collections) - self.before
        return self.inner.__exit__(*exc)

arcoforge.startup.imports_frozen = Watched
sys.argv = ["forge", "--help"]
from arcoforge.command import main
main()
"""


def test_the_executable_is_the_command_module() -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "forge"]
    assert script.value == "arcoforge.command:main"


def test_forge_imports_without_collections_and_freezes_them() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout.strip().splitlines()[-1])
    assert state["code"] == 0
    assert state["collections_while_importing"] == 0
    assert state["frozen"] > 100_000  # the command line's imports, out of the collector's walk
    assert state["threshold"] == YOUNG_THRESHOLD
    assert state["enabled"]
    assert state["openblas"] == "1"


def test_imports_frozen_restores_a_collecting_collector(monkeypatch) -> None:
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    before = gc.get_threshold()
    try:
        with imports_frozen():
            assert not gc.isenabled()
        assert gc.isenabled()
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert os.environ["OPENBLAS_NUM_THREADS"] == "4"  # a user's setting is kept
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
