"""Chapter 1's target-design figures: the designs of :data:`auheat.heatmaps.DESIGNS` side by
side, the size of a map as the intensity grows, and the profile through a map's peak.

Every function draws with matplotlib and returns the :class:`~matplotlib.figure.Figure`.
Heatmaps are laid over their crop as :func:`auheat.figures.draw_heatmap` lays them.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from auheat.aus import (
    MAX_INTENSITY,
    au_centres,
    get_au,
    rescale_points,
)
from auheat.figures._common import (
    INTENSITIES,
    check_landmarks,
    check_square_crop,
    draw_heatmap,
    show_face,
)
from auheat.heatmaps import DESIGNS, check_design, encode_heatmaps


def _au_heatmaps(
    landmarks: np.ndarray,
    au: int,
    intensities: Sequence[float],
    design: str,
    crop_size: int,
    heatmap_size: int,
) -> np.ndarray:
    """[len(intensities), h, h] targets of one AU for one face at several intensities."""
    points = rescale_points(torch.as_tensor(landmarks, dtype=torch.float32), crop_size, heatmap_size)
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
    show_face(ax, crop)
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
    panel_size: float = 1.3,
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
    crop = check_square_crop(crop)
    landmarks = check_landmarks(landmarks)
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
        panel_size: side of one panel, inches.

    Returns:
        The figure: ``len(designs) * len(sizes)`` panels and one colorbar per row.
    """
    crop = check_square_crop(crop)
    landmarks = check_landmarks(landmarks)
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

    Returns:
        The figure: one panel per design sharing the y-axis, one line per intensity.
    """
    landmarks = check_landmarks(landmarks)
    get_au(au)
    if not designs or not intensities:
        raise ValueError("designs and intensities must each name at least one value")
    for design in designs:
        check_design(design)
    centre = au_centres(torch.as_tensor(landmarks)[None], [au])[0, 0, 0].numpy()
    if np.isnan(centre).any():
        raise ValueError(f"AU {au}'s first centre is built from a NaN landmark; nothing to cut through")
    centre_hm = rescale_points(torch.as_tensor(centre), crop_size, heatmap_size).numpy()
    row = int(np.clip(np.round(centre_hm[1]), 0, heatmap_size - 1))
    x_crop = rescale_points(torch.arange(heatmap_size, dtype=torch.float64), heatmap_size, crop_size).numpy()
    near = np.abs(x_crop - centre[0]) <= half_width
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, len(intensities)))
    fig, axes = plt.subplots(
        1, len(designs), figsize=(2.1 * len(designs), 3.2), layout="constrained", sharey=True, squeeze=False
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
