"""Figures the book shows: faces with landmarks and AU centres, and heatmap targets over faces.

Every function draws with matplotlib and returns the :class:`~matplotlib.figure.Figure`. Those
that draw on one panel accept ``ax=`` to draw into an existing figure instead.

Coordinates follow the library: (x, y) with pixel centres at integers, in the pixels of the
image drawn (crop pixels for an aligned 256x256 face). A heatmap covers the same square as its
crop at a quarter of the resolution; it is drawn with an ``extent`` computed by
:func:`auheat.aus.heatmap_to_crop`, so that every heatmap pixel centre lands where the library
says it is in the crop.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.ticker import MaxNLocator
from torch.utils.data import default_collate

from auheat.aus import (
    ACTION_UNITS,
    NUM_LANDMARKS,
    au_centres,
    crop_to_heatmap,
    get_au,
    heatmap_to_crop,
    resolve_aus,
)
from auheat.data.align import ANCHOR_LANDMARKS, ANCHOR_POSITIONS_256
from auheat.data.dataset import PreparedDataset
from auheat.data.inputs import prepare_batch
from auheat.data.labels import au_cooccurrence, known_aus, label_columns, level_shares
from auheat.data.labels import showcase_frames as showcase_frames  # the chapters' plots.showcase_frames
from auheat.heatmaps import DESIGNS, MAX_INTENSITY, check_design, decode_heatmaps, encode_heatmaps
from auheat.models.cost import parameter_table as parameter_table  # the chapters' plots.parameter_table
from auheat.synth import SYNTH_AUS, Capture, Identity, Pose, render_face

if TYPE_CHECKING:
    from auheat.models.backbone import FanFeatures

HEATMAP_CMAP = "inferno"
# A dataset name, one AU number or several; None stands for the whole catalogue.
AUSelection = str | int | Sequence[int] | None
INTENSITIES = (0, 1, 2, 3, 4, 5)


def _as_numpy(x: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    image = _as_numpy(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be an RGB array [H, W, 3], got shape {list(image.shape)}")
    return image


def _check_landmarks(landmarks: np.ndarray | torch.Tensor) -> np.ndarray:
    landmarks = _as_numpy(landmarks).astype(np.float64)
    if landmarks.shape != (NUM_LANDMARKS, 2):
        raise ValueError(f"landmarks must have shape [68, 2], got {list(landmarks.shape)}")
    return landmarks


def _check_square_crop(crop: np.ndarray) -> np.ndarray:
    crop = _check_image(crop, "crop")
    if crop.shape[0] != crop.shape[1]:
        raise ValueError(f"crop must be square [S, S, 3] (an aligned face), got shape {list(crop.shape)}")
    return crop


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax


def _show_face(ax: Axes, image: np.ndarray) -> None:
    ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_alignment(
    image: np.ndarray,
    landmarks: np.ndarray | torch.Tensor,
    crop: np.ndarray,
    landmarks_crop: np.ndarray | torch.Tensor,
    *,
    margin: float = 0.6,
    figsize: tuple[float, float] = (10.0, 5.0),
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
    image = _check_image(image)
    landmarks = _check_landmarks(landmarks)
    crop = _check_square_crop(crop)
    landmarks_crop = _check_landmarks(landmarks_crop)
    anchors = list(ANCHOR_LANDMARKS)
    fig, (left, right) = plt.subplots(1, 2, figsize=figsize, layout="constrained")
    for ax, picture, points in ((left, image, landmarks), (right, crop, landmarks_crop)):
        _show_face(ax, picture)
        ax.scatter(points[:, 0], points[:, 1], s=6, c="#4fc3f7", linewidths=0, label="68 landmarks")
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
    points = torch.as_tensor(_check_landmarks(landmarks))[None]
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
    image = _check_image(image)
    landmarks = _check_landmarks(landmarks)
    fig, ax = _new_axes(ax, figsize)
    _show_face(ax, image)
    if show_landmarks:
        ax.scatter(landmarks[:, 0], landmarks[:, 1], s=6, c="#4fc3f7", linewidths=0, label="68 landmarks")
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
    panel_size: float = 2.2,
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
    image = _check_image(image)
    landmarks = _check_landmarks(landmarks)
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
        _show_face(ax, image)
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


def heatmap_extent(heatmap_size: int = 64, crop_size: int = 256) -> tuple[float, float, float, float]:
    """The ``imshow`` extent (left, right, bottom, top) that lays a heatmap over its crop.

    The outer edges of heatmap pixels 0 and ``heatmap_size - 1`` (at -0.5 and size - 0.5 in
    heatmap pixels) are mapped to crop pixels with :func:`auheat.aus.heatmap_to_crop`, so each
    heatmap pixel centre i is drawn at crop coordinate ``heatmap_to_crop(i)``.
    """
    edges = heatmap_to_crop(
        torch.tensor([-0.5, heatmap_size - 0.5], dtype=torch.float64), crop_size, heatmap_size
    )
    low, high = (float(e) for e in edges)
    return (low, high, high, low)


def draw_heatmap(
    ax: Axes,
    heatmap: np.ndarray | torch.Tensor,
    *,
    crop_size: int = 256,
    vmax: float = MAX_INTENSITY,
    alpha: float = 0.85,
    cmap: str = HEATMAP_CMAP,
    interpolation: str = "bilinear",
) -> AxesImage:
    """Lay one heatmap over a crop already drawn in ``ax``; return the image artist.

    Args:
        heatmap: [h, w] float, one AU channel (square, h = w), values in [0, vmax].
        crop_size: side of the crop it covers, pixels.
        vmax: value drawn with the top colour.
        alpha: opacity of the top value; opacity falls with the value (as its square root), so
            zero pixels are transparent and the face shows through.
        interpolation: ``"bilinear"`` (smooth upsampling) or ``"nearest"`` (one block per
            heatmap pixel).
    """
    heatmap = _as_numpy(heatmap).astype(np.float64)
    if heatmap.ndim != 2 or heatmap.shape[0] != heatmap.shape[1]:
        raise ValueError(f"heatmap must be one square channel [h, h], got shape {list(heatmap.shape)}")
    if vmax <= 0:
        raise ValueError(f"vmax must be positive, got {vmax}")
    opacity = alpha * np.sqrt(np.clip(heatmap / vmax, 0.0, 1.0))
    return ax.imshow(
        heatmap,
        cmap=cmap,
        vmin=0.0,
        vmax=vmax,
        alpha=opacity,
        extent=heatmap_extent(heatmap.shape[0], crop_size),
        interpolation=interpolation,
    )


def plot_heatmap_overlay(
    crop: np.ndarray,
    heatmap: np.ndarray | torch.Tensor,
    *,
    landmarks: np.ndarray | torch.Tensor | None = None,
    peaks: np.ndarray | torch.Tensor | None = None,
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
            drawn as crosses at ``heatmap_to_crop(peaks)``. NaN rows are skipped.
        vmax: value drawn with the top colour (5 for intensities, 1 for binary targets).
        colorbar: add a colorbar labelled "target value".
        interpolation: ``"bilinear"`` or ``"nearest"``.
        ax: draw into this axes instead of a new figure.
        title: axes title.
        figsize: size of a new figure, inches.
    """
    crop = _check_square_crop(crop)
    fig, ax = _new_axes(ax, figsize)
    _show_face(ax, crop)
    image = draw_heatmap(ax, heatmap, crop_size=crop.shape[0], vmax=vmax, interpolation=interpolation)
    h = image.get_array().shape[0]
    if landmarks is not None:
        points = _check_landmarks(landmarks)
        ax.scatter(points[:, 0], points[:, 1], s=4, c="#4fc3f7", linewidths=0)
    if peaks is not None:
        peaks = _as_numpy(peaks).astype(np.float64).reshape(-1, 2)
        peaks = peaks[~np.isnan(peaks).any(-1)]
        xy = heatmap_to_crop(torch.as_tensor(peaks), crop.shape[0], h).numpy()
        ax.scatter(xy[:, 0], xy[:, 1], marker="x", s=50, c="#00e676", linewidths=1.5, label="decoded peak")
        ax.legend(loc="lower left", fontsize=8, framealpha=0.8)
    ax.set_xlim(-0.5, crop.shape[0] - 0.5)
    ax.set_ylim(crop.shape[0] - 0.5, -0.5)
    if colorbar:
        fig.colorbar(image, ax=ax, label="target value", shrink=0.85)
    if title is not None:
        ax.set_title(title)
    return fig


