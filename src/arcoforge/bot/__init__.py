"""The GitHub side of the platform: recipe test runs, the pull-request bot, feedstocks.

Names load on first use, so the bot's commands do not import the pipeline's stack.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "Command": "arcoforge.bot.commands",
    "handle_comment": "arcoforge.bot.commands",
    "parse_command": "arcoforge.bot.commands",
    "GitHub": "arcoforge.bot.github",
    "Github3Client": "arcoforge.bot.github",
    "connect": "arcoforge.bot.github",
    "post_report": "arcoforge.bot.report",
    "TestLimits": "arcoforge.bot.testrun",
    "TestReport": "arcoforge.bot.testrun",
    "run_test": "arcoforge.bot.testrun",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'arcoforge.bot' has no attribute {name!r}")
    return getattr(importlib.import_module(_NAMES[name]), name)
