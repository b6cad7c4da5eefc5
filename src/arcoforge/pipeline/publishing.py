"""Publishing every output of a run together, once all of their writes are done.

A recipe asking for a copy and references is one dataset: both are checked and
staged (the copy's tasks all done, the references written where no reader looks)
before either is published, and each is then published by its own single write.
If one publish fails after another succeeded, the error names what was published;
a re-run finds that output up to date and finishes the rest.
"""

from __future__ import annotations

import pickle
from typing import Any, Protocol

from arcoforge.errors import ForgeError, PartlyPublishedError
from arcoforge.pipeline.context import RunContext
from arcoforge.pipeline.stages import reporting

#: The tag of each pipeline branch's elements in the publishing step.
COPY, REFERENCES = "zarr", "references"


class Staged(Protocol):
    """An output ready to publish."""

    result: dict[str, Any]

    @property
    def url(self) -> str: ...

    def publish(self) -> None: ...


def publish_outputs(ctx: RunContext, items: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """Check and stage every output, then publish them one after another.

    ``items`` are ``("zarr", bytes written)`` from the copy and ``("references",
    pickled VirtualBatch)`` from the virtual branch. Returns the results.
    """
    from arcoforge.pipeline import references, stages

    with reporting(ctx, "publishing"):
        staged: list[Staged] = []
        if ctx.output is not None:
            written = sum(int(v) for tag, v in items if tag == COPY)
            staged.append(stages.stage_copy(ctx, written))
        if ctx.references is not None:
            batches = [pickle.loads(b) for tag, b in items if tag == REFERENCES]
            staged.append(references.stage_references(ctx, batches))
        publish_all(staged)
        return [s.result for s in staged]


def publish_all(staged: list[Staged]) -> None:
    """Publish each staged output; a failure after a success names what was published."""
    done: list[str] = []
    for output in staged:
        try:
            output.publish()
        except Exception as e:
            if not done:
                raise
            why = str(e) if isinstance(e, ForgeError) else f"{type(e).__name__}: {e}"
            raise PartlyPublishedError(
                f"{' and '.join(done)} {'was' if len(done) == 1 else 'were'} published, but "
                f"publishing {output.url} failed ({why}). Run again to publish it: what was "
                "published is up to date and is not written again."
            ) from e
        done.append(output.url)