def _au_heatmaps(
    landmarks: np.ndarray,
    au: int,
    intensities: Sequence[float],
    design: str,
    crop_size: int,
    heatmap_size: int,
) -> np.ndarray:
    """[len(intensities), h, h] targets of one AU for one face at several intensities."""
    points = crop_to_heatmap(torch.as_tensor(landmarks, dtype=torch.float32), crop_size, heatmap_size)
    batch = points[None].expand(len(intensities), -1, -1)
    levels = torch.tensor(list(intensities), dtype=torch.float32)[:, None]
    return encode_heatmaps(batch, levels, [au], size=heatmap_size, design=design)[:, 0].numpy()


def _zoom_window(
    landmarks: np.ndarray, au: int, margin: float | None, crop_size: int
) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) of a square view around an AU's centres, ``margin`` pixels wide."""
    full = (-0.5, crop_size - 0.5, crop_size - 0.5, -0.5)
    if margin is None:
        return full
    centres = au_centres(torch.as_tensor(landmarks)[None], [au])[0, 0].numpy()
    centres = centres[~np.isnan(centres).any(-1)]
    if len(centres) == 0:
        return full
    low, high = centres.min(0) - margin, centres.max(0) + margin
    middle, half = (low + high) / 2, float((high - low).max()) / 2
    left, right = middle[0] - half, middle[0] + half
    top, bottom = middle[1] - half, middle[1] + half
    return (float(left), float(right), float(bottom), float(top))


def _target_panel(
    ax: Axes, crop: np.ndarray, heatmap: np.ndarray, window: tuple[float, float, float, float], vmax: float
) -> AxesImage:
    """One target over the face, zoomed to ``window`` (left, right, bottom, top); its image."""
    _show_face(ax, crop)
    image = draw_heatmap(ax, heatmap, crop_size=crop.shape[0], vmax=vmax)
    ax.set_xlim(window[0], window[1])
    ax.set_ylim(window[2], window[3])
    return image


def plot_design_grid(
    crop: np.ndarray,
    landmarks: np.ndarray | torch.Tensor,
    au: int,
    *,
    intensities: Sequence[float] = INTENSITIES,
    designs: Sequence[str] = DESIGNS,
    heatmap_size: int = 64,
    margin: float | None = 40.0,
    panel_size: float = 1.7,
) -> Figure:
    """The targets of one AU on one face: a row per design, a column per intensity.

    Args:
        crop: [S, S, 3] RGB aligned face crop.
        landmarks: [68, 2] float, crop pixels.
        au: AU number from the catalogue.
        intensities: the labelled intensities of the columns, each in [0, 5].
        designs: the rows, names from :data:`auheat.heatmaps.DESIGNS`.
        heatmap_size: side of the targets, heatmap pixels.
        margin: the panels show the square around the AU's centres widened by this many crop
            pixels on each side; ``None`` shows the whole crop.
        panel_size: side of one panel, inches.

    Returns:
        The figure: ``len(designs) * len(intensities)`` panels and one colorbar per row (0..5
        for designs whose amplitude is the intensity, 0..1 for ``"binary"``).
    """
    crop = _check_square_crop(crop)
    landmarks = _check_landmarks(landmarks)
    au_entry = get_au(au)
    if not designs or not intensities:
        raise ValueError("designs and intensities must each name at least one value")
    for design in designs:
        check_design(design)
    bad = [i for i in intensities if not 0 <= i <= MAX_INTENSITY]
    if bad:
        raise ValueError(f"intensities must lie in [0, {MAX_INTENSITY:g}], got {bad}")
    crop_size = crop.shape[0]
    window = _zoom_window(landmarks, au, margin, crop_size)
    fig, axes = plt.subplots(
        len(designs),
        len(intensities),
        figsize=(panel_size * len(intensities) + 1.2, panel_size * len(designs) + 0.6),
        layout="constrained",
        squeeze=False,
    )
    for row, design in zip(axes, designs, strict=True):
        maps = _au_heatmaps(landmarks, au, intensities, design, crop_size, heatmap_size)
        vmax = 1.0 if design == "binary" else MAX_INTENSITY
        for ax, level, heatmap in zip(row, intensities, maps, strict=True):
            image = _target_panel(ax, crop, heatmap, window, vmax)
            if design == designs[0]:
                ax.set_title(f"I = {level:g}")
        row[0].set_ylabel(design, fontsize=11)
        fig.colorbar(image, ax=list(row), shrink=0.9, pad=0.02, label="target value")
    fig.suptitle(f"{au_entry.label} ({au_entry.name}): target per design and intensity")
    return fig


def plot_map_sizes(
    crop: np.ndarray,
    landmarks: np.ndarray | torch.Tensor,
    au: int,
    intensity: float,
    *,
    sizes: Sequence[int] = (64, 32, 16),
    designs: Sequence[str] = ("fixed", "variable"),
    margin: float | None = 40.0,
    panel_size: float = 2.0,
) -> Figure:
    """One label drawn on maps of several sides: a row per design, a column per map side.

    The target's lengths are defined on the paper's 64x64 map and scaled to each side
    (:func:`auheat.heatmaps.target_geometry`), so every panel covers the same part of the face,
    with fewer, larger pixels on a smaller map.

    Args:
        crop: [S, S, 3] RGB aligned face crop; landmarks: [68, 2] float, crop pixels.
        au: AU number; intensity: its label, in [0, 5].
        sizes: heatmap sides of the columns; designs: the rows.
        margin: zoom around the AU's centres, crop pixels (``None``: the whole crop).
    """
    crop = _check_square_crop(crop)
    landmarks = _check_landmarks(landmarks)
    entry = get_au(au)
    if not 0 <= intensity <= MAX_INTENSITY:
        raise ValueError(f"intensity must lie in [0, {MAX_INTENSITY:g}], got {intensity}")
    crop_size = crop.shape[0]
    window = _zoom_window(landmarks, au, margin, crop_size)
    fig, axes = plt.subplots(
        len(designs),
        len(sizes),
        figsize=(panel_size * len(sizes) + 1.2, panel_size * len(designs) + 0.6),
        layout="constrained",
        squeeze=False,
    )
    for row, design in zip(axes, designs, strict=True):
        check_design(design)
        vmax = 1.0 if design == "binary" else MAX_INTENSITY
        for ax, size in zip(row, sizes, strict=True):
            heatmap = _au_heatmaps(landmarks, au, [intensity], design, crop_size, size)[0]
            image = _target_panel(ax, crop, heatmap, window, vmax)
            if design == designs[0]:
                ax.set_title(f"{size}x{size} map")
        row[0].set_ylabel(design, fontsize=11)
        fig.colorbar(image, ax=list(row), shrink=0.9, pad=0.02, label="target value")
    fig.suptitle(f"{entry.label} at I = {intensity:g} on maps of {', '.join(map(str, sizes))} pixels")
    return fig


