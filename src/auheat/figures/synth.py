"""Chapter 2's figures: SynthFACS faces, what each AU does to them, their label statistics, and
the frames of a prepared dataset.

The faces are rendered by :mod:`auheat.synth` and passed in as arrays; these functions only draw.
Every function draws with matplotlib and returns the :class:`~matplotlib.figure.Figure`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from auheat.aus import MAX_INTENSITY, au_centres, get_au, resolve_aus
from auheat.data.dataset import PreparedDataset
from auheat.figures._common import (
    INTENSITIES,
    AUSelection,
    as_numpy,
    check_image,
    check_landmarks,
    check_square_crop,
    draw_heatmap,
    show_face,
)
from auheat.figures.targets import unique_centres


def plot_faces(
    images: Sequence[np.ndarray] | np.ndarray,
    landmarks: Sequence[np.ndarray] | np.ndarray | None = None,
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 4,
    panel_size: float = 2.2,
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

    Returns:
        The figure: one panel per face (unused grid cells are removed).
    """
    images = [check_image(image) for image in images]
    if not images:
        raise ValueError("images is empty: nothing to draw")
    points = None if landmarks is None else [check_landmarks(lm) for lm in landmarks]
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
        show_face(ax, images[k])
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


def _au_row_label(au: int) -> str:
    entry = get_au(au)
    return f"{entry.label}\n" + textwrap.fill(entry.name, 12)


