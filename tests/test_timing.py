"""The one timer every benchmark uses (auheat.timing)."""

import time

import pytest

from auheat.timing import median_time, median_times


def test_every_step_is_called_in_turn_after_the_warmup_and_timed_by_its_median():
    calls = []

    def step(name: str, seconds: float):
        def run():
            calls.append(name)
            time.sleep(seconds)

        return run

    times = median_times({"short": step("short", 0.002), "long": step("long", 0.02)}, repeats=3, warmup=1)
    assert calls == ["short", "long"] * 4  # one warm-up round, then three timed rounds, in turn
    assert 0.002 <= times["short"].wall < times["long"].wall
    assert times["long"].wall >= 0.02
    assert times["long"].cpu < times["long"].wall  # sleeping takes no CPU time


def test_a_sync_runs_after_each_step_and_no_repeat_is_refused():
    events = []
    median_time(lambda: events.append("step"), repeats=2, warmup=0, sync=lambda: events.append("sync"))
    assert events == ["step", "sync"] * 2
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        median_time(lambda: None, repeats=0)