def plot_target_profiles(
    landmarks: np.ndarray | torch.Tensor,
    au: int,
    *,
    intensities: Sequence[float] = (1, 2, 3, 4, 5),
    designs: Sequence[str] = DESIGNS,
    crop_size: int = 256,
    heatmap_size: int = 64,
    half_width: float = 40.0,
) -> Figure:
    """Cross-sections of one AU's targets through its first centre, one panel per design.

    Each line is the heatmap row that holds the target's peak, plotted against the horizontal
    distance from the centre in crop pixels (one marker per heatmap pixel), so the amplitude and
    the width of each design can be read off directly.

    Args:
        landmarks: [68, 2] float, crop pixels.
        au: AU number from the catalogue.
        intensities: one line per intensity, each in [0, 5].
        designs: one panel per design.
        crop_size, heatmap_size: sides of the crop and of the heatmap, pixels.
        half_width: the x-axis spans +/- this many crop pixels around the centre.
    """
    landmarks = _check_landmarks(landmarks)
    get_au(au)
    if not designs or not intensities:
        raise ValueError("designs and intensities must each name at least one value")
    for design in designs:
        check_design(design)
    centre = au_centres(torch.as_tensor(landmarks)[None], [au])[0, 0, 0].numpy()
    if np.isnan(centre).any():
        raise ValueError(f"AU {au}'s first centre is built from a NaN landmark; nothing to cut through")
    centre_hm = crop_to_heatmap(torch.as_tensor(centre), crop_size, heatmap_size).numpy()
    row = int(np.clip(np.round(centre_hm[1]), 0, heatmap_size - 1))
    x_crop = heatmap_to_crop(torch.arange(heatmap_size, dtype=torch.float64), crop_size, heatmap_size).numpy()
    near = np.abs(x_crop - centre[0]) <= half_width
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, len(intensities)))
    fig, axes = plt.subplots(
        1, len(designs), figsize=(3.6 * len(designs), 3.2), layout="constrained", sharey=True, squeeze=False
    )
    for ax, design in zip(axes[0], designs, strict=True):
        maps = _au_heatmaps(landmarks, au, intensities, design, crop_size, heatmap_size)
        for level, heatmap, colour in zip(intensities, maps, colours, strict=True):
            ax.plot(
                x_crop[near] - centre[0],
                heatmap[row, near],
                marker=".",
                ms=4,
                color=colour,
                label=f"I = {level:g}",
            )
        ax.set_title(design)
        ax.set_xlabel("x offset from the centre (crop pixels)")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("target value")
    axes[0, -1].legend(fontsize=8, loc="upper right")
    fig.suptitle(f"{get_au(au).label}: a row through the target's peak")
    return fig


# SynthFACS: synthetic faces, their AUs and their labels.


def plot_faces(
    images: Sequence[np.ndarray] | np.ndarray,
    landmarks: Sequence[np.ndarray] | np.ndarray | None = None,
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 4,
    panel_size: float = 2.4,
    title: str | None = None,
) -> Figure:
    """A grid of faces, each with its 68 landmarks.

    Args:
        images: N RGB images [H, W, 3], uint8 or float in [0, 1].
        landmarks: N arrays [68, 2] float, (x, y) pixels of their image; None draws no points.
        titles: N panel titles (may span lines).
        ncols: panels per row.
        panel_size: side of one panel, inches.
        title: the figure's title.
    """
    images = [_check_image(image) for image in images]
    if not images:
        raise ValueError("images is empty: nothing to draw")
    points = None if landmarks is None else [_check_landmarks(lm) for lm in landmarks]
    for name, values in (("landmarks", points), ("titles", titles)):
        if values is not None and len(values) != len(images):
            raise ValueError(f"{name} has {len(values)} entries for {len(images)} images; give one per image")
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    title_lines = max((t.count("\n") + 1 for t in titles), default=0) if titles is not None else 0
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_size * ncols, (panel_size + 0.18 * title_lines) * nrows + 0.4 * (title is not None)),
        layout="constrained",
        squeeze=False,
    )
    for k, ax in enumerate(axes.flat):
        if k >= len(images):
            ax.remove()
            continue
        _show_face(ax, images[k])
        if points is not None:
            ax.scatter(points[k][:, 0], points[k][:, 1], s=5, c="#4fc3f7", linewidths=0)
        if titles is not None:
            ax.set_title(titles[k], fontsize=8)
    if title is not None:
        fig.suptitle(title)
    return fig


def _square_window(
    points: np.ndarray, margin: float, min_side: float, size: int
) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) of the square around ``points`` [N, 2], widened by ``margin``,
    moved inside a ``size`` image where it fits."""
    low, high = points.min(0) - margin, points.max(0) + margin
    half = min(max(float((high - low).max()), min_side), size) / 2
    middle = np.clip((low + high) / 2, half - 0.5, size - 0.5 - half)
    return (middle[0] - half, middle[0] + half, middle[1] + half, middle[1] - half)


def _render_series(
    identity: Identity, au: int, intensities: Sequence[float], pose: Pose, capture: Capture, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Faces [n, S, S, 3] and landmarks [n, 68, 2] of one AU alone at each intensity."""
    faces = [render_face(identity, {au: float(level)}, pose, capture, size=size) for level in intensities]
    return np.stack([f for f, _ in faces]), np.stack([lm for _, lm in faces])


def _studio(pose: Pose | None, capture: Capture | None) -> tuple[Pose, Capture]:
    """The frontal pose and a clean studio capture where none is given."""
    return (Pose() if pose is None else pose), (Capture() if capture is None else capture)


def _au_row_label(au: int) -> str:
    entry = get_au(au)
    return f"{entry.label}\n" + textwrap.fill(entry.name, 12)


