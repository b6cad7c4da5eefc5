"""Beam's state sampler wakes every few milliseconds in the pipelines of a run, so that
a long bundle ends when its work does rather than up to 0.2 s later."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from arcoforge.pipeline.quiet import beam
from arcoforge.pipeline.runners import runner
from arcoforge.pipeline.sampling import SAMPLING_PERIOD_MS, prompt_bundle_ends, shorten


def _period(_: int) -> Iterator[int]:
    from apache_beam.runners.worker import statesampler

    tracker = statesampler.get_current_tracker()
    assert tracker is not None, "a bundle runs with a state sampler"
    yield tracker.sampling_period_ms


@pytest.mark.parametrize("threads", [True, False], ids=["threads", "processes"])
def test_the_bundles_of_a_run_sample_every_few_milliseconds(tmp_path: Path, threads: bool) -> None:
    """In the launcher's worker threads and in the DirectRunner's worker processes."""
    out = tmp_path / "periods"
    with (
        runner("direct", workers=2, threads=threads) as (beam_runner, options),
        beam.Pipeline(runner=beam_runner, options=options) as pipeline,
    ):
        _ = (
            pipeline
            | beam.Create([1, 2, 3, 4])
            | beam.FlatMap(_period)
            | beam.Map(str)
            | beam.io.WriteToText(str(out))
        )
    found = {int(line) for f in tmp_path.glob("periods*") for line in f.read_text().split()}
    assert found == {SAMPLING_PERIOD_MS}


def test_the_import_shortened_beams_sampler() -> None:
    from apache_beam.runners.worker import statesampler
    from apache_beam.utils.counters import CounterFactory

    assert statesampler.StateSampler("s", CounterFactory()).sampling_period_ms == SAMPLING_PERIOD_MS
    assert prompt_bundle_ends()  # again: nothing more to do, and still as expected


class _Sampler:
    def __init__(self, prefix: str, factory: object, sampling_period_ms: int = 200) -> None:
        self.sampling_period_ms = sampling_period_ms


class _OtherDefault:
    def __init__(self, prefix: str, factory: object, sampling_period_ms: int = 300) -> None:
        self.sampling_period_ms = sampling_period_ms


class _Renamed:
    def __init__(self, prefix: str, factory: object, period_ms: int = 200) -> None:
        self.period_ms = period_ms


def test_a_sampler_as_expected_is_shortened() -> None:
    assert shorten(_Sampler, 200)
    assert _Sampler("s", None).sampling_period_ms == SAMPLING_PERIOD_MS
    assert _Sampler("s", None, 50).sampling_period_ms == 50  # one given is kept


@pytest.mark.parametrize("sampler", [_OtherDefault, _Renamed], ids=["other-default", "renamed"])
def test_a_sampler_not_as_expected_is_left_alone(sampler: type) -> None:
    before = sampler.__init__.__defaults__  # type: ignore[misc]
    assert not shorten(sampler, 200)
    assert sampler.__init__.__defaults__ == before  # type: ignore[misc]
