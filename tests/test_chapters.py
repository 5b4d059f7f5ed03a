"""The skeleton Chapters 4 to 7 share (auheat.chapters), on a tiny recipe."""

import numpy as np
import pandas as pd
import pytest

from auheat.chapters import READ_ICC, TransferChapter, held_out_reading, runs_reading
from auheat.config import TrainConfig
from auheat.recipes import Recipe

TINY = Recipe(
    "tiny",
    1,
    16,
    TrainConfig(steps=2, input_size=64),
    landmark_frames_per_subject=1,
    landmark_epochs=1,
    au_frames_per_subject=2,
)


@pytest.fixture
def chapter(tmp_path, monkeypatch):
    monkeypatch.setenv("AUHEAT_CACHE", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return TransferChapter.set_up(TINY, TINY.config(seed=0), fold=1)


def test_the_chapter_trains_its_runs_where_the_grid_reads_them_and_scores_them_against_answering_0(
    chapter, tmp_path
):
    assert chapter.runs == tmp_path / "runs" / "benchmark-tiny-seed0"
    assert set(chapter.train_set.subjects).isdisjoint(chapter.test_set.subjects)
    assert "test (held out)" in chapter.summary() and chapter.landmark_source.startswith("recipe 'tiny': ")
    spec = chapter.run("finetune")
    assert (spec.fold, spec.width, spec.config) == (1, 16, chapter.config)
    # its runs start from the recipe's own network, as the chapter says, named inside the cache
    assert chapter.landmark_source.endswith(f"<cache>/{spec.landmark_weights.relative_to(tmp_path)}")
    specs = {"fine-tuning": spec, "from scratch": chapter.run("scratch")}
    assert chapter.unfinished(specs) == ["fine-tuning", "from scratch"]
    runs = chapter.train(specs)
    assert (spec.folder(chapter.runs) / "last.safetensors").is_file() and chapter.unfinished(specs) == []
    # the all-zero yardsticks: the loss of drawing nothing, the MAE of answering 0
    floor = chapter.all_zero_loss()
    last = chapter.last_epochs(runs, floor)
    logged = pd.Series({name: log.iloc[-1]["train_loss"] for name, (_, log) in runs.items()})
    pd.testing.assert_series_equal(last["loss / all-zero loss"], logged / floor, check_names=False)
    table = chapter.held_out(runs["fine-tuning"][0])
    answering_0 = np.nanmean(np.abs(chapter.test_set.intensities), axis=0)
    np.testing.assert_allclose(table["MAE of 0"].to_numpy(), [*answering_0, answering_0.mean()])
    assert list(table.index[:-1]) == [f"AU{n:02d}" for n in chapter.test_set.aus]


def test_the_held_out_reading_is_built_from_the_table():
    table = pd.DataFrame(
        {
            "ICC": [0.5, 0.0, 0.05, 0.18],
            "PCC": [0.6, np.nan, 0.1, 0.2],
            "MAE": [0.2, 0.4, 0.1, 0.23],
            "MAE of 0": [0.3, 0.3, 0.2, 0.27],
        },
        index=["AU01", "AU02", "AU04", "mean"],
    )
    reading = held_out_reading(table, "fine-tuning")
    assert reading.splitlines() == [
        "fine-tuning: mean ICC 0.180.",
        f"Reads 1 of 3 AUs (ICC of at least {READ_ICC}): AU01.",
        "One constant answer (PCC undefined, ICC 0) on 1 of 3 AUs: AU02.",
        "MAE below answering 0 on 2 of 3 AUs (mean 0.230 against 0.270): AU01, AU04.",
    ]
    table["ICC"] = -0.0001
    assert held_out_reading(table, "x").startswith("x: mean ICC 0.000.")
    table["MAE"] = table["MAE of 0"] - 1e-9  # equal as the table prints them: not below
    assert "MAE below answering 0 on 0 of 3 AUs" in held_out_reading(table, "x")
    assert "Reads 0 of 3 AUs (ICC of at least 0.1): none." in held_out_reading(table, "x")


def test_the_runs_reading_names_each_runs_yardsticks_and_the_best_run_on_each_score():
    last = pd.DataFrame(
        {"loss / all-zero loss": [0.3, 0.95], "ICC_mean": [0.40, 0.25], "MAE_mean": [0.30, 0.20]},
        index=["fine-tuning", "scratch"],
    )
    lines = runs_reading(last, zero_mae=0.25).splitlines()
    assert lines[0] == (
        "fine-tuning: mean ICC 0.400; MAE 0.300, above answering 0's 0.250; loss 0.30 of the all-zero "
        "heatmaps', below 90 % of it"
    )
    assert "MAE 0.200, below answering 0's" in lines[1] and "NOT below 90 %" in lines[1]
    assert lines[2].startswith(
        "highest mean ICC: fine-tuning, +0.150 above scratch; lowest MAE: scratch (another run)"
    )
    assert len(runs_reading(last.iloc[:1], zero_mae=0.25).splitlines()) == 1  # one run: nothing to rank
