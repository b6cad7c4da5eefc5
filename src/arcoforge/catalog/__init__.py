"""The STAC catalog of datasets: registration, reading, validation, a web site, intake.

Public names load on first use: ``register`` and ``retract`` (pystac, Pillow),
``register_run`` (after ``forge run``), ``open_entry``, ``validate_catalog`` and
``build_site``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arcoforge.catalog.opening import open_entry
    from arcoforge.catalog.registry import register, register_run, retract
    from arcoforge.catalog.site import build_site
    from arcoforge.catalog.validate import validate_catalog

_LAZY = {
    "register": "arcoforge.catalog.registry",
    "register_run": "arcoforge.catalog.registry",
    "retract": "arcoforge.catalog.registry",
    "open_entry": "arcoforge.catalog.opening",
    "build_site": "arcoforge.catalog.site",
    "validate_catalog": "arcoforge.catalog.validate",
}

__all__ = [
    "build_site",
    "open_entry",
    "register",
    "register_run",
    "retract",
    "validate_catalog",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'arcoforge.catalog' has no attribute {name!r}")
