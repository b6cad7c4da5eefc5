"""Recipe: everything needed to build one dataset, as plain validated data."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from arcoforge.errors import RecipeError
from arcoforge.recipe.meta import Meta
from arcoforge.recipe.pattern import FilePattern, FileType, Index
from arcoforge.recipe.spec import Outputs
from arcoforge.recipe.urls import validate_id, validate_url

if TYPE_CHECKING:
    import xarray as xr

#: A custom step applied to every input after it is opened: ``preprocess(ds, index)``.
Preprocess = Callable[["xr.Dataset", Index], "xr.Dataset"]


@dataclass(frozen=True)
class Recipe:
    """A validated recipe: metadata, the inputs' pattern and the outputs to make.

    ``fingerprint`` identifies what the recipe asks for (its sources, outputs and
    code, not its description); runs of equal fingerprints over equal inputs make
    equal datasets.
    """

    id: str
    meta: Meta
    pattern: FilePattern
    outputs: Outputs
    preprocess: Preprocess | None = None
    path: Path | None = None
    fingerprint: str = field(default="")
    #: the fingerprint of what the recipe asks for apart from its outputs
    sources_fingerprint: str = field(default="")

    def __post_init__(self) -> None:
        validate_id(self.id, where="recipe id")
        if self.preprocess is not None and self.outputs.references is not None:
            where = self.path / "recipe.py" if self.path else "recipe.py"
            raise RecipeError(
                f"{where}: a `preprocess` function changes the data, which a virtual dataset "
                "cannot show: its references point at the inputs' bytes as they are. Drop "
                "`references` from the outputs (the zarr copy runs preprocess), or drop preprocess."
            )
        if self.pattern.file_type is FileType.OPENDAP and self.outputs.references is not None:
            where = self.path / "recipe.yaml" if self.path else "recipe.yaml"
            raise RecipeError(
                f"{where}: OPeNDAP sources (file_type: opendap) are served as values through "
                "the DAP protocol, not as the files' bytes, so a virtual dataset has no byte "
                "ranges to point at. Drop `references` from the outputs (the zarr copy reads "
                "OPeNDAP sources by slices), or give the files' own URLs if the server also "
                "serves them."
            )
        if not self.sources_fingerprint:
            h = hashlib.sha256()
            for _, url in self.pattern.items():
                h.update(url.encode())
            object.__setattr__(self, "sources_fingerprint", h.hexdigest())
        if not self.fingerprint:
            h = hashlib.sha256(self.outputs.model_dump_json().encode())
            h.update(self.sources_fingerprint.encode())
            object.__setattr__(self, "fingerprint", h.hexdigest())

    def check_urls(self) -> int:
        """Validate every input URL and refuse repeats; returns how many inputs there are."""
        return check_urls(self.pattern)


def check_urls(pattern: FilePattern) -> int:
    """Validate every input URL of ``pattern`` and refuse repeats; returns the count.

    Two inputs with one URL would read the same file twice: a template field that
    does not vary, or a URL listed twice.
    """
    first: dict[str, Index] = {}
    for index, url in pattern.items():
        validate_url(url, where=f"input {index}")
        if url in first:
            raise RecipeError(
                f"input {index}: expected a URL of its own. Got {url!r}, the URL of "
                f"input {first[url]} too."
            )
        first[url] = index
    return len(first)
