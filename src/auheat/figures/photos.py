"""Chapter 9's figures: the faces a landmarker finds on real photos, and a trained model's
reading of one of them (every AU's heatmap and the answers).

Every function draws with matplotlib and returns the :class:`~matplotlib.figure.Figure`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
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
    panel_size: float = 2.2,
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
    panel_size: float = 1.5,
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


def plot_face_edits(
    edits: dict[tuple[int, float], tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    title: str | None = None,
    panel_size: float = 1.7,
) -> Figure:
    """A face edited as each AU moves it, a row per AU and a column per intensity.

    Args:
        edits: (AU, intensity) -> (crop [S, S, 3], its landmarks [68, 2], [68] bool: which moved),
            as :func:`auheat.synth.edits.edit_face` gives them; intensity 0 is the original.
        title: the figure's title.
        panel_size: side of one panel, inches.

    Returns:
        The figure: each edit with the landmarks its AU moved marked (orange dots), the others
        as small grey dots.
    """
    aus = sorted({au for au, _ in edits})
    levels = sorted({level for _, level in edits})
    fig, axes = plt.subplots(
        len(aus),
        len(levels),
        figsize=(panel_size * len(levels), panel_size * len(aus) + 0.4),
        squeeze=False,
        layout="constrained",
    )
    for row, au in enumerate(aus):
        for column, level in enumerate(levels):
            ax = axes[row, column]
            crop, landmarks, moved = edits[(au, level)]
            show_face(ax, check_square_crop(crop))
            ax.scatter(*landmarks[~moved].T, s=2, c="0.75", linewidths=0)
            ax.scatter(*landmarks[moved].T, s=5, c="tab:orange", linewidths=0)
            if row == 0:
                ax.set_title(f"intensity {level:g}")
            if column == 0:
                ax.text(
                    -0.06, 0.5, get_au(au).label, transform=ax.transAxes, rotation=90, ha="right", va="center"
                )
    if title:
        fig.suptitle(title)
    return fig


def plot_edit_check(readings, *, title: str | None = None) -> Figure:
    """Each AU's raw reading against the intensity of the edit, one thin line per face and, in
    bold, their mean over the faces that do not already show the AU (their lines are solid; the
    others' dashed) (:func:`auheat.edit_check.edit_check`'s ``readings``).

    A model that reads the AU draws lines that rise from intensity 0 (the original face); a flat
    line is a model that does not see the movement.
    """
    aus = sorted(readings["AU"].unique())
    ncols = min(3, len(aus))  # three to a row keeps the figure within the text column
    nrows = -(-len(aus) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(2.9 * ncols, 2.5 * nrows), sharey=True, squeeze=False, layout="constrained"
    )
    for ax in axes.flat[len(aus) :]:
        ax.remove()
    for ax, au in zip(axes.flat, aus, strict=False):
        own = readings[readings["AU"] == au]
        shown = own["shown"].astype(bool) if "shown" in own else pd.Series(False, index=own.index)
        for _, face in own.groupby("face"):
            style = "--" if shown[face.index].any() else "-"
            ax.plot(face["intensity"], face["raw"], style, color="0.6", linewidth=1)
        mean = own[~shown].groupby("intensity")["raw"].mean()
        ax.plot(mean.index, mean.to_numpy(), color="tab:blue", linewidth=2.2, marker="o", markersize=3)
        ax.set_title(get_au(au).label)
        ax.set_xlabel("edit intensity")
    for row in axes:
        row[0].set_ylabel("raw reading (map maximum)")
    if title:
        fig.suptitle(title)
    return fig