def plot_au_gallery(
    identity: Identity,
    aus: AUSelection = None,
    *,
    intensities: Sequence[float] = INTENSITIES,
    pose: Pose | None = None,
    capture: Capture | None = None,
    margin: float = 22.0,
    min_side: float = 80.0,
    size: int = 256,
    panel_size: float = 1.25,
) -> Figure:
    """Each AU alone at each intensity on one synthetic face: a row per AU, a column per intensity.

    Every row is zoomed on its AU: the square around the AU's centres and the landmarks it moves
    most (at all the row's intensities, so a dropping jaw stays in view), widened by ``margin``
    pixels, at least ``min_side`` pixels wide. The row shares one window, so what changes is the
    face.

    Args:
        identity: a :class:`auheat.synth.Identity`.
        aus: dataset name or AU numbers; None: every AU SynthFACS renders.
        intensities: the columns, each in [0, 5].
        pose, capture: :class:`auheat.synth.Pose` and :class:`auheat.synth.Capture`; None: a
            frontal face in a clean studio frame.
        size: side of the rendered faces, pixels.
        panel_size: side of one panel, inches.
    """
    numbers = SYNTH_AUS if aus is None else resolve_aus(aus)
    pose, capture = _studio(pose, capture)
    width, height = panel_size * len(intensities) + 1.1, panel_size * len(numbers) + 0.6
    # A fixed layout: constrained layout over some eighty panels takes seconds.
    fig, axes = plt.subplots(
        len(numbers),
        len(intensities),
        figsize=(width, height),
        squeeze=False,
        gridspec_kw={
            "left": 1.05 / width,
            "right": 1 - 0.05 / width,
            "top": 1 - 0.6 / height,
            "bottom": 0.05 / height,
            "wspace": 0.04,
            "hspace": 0.04,
        },
    )
    for row, au in zip(axes, numbers, strict=True):
        faces, landmarks = _render_series(identity, au, intensities, pose, capture, size)
        centres = au_centres(torch.as_tensor(landmarks), [au]).reshape(-1, 2).numpy()
        travel = np.ptp(landmarks, axis=0).max(-1)  # [68] px, how far the AU moves each landmark
        moved = travel > max(2.0, 0.3 * travel.max())
        points = np.concatenate([centres[~np.isnan(centres).any(-1)], landmarks[:, moved].reshape(-1, 2)])
        window = _square_window(points, margin, min_side, size)
        # Only the pixels in the window are drawn: it keeps the figure fast to draw.
        x0, y0 = (max(0, int(np.floor(v + 0.5))) for v in (window[0], window[3]))
        x1, y1 = (min(size, int(np.ceil(v + 0.5))) for v in (window[1], window[2]))
        for ax, face, level in zip(row, faces, intensities, strict=True):
            ax.imshow(face[y0:y1, x0:x1], extent=(x0 - 0.5, x1 - 0.5, y1 - 0.5, y0 - 0.5))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlim(window[0], window[1])
            ax.set_ylim(window[2], window[3])
            if au == numbers[0]:
                ax.set_title(f"I = {level:g}")
        row[0].set_ylabel(_au_row_label(au), fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(
        "SynthFACS: each AU alone at intensities 0 to 5 (rows zoomed on the AU)", y=1 - 0.12 / height
    )
    return fig


def plot_au_change_maps(
    identity: Identity,
    aus: AUSelection = None,
    *,
    intensity: float = 5.0,
    pose: Pose | None = None,
    capture: Capture | None = None,
    size: int = 256,
    vmax: float = 40.0,
    ncols: int = 7,
    panel_size: float = 1.9,
) -> Figure:
    """Where each AU changes the image: |face with the AU at ``intensity`` - neutral face|.

    The change (mean over R, G, B, grey levels) is drawn in colour over a dimmed neutral face,
    with the AU's centres (blue circles) computed from the moved landmarks: geometry and
    appearance both change around them.

    Args:
        identity: a :class:`auheat.synth.Identity`.
        aus: dataset name or AU numbers; None: every AU SynthFACS renders.
        intensity: the AU's intensity, in (0, 5].
        pose, capture: as for :func:`plot_au_gallery`.
        vmax: change drawn with the top colour, grey levels.
        ncols: panels per row.
    """
    if not 0 < intensity <= MAX_INTENSITY:
        raise ValueError(f"intensity must lie in (0, {MAX_INTENSITY:g}], got {intensity!r}")
    numbers = SYNTH_AUS if aus is None else resolve_aus(aus)
    pose, capture = _studio(pose, capture)
    ncols = max(1, min(ncols, len(numbers)))
    nrows = -(-len(numbers) // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_size * ncols + 0.8, panel_size * nrows + 0.6),
        layout="constrained",
        squeeze=False,
    )
    image = None
    for ax, au in zip(axes.flat, numbers, strict=False):
        faces, landmarks = _render_series(identity, au, (0.0, intensity), pose, capture, size)
        change = np.abs(faces[1].astype(np.float64) - faces[0]).mean(-1)
        ax.imshow(faces[0].mean(-1), cmap="gray", vmin=0, vmax=255 * 3)  # dimmed neutral face
        image = ax.imshow(change, cmap="magma", vmin=0, vmax=vmax, alpha=np.clip(change / vmax, 0, 1) ** 0.5)
        centres = au_centres(torch.as_tensor(landmarks[1:]), [au])[0, 0].numpy()
        ax.scatter(
            centres[:, 0], centres[:, 1], s=30, facecolors="none", edgecolors="#4fc3f7", linewidths=1.0
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{get_au(au).label} {get_au(au).name}", fontsize=8)
    for ax in axes.flat[len(numbers) :]:
        ax.remove()
    fig.colorbar(image, ax=axes.flat[: len(numbers)], shrink=0.6, label="|change| (grey levels)")
    fig.suptitle(
        f"Where each AU changes the face (I = {intensity:g} against neutral; blue circles: AU centres)"
    )
    return fig


def plot_face_targets(
    image: np.ndarray,
    landmarks: np.ndarray | torch.Tensor,
    heatmaps: np.ndarray | torch.Tensor,
    aus: AUSelection,
    *,
    fig: Figure | None = None,
    vmax: float = MAX_INTENSITY,
    title: str | None = None,
    figsize: tuple[float, float] = (9.0, 4.8),
) -> Figure:
    """A face with its 68 landmarks, beside the same face under its AU targets.

    The right panel draws the pixel-wise maximum of the K channels and labels the centres of
    every AU whose channel is not zero (AUs sharing a centre share a label, e.g. ``12/14``).

    Args:
        image: [S, S, 3] RGB face crop.
        landmarks: [68, 2] float, crop pixels.
        heatmaps: [K, h, h] float targets, e.g. from :func:`auheat.heatmaps.encode_heatmaps`.
        aus: the K AU numbers of the channels (or a dataset name).
        fig: draw into this (empty) figure instead of a new one.
        vmax: value drawn with the top colour.
        title: the figure's title.
    """
    image = _check_square_crop(image)
    landmarks = _check_landmarks(landmarks)
    numbers = resolve_aus(aus)
    maps = torch.as_tensor(_as_numpy(heatmaps), dtype=torch.float32)
    if maps.ndim != 3 or maps.shape[0] != len(numbers) or maps.shape[1] != maps.shape[2]:
        raise ValueError(
            f"heatmaps must have shape [K, h, h] with K = {len(numbers)} AUs, got {list(maps.shape)}"
        )
    if fig is None:
        fig = plt.figure(figsize=figsize, layout="constrained")
    left, right = fig.subplots(1, 2)
    _show_face(left, image)
    left.scatter(landmarks[:, 0], landmarks[:, 1], s=7, c="#4fc3f7", linewidths=0)
    left.set_title("rendered face, 68 landmarks", fontsize=10)
    _show_face(right, image)
    artist = draw_heatmap(right, maps.amax(0), crop_size=image.shape[0], vmax=vmax)
    present = [n for n, level in zip(numbers, maps.amax((-1, -2)).tolist(), strict=True) if level > 0]
    for centre, sharing in unique_centres(landmarks, present) if present else []:
        right.annotate(
            "/".join(map(str, sharing)),
            (float(centre[0]), float(centre[1])),
            xytext=(0, 9),
            textcoords="offset points",
            ha="center",
            fontsize=7,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
        )
    right.set_title(f"AU targets, max over {len(numbers)} channels", fontsize=10)
    fig.colorbar(artist, ax=right, shrink=0.8, label="target value")
    if title is not None:
        fig.suptitle(title, fontsize=10)
    return fig


def _seaborn():
    try:
        import seaborn
    except ModuleNotFoundError as error:  # pragma: no cover - depends on the environment
        raise ModuleNotFoundError(
            "the label-statistics figures use seaborn, which comes with the book extra: "
            "pip install 'auheat[book]'"
        ) from error
    return seaborn


def plot_label_histograms(tables: Mapping[str, pd.DataFrame], *, height: float = 3.4) -> Figure:
    """Per-AU intensity histograms of label tables: one panel per table.

    Each bar is the share of frames in which the AU occurs (intensity 1..5), stacked by level;
    the rest of the frames are at 0.

    Args:
        tables: name -> frames table with AU columns (e.g. from
            :func:`auheat.synth.generate.preset_labels` or a PreparedDataset's ``frames``).
        height: figure height, inches.
    """
    sns = _seaborn()
    if not tables:
        raise ValueError("tables is empty: give at least one name -> label table")
    widths = [len(label_columns(t)) + 2 for t in tables.values()]
    fig, axes = plt.subplots(
        1,
        len(tables),
        figsize=(0.45 * sum(widths) + 1.5, height),
        layout="constrained",
        squeeze=False,
        sharey=True,
        gridspec_kw={"width_ratios": widths},
    )
    palette = dict(zip(range(1, 6), sns.color_palette("rocket_r", 5), strict=True))
    for ax, (name, table) in zip(axes[0], tables.items(), strict=True):
        shares = level_shares(table)
        long = (100 * shares[list(range(1, 6))]).rename_axis("AU").reset_index()
        long = long.melt(id_vars="AU", var_name="level", value_name="frames (%)")
        sns.histplot(
            long,
            x="AU",
            hue="level",
            weights="frames (%)",
            multiple="stack",
            discrete=True,
            shrink=0.8,
            palette=palette,
            linewidth=0.3,
            ax=ax,
            legend=ax is axes[0, -1],
        )
        ax.set_ylabel("frames with the AU at this level (%)")
        ax.set_xlabel("")
        ax.tick_params(axis="x", rotation=90)
        ax.set_title(f"{name}: {len(table)} frames, {table['subject'].nunique()} subjects", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    legend = axes[0, -1].get_legend()
    if legend is not None:
        legend.set_title("intensity")
    return fig


def plot_cooccurrence(
    table: pd.DataFrame, *, title: str | None = None, ax: Axes | None = None, cell: float = 0.42
) -> Figure:
    """Co-occurrence of the AUs of a label table: P(AU j > 0 | AU i > 0) in %, as a heatmap.

    Args:
        table: frames table with AU columns (e.g. from :func:`auheat.synth.generate.preset_labels`).
        title: axes title.
        ax: draw into this axes instead of a new figure.
        cell: side of one cell of a new figure, inches.
    """
    sns = _seaborn()
    matrix = 100 * au_cooccurrence(table)
    fig, ax = _new_axes(ax, (cell * len(matrix) + 2.4, cell * len(matrix) + 1.2))
    sns.heatmap(
        matrix,
        mask=np.eye(len(matrix), dtype=bool),
        vmin=0,
        vmax=100,
        cmap="mako_r",
        annot=True,
        fmt=".0f",
        annot_kws={"fontsize": 7},
        square=True,
        cbar_kws={"label": "P(AU j > 0 | AU i > 0) (%)", "shrink": 0.8},
        linewidths=0.5,
        ax=ax,
    )
    ax.set_xlabel("AU j")
    ax.set_ylabel("given AU i")
    ax.tick_params(axis="y", rotation=0)
    ax.set_title(title if title is not None else "How often AU j is present when AU i is", fontsize=10)
    return fig


def plot_session_labels(
    table: pd.DataFrame,
    subject: str,
    session: str | None = None,
    *,
    lines: Sequence[int] | None = None,
    fps: float = 25.0,
    figsize: tuple[float, float] = (10.0, 5.6),
) -> Figure:
    """The labels of one session over time: every AU as a strip, and a few AUs as lines.

    Args:
        table: frames table with ``subject``, ``session``, ``frame`` and AU columns.
        subject: the subject to show.
        session: its session; None: the subject's first.
        lines: AU numbers drawn as lines in the lower panel; None: the three most active AUs.
        fps: frame rate of the frame numbers, frames per second.
        figsize: figure size, inches.
    """
    sns = _seaborn()
    columns = label_columns(table)
    rows = table[table["subject"] == subject]
    if rows.empty:
        raise ValueError(
            f"no frames of subject {subject!r}; subjects: {', '.join(table['subject'].unique())}"
        )
    session = rows["session"].iloc[0] if session is None else session
    rows = rows[rows["session"] == session].sort_values("frame")
    if rows.empty:
        raise ValueError(f"subject {subject!r} has no session {session!r}")
    seconds = rows["frame"].to_numpy() / fps
    labels = rows[columns].to_numpy(np.float64).T  # [K, T]
    if lines is None:
        activity = np.nan_to_num(labels).sum(1)
        lines = [int(columns[k][2:]) for k in sorted(np.argsort(-activity)[:3])]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=figsize, layout="constrained", sharex=True, height_ratios=[len(columns), 5]
    )
    step = float(np.median(np.diff(seconds))) if len(seconds) > 1 else 1.0 / fps
    cmap = ListedColormap(["white", *sns.color_palette("rocket_r", 5)])
    strip = top.imshow(
        labels,
        aspect="auto",
        interpolation="nearest",
        cmap=cmap,
        vmin=-0.5,
        vmax=5.5,
        extent=(seconds[0] - step / 2, seconds[-1] + step / 2, len(columns) - 0.5, -0.5),
    )
    top.set_yticks(range(len(columns)), columns)
    top.set_title(f"{subject}, session {session}: {len(rows)} frames, one every {step:.2f} s", fontsize=10)
    fig.colorbar(strip, ax=top, ticks=range(6), label="intensity", shrink=0.9)
    long = pd.DataFrame({"time (s)": np.tile(seconds, len(lines))})
    long["AU"] = np.repeat([get_au(n).label for n in lines], len(seconds))
    long["intensity"] = np.concatenate([rows[f"AU{n:02d}"].to_numpy(np.float64) for n in lines])
    sns.lineplot(long, x="time (s)", y="intensity", hue="AU", drawstyle="steps-mid", ax=bottom)
    bottom.set_ylim(-0.2, 5.2)
    bottom.set_yticks(range(6))
    bottom.grid(alpha=0.3)
    bottom.legend(loc="upper right", fontsize=8)
    return fig


def plot_dataset_samples(
    dataset: PreparedDataset,
    indices: Sequence[int],
    *,
    ncols: int = 4,
    panel_size: float = 2.4,
    per_line: int = 3,
) -> Figure:
    """Frames of a prepared dataset with their landmarks and their non-zero labels.

    Args:
        dataset: a prepared dataset (or a selection of one: a split or a fold).
        indices: positions of the frames to show.
        ncols: panels per row.
        panel_size: side of one panel, inches.
        per_line: labels per title line.
    """
    images, points, titles = [], [], []
    for i in indices:
        sample = dataset[i]
        images.append(sample["image"].permute(1, 2, 0).numpy())
        points.append(sample["landmarks"].numpy())
        row = dataset.frames.iloc[i]
        pairs = [
            f"{get_au(n).label}={v:g}"
            for n, v in zip(dataset.aus, sample["intensities"].tolist(), strict=True)
            if v > 0
        ]
        lines = [" ".join(pairs[k : k + per_line]) for k in range(0, len(pairs), per_line)] or ["no AU"]
        titles.append(f"{row['subject']} {row['session']} frame {row['frame']}\n" + "\n".join(lines))
    return plot_faces(images, points, titles, ncols=ncols, panel_size=panel_size)


# -- The landmark network (Chapter 3) -------------------------------------------------------------

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
    panel_size: float = 3.0,
) -> Figure:
    """Faces with their ground-truth (dots) and predicted (crosses) 68 landmarks, joined by error lines.

    Args:
        images: N RGB images [H, W, 3].
        truths, predictions: N arrays [68, 2] float, (x, y) pixels of their image.
        titles: N panel titles (may span lines).
        ncols: panels per row.
        panel_size: side of one panel, inches.
    """
    for name, values in (("truths", truths), ("predictions", predictions), ("titles", titles)):
        if values is not None and len(values) != len(images):
            raise ValueError(f"{name} has {len(values)} entries for {len(images)} images; give one per image")
    fig = plot_faces(images, None, titles, ncols=ncols, panel_size=panel_size)
    for ax, truth, predicted in zip(fig.axes, truths, predictions, strict=True):
        _draw_landmark_pair(ax, _check_landmarks(truth), _check_landmarks(predicted))
    fig.axes[0].legend(loc="lower left", fontsize=7, framealpha=0.85)
    return fig


def plot_landmark_heatmaps(
    images: Sequence[np.ndarray] | np.ndarray,
    targets: np.ndarray | torch.Tensor,
    predicted: np.ndarray | torch.Tensor,
    *,
    landmark: int = 30,
    zoom: int = 7,
    panel_size: float = 2.2,
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
    """
    targets, predicted = _as_numpy(targets), _as_numpy(predicted)
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
        crop = _check_square_crop(image)
        y, x = np.unravel_index(np.argmax(target[landmark]), (h, h))
        window = (slice(max(y - zoom, 0), y + zoom + 1), slice(max(x - zoom, 0), x + zoom + 1))
        for col, maps, vmax in ((0, target, 1.0), (2, output, top)):
            _show_face(axes[row, col], crop)
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
    """
    crop = _check_square_crop(image)
    stacks = len(features.heatmaps)
    fig, axes = plt.subplots(
        2, stacks + 1, figsize=((stacks + 1) * panel_size, 2 * panel_size + 0.4), layout="constrained"
    )
    axes = axes.reshape(2, stacks + 1)
    _show_face(axes[0, 0], crop)
    axes[0, 0].set_title(f"input {crop.shape[0]}x{crop.shape[1]}", fontsize=9)
    # Each channel scaled by its own largest |activation|, so that a few loud channels do not hide the rest.
    energy = [np.abs(_as_numpy(f[0])) for f in (features.stem, *features.stacks)]
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
        heatmaps = _as_numpy(maps[0])
        _show_face(axes[0, i + 1], crop)
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


# -- Transfer methods: training runs and their heatmaps (Chapters 4 to 7) -------------------------


def plot_learning_curves(
    logs: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    per_au: bool = True,
    floors: Mapping[str, float] | None = None,
    figsize: tuple[float, float] = (11.0, 3.4),
) -> Figure:
    """An AU run's logged evaluations: training loss, and ICC(3,1) and MAE on the evaluation split.

    Args:
        logs: a run's metrics log (``metrics.jsonl`` read by :func:`auheat.train.read_log`, with
            columns ``epoch`` (and ``step``), ``train_loss``, ``ICC_mean``, ``MAE_mean`` and
            ``ICC_AUxx``, ``MAE_AUxx`` per AU), or name -> log to compare runs, one line each.
        per_au: with a single log, draw each AU's ICC and MAE as thin grey lines behind the mean.
        floors: run name (``""`` for a single log) -> the training loss of all-zero heatmaps
            under that run's loss (:func:`auheat.benchmark.zero_prediction`); the loss panel then
            shows each run's loss divided by its own floor, so runs with different losses compare,
            and a line at 1 marks a network that draws nothing.
        figsize: size of the figure, inches.
    """
    runs = {"": logs} if isinstance(logs, pd.DataFrame) else dict(logs)
    if not runs:
        raise ValueError("logs is empty: give a metrics log or a mapping of them")
    for name, log in runs.items():
        missing = {"epoch", "train_loss", "ICC_mean", "MAE_mean"} - set(log.columns)
        if missing:
            raise ValueError(
                f"log {name!r} lacks columns {sorted(missing)}: is it an AU run's metrics.jsonl?"
            )
    if floors is not None and set(floors) != set(runs):
        raise ValueError(f"floors must name the runs {sorted(runs)}, got {sorted(floors)}")
    single = len(runs) == 1
    by_step = all("step" in log for log in runs.values())
    x_name = "step" if by_step else "epoch"
    fig, axes = plt.subplots(1, 3, figsize=figsize, layout="constrained")
    loss_label = "loss / all-zero heatmaps' loss" if floors else "masked heatmap MSE"
    panels = (
        ("train_loss", loss_label, "training loss"),
        ("ICC", "ICC(3,1)", "ICC on the held-out subjects"),
        ("MAE", "MAE (intensity levels)", "MAE on the held-out subjects"),
    )
    for ax, (key, ylabel, title) in zip(axes, panels, strict=True):
        for name, log in runs.items():
            x = log[x_name]
            if key == "train_loss":
                loss = log[key] / floors[name] if floors else log[key]
                ax.plot(x, loss, "o-", label=name or "training loss")
                continue
            if single and per_au:
                columns = sorted(c for c in log.columns if re.fullmatch(f"{key}_AU\\d+", c))
                for k, column in enumerate(columns):
                    ax.plot(
                        x, log[column], "-", c="0.7", lw=0.8, marker=".", label="one AU" if k == 0 else None
                    )
            ax.plot(x, log[f"{key}_mean"], "o-", lw=2, label=name or "mean over AUs")
        if key == "ICC":
            ax.axhline(0.0, c="0.3", lw=0.8, ls=":")
        if key == "train_loss" and floors:
            ax.axhline(1.0, c="0.3", lw=0.8, ls="--", label="all-zero heatmaps")
        ax.set(xlabel=f"{x_name} (logged evaluations)", ylabel=ylabel, title=title)
        if not by_step:
            last_epoch = max(int(log["epoch"].max()) for log in runs.values())
            ax.set_xlim(0.5, last_epoch + 0.5)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.grid(alpha=0.3)
    axes[1 if single else 0].legend(fontsize=8)
    return fig


def _model_inputs(
    model: torch.nn.Module, dataset: PreparedDataset, indices: Sequence[int], input_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[np.ndarray]]:
    """A batch of dataset frames as the trainer feeds them (images [N, 3, S, S] in [0, 1],
    landmarks [N, 68, 2] input pixels, intensities [N, K]), and the frames' crops [H, W, 3]."""
    if not len(indices):
        raise ValueError("indices is empty: give the positions of the frames to show")
    samples = [dataset[int(i)] for i in indices]
    batch = default_collate([{k: s[k] for k in ("image", "landmarks", "intensities")} for s in samples])
    device = next(model.parameters()).device
    images, landmarks, intensities = prepare_batch(batch, device, input_size)
    return images, landmarks, intensities, [s["image"].permute(1, 2, 0).numpy() for s in samples]


def plot_face_maps(
    crops: Sequence[np.ndarray],
    maps: np.ndarray | torch.Tensor,
    titles: Sequence[Sequence[str]] | None = None,
    *,
    centres: np.ndarray | torch.Tensor | None = None,
    row_labels: Sequence[str] | None = None,
    vmax: float = MAX_INTENSITY,
    colorbar_label: str = "heatmap value",
    panel_size: float = 1.9,
) -> Figure:
    """Maps laid over faces: row n shows face n under each of its M maps.

    Args:
        crops: N square RGB crops [S, S, 3].
        maps: [N, M, h, h] float, each covering its crop's square (heatmap pixels).
        titles: N rows of M panel titles.
        centres: optional [N, M, C, 2] (x, y) crop pixels drawn as small circles (NaN skipped),
            e.g. each panel's AU centres.
        row_labels: N labels written left of the rows.
        vmax: value drawn with the top colour; one scale for every panel.
        colorbar_label: the label of the shared colorbar.
        panel_size: side of one panel, inches.
    """
    maps = _as_numpy(maps)
    if maps.ndim != 4 or maps.shape[-1] != maps.shape[-2]:
        raise ValueError(f"maps must be [N, M, h, h], got shape {list(maps.shape)}")
    n, m = maps.shape[:2]
    if len(crops) != n:
        raise ValueError(f"{len(crops)} crops for {n} rows of maps; give one crop per row")
    for name, values in (("titles", titles), ("row_labels", row_labels)):
        if values is not None and len(values) != n:
            raise ValueError(f"{name} has {len(values)} entries for {n} rows; give one per row")
    points = None if centres is None else _as_numpy(centres).astype(np.float64)
    if points is not None and (points.shape[:2] != (n, m) or points.ndim != 4 or points.shape[-1] != 2):
        raise ValueError(f"centres must be [N, M, C, 2] = [{n}, {m}, C, 2], got {list(points.shape)}")
    title_lines = max((t.count("\n") + 1 for row in titles for t in row), default=0) if titles else 0
    fig, axes = plt.subplots(
        n,
        m,
        figsize=(panel_size * m + 0.9, (panel_size + 0.17 * title_lines) * n),
        layout="constrained",
        squeeze=False,
    )
    for r in range(n):
        crop = _check_square_crop(crops[r])
        for c in range(m):
            ax = axes[r, c]
            _show_face(ax, crop)
            artist = draw_heatmap(ax, maps[r, c], crop_size=crop.shape[0], vmax=vmax)
            if points is not None:
                xy = points[r, c][~np.isnan(points[r, c]).any(-1)]
                ax.scatter(*xy.T, s=22, facecolors="none", edgecolors="#4fc3f7", linewidths=0.9)
            ax.set_xlim(-0.5, crop.shape[0] - 0.5)
            ax.set_ylim(crop.shape[0] - 0.5, -0.5)
            if titles is not None:
                ax.set_title(titles[r][c], fontsize=8)
        if row_labels is not None:
            axes[r, 0].set_ylabel(row_labels[r], fontsize=8)
    fig.colorbar(artist, ax=axes, shrink=0.7, label=colorbar_label)
    return fig


def _frame_labels(dataset: PreparedDataset, indices: Sequence[int]) -> list[str]:
    rows = dataset.frames.iloc[[int(i) for i in indices]]
    return [f"{r['subject']} {r['session']}\nframe {r['frame']}" for _, r in rows.iterrows()]


@torch.no_grad()
def plot_predicted_vs_target(
    model: torch.nn.Module,
    dataset: PreparedDataset,
    indices: Sequence[int],
    aus: AUSelection,
    input_size: int,
    *,
    design: str = "variable",
    target_options: Mapping[str, float] | None = None,
    panel_size: float = 1.9,
) -> Figure:
    """A heatmap model's AU heatmaps beside their targets, on dataset frames (one per row).

    For each AU of ``aus`` two columns: the target encoded from the frame's label, as the
    training loss encodes it (:class:`auheat.tasks.AUTask`), and the model's heatmap. Titles give
    the label and the decoded intensity (the heatmap's maximum, clamped to [0, 5], and the
    intensity the model answers through its calibration, where it has one); circles mark the
    AU's centres.

    Args:
        model: an AU model with heatmap output (``model.aus`` those of ``dataset``), run in eval
            mode on its own device (its mode is restored afterwards).
        dataset: a prepared dataset, e.g. the held-out fold.
        indices: positions of the frames to show (e.g. :func:`auheat.data.labels.showcase_frames`).
        aus: the AUs to show, among the model's.
        input_size: side of the network input, the training run's (``TrainConfig.input_size``).
        design, target_options: the target design of the training run and its options.
        panel_size: side of one panel, inches.
    """
    if getattr(model, "output", "heatmaps") != "heatmaps":
        raise ValueError("the model outputs intensities, not heatmaps: there is no heatmap to draw")
    model_aus = tuple(model.aus)
    if tuple(dataset.aus) != model_aus:
        raise ValueError(f"the model predicts AUs {list(model_aus)}, the dataset labels {list(dataset.aus)}")
    numbers = known_aus(aus, model_aus, "the model")
    images, landmarks, intensities, crops = _model_inputs(model, dataset, indices, input_size)
    was_training = model.training
    model.eval()
    try:
        output = model(images).float()
    finally:
        model.train(was_training)
    side = output.shape[-1]
    targets = encode_heatmaps(
        crop_to_heatmap(landmarks, input_size, side),
        intensities,
        model_aus,
        size=side,
        design=design,
        **dict(target_options or {}),
    )
    decoded = decode_heatmaps(output).intensities
    # What the model answers: the maximum through the run's per-AU calibration, where it has one.
    answered = model.calibrated(decoded) if hasattr(model, "calibrated") else decoded
    calibrated = not torch.equal(answered, decoded)
    channels = [model_aus.index(n) for n in numbers]
    maps = torch.stack([t for c in channels for t in (targets[:, c], output[:, c])], 1)
    crop_points = torch.stack([s.float() for s in (dataset[int(i)]["landmarks"] for i in indices)])
    au_points = au_centres(crop_points, numbers)  # [N, M, C, 2] crop pixels
    titles = []
    for r in range(len(crops)):
        row = []
        for n, c in zip(numbers, channels, strict=True):
            label = float(intensities[r, c])
            shown = "unlabelled" if np.isnan(label) else f"I = {label:g}"
            row.append(f"{get_au(n).label} target\n{shown}")
            read = f", read {float(answered[r, c]):.2f}" if calibrated else ""
            row.append(f"{get_au(n).label} predicted\nmax {float(decoded[r, c]):.2f}{read}")
        titles.append(row)
    return plot_face_maps(
        crops,
        maps.cpu(),
        titles,
        centres=au_points.repeat_interleave(2, dim=1),
        row_labels=_frame_labels(dataset, indices),
        vmax=1.0 if design == "binary" else MAX_INTENSITY,
        panel_size=panel_size,
    )


@torch.no_grad()
def plot_attention_maps(
    model: torch.nn.Module,
    dataset: PreparedDataset,
    indices: Sequence[int],
    aus: AUSelection,
    input_size: int,
    *,
    panel_size: float = 1.9,
) -> Figure:
    """An attention model's maps (:meth:`auheat.models.Attention.attention_maps`, in [0, 1]) over
    dataset frames: one row per frame, one column per AU of ``aus``, circles at the AU's centres.

    Args:
        model: a model with an ``attention_maps(images)`` method giving [N, K, h, h], and ``aus``.
        dataset, indices, aus, input_size, panel_size: as for :func:`plot_predicted_vs_target`.
    """
    if not hasattr(model, "attention_maps"):
        raise ValueError(f"{type(model).__name__} has no attention maps (an 'attention' model has)")
    model_aus = tuple(model.aus)
    numbers = known_aus(aus, model_aus, "the model")
    images, _, _, crops = _model_inputs(model, dataset, indices, input_size)
    was_training = model.training
    model.eval()
    try:
        attention = model.attention_maps(images).float()
    finally:
        model.train(was_training)
    maps = attention[:, [model_aus.index(n) for n in numbers]].cpu()
    crop_points = torch.stack([dataset[int(i)]["landmarks"].float() for i in indices])
    titles = [[f"{get_au(n).label}\n{get_au(n).name}" for n in numbers]] * len(crops)
    return plot_face_maps(
        crops,
        maps,
        titles,
        centres=au_centres(crop_points, numbers),
        row_labels=_frame_labels(dataset, indices),
        vmax=1.0,
        colorbar_label="attention",
        panel_size=panel_size,
    )


# Real photos (Chapter 9) ---------------------------------------------------------------------


def plot_found_faces(
    images: Sequence[np.ndarray],
    faces: Sequence[Sequence],
    titles: Sequence[str],
    *,
    ncols: int = 4,
    panel_size: float = 3.2,
) -> Figure:
    """Photos with every face a landmarker found: its box, its score and its 68 landmarks.

    Args:
        images: [H, W, 3] RGB photos.
        faces: per photo, the :class:`auheat.faces.Face` list a landmarker returned.
        titles: one per photo.
    """
    if not len(images) == len(faces) == len(titles):
        raise ValueError(f"{len(images)} images, {len(faces)} face lists and {len(titles)} titles")
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel_size * ncols, panel_size * nrows), squeeze=False, layout="constrained"
    )
    for ax, image, found, title in zip(axes.flat, images, faces, titles, strict=False):
        _show_face(ax, _check_image(image))
        size = max(image.shape[:2]) / 120  # dots that stay visible on large photos
        for face in found:
            x0, y0, x1, y1 = face.box
            ax.add_patch(
                plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="#00e676", linewidth=1.5)
            )
            ax.scatter(*face.landmarks.T, s=size, c="#4fc3f7", linewidths=0)
            ax.text(x0, y0, f"{face.score:.2f}", color="#00e676", fontsize=8, va="bottom")
        ax.set_title(f"{title}\n{len(found)} face(s)", fontsize=9)
    for ax in axes.flat[len(images) :]:
        ax.set_axis_off()
    return fig


