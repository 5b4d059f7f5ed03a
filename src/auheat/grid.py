"""The benchmark grid: every (dataset, method, target design, fold, training subjects) run, cached.

A run is trained once and kept in a folder named after everything that shapes it
(:meth:`auheat.experiment.RunSpec.name`), so rebuilding the book reads the runs that have not
changed and trains only the new ones. The scores are those of
the **last** epoch on the test subjects, never of an epoch chosen on them.

The paper's published numbers are in :data:`PUBLISHED`, apart from anything measured here: they
come from real BP4D and DISFA, not from the synthetic stand-ins.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from auheat.aus import rescale_points
from auheat.checkpoint import read_info
from auheat.config import TrainConfig
from auheat.data.dataset import protocol_datasets
from auheat.evaluation import PREDICTIONS, read_predictions
from auheat.experiment import RunSpec, finished, train_or_load
from auheat.models import get_method
from auheat.progress import progress_bar, progress_hidden
from auheat.stats import localisation_error
from auheat.tasks import AUTask
from auheat.train import LAST, LOG, read_log

#: Published on real data, each number checked against a benchmark listing (a number that could
#: not be checked is left out, not recalled). Never averaged with the synthetic results.
PUBLISHED = pd.DataFrame(
    [
        ("Ntinou et al. 2021", "DISFA", "mean", 0.57, "confirmed"),
        ("Ntinou et al. 2021", "BP4D", "6", 0.82, "confirmed"),
    ],
    columns=["source", "dataset", "AU", "ICC", "status"],
)


def train_runs(specs: Sequence[RunSpec], root: str | Path, workers: int = 1) -> list[Path]:
    """Train (or resume) every run that has not finished its budget, ``workers`` at a time and the
    longest budgets first, in its folder under ``root`` (:meth:`RunSpec.folder`); returns the
    folders, in the order of ``specs``.

    Args:
        workers: processes training at once. On a small CPU, two runs of one thread each train
            more frames per second in all than one run on two threads (``auheat bench train``
            measures one run); each worker gets ``cores // workers`` threads.
    """
    folders = [spec.folder(root) for spec in specs]
    # Runs that share a folder (direct regression's designs) train once. The longest budgets start
    # first: a long run started last would leave the other workers idle while it finishes.
    pending = sorted(
        {out: spec for spec, out in zip(specs, folders, strict=True) if not finished(out)}.values(),
        key=lambda spec: -(spec.config.steps or 0),  # a budget given in epochs: last
    )
    if workers <= 1 or len(pending) <= 1:
        for spec in pending:
            train_or_load(spec, root)
        return folders
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no forked torch state
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        jobs = [pool.submit(_train_in_worker, spec, root, threads) for spec in pending]
        for job in progress_bar(as_completed(jobs), total=len(jobs), desc="runs"):
            job.result()  # a failed run raises here, with its own traceback
    return folders


def _train_in_worker(spec: RunSpec, root: str | Path, threads: int) -> None:
    torch.set_num_threads(threads)
    with progress_hidden():  # a worker's bars would cut through the parent's bar of runs
        train_or_load(spec, root)


class Grid(NamedTuple):
    """What :func:`run_grid` gives: long tables of scores and curves, and every run's folder."""

    scores: pd.DataFrame  # a row per run and AU (and ``mean``): ICC, PCC, MAE, MAE raw, LOC
    curves: pd.DataFrame  # a row per run and logged evaluation: training loss, mean test scores
    runs: pd.DataFrame  # a row per run: dataset, method, design, fold, train_subjects, seed, steps,
    # input_size, folder


def concat_grids(*grids: Grid) -> Grid:
    """One :class:`Grid` of the runs of several, e.g. runs of other seeds or budgets beside a grid's.
    A run that two grids hold (the same folder) is kept once."""
    scores, curves, runs = (pd.concat(parts, ignore_index=True) for parts in zip(*grids, strict=True))
    return Grid(
        scores.drop_duplicates(["folder", "AU"], ignore_index=True),
        curves.drop_duplicates(["folder", "epoch"], ignore_index=True),
        runs.drop_duplicates("folder", ignore_index=True),
    )


