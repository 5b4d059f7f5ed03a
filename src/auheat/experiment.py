"""Runs from prepared datasets to checkpoints and back: what ``auheat train`` and ``evaluate`` do.

A checkpoint records how its model was built (method, options, landmark network size, AUs), so
:func:`load_au_model` rebuilds it without the landmark weights it started from: the checkpoint
holds every weight.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import torch

from auheat.cache import content_digest, made_once
from auheat.checkpoint import load_checkpoint, read_info
from auheat.config import TrainConfig
from auheat.data.dataset import PreparedDataset, protocol_datasets, read_meta
from auheat.data.digest import dataset_digest
from auheat.evaluation import Evaluation, evaluate_model
from auheat.heatmaps import DESIGN_VERSIONS
from auheat.models import FAN, AUModel, build_model, get_method
from auheat.models.weights import LandmarkWeights, pretrained_fan, resolve_landmark_weights
from auheat.tasks import AUTask
from auheat.train import LAST, LOG, Trainer, read_log, run_finished


@dataclass(frozen=True)
class RunSpec:
    """Everything that shapes one AU training run: the one description that training, the
    grid, the command line and the chapters pass around.

    Args:
        data: the prepared dataset's folder.
        method: a transfer method or baseline of :data:`auheat.models.METHODS`.
        design: the heatmap target design (:data:`auheat.heatmaps.DESIGNS`); direct regression has none.
        fold: the test fold of a ``folds`` protocol; None for a train/test split.
        options: the method's options (e.g. ``{"rank": 8}``); its defaults when empty.
        train_subjects: keep only the first n training subjects (sorted names); None keeps all.
        stacks, width: the landmark network's size.
        landmark_weights: a weights file to start from; None resolves them as
            :func:`auheat.models.weights.resolve_landmark_weights` says.
        config: the training choices, the input size among them.
    """

    data: str | Path
    method: str
    design: str = "variable"
    fold: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    train_subjects: int | None = None
    stacks: int = 1
    width: int = 64
    landmark_weights: str | Path | None = None
    config: TrainConfig = field(default_factory=TrainConfig)

    def landmark_origin(self) -> str | None:
        """Which landmark network the run starts from, as its digest records it: the resolution
        step that found the weights and a digest of their content (None for ``scratch``).

        Naming the content means a run never outlives the network it started from: pretraining the
        landmark network again, or replacing its file, gives every transfer run a new folder.
        """
        if not get_method(self.method).pretrained:
            return None
        found = _resolved_or_none(self.landmark_weights, self.stacks, self.width)
        return None if found is None else f"{found.source}:{content_digest(found.path)}"

    def digest(self) -> str:
        """8 hex digits that change whenever the data's content (:mod:`auheat.data.digest`), the
        training configuration (the input size among it), the network's size, the landmark
        weights' content, the method's layers (its class's ``version``), the meaning of its target
        design or what a run records (:data:`RUN_FORMAT`) do."""
        record: dict[str, Any] = {
            "config": asdict(self.config),
            "stacks": self.stacks,
            "width": self.width,
            "format": RUN_FORMAT,
            "landmarks": self.landmark_origin(),
            "data": dataset_digest(self.data),
        }
        method = get_method(self.method)
        if method.version != 1:
            record["version"] = method.version
        if method.draws_heatmaps and DESIGN_VERSIONS.get(self.design, 1) != 1:
            record["design_version"] = DESIGN_VERSIONS[self.design]
        return hashlib.sha1(json.dumps(record, sort_keys=True).encode()).hexdigest()[:8]

    def name(self) -> str:
        """The run's folder name: method (with its non-default options), design, fold, training
        subjects and digest, e.g. ``finetune[train=last_stack]-variable-fold0-nall-1a2b3c4d``.

        A chapter's variant of a method is a run of its own; the default one is shared with the
        grid. Direct regression has no heatmap design: its designs share one run.
        """
        method = self.method
        if self.options:
            method += "[" + ",".join(f"{k}={v}" for k, v in sorted(self.options.items())) + "]"
        design = self.design if get_method(self.method).draws_heatmaps else "none"
        fold = "all" if self.fold is None else self.fold
        return f"{method}-{design}-fold{fold}-n{self.train_subjects or 'all'}-{self.digest()}"

    def folder(self, root: str | Path) -> Path:
        """The run's folder under ``root``: ``root / <dataset name> / name()``."""
        return Path(root) / read_meta(self.data)["name"] / self.name()


# What a run's folder holds and how it was scored; bumped when that changes, so that runs of the
# old kind are trained again instead of read as new. 2: agreement scored on the raw heatmap
# maximum, the held-out answers kept frame by frame, the landmark network named by its content.
RUN_FORMAT = 2


def _resolved_or_none(path: str | Path | None, stacks: int, width: int) -> LandmarkWeights | None:
    """The landmark weights a run would start from, or None where there are none yet (training
    then fails with the resolution's own message)."""
    try:
        return resolve_landmark_weights(path, stacks, width)
    except FileNotFoundError:
        return None


def train_au_model(spec: RunSpec, out: str | Path, resume: bool = False) -> tuple[Trainer, pd.DataFrame]:
    """Train the run ``spec`` describes into ``out``; returns the trainer and its metrics log.

    ``config.val_subjects`` training subjects (the last ones, by name) are held out as the
    validation set that picks ``best.safetensors``; the test subjects never do.
    """
    config = spec.config
    train, test = protocol_datasets(spec.data, spec.fold)
    train, val = validation_split(train, spec.train_subjects, config.val_subjects)
    torch.manual_seed(config.seed)
    if not get_method(spec.method).pretrained:
        backbone, source = FAN(spec.stacks, spec.width), "random initialisation"
    else:
        found = resolve_landmark_weights(spec.landmark_weights, spec.stacks, spec.width)
        # Resolved again inside, as here: face_alignment's 2DFAN4 gives a shorter FAN its first stacks.
        backbone = pretrained_fan(
            spec.stacks, spec.width, spec.landmark_weights, input_size=config.input_size
        )
        source = f"{found.source}: {found.path}"
    model = build_model(spec.method, backbone, train.aus, **spec.options)
    info = {
        "method": spec.method,
        "options": dict(spec.options),
        "stacks": spec.stacks,
        "width": spec.width,
        "landmark_weights": source,
        "data": str(spec.data),
        "dataset": train.meta["name"],
        "fold": spec.fold,
        "train_subjects": list(train.subjects),
        "val_subjects": list(val.subjects) if val is not None else [],
    }
    task = AUTask(train.aus, spec.design, loss_name=config.loss, foreground_weight=config.foreground_weight)
    trainer = Trainer(model, task, train, test, out, config, info, val_set=val)
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


class TrainedRun(NamedTuple):
    """A finished run, as :func:`train_or_load` gives it."""

    model: AUModel  # the last epoch's, in eval mode
    log: pd.DataFrame  # its metrics log (auheat.train.read_log)


def train_or_load(spec: RunSpec, root: str | Path) -> TrainedRun:
    """The model of the finished run ``spec`` in its folder under ``root``
    (:meth:`RunSpec.folder`) and its metrics log, training (or resuming) it first if it has not
    finished its budget.

    The model is the last epoch's (``last.safetensors``), in eval mode.
    """
    out = spec.folder(root)
    with made_once(out):
        if not finished(out):
            train_au_model(spec, out, resume=(out / LAST).exists())
    model, _ = load_au_model(out / LAST)
    return TrainedRun(model, read_log(out / LOG))
