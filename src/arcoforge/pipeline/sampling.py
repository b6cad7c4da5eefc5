"""Beam's state sampler, made to wake often enough that a bundle ends when its work does.

Every bundle Beam runs has a thread sampling which step it is in (Beam's time-per-step
metrics). That thread sleeps ever longer, up to 200 ms, and the bundle waits for it to
wake before it ends: a bundle that ran for a second or more ended up to 0.2 s after its
last element, 0.15 s in a 1 GiB copy (bench/README.md, *Measurements behind the
design*). With a period of :data:`SAMPLING_PERIOD_MS` a bundle ends within that; the
sampler wakes a hundred times a second, and the metrics it keeps are finer for it. The
period is Beam's default for the whole process: any pipeline run in it has it.
"""

from __future__ import annotations

import inspect
import logging

#: The longest sleep of a bundle's state sampler (Beam's own: 200 ms).
SAMPLING_PERIOD_MS = 10

_log = logging.getLogger(__name__)


def prompt_bundle_ends() -> bool:
    """Give the state samplers Beam makes from now on a period of
    :data:`SAMPLING_PERIOD_MS`; False, and nothing changed, if this Beam's sampler is
    not the one this was written for."""
    from apache_beam.runners.worker import statesampler

    done = shorten(statesampler.StateSampler, statesampler.DEFAULT_SAMPLING_PERIOD_MS)
    if not done:
        _log.debug("Beam's state sampler is not as expected: its period is left as it is")
    return done


def shorten(sampler: type, default: int) -> bool:
    """Make :data:`SAMPLING_PERIOD_MS` the default period of ``sampler``, whose
    constructor's last parameter must be ``sampling_period_ms`` defaulting to ``default``
    (or already to :data:`SAMPLING_PERIOD_MS`); False, and nothing changed, otherwise."""
    init = vars(sampler).get("__init__")
    if not inspect.isfunction(init):
        return False
    params = list(inspect.signature(init).parameters.values())
    if not params or params[-1].name != "sampling_period_ms":
        return False
    if params[-1].default not in (default, SAMPLING_PERIOD_MS):
        return False
    if init.__defaults__ is None or len(init.__defaults__) != 1:
        return False
    init.__defaults__ = (SAMPLING_PERIOD_MS,)
    return True
