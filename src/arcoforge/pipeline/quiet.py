"""Apache Beam, imported without its import-time noise, its bundles ending promptly.

Beam logs "apitools not found" on the root logger, which also gives a Python session's
root logger a handler of Beam's making. That one message is dropped; all other logging
is left as is. Bundles end as soon as their work does (:mod:`arcoforge.pipeline.sampling`).
Import ``beam`` from here before any other Beam module.
"""

from __future__ import annotations

import logging


class _DropApitools(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


def _import_beam_quietly() -> None:
    root = logging.getLogger()
    keep = logging.NullHandler()
    drop = _DropApitools()
    added = not root.handlers  # with no handler, logging.warning() would add Beam's own
    if added:
        root.addHandler(keep)
    root.addFilter(drop)
    try:
        import apache_beam  # noqa: F401
    finally:
        root.removeFilter(drop)
        if added:
            root.removeHandler(keep)


_import_beam_quietly()

import apache_beam as beam  # noqa: E402  (imported quietly just above)

from arcoforge.pipeline.sampling import prompt_bundle_ends  # noqa: E402

prompt_bundle_ends()

__all__ = ["beam"]