def grid_specs(
    data: dict[str, tuple[str | Path, list[int | None]]],
    methods: Sequence[str],
    designs: Sequence[str],
    stacks: int,
    width: int,
    config: TrainConfig,
    subject_counts: Sequence[int | None] = (None,),
    *,
    seeds: Sequence[int] = (0,),
    landmark_weights: str | Path | None = None,
) -> list[RunSpec]:
    """The runs of a grid (:func:`run_grid`'s arguments, without its folder and workers), untrained:
    to train several grids' runs in one :func:`train_runs`, whose workers then stay busy until the
    last run instead of idling at the end of each grid."""
    return [
        spec
        for _, spec in _cells(
            data, methods, designs, stacks, width, config, subject_counts, seeds, landmark_weights
        )
    ]


def _cells(data, methods, designs, stacks, width, config, subject_counts, seeds, landmark_weights):
    """(dataset name, run) for every cell of a grid."""
    return [
        (
            name,
            RunSpec(
                path,
                method,
                design,
                fold,
                train_subjects=count,
                stacks=stacks,
                width=width,
                landmark_weights=landmark_weights,
                config=replace(config, seed=seed),
            ),
        )
        for name, (path, folds) in data.items()
        for method in methods
        for design in designs
        for fold in folds
        for count in subject_counts
        for seed in seeds
    ]


def run_grid(
    data: dict[str, tuple[str | Path, list[int | None]]],
    methods: Sequence[str],
    designs: Sequence[str],
    root: str | Path,
    stacks: int,
    width: int,
    config: TrainConfig,
    subject_counts: Sequence[int | None] = (None,),
    *,
    seeds: Sequence[int] = (0,),
    landmark_weights: str | Path | None = None,
    workers: int = 1,
) -> Grid:
    """Train (or read) every run of the grid and collect its scores and learning curves.

    Args:
        data: dataset name -> (prepared dataset folder, folds to test on; ``[None]`` for a
            train/test split protocol).
        subject_counts: keep only the first n training subjects; None keeps all of them.
        seeds: the runs' seeds (``config.seed`` is replaced by each).
        landmark_weights: the landmark network every run starts from; None: the default
            (:func:`auheat.models.weights.resolve_landmark_weights`).
        workers: runs trained at once (:func:`train_runs`).

    Returns:
        A :class:`Grid`. Scores are the last evaluation's (:meth:`auheat.tasks.AUTask.score`:
        ICC and PCC of the raw heatmap maximum, MAE of the calibrated answer), with ``LOC``, the
        mean distance of each AU's heatmap peak from its nearest centre on frames labelled 2 or
        more (pixels of a 64x64 map; :func:`auheat.stats.localisation_error`), for heatmap models.
    """
    cells = _cells(data, methods, designs, stacks, width, config, subject_counts, seeds, landmark_weights)
    folders = train_runs([spec for _, spec in cells], root, workers)
    scores, curves, runs = [], [], []
    for (name, spec), out in zip(cells, folders, strict=True):
        log, info = read_log(out / LOG), read_info(out / LAST)
        key = {
            "dataset": name,
            "method": spec.method,
            "design": spec.design,
            "fold": spec.fold,
            "train_subjects": len(info["train_subjects"]),
            "seed": spec.config.seed,
            "steps": spec.config.steps,  # the step budget (None for a budget in epochs)
            "input_size": spec.config.input_size,
            "folder": out,  # what tells two runs of one key apart (another landmark network, say)
        }
        runs.append(key)
        epochs = log[["epoch", "step", "train_loss", "ICC_mean", "PCC_mean", "MAE_mean"]]
        curves.append(pd.concat([pd.DataFrame(key, index=log.index), epochs], axis=1))
        scores.append(_run_scores(key, log.iloc[-1], out, info["aus"]))
    return Grid(
        pd.concat(scores, ignore_index=True), pd.concat(curves, ignore_index=True), pd.DataFrame(runs)
    )


def _run_scores(key: dict, last: pd.Series, out: Path, aus: Sequence[int]) -> pd.DataFrame:
    """One run's last scores, a row per AU and ``mean``, with its peaks' localisation error."""
    rows = [c.split("_", 1)[1] for c in last.index if c.startswith("ICC_")]
    table = pd.DataFrame(
        {m: [last[f"{m.replace(' ', '_')}_{row}"] for row in rows] for m in ("ICC", "PCC", "MAE", "MAE raw")},
        index=pd.Index(rows, name="AU"),
    )
    held_out = read_predictions(out / PREDICTIONS)
    if held_out.peaks is not None:
        errors = localisation_error(
            held_out.peaks, held_out.landmarks, held_out.truth, aus, held_out.heatmap_size
        )
        table["LOC"] = [*errors["error"].to_numpy(), errors["error"].mean()]
    return pd.concat([pd.DataFrame(key, index=table.index), table], axis=1).reset_index()


