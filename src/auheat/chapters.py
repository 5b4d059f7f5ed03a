"""The skeleton Chapters 4 to 7 share, so that each keeps only what is particular to its method.

Each of those chapters trains transfer methods on fold ``FOLD`` of SynthFACS's DISFA-like set,
from the recipe's landmark network, and reads the held-out scores against two yardsticks: the
training loss of all-zero heatmaps (a heatmap model that has learnt to draw nothing sits there)
and the MAE of answering 0 for every AU. Their runs live where Chapter 8's grid finds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from auheat.config import TrainConfig
from auheat.data.dataset import PreparedDataset, protocol_datasets
from auheat.evaluation import PREDICTIONS, evaluate_model, read_predictions
from auheat.experiment import RunSpec, TrainedRun, finished, train_or_load
from auheat.grid import train_runs, zero_prediction
from auheat.models import FAN, AUModel
from auheat.recipes import Recipe, landmark_network, landmark_weights, runs_folder, synthetic_dataset
from auheat.stats import Comparison, compare_models
from auheat.tasks import AUTask

Runs = dict[str, TrainedRun]  # run name -> its last-epoch model and metrics log

# The held-out ICC from which the book says a model reads an AU (Chapters 4 to 8): the project's
# threshold, not the paper's; below it, one run's agreement is too small to read as learnt.
READ_ICC = 0.1
# The training loss, as a share of the all-zero heatmaps' loss, below which a run has learnt to draw
# something: a run at the all-zero loss draws nothing, whatever its ICC.
LEARNT_LOSS = 0.9


@dataclass(frozen=True)
class TransferChapter:
    """A transfer chapter's data, landmark network and runs. Make it with :meth:`set_up`.

    Attributes:
        recipe, config: the run size and its training configuration (the seed among it).
        fold: the test fold; the other folds train.
        data: the SynthFACS DISFA-like dataset's folder.
        landmarks: the recipe's pretrained landmark network; ``landmark_source`` says where its
            weights came from, and the chapter's runs start from them (``landmark_weights``).
        train_set, test_set: the fold's training and held-out subjects.
        runs: the folder of the runs, shared with Chapter 8's grid.
        workers: runs trained at once.
    """

    recipe: Recipe
    config: TrainConfig
    fold: int
    data: Path
    landmarks: FAN
    landmark_source: str
    landmark_weights: Path
    train_set: PreparedDataset
    test_set: PreparedDataset
    runs: Path
    workers: int = 1

    @classmethod
    def set_up(cls, recipe: Recipe, config: TrainConfig, fold: int = 0, workers: int = 1) -> TransferChapter:
        """Generate (or read) the data and pretrain (or read) the landmark network."""
        seed = config.seed
        data = synthetic_dataset("disfa-like", recipe.au_frames_per_subject, seed=seed)
        network, source = landmark_network(recipe)  # "<origin>: <weights path>"
        weights = landmark_weights(recipe)  # made by landmark_network: found, not pretrained again
        train_set, test_set = protocol_datasets(data, fold)
        runs = runs_folder(recipe, seed)
        return cls(recipe, config, fold, data, network, source, weights, train_set, test_set, runs, workers)

    def summary(self) -> str:
        """What the chapter trains from and tests on, in three lines."""
        fan, train, test = self.landmarks, self.train_set, self.test_set
        return (
            f"landmark network: {fan.stacks} stack(s), width {fan.width}, input "
            f"{self.recipe.input_size} px; {self.landmark_source}\n"
            f"train: {len(train)} frames of {len(train.subjects)} subjects\n"
            f"test (held out): {len(test)} frames of subjects {', '.join(test.subjects)}"
        )

    def run(self, method: str, config: TrainConfig | None = None, **options) -> RunSpec:
        """The chapter's run of ``method`` (with a method's ``options``) on its fold."""
        recipe = self.recipe
        return RunSpec(
            self.data,
            method,
            recipe.design,
            self.fold,
            options,
            stacks=recipe.stacks,
            width=recipe.width,
            landmark_weights=self.landmark_weights,
            config=config or self.config,
        )

    def unfinished(self, specs: Mapping[str, RunSpec]) -> list[str]:
        """The names of the runs :meth:`train` would train; it reads the others, finished in an
        earlier build."""
        return [name for name, spec in specs.items() if not finished(spec.folder(self.runs))]

    def train(self, specs: Mapping[str, RunSpec]) -> Runs:
        """Train the runs not finished in an earlier build (``workers`` at a time), read the others."""
        train_runs(list(specs.values()), self.runs, workers=self.workers)
        return {name: train_or_load(spec, self.runs) for name, spec in specs.items()}

    def compare(self, a: RunSpec, b: RunSpec, n_resamples: int = 2000) -> Comparison:
        """Run ``a`` minus run ``b`` in mean ICC (of the raw heatmap maximum) on the held-out fold,
        with a 95 % interval over its test subjects (:func:`auheat.stats.compare_models`). Both
        runs must be trained (:meth:`train`)."""
        held_out = [read_predictions(spec.folder(self.runs) / PREDICTIONS) for spec in (a, b)]
        return compare_models(
            held_out[0].truth,
            held_out[0].raw,
            held_out[1].raw,
            held_out[0].subjects,
            n_resamples=n_resamples,
            seed=self.config.seed,
        )

    def all_zero_loss(self, config: TrainConfig | None = None) -> float:
        """The training loss of all-zero heatmaps under ``config``'s loss (the chapter's by default)."""
        config = config or self.config
        return zero_prediction(
            self.data,
            self.fold,
            self.recipe.design,
            self.recipe.input_size,
            loss=config.loss,
            foreground_weight=config.foreground_weight,
        )["heatmap_loss"]

    @property
    def zero_mae(self) -> np.ndarray:
        """[K] the held-out MAE of answering 0 for each AU."""
        return np.nanmean(np.abs(self.test_set.intensities), axis=0)

    def last_epochs(self, runs: Runs, floors: float | Mapping[str, float]) -> pd.DataFrame:
        """Each run's last logged epoch, its training loss also as a share of the all-zero loss
        (``floors``: one value, or one per run name)."""
        last = pd.DataFrame({name: log.iloc[-1] for name, (_, log) in runs.items()}).T
        floor = [floors[name] if isinstance(floors, Mapping) else floors for name in last.index]
        last["loss / all-zero loss"] = last["train_loss"] / floor
        columns = ["step", "train_loss", "loss / all-zero loss", "ICC_mean", "MAE_mean", "seconds"]
        return last[columns].astype(float)

    def held_out(self, model: AUModel) -> pd.DataFrame:
        """The model's scores per AU (and their mean) on the held-out subjects, beside the MAE of
        answering 0."""
        evaluation = evaluate_model(
            model, self.test_set, AUTask(self.test_set.aus), "cpu", self.recipe.input_size
        )
        table, zero_mae = evaluation.table.copy(), self.zero_mae
        table["MAE of 0"] = [*zero_mae, zero_mae.mean()]
        return table


def runs_reading(last: pd.DataFrame, zero_mae: float) -> str:
    """What a table of last epochs (:meth:`TransferChapter.last_epochs`) says, in sentences built
    from it: each run against the two yardsticks (a training loss below :data:`LEARNT_LOSS` of the
    all-zero heatmaps' says it learnt to draw something; an MAE below ``zero_mae``, answering 0's,
    says its answers sit closer to the labels than 0 does), then which run ranks the frames best
    (mean ICC) and which places them best on the labels' scale (MAE), one draw each."""
    lines, share = [], f"{LEARNT_LOSS * 100:.0f} %"
    for name, row in last.iterrows():
        drew = "below" if row["loss / all-zero loss"] < LEARNT_LOSS else "NOT below"
        mae, zero = round(row["MAE_mean"], 3), round(zero_mae, 3)  # compared as they are printed
        side = "below" if mae < zero else "equal to" if mae == zero else "above"
        lines.append(
            f"{name}: mean ICC {round(row['ICC_mean'], 3) + 0.0:.3f}; MAE {mae:.3f}, {side} answering "
            f"0's {zero:.3f}; loss {row['loss / all-zero loss']:.2f} of the all-zero heatmaps', {drew} "
            f"{share} of it"
        )
    if len(last) > 1:
        icc, mae = last["ICC_mean"].sort_values(ascending=False), last["MAE_mean"].sort_values()
        same = "the same run" if mae.index[0] == icc.index[0] else "another run"
        lines.append(
            f"highest mean ICC: {icc.index[0]}, {icc.iloc[0] - icc.iloc[1]:+.3f} above {icc.index[1]}; "
            f"lowest MAE: {mae.index[0]} ({same}). One run each on one fold is one draw: Chapter 8 "
            "reads such differences only where an interval over test subjects excludes 0"
        )
    return "\n".join(lines)


