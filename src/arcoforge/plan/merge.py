"""The merge rule, one for copies and references: shared variables are kept once if equal.

Files merged along a merge dim (``tas``, ``uas`` and ``vas`` of one model) each carry
the same auxiliary variables: CF bounds (``lat_bnds``, ``lon_bnds``, ``time_bnds``),
grid mappings, cell areas. A variable found in several merged inputs is kept once
when it is equal in all of them, as ``xr.merge`` does, and refused only when it
differs, naming the variable, the files and where they differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from arcoforge.errors import IncompatibleInputsError
from arcoforge.sources.headers import hash_values

#: Values of a shared variable kept to say where copies differ (larger: only a hash).
SHOWN_VALUES = 10_000


@dataclass(frozen=True)
class Holding:
    """One merged input's copy of a shared variable: where it is, and what it holds."""

    url: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: str
    #: a hash of the decoded values, or None if they were not read (too large)
    digest: str | None
    #: the decoded values, when small enough to show where copies differ
    values: np.ndarray | None = None

    @classmethod
    def of(cls, url: str, dims: tuple[str, ...], values: np.ndarray) -> Holding:
        """The holding of ``values`` (decoded) at ``url``."""
        values = np.asarray(values)
        shown = values if values.size <= SHOWN_VALUES else None
        return cls(url, dims, values.shape, str(values.dtype), hash_values(values), shown)


def check_shared(name: str, holdings: Sequence[Holding]) -> None:
    """Keep ``name`` once if every merged input holds it equal; refuse it otherwise.

    ``holdings`` are the copies of ``name`` in inputs that are merged (one per merge
    key, for the same place along the concat dims), the first being the one kept.
    """
    ref = holdings[0]
    for other in holdings[1:]:
        if ref.digest is None or other.digest is None:
            raise IncompatibleInputsError(
                f"Variable {name!r} is in {ref.url} and in {other.url}, which are merged, and "
                f"is too large to compare ({_size(ref)} values). A variable may come from "
                "several merged inputs only if it is small and equal in all of them: drop it "
                "from all but one in a preprocess step of recipe.py."
            )
        if (ref.dims, ref.shape, ref.dtype, ref.digest) == (
            other.dims,
            other.shape,
            other.dtype,
            other.digest,
        ):
            continue
        raise IncompatibleInputsError(
            f"Variable {name!r} is in {ref.url} and in {other.url}, which are merged, but "
            f"differs between them: {difference(ref, other)}. A variable found in several "
            "merged inputs is kept once only if it is equal in all of them; drop or fix it "
            "in a preprocess step of recipe.py, or merge other files."
        )


def _size(holding: Holding) -> int:
    return int(np.prod(holding.shape))


def difference(a: Holding, b: Holding) -> str:
    """Where two holdings of one variable differ, in words."""
    if a.dims != b.dims:
        return f"dims {list(a.dims)} vs {list(b.dims)}"
    if a.shape != b.shape:
        return f"shape {list(a.shape)} vs {list(b.shape)}"
    if a.dtype != b.dtype:
        return f"dtype {a.dtype} vs {b.dtype}"
    if a.values is None or b.values is None:
        return "their values differ"
    x, y = a.values, b.values
    same = (x == y) | (_isnan(x) & _isnan(y))
    where = np.argwhere(~np.asarray(same))
    if where.size == 0:
        return "their values differ"
    first = tuple(int(i) for i in where[0])
    at = ", ".join(f"{d}={i}" for d, i in zip(a.dims, first, strict=True))
    return f"{len(where)} of {x.size} values differ, the first at [{at}]: {x[first]} vs {y[first]}"


def _isnan(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "fc":
        return np.asarray(np.isnan(values), dtype=bool)
    if values.dtype.kind == "M":
        return np.asarray(np.isnat(values), dtype=bool)
    return np.zeros(values.shape, dtype=bool)
