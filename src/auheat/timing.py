"""One way to time code for every benchmark of the library: medians of repeated calls.

Written here rather than taken from ``torch.utils.benchmark.Timer``: the benchmarks time whole
steps (a batch of targets, a training step with its data path, a photo through the predictor, a
rendered face set) that run for milliseconds to seconds once per repeat, some report this
process's CPU time beside the wall clock (Timer measures the wall clock only), and a comparison
calls its candidates in turn within each round, so that load from other processes on a shared
machine slows every candidate alike instead of whichever was measured at the time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple


class Timing(NamedTuple):
    """Medians over the repeats, in seconds."""

    wall: float  # wall clock: what a user waits
    cpu: float  # this process's CPU time, all its threads: robust to other work on the machine


def median_times(
    steps: Mapping[str, Callable[[], object]],
    repeats: int = 5,
    warmup: int = 1,
    sync: Callable[[], object] | None = None,
) -> dict[str, Timing]:
    """Time each step ``repeats`` times after ``warmup`` untimed rounds; every round calls every
    step once, in turn.

    Args:
        steps: name -> a call that does the work once.
        repeats: timed rounds; each step's time is its median over them.
        warmup: untimed rounds first (caches, lazy initialisation, oneDNN's kernel choice).
        sync: called after each step before the clock stops, e.g. ``torch.cuda.synchronize`` so
            that queued GPU work is counted.

    Returns:
        name -> :class:`Timing`.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    done = sync or (lambda: None)
    for _ in range(warmup):
        for step in steps.values():
            step()
        done()
    wall: dict[str, list[float]] = {name: [] for name in steps}
    cpu: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            step()
            done()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {name: Timing(statistics.median(wall[name]), statistics.median(cpu[name])) for name in steps}


def median_time(
    step: Callable[[], object], repeats: int = 5, warmup: int = 1, sync: Callable[[], object] | None = None
) -> Timing:
    """:func:`median_times` of one step."""
    return median_times({"step": step}, repeats, warmup, sync)["step"]
