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
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from auheat.aus import crop_to_heatmap
from auheat.checkpoint import read_info
from auheat.experiment import protocol_datasets, train_or_load
from auheat.tasks import AUTask
from auheat.train import LAST, TrainConfig

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


def run_name(method: str, design: str, fold: int | None, train_subjects: int | None, digest: str) -> str:
    """The folder name of one run; ``digest`` stands for the training configuration."""
    design = "none" if method in NO_HEATMAP else design
    return f"{method}-{design}-fold{'all' if fold is None else fold}-n{train_subjects or 'all'}-{digest}"


def config_digest(config: TrainConfig, stacks: int, width: int) -> str:
    """8 hex digits that change whenever the training configuration or the network size does."""
    text = json.dumps({"config": asdict(config), "stacks": stacks, "width": width}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def run_grid(
    data: dict[str, tuple[str | Path, list[int | None]]],
    methods: list[str],
    designs: list[str],
    root: str | Path,
    stacks: int,
    width: int,
    config: TrainConfig,
    subject_counts: list[int | None] = (None,),
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train (or read) every run of the grid and collect its scores and learning curves.

    Args:
        data: dataset name -> (prepared dataset folder, folds to test on; ``[None]`` for a
            train/test split protocol).
        subject_counts: keep only the first n training subjects; None keeps all of them.

    Returns:
        ``scores``: one row per run and AU (and ``mean``), with ICC and MAE of the last epoch;
        ``curves``: one row per run and epoch, with the training loss and the mean test scores.
    """
    digest = config_digest(config, stacks, width)
    scores, curves = [], []
    for name, (path, folds) in data.items():
        for method in methods:
            for design in designs:
                for fold in folds:
                    for count in subject_counts:
                        out = Path(root) / name / run_name(method, design, fold, count, digest)
                        _, log = train_or_load(
                            path,
                            method,
                            out,
                            fold,
                            stacks,
                            width,
                            design=design,
                            config=config,
                            train_subjects=count,
                            progress=progress,
                        )
                        key = {
                            "dataset": name,
                            "method": method,
                            "design": design,
                            "fold": fold,
                            "train_subjects": len(read_info(out / LAST)["train_subjects"]),
                        }
                        epochs = log[["epoch", "train_loss", "ICC_mean", "MAE_mean"]]
                        curves.append(pd.concat([pd.DataFrame(key, index=log.index), epochs], axis=1))
                        last = log.iloc[-1]
                        aus = [c.split("_", 1)[1] for c in last.index if c.startswith("ICC_")]
                        for au in aus:
                            scores.append(
                                {**key, "AU": au, "ICC": last[f"ICC_{au}"], "MAE": last[f"MAE_{au}"]}
                            )
    return pd.DataFrame(scores), pd.concat(curves, ignore_index=True)


def zero_prediction(
    data: str | Path, fold: int | None, design: str, input_size: int, heatmap_size: int | None = None
) -> dict[str, float]:
    """The scores of a model that answers "no AU" everywhere: the floor a trained model must beat.

    Returns:
        ``MAE``: mean over AUs of the test subjects' mean intensity (its ICC is 0 by definition);
        ``heatmap_loss``: the training loss of all-zero heatmaps (the variable or fixed design,
        at ``heatmap_size``, a quarter of the input by default). A heatmap model whose loss
        settles there has learnt to draw nothing.
    """
    train, test = protocol_datasets(data, fold)
    side = heatmap_size or input_size // 4
    task = AUTask(train.aus, design)
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
