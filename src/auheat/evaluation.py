"""Scoring a model on a held-out set, and the per-frame answers a run keeps of it.

:func:`evaluate_model` predicts every frame of a dataset (images, or cached frozen features) and
scores the predictions with the task (:mod:`auheat.tasks`): for AU models the raw heatmap maximum
for agreement (ICC, PCC) and the calibrated answer for the MAE. A run writes its last evaluation's
answers frame by frame (:func:`save_predictions`), so benchmarks can resample test subjects and
measure where the peaks fall without predicting again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Subset

from auheat.atomic import write_atomically
from auheat.aus import rescale_points
from auheat.data.dataset import PreparedDataset
from auheat.data.inputs import prepare_batch
from auheat.models.base import AUModel
from auheat.progress import progress_bar
from auheat.tasks import AUTask, LandmarkTask

Task = AUTask | LandmarkTask
PREDICTIONS = "test_predictions.npz"  # what the last evaluation answered on every held-out frame


def run_model(model: torch.nn.Module, inputs: torch.Tensor | Sequence[torch.Tensor]) -> Any:
    """The model's output for images, or for cached frozen features (:meth:`AUModel.from_features`)."""
    if isinstance(inputs, torch.Tensor):
        return model(inputs)
    return model.from_features(tuple(inputs))


class Evaluation(NamedTuple):
    """Scores of a model on one dataset, and what it answered on each frame (in the dataset's order)."""

    table: pd.DataFrame  # per AU (ICC, PCC, MAE, frames, and a mean row: AUTask.score), or the NME
    record: dict[str, float]  # the table's entries flattened, as logged
    predictions: np.ndarray  # [N, K] answers (through the calibration line) or [N, 68, 2] landmarks
    raw: np.ndarray | None = None  # [N, K] the uncalibrated reading (heatmap maximum) of an AU model
    peaks: np.ndarray | None = None  # [N, K, 2] heatmap maxima, heatmap pixels (heatmap AU models)
    labels: np.ndarray | None = None  # [N, K] intensities or [N, 68, 2] landmarks the scores compare to


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    dataset: Dataset,
    task: Task,
    device: torch.device | str = "cpu",
    input_size: int = 256,
    batch_size: int = 32,
    rank: int = 0,
    world: int = 1,
    amp_dtype: torch.dtype | None = None,
) -> Evaluation:
    """Predict every frame of ``dataset`` (samples, or cached features) and score them with ``task``.

    With several processes each predicts the frames ``rank, rank + world, ...``; the shares are
    gathered, so every process computes the same scores on all frames.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    share = list(range(rank, len(dataset), world))
    loader = DataLoader(Subset(dataset, share), batch_size=batch_size, shuffle=False)
    parts: dict[str, list[np.ndarray]] = {"raw": [], "answers": [], "peaks": [], "truth": []}
    for batch in progress_bar(loader, desc="evaluate", shown=rank == 0, leave=False):
        inputs, landmarks, intensities = prepare_batch(batch, device, input_size)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            output = run_model(model, inputs)
        if isinstance(task, AUTask):
            raw, peaks = task.read(output)
            answers = model.calibrated(raw) if isinstance(model, AUModel) else raw
            if peaks is not None:
                parts["peaks"].append(peaks.float().cpu().numpy())
        else:
            raw = answers = task.predict(output, input_size)
        parts["raw"].append(raw.float().cpu().numpy())
        parts["answers"].append(answers.float().cpu().numpy())
        parts["truth"].append(task.truth(landmarks, intensities).float().cpu().numpy())
    model.train(was_training)
    shares: list[Any] = [(share, parts)]
    if world > 1:
        shares = [None] * world
        dist.all_gather_object(shares, (share, parts))
    order = np.argsort(np.concatenate([np.asarray(s[0], dtype=int) for s in shares]), kind="stable")

    def gathered(name: str) -> np.ndarray | None:
        arrays = [a for s in shares for a in s[1][name]]
        return np.concatenate(arrays)[order] if arrays else None

    raw, answers, labels = gathered("raw"), gathered("answers"), gathered("truth")
    if isinstance(task, AUTask):
        table, record = task.score(labels, raw, answers)
        return Evaluation(table, record, answers, raw, gathered("peaks"), labels)
    table, record = task.score(labels, answers)
    return Evaluation(table, record, answers, labels=labels)


class HeldOutFrames(NamedTuple):
    """Who and where the frames of a held-out set are: what scores by subject need beside answers."""

    ids: np.ndarray  # [N] frame ids of frames.csv
    subjects: np.ndarray  # [N] subject of each frame
    landmarks: np.ndarray  # [N, 68, 2] crop pixels
    crop_size: int

    @classmethod
    def of(cls, dataset: Dataset | None) -> HeldOutFrames | None:
        """The frames of a :class:`PreparedDataset` (None for other datasets)."""
        if not isinstance(dataset, PreparedDataset):
            return None
        frames = dataset.frames
        return cls(
            frames["id"].to_numpy(str), frames["subject"].to_numpy(str), dataset.landmarks, dataset.crop_size
        )


class RunPredictions(NamedTuple):
    """A run's answers on every held-out frame at its last evaluation (:data:`PREDICTIONS`).

    ``truth``, ``raw`` (uncalibrated reading) and ``answers`` (through the calibration line) are
    [N, K] intensities; ``peaks`` [N, K, 2] the heatmap maxima and ``landmarks`` [N, 68, 2], both in
    pixels of the ``heatmap_size`` map (``peaks`` is None for direct regression); ``subjects`` and
    ``ids`` [N] name each frame.
    """

    truth: np.ndarray
    raw: np.ndarray
    answers: np.ndarray
    peaks: np.ndarray | None
    landmarks: np.ndarray
    subjects: np.ndarray
    ids: np.ndarray
    heatmap_size: int


def save_predictions(path: Path, held_out: Evaluation, frames: HeldOutFrames, heatmap_size: int) -> None:
    """Write a held-out evaluation's per-frame answers as :class:`RunPredictions`, whole or not at all."""
    arrays = {
        "truth": held_out.labels,
        "raw": held_out.raw,
        "answers": held_out.predictions,
        "landmarks": rescale_points(frames.landmarks, frames.crop_size, heatmap_size).astype(np.float32),
        "subjects": frames.subjects,
        "ids": frames.ids,
        "heatmap_size": np.asarray(heatmap_size),
    }
    if held_out.peaks is not None:
        arrays["peaks"] = held_out.peaks
    write_atomically(path, lambda f: np.savez_compressed(f, **arrays))


def read_predictions(path: str | Path) -> RunPredictions:
    """A run's :data:`PREDICTIONS` file (see :func:`save_predictions`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no held-out predictions at {path}: the run has not evaluated yet")
    with np.load(path, allow_pickle=False) as f:
        return RunPredictions(
            f["truth"],
            f["raw"],
            f["answers"],
            f["peaks"] if "peaks" in f else None,
            f["landmarks"],
            f["subjects"],
            f["ids"],
            int(f["heatmap_size"]),
        )