def plot_au_gallery(
    faces: np.ndarray,
    landmarks: np.ndarray,
    aus: Sequence[int],
    intensities: Sequence[float] = INTENSITIES,
    *,
    margin: float = 22.0,
    min_side: float = 80.0,
    panel_size: float = 1.25,
) -> Figure:
    """Each AU alone at each intensity on one synthetic face: a row per AU, a column per intensity.

    Every row is zoomed on its AU: the square around the AU's centres and the landmarks it moves
    most (at all the row's intensities, so a dropping jaw stays in view), widened by ``margin``
    pixels, at least ``min_side`` pixels wide. The row shares one window, so what changes is the
    face.

    Args:
        faces: [A, n, S, S, 3] RGB faces, row a the face with AU ``aus[a]`` alone at each of the n
            intensities, e.g. from :func:`auheat.synth.render_au_series`.
        landmarks: [A, n, 68, 2] float, their landmarks, pixels of the faces.
        aus: the A AU numbers of the rows.
        intensities: the n intensities of the columns, in [0, 5]; they title the columns.
        margin: the zoom's margin around the AU, pixels.
        min_side: the zoom's smallest side, pixels.
        panel_size: side of one panel, inches.

    Returns:
        The figure: A x n panels, each row labelled with its AU's number and name.
    """
    faces, landmarks = as_numpy(faces), as_numpy(landmarks)
    numbers = tuple(aus)
    shape = (len(numbers), len(intensities))
    if faces.ndim != 5 or faces.shape[:2] != shape or faces.shape[-1] != 3:
        raise ValueError(
            f"faces must be [A, n, S, S, 3] = [{shape[0]}, {shape[1]}, S, S, 3], got {list(faces.shape)}"
        )
    if landmarks.shape != (*shape, 68, 2):
        raise ValueError(
            f"landmarks must be [A, n, 68, 2] = [{shape[0]}, {shape[1]}, 68, 2], got {list(landmarks.shape)}"
        )
    size = faces.shape[2]
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
    for row, au, series, points in zip(axes, numbers, faces, landmarks, strict=True):
        centres = au_centres(torch.as_tensor(points), [au]).reshape(-1, 2).numpy()
        travel = np.ptp(points, axis=0).max(-1)  # [68] px, how far the AU moves each landmark
        moved = travel > max(2.0, 0.3 * travel.max())
        kept = np.concatenate([centres[~np.isnan(centres).any(-1)], points[:, moved].reshape(-1, 2)])
        window = _square_window(kept, margin, min_side, size)
        # Only the pixels in the window are drawn: it keeps the figure fast to draw.
        x0, y0 = (max(0, int(np.floor(v + 0.5))) for v in (window[0], window[3]))
        x1, y1 = (min(size, int(np.ceil(v + 0.5))) for v in (window[1], window[2]))
        for ax, face, level in zip(row, series, intensities, strict=True):
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
    neutral: np.ndarray,
    faces: np.ndarray,
    landmarks: np.ndarray,
    aus: Sequence[int],
    *,
    intensity: float = 5.0,
    vmax: float = 40.0,
    ncols: int = 5,
    panel_size: float = 1.7,
) -> Figure:
    """Where each AU changes the image: |face with the AU at ``intensity`` - neutral face|.

    The change (mean over R, G, B, grey levels) is drawn in colour over a dimmed neutral face,
    with the AU's centres (blue circles) computed from the moved landmarks: geometry and
    appearance both change around them.

    Args:
        neutral: [S, S, 3] RGB, the face with no AU.
        faces: [A, S, S, 3] RGB, the same face with AU ``aus[a]`` alone at ``intensity``, in the
            same pose and capture, e.g. from :func:`auheat.synth.render_au_series`.
        landmarks: [A, 68, 2] float, the landmarks of ``faces``, pixels.
        aus: the A AU numbers.
        intensity: the AUs' intensity in ``faces``, in (0, 5]; it titles the figure.
        vmax: change drawn with the top colour, grey levels.
        ncols: panels per row.
        panel_size: side of one panel, inches.

    Returns:
        The figure: one panel per AU (unused grid cells are removed) and a shared colorbar.
    """
    if not 0 < intensity <= MAX_INTENSITY:
        raise ValueError(f"intensity must lie in (0, {MAX_INTENSITY:g}], got {intensity!r}")
    neutral, faces, landmarks = check_image(neutral, "neutral"), as_numpy(faces), as_numpy(landmarks)
    numbers = tuple(aus)
    if faces.shape != (len(numbers), *neutral.shape):
        raise ValueError(
            f"faces must be [A, S, S, 3] with A = {len(numbers)} AUs and the neutral face's shape "
            f"{list(neutral.shape)}, got {list(faces.shape)}"
        )
    if landmarks.shape != (len(numbers), 68, 2):
        raise ValueError(
            f"landmarks must be [A, 68, 2] = [{len(numbers)}, 68, 2], got {list(landmarks.shape)}"
        )
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
    for ax, au, face, points in zip(axes.flat, numbers, faces, landmarks, strict=False):
        change = np.abs(face.astype(np.float64) - neutral).mean(-1)
        ax.imshow(neutral.mean(-1), cmap="gray", vmin=0, vmax=255 * 3)  # dimmed neutral face
        image = ax.imshow(change, cmap="magma", vmin=0, vmax=vmax, alpha=np.clip(change / vmax, 0, 1) ** 0.5)
        centres = au_centres(torch.as_tensor(points)[None], [au])[0, 0].numpy()
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
        figsize: size of a new figure, inches.

    Returns:
        The figure (``fig`` when given): the face with its landmarks, the face under its targets
        with a colorbar.
    """
    image = check_square_crop(image)
    landmarks = check_landmarks(landmarks)
    numbers = resolve_aus(aus)
    maps = torch.as_tensor(as_numpy(heatmaps), dtype=torch.float32)
    if maps.ndim != 3 or maps.shape[0] != len(numbers) or maps.shape[1] != maps.shape[2]:
        raise ValueError(
            f"heatmaps must have shape [K, h, h] with K = {len(numbers)} AUs, got {list(maps.shape)}"
        )
    if fig is None:
        fig = plt.figure(figsize=figsize, layout="constrained")
    left, right = fig.subplots(1, 2)
    show_face(left, image)
    left.scatter(landmarks[:, 0], landmarks[:, 1], s=7, c="#4fc3f7", linewidths=0)
    left.set_title("rendered face, 68 landmarks", fontsize=10)
    show_face(right, image)
    artist = draw_heatmap(right, maps.amax(0), crop_size=image.shape[0], vmax=vmax)
    present = [n for n, level in zip(numbers, maps.amax((-1, -2)).tolist(), strict=True) if level > 0]
    for centre, sharing in unique_centres(landmarks, present) if present else []:
        right.annotate(
            "/".join(map(str, sharing)),
            (float(centre[0]), float(centre[1])),
            xytext=(0, 9),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
        )
    right.set_title(f"AU targets, max over {len(numbers)} channels", fontsize=10)
    fig.colorbar(artist, ax=right, shrink=0.8, label="target value")
    if title is not None:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_dataset_samples(
    dataset: PreparedDataset,
    indices: Sequence[int],
    *,
    ncols: int = 4,
    panel_size: float = 2.2,
    per_line: int = 3,
) -> Figure:
    """Frames of a prepared dataset with their landmarks and their non-zero labels.

    Args:
        dataset: a prepared dataset (or a selection of one: a split or a fold).
        indices: positions of the frames to show.
        ncols: panels per row.
        panel_size: side of one panel, inches.
        per_line: labels per title line.

    Returns:
        The figure: one panel per frame, titled with its subject, session, frame number and
        non-zero labels.
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
