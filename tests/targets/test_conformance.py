"""The Target protocol, the same cases for every output format, on local disk and S3.

Each target publishes a small dataset through the pipeline's stages and is then asked,
through :class:`~arcoforge.targets.base.Target` only, what it holds. A new output format
passes these cases once it is added to ``KINDS`` (tests/targets/harness.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fsspec
import pytest

from arcoforge.errors import TargetError
from arcoforge.pipeline.copy_stages import PLAN_ATTR
from arcoforge.recipe.validated import Recipe
from arcoforge.run import RunOptions
from arcoforge.targets.base import ReferenceTarget, Target, target_at
from tests.targets.harness import (
    KINDS,
    STEPS,
    Faults,
    InjectedFailure,
    run_stages,
    seen,
    version,
    which,
)

pytestmark = pytest.mark.parametrize("name", list(KINDS))


def _target(name: str, output: str) -> Target[Any]:
    """The target a run of ``name`` writes under ``output``, found by its format alone."""
    url = f"{output}/ds{KINDS[name].suffix}"
    target = target_at(KINDS[name].kind, url)
    assert isinstance(target, Target)
    assert target.kind == KINDS[name].kind
    return target


def _input_urls(recipe: Recipe) -> set[str]:
    return {url for _, url in recipe.pattern.items()}


def _recorded(target: Target[Any]) -> set[str]:
    """The URLs of the inputs the target's manifest lists."""
    manifest = target.manifest()
    assert manifest is not None, f"{target.url} records no manifest"
    return {i.url for i in manifest.inputs.values()}


def _gone(url: str) -> bool:
    fs, path = fsspec.core.url_to_fs(url)
    fs.invalidate_cache()
    return not fs.exists(path)


def test_publish_and_read_back(tmp_path: Path, output: str, name: str) -> None:
    recipe, sources = version(tmp_path, "v", 1, KINDS[name].outputs)
    target = _target(name, output)
    assert not target.exists()
    assert target.published_attrs() is None
    assert target.manifest() is None

    (result,) = run_stages(recipe, RunOptions(output=output, cache=str(tmp_path / "cache")))

    assert target.exists()
    assert which(seen(target.url), {"v": sources}) == "v"
    attrs = target.published_attrs()
    assert attrs is not None
    assert attrs["arcoforge_recipe"] == "ds"
    assert attrs[PLAN_ATTR] == result["hash"]
    opened = seen(target.url)
    assert opened is not None and opened.attrs[PLAN_ATTR] == result["hash"]
    assert _recorded(target) == _input_urls(recipe)
    manifest = target.manifest()
    assert manifest is not None and manifest.summary() == result["manifest"]
    assert target.stored_bytes() == result["stored_bytes"] > 0


def _allowed(name: str) -> tuple[str | None, ...]:
    """What a reader may see while a version replaces another: the old or the new one;
    for a copy also nothing, since it removes the dataset it replaces before preparing."""
    return ("old", None, "new") if KINDS[name].kind == "zarr" else ("old", "new")


def _check_view(target: Target[Any], now: str | None, files: dict[str, set[str]]) -> None:
    """What a reader opens goes with what the target reports: its manifest, or nothing."""
    if now is None:
        assert not target.exists(), f"{target.url} exists() but opens as nothing"
    else:
        assert target.exists()
        assert _recorded(target) == files[now], f"a reader of {now} sees another manifest"


def _versions(tmp_path: Path, name: str) -> tuple[Recipe, Recipe, dict[str, Any], dict[str, Any]]:
    """Two recipes writing to the same output; what their sources hold; their input URLs."""
    old, old_sources = version(tmp_path, "old", 1, KINDS[name].outputs)
    new, new_sources = version(tmp_path, "new", 2, KINDS[name].outputs)
    versions = {"old": old_sources, "new": new_sources}
    return old, new, versions, {"old": _input_urls(old), "new": _input_urls(new)}