def plot_face_reading(
    crop: np.ndarray,
    heatmaps: np.ndarray | torch.Tensor,
    intensities: np.ndarray | torch.Tensor,
    aus: Sequence[int],
    *,
    title: str | None = None,
    ncols: int = 6,
    panel_size: float = 1.9,
) -> Figure:
    """Every AU's predicted heatmap over one aligned face, and the intensities as a bar chart.

    The heatmaps share one colour scale, from 0 to the largest value among them (at least 1), so
    weak maps stay visible and maps can be compared with each other. Each panel's title gives the
    AU's answer (through the model's calibration line) and its map's maximum (before it); the bar
    chart shows both.

    Args:
        crop: [S, S, 3] RGB aligned face.
        heatmaps: [K, h, h] the model's heatmaps; intensities: [K] its answers; aus: K AU numbers.
    """
    heatmaps, levels = _as_numpy(heatmaps).astype(np.float64), _as_numpy(intensities).astype(np.float64)
    if heatmaps.ndim != 3 or len(heatmaps) != len(aus) or levels.shape != (len(aus),):
        raise ValueError(
            f"heatmaps [K, h, h] and intensities [K] must match {len(aus)} AUs, got "
            f"{list(heatmaps.shape)} and {list(levels.shape)}"
        )
    crop = _check_square_crop(crop)
    vmax = max(1.0, float(heatmaps.max()))
    nrows = -(-len(aus) // ncols)
    fig = plt.figure(figsize=(panel_size * ncols, panel_size * nrows + 2.4), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[panel_size * nrows, 2.4])
    axes = np.atleast_1d(top.subplots(nrows, ncols)).ravel()
    for ax, au, heatmap, level in zip(axes, aus, heatmaps, levels, strict=False):
        _show_face(ax, crop)
        image = draw_heatmap(ax, np.clip(heatmap, 0, None), crop_size=crop.shape[0], vmax=vmax)
        ax.set_title(f"{get_au(au).label}: {level:.2f}\nmap max {heatmap.max():.2f}", fontsize=8)
    for ax in axes[len(aus) :]:
        ax.set_axis_off()
    top.colorbar(image, ax=list(axes), shrink=0.8, label="heatmap value")
    if title:
        top.suptitle(title)
    bar = bottom.subplots()
    x = np.arange(len(aus))
    bar.bar(x - 0.2, levels, width=0.4, color="tab:orange", label="answer (calibrated)")
    bar.bar(x + 0.2, heatmaps.max((1, 2)), width=0.4, color="tab:gray", label="map maximum")
    bar.set_xticks(x, [get_au(n).label for n in aus], fontsize=8)
    bar.set_ylim(0, MAX_INTENSITY)
    bar.set_ylabel("intensity (0-5)")
    bar.legend(fontsize=8, loc="upper right")
    return fig