def held_out_reading(table: pd.DataFrame, name: str) -> str:
    """What a held-out table (:meth:`TransferChapter.held_out`) says, in sentences built from it.

    The AUs the model reads (ICC of at least :data:`READ_ICC`), the AUs it answers with one
    constant value (PCC undefined: the answers do not vary, and the ICC is then 0), and the AUs
    whose MAE is below that of answering 0; the chapters print it under the table, so a rebuild
    that changes the table changes the reading.
    """
    aus = table.drop(index="mean")

    def listed(mask: pd.Series) -> str:
        return ", ".join(aus.index[mask]) or "none"

    read = aus["ICC"] >= READ_ICC
    constant = aus["PCC"].isna()
    below_zero = aus["MAE"].round(3) < aus["MAE of 0"].round(3)  # below as the table prints them
    mean = table.loc["mean"]
    return (
        f"{name}: mean ICC {round(mean['ICC'], 3) + 0.0:.3f}.\n"  # + 0.0: no "-0.000"
        f"Reads {read.sum()} of {len(aus)} AUs (ICC of at least {READ_ICC}): {listed(read)}.\n"
        f"One constant answer (PCC undefined, ICC 0) on {constant.sum()} of {len(aus)} AUs: "
        f"{listed(constant)}.\n"
        f"MAE below answering 0 on {below_zero.sum()} of {len(aus)} AUs "
        f"(mean {mean['MAE']:.3f} against {mean['MAE of 0']:.3f}): {listed(below_zero)}."
    )
