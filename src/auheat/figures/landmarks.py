"""Chapter 3's figures: the landmark network's heatmaps, what each of its parts computes, its
training, and its landmarks against the ground truth.

Chapter 9 draws the landmarks found on real photos with :func:`plot_landmark_predictions` too.
Every function draws with matplotlib and returns the :class:`~matplotlib.figure.Figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from auheat.aus import NUM_LANDMARKS
from auheat.figures._common import (
    HEATMAP_CMAP,
    as_numpy,
    check_landmarks,
    check_square_crop,
    draw_heatmap,
    show_face,
)
from auheat.figures.synth import plot_faces

if TYPE_CHECKING:
    from auheat.landmarkers import PhotoLandmarks
    from auheat.models.backbone import FanFeatures

TRUTH_COLOUR, PREDICTION_COLOUR = "#4fc3f7", "#ff7043"


def _draw_landmark_pair(ax: Axes, truth: np.ndarray, predicted: np.ndarray, size: float = 9.0) -> None:
    """Ground truth (blue dots), predictions (orange crosses) and a white line from each to its pair."""
    ax.add_collection(LineCollection(np.stack([truth, predicted], 1), colors="white", linewidths=0.6))
    ax.scatter(*truth.T, s=size, c=TRUTH_COLOUR, linewidths=0, label="ground truth")
    ax.scatter(*predicted.T, s=size, c=PREDICTION_COLOUR, marker="x", linewidths=0.8, label="predicted")


def plot_landmark_predictions(
    images: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    predictions: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 4,
    panel_size: float = 2.2,
) -> Figure:
    """Faces with their ground-truth (dots) and predicted (crosses) 68 landmarks, joined by error lines.

    Args:
        images: N RGB images [H, W, 3].
        truths, predictions: N arrays [68, 2] float, (x, y) pixels of their image.
        titles: N panel titles (may span lines).
        ncols: panels per row.
        panel_size: side of one panel, inches.

    Returns:
        The figure: one panel per face, the ground truth and the predictions joined by one line
        per landmark, and a legend on the first panel.
    """
    for name, values in (("truths", truths), ("predictions", predictions), ("titles", titles)):
        if values is not None and len(values) != len(images):
            raise ValueError(f"{name} has {len(values)} entries for {len(images)} images; give one per image")
    fig = plot_faces(images, None, titles, ncols=ncols, panel_size=panel_size)
    for ax, truth, predicted in zip(fig.axes, truths, predictions, strict=True):
        _draw_landmark_pair(ax, check_landmarks(truth), check_landmarks(predicted))
    fig.axes[0].legend(loc="lower left", fontsize=8, framealpha=0.85)
    return fig


def plot_photo_landmarks(found: Mapping[str, PhotoLandmarks], title: str, nme: pd.Series, **kwargs) -> Figure:
    """:func:`plot_landmark_predictions` of the annotated photos a network read
    (:func:`auheat.landmarkers.photo_landmarks`), each titled by its name, ``title`` and its NME
    (``nme``, indexed by photo name); ``kwargs`` go to that function."""
    crops, truths, predictions = zip(*((p.crop, p.truth, p.predicted) for p in found.values()), strict=True)
    titles = [f"{name}, {title}\nNME {nme[name]:.3f}" for name in found]
    return plot_landmark_predictions(crops, truths, predictions, titles, **kwargs)


def plot_landmark_heatmaps(
    images: Sequence[np.ndarray] | np.ndarray,
    targets: np.ndarray | torch.Tensor,
    predicted: np.ndarray | torch.Tensor,
    *,
    landmark: int = 30,
    zoom: int = 7,
    panel_size: float = 2.0,
) -> Figure:
    """Landmark heatmap targets beside a network's heatmaps, one face per row.

    Columns: the targets as their maximum over the 68 channels, over the face, and one
    landmark's target channel alone, zoomed on its peak; then the same two for the predictions.
    Targets are drawn on 0..1; predictions on 0..their largest value, with their own colorbar,
    so that a network that is not yet sure still shows where it looks.

    Args:
        images: N RGB crops [S, S, 3], the network's input.
        targets, predicted: [N, 68, h, h] heatmaps (targets peak at 1), h = S / 4.
        landmark: the landmark (0-based iBUG index) of the zoomed columns; 30 is the nose tip.
        zoom: half-side of the zoomed window, heatmap pixels.
        panel_size: side of one panel, inches.

    Returns:
        The figure: N rows of 4 panels, and a colorbar for the zoomed targets and one for the
        zoomed predictions.
    """
    targets, predicted = as_numpy(targets), as_numpy(predicted)
    if targets.shape != predicted.shape or targets.ndim != 4 or targets.shape[1] != NUM_LANDMARKS:
        raise ValueError(
            "targets and predicted must both be [N, 68, h, h], "
            f"got {list(targets.shape)} and {list(predicted.shape)}"
        )
    if len(images) != len(targets):
        raise ValueError(f"{len(images)} images for {len(targets)} heatmap sets; give one per image")
    h = targets.shape[-1]
    top = max(float(predicted.max()), 1e-6)
    fig, axes = plt.subplots(
        len(images),
        4,
        figsize=(4 * panel_size + 1.2, len(images) * panel_size + 0.3),
        layout="constrained",
        squeeze=False,
    )
    for row, (image, target, output) in enumerate(zip(images, targets, predicted, strict=True)):
        crop = check_square_crop(image)
        y, x = np.unravel_index(np.argmax(target[landmark]), (h, h))
        window = (slice(max(y - zoom, 0), y + zoom + 1), slice(max(x - zoom, 0), x + zoom + 1))
        for col, maps, vmax in ((0, target, 1.0), (2, output, top)):
            show_face(axes[row, col], crop)
            draw_heatmap(axes[row, col], maps.max(0), crop_size=crop.shape[0], vmax=vmax)
            zoomed = axes[row, col + 1].imshow(
                maps[landmark][window], cmap=HEATMAP_CMAP, vmin=0, vmax=vmax, interpolation="nearest"
            )
            axes[row, col + 1].set_xticks([])
            axes[row, col + 1].set_yticks([])
            if row == 0:
                fig.colorbar(zoomed, ax=axes[:, col + 1], shrink=0.6, label=("target", "predicted")[col // 2])
    titles = ("target, max over 68", f"target, landmark {landmark}", "predicted, max over 68", "predicted")
    for col, text in enumerate(titles):
        axes[0, col].set_title(text, fontsize=9)
    return fig


def plot_fan_outputs(image: np.ndarray, features: FanFeatures, *, panel_size: float = 2.4) -> Figure:
    """What each part of a FAN computes for one face (``FAN.forward_features`` on a batch of one).

    Top row: the input, then each stack's 68 landmark heatmaps (their maximum) over the face, on
    one colour scale from 0 to the largest value of any stack.
    Bottom row: the stem's features and each stack's features (the input of its landmark head),
    as the mean over channels of |activation| scaled by each channel's largest value.

    Args:
        image: [S, S, 3] RGB crop, the network's input.
        features: the network's :class:`auheat.models.backbone.FanFeatures` for that input.
        panel_size: side of one panel, inches.

    Returns:
        The figure: two rows of 1 + (number of stacks) panels.
    """
    crop = check_square_crop(image)
    stacks = len(features.heatmaps)
    fig, axes = plt.subplots(
        2, stacks + 1, figsize=((stacks + 1) * panel_size, 2 * panel_size + 0.4), layout="constrained"
    )
    axes = axes.reshape(2, stacks + 1)
    show_face(axes[0, 0], crop)
    axes[0, 0].set_title(f"input {crop.shape[0]}x{crop.shape[1]}", fontsize=9)
    # Each channel scaled by its own largest |activation|, so that a few loud channels do not hide the rest.
    energy = [np.abs(as_numpy(f[0])) for f in (features.stem, *features.stacks)]
    energy = [(e / np.maximum(e.max((1, 2), keepdims=True), 1e-12)).mean(0) for e in energy]
    for col, (ax, maps) in enumerate(zip(axes[1], energy, strict=True)):
        ax.imshow(maps, cmap="viridis")
        ax.set_xticks([])
        ax.set_yticks([])
        name = "stem" if col == 0 else f"stack {col}"
        ax.set_title(
            f"{name} features, {maps.shape[0]}x{maps.shape[1]}\nmean of scaled |activation|", fontsize=9
        )
    top = max(max(float(maps[0].max()) for maps in features.heatmaps), 1e-6)  # one scale for all stacks
    for i, maps in enumerate(features.heatmaps):
        heatmaps = as_numpy(maps[0])
        show_face(axes[0, i + 1], crop)
        draw_heatmap(axes[0, i + 1], heatmaps.max(0).clip(0, None), crop_size=crop.shape[0], vmax=top)
        axes[0, i + 1].set_title(
            f"stack {i + 1} heatmaps\nmax over {heatmaps.shape[0]}, 0..{top:.2f}", fontsize=9
        )
    return fig


def plot_landmark_training(log: pd.DataFrame, *, figsize: tuple[float, float] = (9.0, 3.2)) -> Figure:
    """A landmark pretraining run per epoch: training loss, and NME on the held-out faces.

    Args:
        log: the run's ``metrics.jsonl`` read by :func:`auheat.train.read_log` (columns ``epoch``,
            ``train_loss``, ``NME_mean``, ``NME_median``).
        figsize: size of the figure, inches.

    Returns:
        The figure: the loss per epoch (left) and the mean and median NME per epoch (right).
    """
    missing = {"epoch", "train_loss", "NME_mean", "NME_median"} - set(log.columns)
    if missing:
        raise ValueError(f"log lacks columns {sorted(missing)}: is it a landmark run's metrics.jsonl?")
    fig, (left, right) = plt.subplots(1, 2, figsize=figsize, layout="constrained")
    left.plot(log["epoch"], log["train_loss"], "o-")
    left.set(xlabel="epoch", ylabel="loss (sum over stacks of heatmap MSE)", title="training loss")
    for column, label in (("NME_mean", "mean"), ("NME_median", "median")):
        right.plot(log["epoch"], log[column], "o-", label=label)
    right.set(xlabel="epoch", ylabel="NME (inter-ocular)", title="held-out synthetic subjects")
    right.legend()
    for ax in (left, right):
        if len(log) <= 12:
            ax.set_xticks(log["epoch"].tolist())
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    return fig
