"""The benchmark grid: every (dataset, method, target design, fold, training subjects) run, cached.

A run is trained once and kept in a folder named after everything that shapes it (a digest of
its training configuration and landmark network size is part of the name), so rebuilding the
book reads the runs that have not changed and trains only the new ones. The scores are those of
the **last** epoch on the test subjects, never of an epoch chosen on them.

The paper's published numbers are in :data:`PUBLISHED`, apart from anything measured here: they
come from real BP4D and DISFA, not from the synthetic stand-ins.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from auheat.aus import crop_to_heatmap
from auheat.checkpoint import read_info
from auheat.experiment import finished, protocol_datasets, train_or_load
from auheat.models.factory import METHODS
from auheat.tasks import AUTask
from auheat.train import LAST, LOG, TrainConfig, read_log

# Direct regression predicts intensities, not heatmaps: the target design does not enter it, so
# one run serves both designs and the tables show it under each.
NO_HEATMAP = frozenset({"direct"})

# Published on real data; "confirmed" numbers were checked against a benchmark listing, "recalled"
# ones were not (see PAPER.md). Never averaged with the synthetic results.
PUBLISHED = pd.DataFrame(
    [
        ("Ntinou et al. 2021", "DISFA", "mean", 0.57, "confirmed"),
        ("Ntinou et al. 2021", "BP4D", "6", 0.82, "confirmed"),
        ("Sanchez et al. 2018 (1 hourglass)", "BP4D", "mean", 0.68, "recalled"),
    ],
    columns=["source", "dataset", "AU", "ICC", "status"],
)


def run_name(
    method: str,
    design: str,
    fold: int | None,
    train_subjects: int | None,
    digest: str,
    options: dict[str, Any] | None = None,
) -> str:
    """The folder name of one run; ``digest`` stands for the training configuration.

    A method's non-default options join its name (``finetune[train=last_stack]``), so a chapter's
    variant of a method is a run of its own and the default one is shared with the grid.
    """
    design = "none" if method in NO_HEATMAP else design
    if options:
        method += "[" + ",".join(f"{k}={v}" for k, v in sorted(options.items())) + "]"
    return f"{method}-{design}-fold{'all' if fold is None else fold}-n{train_subjects or 'all'}-{digest}"


def config_digest(config: TrainConfig, stacks: int, width: int, method: str | None = None) -> str:
    """8 hex digits that change whenever the training configuration, the network size or the
    method's layers (its class's ``version``) do."""
    layers = METHODS[method][0].version if method is not None else None
    record = {"config": asdict(config), "stacks": stacks, "width": width}
    if layers not in (None, 1):
        record["version"] = layers  # version 1 leaves the digest of runs made before versions
    text = json.dumps(record, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def cell_run(
    root: str | Path,
    dataset: str,
    data: str | Path,
    method: str,
    design: str,
    fold: int | None,
    config: TrainConfig,
    stacks: int,
    width: int,
    options: dict[str, Any] | None = None,
    train_subjects: int | None = None,
) -> dict[str, Any]:
    """The :func:`auheat.experiment.train_or_load` arguments of one grid cell, its folder included.

    ``dataset`` names the cell (``"disfa-like"``); ``data`` is the prepared dataset's folder. The
    run lives in ``root / dataset / run_name(...)``: Chapters 4 to 7 train their runs there too, so
    the benchmark of Chapter 8 reads them instead of training them again.
    """
    digest = config_digest(config, stacks, width, method)
    out = Path(root) / dataset / run_name(method, design, fold, train_subjects, digest, options)
    return {
        "data": data,
        "method": method,
        "out": out,
        "fold": fold,
        "stacks": stacks,
        "width": width,
        "options": options,
        "design": design,
        "config": config,
        "train_subjects": train_subjects,
    }


def train_runs(runs: Sequence[dict[str, Any]], workers: int = 1, progress: bool = True) -> None:
    """Train (or resume) every run that has not finished its budget, ``workers`` at a time.

    Args:
        runs: keyword arguments of :func:`auheat.experiment.train_or_load`, one dict per run
            (``out`` included); finished runs are skipped.
        workers: processes training at once. On a small CPU, two runs of one thread each train
            more frames per second in all than one run on two threads (``auheat bench train``
            measures one run); each worker gets ``cores // workers`` threads.
    """
    pending = [run for run in runs if not finished(run["out"])]
    if workers <= 1 or len(pending) <= 1:
        for run in pending:
            train_or_load(**{"progress": progress, **run})
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no forked torch state
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        jobs = [pool.submit(_train_in_worker, run, threads) for run in pending]
        for job in tqdm(as_completed(jobs), total=len(jobs), desc="runs", disable=not progress):
            job.result()  # a failed run raises here, with its own traceback


def _train_in_worker(run: dict[str, Any], threads: int) -> None:
    torch.set_num_threads(threads)
    train_or_load(**{**run, "progress": False})


def run_grid(
    data: dict[str, tuple[str | Path, list[int | None]]],
    methods: list[str],
    designs: list[str],
    root: str | Path,
    stacks: int,
    width: int,
    config: TrainConfig,
    subject_counts: Sequence[int | None] = (None,),
    progress: bool = True,
    workers: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train (or read) every run of the grid and collect its scores and learning curves.

    Args:
        data: dataset name -> (prepared dataset folder, folds to test on; ``[None]`` for a
            train/test split protocol).
        subject_counts: keep only the first n training subjects; None keeps all of them.
        workers: runs trained at once (:func:`train_runs`).

    Returns:
        ``scores``: one row per run and AU (and ``mean``), with ICC and MAE of the last epoch;
        ``curves``: one row per run and logged epoch, with the training loss and the mean test
        scores.
    """
    cells = [
        (name, path, method, design, fold, count)
        for name, (path, folds) in data.items()
        for method in methods
        for design in designs
        for fold in folds
        for count in subject_counts
    ]
    runs = [cell_run(root, n, p, m, d, f, config, stacks, width, None, c) for n, p, m, d, f, c in cells]
    # Direct regression's designs share one folder: train it once.
    train_runs(list({run["out"]: run for run in runs}.values()), workers, progress)
    scores, curves = [], []
    for run, (name, _, method, design, fold, _) in zip(runs, cells, strict=True):
        out = run["out"]
        log = read_log(out / LOG)
        key = {
            "dataset": name,
            "method": method,
            "design": design,
            "fold": fold,
            "train_subjects": len(read_info(out / LAST)["train_subjects"]),
        }
        epochs = log[["epoch", "step", "train_loss", "ICC_mean", "MAE_mean"]]
        curves.append(pd.concat([pd.DataFrame(key, index=log.index), epochs], axis=1))
        last = log.iloc[-1]
        aus = [c.split("_", 1)[1] for c in last.index if c.startswith("ICC_")]
        for au in aus:
            scores.append({**key, "AU": au, "ICC": last[f"ICC_{au}"], "MAE": last[f"MAE_{au}"]})
    return pd.DataFrame(scores), pd.concat(curves, ignore_index=True)


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
        ``heatmap_loss``: the training loss of all-zero heatmaps (the variable or fixed design,
        at ``heatmap_size``, a quarter of the input by default, under the run's ``loss``). A
        heatmap model whose loss settles there has learnt to draw nothing.
    """
    train, test = protocol_datasets(data, fold)
    side = heatmap_size or input_size // 4
    task = AUTask(train.aus, design, loss_name=loss, foreground_weight=foreground_weight)
    # Stored in crop pixels; the task takes them in input pixels, as the trainer gives them.
    landmarks = crop_to_heatmap(torch.as_tensor(train.landmarks), train.meta["crop_size"], input_size)
    intensities = torch.as_tensor(train.intensities)
    losses, weights = [], []
    for start in range(0, len(train), 256):  # in chunks: the targets of every frame at once are large
        chunk = slice(start, start + 256)
        zeros = torch.zeros(len(intensities[chunk]), len(train.aus), side, side)
        losses.append(float(task.loss(zeros, landmarks[chunk], intensities[chunk], input_size)))
        weights.append(float((~intensities[chunk].isnan()).sum()))
    mae = np.nanmean(np.abs(test.intensities), axis=0)
    return {"MAE": float(mae.mean()), "heatmap_loss": float(np.average(losses, weights=weights))}