def test_second_publish_replaces_atomically(tmp_path: Path, output: str, name: str) -> None:
    """A reader opening the target before every storage step of a second run sees a whole
    version, with its own manifest; once done, the new version's attributes and manifest."""
    old, new, versions, files = _versions(tmp_path, name)
    cache = str(tmp_path / "cache")
    target = _target(name, output)
    run_stages(old, RunOptions(output=output, cache=cache))
    first = target.published_attrs()
    views: list[str | None] = []

    def look() -> None:
        now = which(seen(target.url), versions)
        assert now in _allowed(name), f"a reader saw {now}"
        _check_view(target, now, files)
        views.append(now)

    with pytest.MonkeyPatch.context() as m:
        for cls, method in [step for steps in STEPS.values() for step in steps]:
            m.setattr(cls, method, _before(getattr(cls, method), look))
        run_stages(new, RunOptions(output=output, cache=cache, overwrite=True))
    look()
    order = _allowed(name)
    assert views[0] == "old" and views[-1] == "new"
    assert views == sorted(views, key=order.index), f"a reader went back: {views}"
    now = target.published_attrs()
    assert first is not None and now is not None
    assert now[PLAN_ATTR] != first[PLAN_ATTR]


def _before(method: Any, look: Any) -> Any:
    def step(*args: Any, **kwargs: Any) -> Any:
        look()
        return method(*args, **kwargs)

    return step


def test_killed_while_publishing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str, name: str
) -> None:
    """Killed at each storage step of ``publish``: a reader sees a whole version with its
    own manifest; a run again publishes the new one."""
    old, new, versions, files = _versions(tmp_path, name)
    cache = str(tmp_path / "cache")
    target = _target(name, output)
    options = RunOptions(output=output, cache=cache, overwrite=True)
    run_stages(old, RunOptions(output=output, cache=cache))
    with Faults().installed(monkeypatch) as counted:
        run_stages(new, options)
    steps = [i for i, s in enumerate(counted.seen, 1) if s.endswith(" (publish)")]
    assert steps, f"{type(target).__name__}.publish made no storage step: {counted.seen}"
    for step in steps:
        run_stages(old, options)  # the old version in place again
        faults = Faults(fail_at=step)
        with faults.installed(monkeypatch), pytest.raises(Exception) as failed:
            run_stages(new, options)
        assert faults.seen[-1] == counted.seen[step - 1]
        assert isinstance(failed.value.__cause__ or failed.value, InjectedFailure)
        now = which(seen(target.url), versions)
        assert now in _allowed(name), f"step {step} ({faults.seen[-1]}): reader saw {now}"
        _check_view(target, now, files)
        run_stages(new, options)
        assert which(seen(target.url), versions) == "new"
        _check_view(target, "new", files)


def test_remove(tmp_path: Path, output: str, name: str) -> None:
    recipe, sources = version(tmp_path, "v", 1, KINDS[name].outputs)
    target = _target(name, output)
    target.remove()  # nothing there: nothing to do
    run_stages(recipe, RunOptions(output=output, cache=str(tmp_path / "cache")))
    assert which(seen(target.url), {"v": sources}) == "v"
    target.remove()
    assert seen(target.url) is None
    assert not target.exists()
    assert target.published_attrs() is None
    assert target.manifest() is None
    assert _gone(target.url)


def test_each_target_class_is_one(name: str) -> None:
    """The annotations are checked by mypy; the isinstance checks at run time."""
    from arcoforge.targets.icechunk import IcechunkTarget, Staged
    from arcoforge.targets.kerchunk import KerchunkTarget
    from arcoforge.targets.zarr import StagedStore, ZarrTarget

    zarr: Target[StagedStore] = ZarrTarget(f"out/ds{KINDS[name].suffix}")
    refs: ReferenceTarget[dict[str, Any]] = KerchunkTarget("out/ds.json", "json")
    repo: ReferenceTarget[Staged] = IcechunkTarget("out/ds.icechunk")
    assert isinstance(zarr, Target) and not isinstance(zarr, ReferenceTarget)
    assert isinstance(refs, ReferenceTarget) and isinstance(repo, ReferenceTarget)
    assert (
        type(_target(name, "out")).__name__
        == {
            "zarr": "ZarrTarget",
            "json": "KerchunkTarget",
            "parquet": "KerchunkTarget",
            "icechunk": "IcechunkTarget",
        }[KINDS[name].kind]
    )


def test_unknown_kind_is_refused(name: str) -> None:
    with pytest.raises(TargetError, match=r"Got 'netcdf' instead"):
        target_at("netcdf", f"out/ds{KINDS[name].suffix}")
