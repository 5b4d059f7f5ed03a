"""Chapter 9's figures: the faces a landmarker finds on real photos, and a trained model's
reading of one of them (every AU's heatmap and the answers).

Every function draws with matplotlib and returns the :class:`~matplotlib.figure.Figure`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from auheat.aus import MAX_INTENSITY, get_au
from auheat.figures._common import as_numpy, check_image, check_square_crop, draw_heatmap, show_face


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
        faces: per photo, the :class:`auheat.landmarkers.Face` list a landmarker returned.
        titles: one per photo.
        ncols: panels per row.
        panel_size: side of one panel, inches.

    Returns:
        The figure: one panel per photo, titled with its number of faces; each face's box is
        labelled with the landmarker's score.
    """
    if not len(images) == len(faces) == len(titles):
        raise ValueError(f"{len(images)} images, {len(faces)} face lists and {len(titles)} titles")
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel_size * ncols, panel_size * nrows), squeeze=False, layout="constrained"
    )
    for ax, image, found, title in zip(axes.flat, images, faces, titles, strict=False):
        show_face(ax, check_image(image))
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
        title: the title above the heatmaps.
        ncols: heatmap panels per row.
        panel_size: side of one heatmap panel, inches.

    Returns:
        The figure: the K heatmaps over the face with a shared colorbar, and below them a bar
        chart of each AU's answer and map maximum.
    """
    heatmaps, levels = as_numpy(heatmaps).astype(np.float64), as_numpy(intensities).astype(np.float64)
    if heatmaps.ndim != 3 or len(heatmaps) != len(aus) or levels.shape != (len(aus),):
        raise ValueError(
            f"heatmaps [K, h, h] and intensities [K] must match {len(aus)} AUs, got "
            f"{list(heatmaps.shape)} and {list(levels.shape)}"
        )
    crop = check_square_crop(crop)
    vmax = max(1.0, float(heatmaps.max()))
    nrows = -(-len(aus) // ncols)
    fig = plt.figure(figsize=(panel_size * ncols, panel_size * nrows + 2.4), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[panel_size * nrows, 2.4])
    axes = np.atleast_1d(top.subplots(nrows, ncols)).ravel()
    for ax, au, heatmap, level in zip(axes, aus, heatmaps, levels, strict=False):
        show_face(ax, crop)
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
