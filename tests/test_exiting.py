"""Processes end through exit_now: exit handlers run, output written, status kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from arcoforge.exiting import code_of

_PROGRAM = """
import atexit, logging, sys
from arcoforge.exiting import exit_now
atexit.register(lambda: open(sys.argv[1], "w").write("ran"))
logging.basicConfig(stream=sys.stderr)
logging.getLogger("x").warning("logged")
print("no newline", end="")
sys.stderr.write("to stderr")
exit_now(3)
"""


def test_exit_now_runs_handlers_and_writes_everything(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM, str(marker)], capture_output=True, text=True
    )
    assert done.returncode == 3
    assert done.stdout == "no newline"
    assert "logged" in done.stderr and done.stderr.endswith("to stderr")
    assert marker.read_text() == "ran"


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (4, 4), ("bad input", 1)])
def test_code_of_matches_python(code: object, status: int, capsys) -> None:
    assert code_of(SystemExit(code)) == status
    assert capsys.readouterr().err == ("bad input\n" if isinstance(code, str) else "")
