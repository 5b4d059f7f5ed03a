"""Runs from prepared datasets to checkpoints and back: what ``auheat train`` and ``evaluate`` do.

A checkpoint records how its model was built (method, options, landmark network size, AUs), so
:func:`load_au_model` rebuilds it without the landmark weights it started from: the checkpoint
holds every weight.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import torch

from auheat.cache import made_once
from auheat.checkpoint import load_checkpoint, read_info
from auheat.data.dataset import PreparedDataset
from auheat.models import FAN, AUModel, build_model, pretrained_fan
from auheat.models.weights import resolve_landmark_weights
from auheat.tasks import AUTask
from auheat.train import LAST, LOG, Evaluation, TrainConfig, Trainer, evaluate_model, read_log, run_finished


def protocol_datasets(
    data: str | Path, fold: int | None = None, test_split: str = "test"
) -> tuple[PreparedDataset, PreparedDataset]:
    """The (train, test) pair of a prepared dataset's protocol.

    A ``split`` protocol trains on ``train`` and tests on ``test_split``; a ``folds`` protocol
    needs ``fold`` (k) and tests on fold k's subjects, training on the others.
    """
    probe = PreparedDataset(data)
    if probe.meta["protocol"]["kind"] == "folds":
        if fold is None:
            folds = len(probe.meta["protocol"]["folds"])
            raise ValueError(
                f"{data} has {folds} subject-independent folds: choose one with --fold 0..{folds - 1}"
            )
        return PreparedDataset(data, "train", fold), PreparedDataset(data, "test", fold)
    if fold is not None:
        raise ValueError(f"{data} has a train/test split, not folds: leave --fold out")
    return PreparedDataset(data, "train"), PreparedDataset(data, test_split)


def landmark_network(
    method: str, stacks: int, width: int, weights: str | Path | None = None
) -> tuple[FAN, str]:
    """The landmark network a method starts from, and where its weights came from.

    ``scratch`` needs none (random initialisation); every other method needs pretrained weights,
    resolved as :func:`auheat.models.weights.resolve_landmark_weights` says.
    """
    if method == "scratch":
        return FAN(stacks, width), "random initialisation"
    found = resolve_landmark_weights(weights, stacks, width)
    return pretrained_fan(stacks, width, found.path), f"{found.source}: {found.path}"


def train_au_model(
    data: str | Path,
    method: str,
    out: str | Path,
    fold: int | None = None,
    stacks: int = 1,
    width: int = 64,
    landmark_weights: str | Path | None = None,
    options: dict[str, Any] | None = None,
    design: str = "variable",
    config: TrainConfig | None = None,
    train_subjects: int | None = None,
    resume: bool = False,
    progress: bool = True,
) -> tuple[Trainer, pd.DataFrame]:
    """Train one transfer method on one protocol split; returns the trainer and its metrics log.

    Args:
        train_subjects: keep only the first n training subjects (sorted names), to measure how
            each method copes with little data; None keeps all.

    ``config.val_subjects`` training subjects (the last ones, by name) are held out as the
    validation set that picks ``best.safetensors``; the test subjects never do.
    """
    config = config or TrainConfig()
    options = dict(options or {})
    train, test = protocol_datasets(data, fold)
    train, val = validation_split(train, train_subjects, config.val_subjects)
    torch.manual_seed(config.seed)
    backbone, source = landmark_network(method, stacks, width, landmark_weights)
    model = build_model(method, backbone, train.aus, **options)
    info = {
        "method": method,
        "options": options,
        "stacks": stacks,
        "width": width,
        "landmark_weights": source,
        "data": str(data),
        "dataset": train.meta["name"],
        "fold": fold,
        "train_subjects": list(train.subjects),
        "val_subjects": list(val.subjects) if val is not None else [],
    }
    task = AUTask(train.aus, design, loss_name=config.loss, foreground_weight=config.foreground_weight)
    trainer = Trainer(model, task, train, test, out, config, info, progress, val_set=val)
    return trainer, trainer.fit(resume=resume)


def validation_split(
    train: PreparedDataset, train_subjects: int | None = None, val_subjects: int = 0
) -> tuple[PreparedDataset, PreparedDataset | None]:
    """(training set, validation set or None) from a protocol's training part.

    The first ``train_subjects`` subjects (sorted names; None: all) train, after the last
    ``val_subjects`` of the part are held out for validation, so the validation subjects are the
    same whatever the number of training subjects.
    """
    subjects = list(train.subjects)
    if not 0 <= val_subjects < len(subjects):
        raise ValueError(f"val_subjects must be in 0..{len(subjects) - 1}, got {val_subjects}")
    held_out = subjects[len(subjects) - val_subjects :] if val_subjects else []
    pool = subjects[: len(subjects) - val_subjects]
    if train_subjects is not None:
        if not 1 <= train_subjects <= len(pool):
            raise ValueError(f"train_subjects must be in 1..{len(pool)}, got {train_subjects}")
        pool = pool[:train_subjects]
    if len(pool) == len(subjects):
        return train, None
    root, fold = train.root, train.fold
    val = PreparedDataset(root, train.split, fold, subjects=held_out) if held_out else None
    return PreparedDataset(root, train.split, fold, subjects=pool), val


def load_au_model(checkpoint: str | Path) -> tuple[AUModel, dict[str, Any]]:
    """Rebuild the model of a checkpoint written by :func:`train_au_model`, in eval mode."""
    info = read_info(checkpoint)
    if info.get("task") != "au" or "method" not in info:
        raise ValueError(f"{checkpoint} is not an AU model checkpoint (task {info.get('task')!r})")
    model = build_model(info["method"], FAN(info["stacks"], info["width"]), info["aus"], **info["options"])
    load_checkpoint(checkpoint, model)
    return model.eval(), info


def evaluate_checkpoint(
    checkpoint: str | Path,
    data: str | Path,
    fold: int | None = None,
    split: str = "test",
    device: str = "cpu",
    batch_size: int = 32,
) -> Evaluation:
    """Score a checkpoint on a prepared dataset's test split (the numbers its training logged)."""
    model, info = load_au_model(checkpoint)
    _, test = protocol_datasets(data, fold, split)
    if tuple(test.aus) != tuple(info["aus"]):
        raise ValueError(f"{checkpoint} predicts AUs {info['aus']}, but {data} labels AUs {list(test.aus)}")
    task = AUTask(
        tuple(info["aus"]),
        info.get("design", "variable"),
        loss_name=info.get("loss", "mse"),
        foreground_weight=info.get("foreground_weight", 10.0),
    )
    return evaluate_model(model.to(device), test, task, device, info["config"]["input_size"], batch_size)


def finished(out: str | Path) -> bool:
    """Whether the run in ``out`` has logged the last epoch of its budget."""
    log = Path(out) / LOG
    return log.exists() and run_finished(read_log(log))


def train_or_load(
    data: str | Path,
    method: str,
    out: str | Path,
    fold: int | None = None,
    stacks: int = 1,
    width: int = 64,
    options: dict[str, Any] | None = None,
    design: str = "variable",
    config: TrainConfig | None = None,
    train_subjects: int | None = None,
    progress: bool = True,
) -> tuple[AUModel, pd.DataFrame]:
    """The model of a finished run in ``out`` and its metrics log, training (or resuming) it first
    if it has not finished its budget. Arguments as :func:`train_au_model`.

    The model is the last epoch's (``last.safetensors``), in eval mode.
    """
    config = config or TrainConfig()
    out = Path(out)
    with made_once(out):
        if not finished(out):
            train_au_model(
                data,
                method,
                out,
                fold,
                stacks,
                width,
                options=options,
                design=design,
                config=config,
                train_subjects=train_subjects,
                resume=(out / LAST).exists(),
                progress=progress,
            )
    model, _ = load_au_model(out / LAST)
    return model, read_log(out / LOG)
