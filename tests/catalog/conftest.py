"""Fixtures for the catalog: the extension schemas for offline validation, small outputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The extension schemas live beside the repository (third-party files, not part of it).
_SCHEMAS = "shared/stac-schemas"


@pytest.fixture(scope="session")
def stac_schemas() -> Path:
    """The folder of the datacube and xarray-assets schemas (``../shared/stac-schemas``)."""
    env = os.environ.get("ARCOFORGE_STAC_SCHEMAS")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [parent / _SCHEMAS for parent in here.parents]
    for folder in candidates:
        if (folder / "datacube-v2.2.0.json").is_file():
            return folder
    pytest.skip(
        "the STAC extension schemas were not found in ../shared/stac-schemas or "
        "$ARCOFORGE_STAC_SCHEMAS; validation tests need a local copy"
    )
