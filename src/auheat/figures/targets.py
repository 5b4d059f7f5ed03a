"""Chapter 1's figures: a face aligned to its crop, where each AU shows, and the heatmap targets.

Every function draws with matplotlib and returns the :class:`~matplotlib.figure.Figure`. Those
that draw on one panel accept ``ax=`` to draw into an existing figure instead. Coordinates are
crop pixels with pixel centres at integers; heatmaps are laid over their crop as
:func:`auheat.figures.draw_heatmap` lays them.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from auheat.aus import (
    ACTION_UNITS,
    MAX_INTENSITY,
    au_centres,
    get_au,
    rescale_points,
    resolve_aus,
)
from auheat.data.align import ANCHOR_LANDMARKS, ANCHOR_POSITIONS_256
from auheat.figures._common import (
    AUSelection,
    as_numpy,
    check_image,
    check_landmarks,
    check_square_crop,
    draw_heatmap,
    new_axes,
    show_face,
)

# Landmark dots large enough to see on a 256-pixel crop at the book's figure sizes, with a dark rim
# so that they show on pale skin too.
LANDMARK_DOT = 14


def plot_alignment(
    image: np.ndarray,
    landmarks: np.ndarray | torch.Tensor,
    crop: np.ndarray,
    landmarks_crop: np.ndarray | torch.Tensor,
    *,
    margin: float = 0.6,
    figsize: tuple[float, float] = (9.0, 4.5),
) -> Figure:
    """A photo next to its aligned crop, with the three landmarks that fix the alignment.

    Args:
        image: [H, W, 3] RGB photo.
        landmarks: [68, 2] float, image pixels.
        crop: [S, S, 3] RGB crop made by :func:`auheat.data.align.align_face`.
        landmarks_crop: [68, 2] float, crop pixels.
        margin: the photo panel shows the landmarks' bounding box widened by this fraction of
            its size on each side.
        figsize: figure size, inches.

    Returns:
        The figure: the photo (zoomed on the face) with the anchor landmarks, and the crop with
        the anchors' fixed target positions (crosses) scaled to the crop's size.
    """
    image = check_image(image)
    landmarks = check_landmarks(landmarks)
    crop = check_square_crop(crop)
    landmarks_crop = check_landmarks(landmarks_crop)
    anchors = list(ANCHOR_LANDMARKS)
    fig, (left, right) = plt.subplots(1, 2, figsize=figsize, layout="constrained")
    for ax, picture, points in ((left, image, landmarks), (right, crop, landmarks_crop)):
        show_face(ax, picture)
        ax.scatter(
            *points.T, s=LANDMARK_DOT, c="#4fc3f7", edgecolors="black", linewidths=0.3, label="68 landmarks"
        )
        ax.scatter(
            points[anchors, 0],
            points[anchors, 1],
            s=50,
            c="#ff5252",
            edgecolors="white",
            linewidths=0.8,
            label=f"anchors {', '.join(map(str, anchors))}",
        )
        for index in anchors:
            ax.annotate(
                str(index),
                points[index],
                xytext=(6, -6),
                textcoords="offset points",
                color="white",
                fontsize=9,
            )
    low, high = np.nanmin(landmarks, 0), np.nanmax(landmarks, 0)
    middle, half = (low + high) / 2, float((high - low).max()) * (0.5 + margin)
    left.set_xlim(middle[0] - half, middle[0] + half)
    left.set_ylim(middle[1] + half, middle[1] - half)
    left.set_title(f"photo {image.shape[1]}x{image.shape[0]} (zoomed on the face)")
    targets = ANCHOR_POSITIONS_256 * crop.shape[0] / 256
    right.scatter(
        targets[:, 0], targets[:, 1], marker="+", s=160, c="#ffeb3b", linewidths=1.5, label="anchor targets"
    )
    right.set_title(f"aligned crop {crop.shape[1]}x{crop.shape[0]}")
    for ax in (left, right):
        ax.legend(loc="lower left", fontsize=8, framealpha=0.8)
    return fig


def unique_centres(
    landmarks: np.ndarray | torch.Tensor, aus: AUSelection = None
) -> list[tuple[np.ndarray, tuple[int, ...]]]:
    """The distinct places where the AUs show, each with the AUs that share it.

    Several AUs are anchored on the same landmarks (AU12, AU14 and AU15 all on the lip
    corners), so a figure labels each place once with all its AUs.

    Args:
        landmarks: [68, 2] float, (x, y) pixels of one face.
        aus: dataset name or AU numbers; ``None`` means the whole catalogue.

    Returns:
        A list of ``(centre [2] pixels, AU numbers)``, in catalogue order of first appearance.
        Centres built from a NaN landmark are left out.
    """
    numbers = tuple(ACTION_UNITS) if aus is None else resolve_aus(aus)
    points = torch.as_tensor(check_landmarks(landmarks))[None]
    centres = au_centres(points, numbers)[0].numpy()  # [K, C, 2]
    groups: dict[tuple[float, float], tuple[np.ndarray, list[int]]] = {}
    for number, au_centre in zip(numbers, centres, strict=True):
        for centre in au_centre:
            if np.isnan(centre).any():
                continue
            key = (round(float(centre[0]), 3), round(float(centre[1]), 3))
            if key not in groups:
                groups[key] = (centre, [])
            if number not in groups[key][1]:
                groups[key][1].append(number)
    return [(centre, tuple(sharing)) for centre, sharing in groups.values()]


def plot_au_centres(
    image: np.ndarray,
    landmarks: np.ndarray | torch.Tensor,
    aus: AUSelection = None,
    *,
    show_landmarks: bool = True,
    ax: Axes | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (6.0, 6.0),
) -> Figure:
    """A face with its 68 landmarks and the centres of its AUs, each centre labelled by its AUs.

    Args:
        image: [H, W, 3] RGB, uint8 or float in [0, 1].
        landmarks: [68, 2] float, (x, y) pixels of ``image``.
        aus: dataset name or AU numbers; ``None`` draws the whole catalogue.
        show_landmarks: also draw the 68 landmarks (small dots).
        ax: draw into this axes instead of a new figure.
        title: axes title.
        figsize: size of a new figure, inches.

    Returns:
        The figure. Labels list the AU numbers that share a centre, e.g. ``12/14/15``; they are
        placed away from the face's vertical midline so that the two sides do not collide.
    """
    image = check_image(image)
    landmarks = check_landmarks(landmarks)
    fig, ax = new_axes(ax, figsize)
    show_face(ax, image)
    if show_landmarks:
        ax.scatter(
            *landmarks.T,
            s=LANDMARK_DOT,
            c="#4fc3f7",
            edgecolors="black",
            linewidths=0.3,
            label="68 landmarks",
        )
    groups = unique_centres(landmarks, aus)
    if groups:
        xy = np.stack([c for c, _ in groups])
        ax.scatter(
            xy[:, 0], xy[:, 1], s=40, c="#ffeb3b", edgecolors="black", linewidths=0.8, label="AU centres"
        )
    midline = float(np.nanmean(landmarks[27:31, 0]))  # the nose bridge
    scale = float(np.nanmax(landmarks[:, 0]) - np.nanmin(landmarks[:, 0])) or 1.0
    for centre, numbers in groups:
        left = centre[0] < midline - 0.02 * scale
        right = centre[0] > midline + 0.02 * scale
        dx = -8 if left else (8 if right else 10)
        ha = "right" if left else "left"
        ax.annotate(
            "/".join(str(n) for n in numbers),
            xy=(float(centre[0]), float(centre[1])),
            xytext=(dx, 0),
            textcoords="offset points",
            ha=ha,
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
        )
    ax.legend(loc="lower left", fontsize=8, framealpha=0.8)
    ax.set_title(title if title is not None else "AU centres (labels: AU numbers)")
    return fig


def plot_au_atlas(
    image: np.ndarray,
    landmarks: np.ndarray | torch.Tensor,
    aus: AUSelection = None,
    *,
    ncols: int = 5,
    panel_size: float = 1.75,
) -> Figure:
    """One small panel per AU: the face with that AU's centres and the landmarks that define them.

    Args:
        image: [H, W, 3] RGB, uint8 or float in [0, 1].
        landmarks: [68, 2] float, (x, y) pixels of ``image``.
        aus: dataset name or AU numbers; ``None`` draws the whole catalogue.
        ncols: panels per row.
        panel_size: side of one panel, inches.

    Returns:
        The figure, with one axes per AU (unused grid cells are removed).
    """
    image = check_image(image)
    landmarks = check_landmarks(landmarks)
    numbers = tuple(ACTION_UNITS) if aus is None else resolve_aus(aus)
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
    ncols = min(ncols, len(numbers))
    nrows = -(-len(numbers) // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_size * ncols, panel_size * nrows + 0.3),
        layout="constrained",
        squeeze=False,
    )
    centres = au_centres(torch.as_tensor(landmarks)[None], numbers)[0].numpy()  # [K, C, 2]
    for ax, number, au_centre in zip(axes.flat, numbers, centres, strict=False):
        au = get_au(number)
        show_face(ax, image)
        anchors = sorted({i for points in au.centres for i in points})
        ax.scatter(landmarks[anchors, 0], landmarks[anchors, 1], s=8, c="#4fc3f7", linewidths=0)
        used = ~np.isnan(au_centre).any(-1)
        ax.scatter(
            au_centre[used, 0], au_centre[used, 1], s=36, c="#ffeb3b", edgecolors="black", linewidths=0.8
        )
        ax.set_title(f"{au.label}\n{au.name}", fontsize=9)
    for ax in axes.flat[len(numbers) :]:
        ax.remove()
    fig.suptitle("Where each AU shows: its centres (yellow) and their landmarks (blue)")
    return fig


def plot_heatmap_overlay(
    crop: np.ndarray,
    heatmap: np.ndarray | torch.Tensor,
    *,
    landmarks: np.ndarray | torch.Tensor | None = None,
    peaks: np.ndarray | torch.Tensor | None = None,
    peak_labels: Sequence[str] | None = None,
    vmax: float = MAX_INTENSITY,
    colorbar: bool = True,
    interpolation: str = "bilinear",
    ax: Axes | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (5.5, 4.8),
) -> Figure:
    """One AU heatmap over an aligned face crop.

    Args:
        crop: [S, S, 3] RGB face crop (S = 256 for the models).
        heatmap: [h, h] float, heatmap pixels (h = 64 for the models); upsampled for display.
        landmarks: optional [68, 2] crop pixels, drawn as small dots.
        peaks: optional [N, 2] (x, y) in *heatmap* pixels, e.g. ``decode_heatmaps(...).locations``;
            drawn as crosses at ``rescale_points(peaks, 64, 256)``. NaN rows are skipped.
        peak_labels: optional name of each peak (e.g. ``"AU12"``), one per row of ``peaks``,
            written beside its cross.
        vmax: value drawn with the top colour (5 for intensities, 1 for binary targets).
        colorbar: add a colorbar labelled "target value".
        interpolation: ``"bilinear"`` or ``"nearest"``.
        ax: draw into this axes instead of a new figure.
        title: axes title.
        figsize: size of a new figure, inches.

    Returns:
        The figure (``ax``'s when given), showing the whole crop.
    """
    crop = check_square_crop(crop)
    fig, ax = new_axes(ax, figsize)
    show_face(ax, crop)
    image = draw_heatmap(ax, heatmap, crop_size=crop.shape[0], vmax=vmax, interpolation=interpolation)
    h = image.get_array().shape[0]
    if landmarks is not None:
        points = check_landmarks(landmarks)
        ax.scatter(*points.T, s=LANDMARK_DOT, c="#4fc3f7", edgecolors="black", linewidths=0.3)
    if peaks is not None:
        peaks = as_numpy(peaks).astype(np.float64).reshape(-1, 2)
        if peak_labels is not None and len(peak_labels) != len(peaks):
            raise ValueError(f"peak_labels names {len(peak_labels)} peaks, but peaks has {len(peaks)} rows")
        found = ~np.isnan(peaks).any(-1)
        xy = rescale_points(torch.as_tensor(peaks[found]), h, crop.shape[0]).numpy()
        ax.scatter(xy[:, 0], xy[:, 1], marker="x", s=50, c="#00e676", linewidths=1.5, label="decoded peak")
        names = [name for name, kept in zip(peak_labels or [], found, strict=False) if kept]
        # AUs whose peaks fall on the same spot (AU12 and AU15 at a lip corner) share one label.
        spots: dict[tuple[int, int], list] = {}
        for name, (x, y) in zip(names, xy, strict=False):
            spots.setdefault((round(x / 4), round(y / 4)), [x, y, []])[2].append(name)
        for x, y, together in spots.values():
            ax.annotate(
                ", ".join(together),
                (x, y),
                xytext=(4, 3),
                textcoords="offset points",
                fontsize=8,
                color="#00e676",
                bbox={"boxstyle": "round,pad=0.15", "fc": "black", "alpha": 0.5, "lw": 0},
            )
        ax.legend(loc="lower left", fontsize=8, framealpha=0.8)
    ax.set_xlim(-0.5, crop.shape[0] - 0.5)
    ax.set_ylim(crop.shape[0] - 0.5, -0.5)
    if colorbar:
        fig.colorbar(image, ax=ax, label="target value", shrink=0.85)
    if title is not None:
        ax.set_title(title)
    return fig
