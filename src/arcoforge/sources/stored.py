"""An input's stored (undecoded) values read by slice where it lies, without a download."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from arcoforge.errors import UnrepresentableError
from arcoforge.recipe.pattern import FileType


def read_stored(
    url: str,
    name: str,
    file_type: FileType,
    options: dict[str, Any],
    key: tuple[slice, ...] | None = None,
) -> np.ndarray:
    """The stored (undecoded) values of ``name`` at ``key`` (all of them if None) in the
    input at ``url``; only that slice is read."""
    import fsspec

    engine = "scipy" if file_type is FileType.NETCDF3 else "h5netcdf"
    with (
        fsspec.open(url, "rb", **options) as f,
        xr.open_dataset(f, engine=engine, decode_cf=False, mask_and_scale=False) as ds,
    ):
        if name not in ds.variables:
            raise UnrepresentableError(f"{url}: expected a variable {name!r}. Found none.")
        var = ds.variables[name]
        return np.asarray((var if key is None else var[key]).values)