def zero_prediction(
    data: str | Path,
    fold: int | None,
    design: str,
    input_size: int,
    heatmap_size: int | None = None,
    loss: str = "mse",
    foreground_weight: float = 10.0,
) -> dict[str, float]:
    """The scores of a model that answers "no AU" everywhere: the floor a trained model must beat.

    Returns:
        ``MAE``: mean over AUs of the test subjects' mean intensity (its ICC is 0 by definition);
        ``heatmap_loss``: the training loss of all-zero heatmaps (of ``design``'s targets,
        at ``heatmap_size``, a quarter of the input by default, under the run's ``loss``). A
        heatmap model whose loss settles there has learnt to draw nothing.
    """
    train, test = protocol_datasets(data, fold)
    side = heatmap_size or input_size // 4
    task = AUTask(train.aus, design, loss_name=loss, foreground_weight=foreground_weight)
    # Stored in crop pixels; the task takes them in input pixels, as the trainer gives them.
    landmarks = rescale_points(torch.as_tensor(train.landmarks), train.meta["crop_size"], input_size)
    intensities = torch.as_tensor(train.intensities)
    losses, weights = [], []
    for start in range(0, len(train), 256):  # in chunks: the targets of every frame at once are large
        chunk = slice(start, start + 256)
        zeros = torch.zeros(len(intensities[chunk]), len(train.aus), side, side)
        losses.append(float(task.loss(zeros, landmarks[chunk], intensities[chunk], input_size)))
        weights.append(float((~intensities[chunk].isnan()).sum()))
    mae = np.nanmean(np.abs(test.intensities), axis=0)
    return {"MAE": float(mae.mean()), "heatmap_loss": float(np.average(losses, weights=weights))}


def yardstick_checks(grid: Grid, floors: pd.DataFrame) -> pd.DataFrame:
    """Every run of a grid against its own test fold's yardsticks (:func:`zero_prediction`), a row
    per run.

    Args:
        grid: the runs.
        floors: :func:`zero_prediction`'s ``MAE`` and ``heatmap_loss``, with ``dataset`` and ``fold``
            columns (fold None for a train/test split): a row per dataset and fold, since each fold
            tests other subjects, whose answering-0 MAE differs.

    Returns:
        Indexed by dataset, method, fold and seed: the run's mean ``ICC`` and ``MAE``; ``loss /
        all-zero loss``, its last training loss over the loss of all-zero heatmaps (below 1, it
        draws something; NaN for a method that answers intensities, not heatmaps); and ``MAE below
        answering 0``.
    """
    keys = ["dataset", "method", "fold", "seed"]
    means = grid.scores[grid.scores["AU"] == "mean"]
    final = grid.curves.groupby(keys, dropna=False)["train_loss"].last()
    checks = means.set_index(keys)[["ICC", "MAE"]].copy()
    table = floors.assign(fold=floors["fold"].astype(float).fillna(-1)).set_index(["dataset", "fold"])

    def floor_of(index: pd.MultiIndex, column: str) -> np.ndarray:
        at = pd.MultiIndex.from_arrays(
            [index.get_level_values("dataset"), index.get_level_values("fold").astype(float).fillna(-1)]
        )
        found = table[column].reindex(at)
        if found.isna().any():
            raise ValueError(f"floors has no row for {sorted(set(at[found.isna().to_numpy()]))}")
        return found.to_numpy()

    checks["loss / all-zero loss"] = final / floor_of(final.index, "heatmap_loss")
    heatmaps = [get_method(m).draws_heatmaps for m in checks.index.get_level_values("method")]
    checks.loc[~np.array(heatmaps), "loss / all-zero loss"] = np.nan
    # Below by more than float rounding: scores are float32 sums, the yardstick float64.
    checks["MAE below answering 0"] = checks["MAE"] < floor_of(checks.index, "MAE") - 1e-6
    return checks
