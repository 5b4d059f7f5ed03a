"""The benchmark's answers: pooled held-out answers and paired comparisons of grid runs."""

import numpy as np
import pandas as pd
import pytest

from auheat.benchmark import Contrast, answer, answer_lines, co_occurrence_check, compare_runs, held_out
from auheat.config import TrainConfig
from auheat.data.dataset import PreparedDataset
from auheat.grid import Grid, run_grid, yardstick_checks
from auheat.models import FAN
from auheat.models.weights import save_landmark_weights
from auheat.synth.generate import generate_dataset


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """Two methods, two seeds for one of them, on the three folds of a tiny disfa-like set."""
    root = tmp_path_factory.mktemp("benchmark")
    data = generate_dataset("disfa-like", root / "disfa", 2, seed=0, workers=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUHEAT_CACHE", str(root / "cache"))
        patch.setenv("TORCH_HOME", str(root / "torch"))
        save_landmark_weights(FAN(1, 16))
        config = TrainConfig(epochs=1, batch_size=8, input_size=64)
        folds = {"disfa-like": (data, [0, 1, 2])}
        scratch = run_grid(folds, ["scratch"], ["variable"], root / "runs", 1, 16, config)
        adapters = run_grid(folds, ["adapters"], ["variable"], root / "runs", 1, 16, config, seeds=(0, 1))
    return data, Grid(*(pd.concat([a, b], ignore_index=True) for a, b in zip(scratch, adapters, strict=True)))


def test_held_out_answers_pool_every_fold_and_stack_the_seeds(grid):
    data, runs = grid
    pooled = held_out(runs, method="adapters")
    every = PreparedDataset(data)
    assert pooled.runs == 6 and pooled.raw.shape == (2, len(every), len(every.aus))
    assert sorted(set(pooled.subjects)) == list(every.subjects)  # all 27 subjects, each tested once
    assert set(pooled.folds) == {0, 1, 2}
    # One seed's answers are the runs' own, fold after fold.
    assert np.isfinite(pooled.raw).all() and not np.array_equal(pooled.raw[0], pooled.raw[1])


def test_a_set_of_runs_compared_with_itself_differs_by_nothing(grid):
    _, runs = grid
    same = Contrast("adapters against itself", {"method": "adapters"}, {"method": "adapters"}, {})
    result = compare_runs(runs, same, n_resamples=200)
    assert result.difference == 0 and result.low == 0 and result.high == 0
    assert result.verdict == "no evidence either way" and result.units == 27


def test_the_answer_table_names_each_question_with_its_interval(grid):
    _, runs = grid
    contrasts = [
        Contrast("adapters minus scratch", {"method": "adapters"}, {"method": "scratch"}, {}),
        Contrast("scratch minus adapters", {"method": "scratch"}, {"method": "adapters"}, {}),
    ]
    table = answer(runs, contrasts, n_resamples=200)
    forward, backward = table.loc["adapters minus scratch"], table.loc["scratch minus adapters"]
    assert forward["difference"] == pytest.approx(-backward["difference"])
    assert forward["low"] == pytest.approx(-backward["high"])
    assert forward["low"] <= forward["difference"] <= forward["high"]
    assert (forward["runs A"], forward["runs B"]) == (6, 3)
    with pytest.raises(ValueError, match="no run of the grid matches"):
        held_out(runs, method="finetune")
    first, second = answer_lines(table).splitlines()
    assert first == (
        f"adapters minus scratch: {forward['difference']:+.3f} mean ICC [{forward['low']:+.3f}, "
        f"{forward['high']:+.3f}], {forward['verdict']}"
    )
    assert second.startswith("scratch minus adapters: ")


def test_the_co_occurrence_check_scores_an_au_where_the_other_is_absent(grid):
    _, runs = grid
    table = co_occurrence_check(runs, 6, 12, method="adapters")
    assert list(table.index) == ["AU06", "AU06 | AU12 = 0"]
    assert table.loc["AU06 | AU12 = 0", "frames"] < table.loc["AU06", "frames"]


def test_each_run_is_read_against_its_own_test_folds_yardsticks(grid):
    _, runs = grid
    # fold 0's answering-0 MAE beats every run, folds 1 and 2's none: each run meets its own
    floors = pd.DataFrame(
        {"dataset": "disfa-like", "fold": [0, 1, 2], "MAE": [10.0, 0.0, 0.0], "heatmap_loss": [1.0, 2.0, 4.0]}
    )
    checks = yardstick_checks(runs, floors)
    below = checks["MAE below answering 0"].groupby(level="fold").all()
    assert below.to_dict() == {0: True, 1: False, 2: False}
    final = runs.curves.groupby(["dataset", "method", "fold", "seed"])["train_loss"].last()
    ratio = checks["loss / all-zero loss"].xs(("scratch", 2), level=("method", "fold"))
    assert np.allclose(ratio, final.xs(("scratch", 2), level=("method", "fold")) / 4.0)
    with pytest.raises(ValueError, match="no row for"):
        yardstick_checks(runs, floors.iloc[:2])
