"""What every chapter's figures share: input checks, new axes, a face drawn without ticks, and a
heatmap laid over its crop.

Coordinates follow the library: (x, y) with pixel centres at integers, in the pixels of the
image drawn (crop pixels for an aligned 256x256 face). A heatmap covers the same square as its
crop at a quarter of the resolution; it is drawn with an ``extent`` computed by
:func:`auheat.aus.rescale_points`, so that every heatmap pixel centre lands where the library
says it is in the crop.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from auheat.aus import MAX_INTENSITY, NUM_LANDMARKS, rescale_points

HEATMAP_CMAP = "inferno"
# A dataset name, one AU number or several; None stands for the whole catalogue.
AUSelection = str | int | Sequence[int] | None
INTENSITIES = (0, 1, 2, 3, 4, 5)


def as_numpy(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """An array or a tensor (on any device) as a NumPy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """``image`` as an RGB array [H, W, 3]; a clear error names ``name`` otherwise."""
    image = as_numpy(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be an RGB array [H, W, 3], got shape {list(image.shape)}")
    return image


def check_landmarks(landmarks: np.ndarray | torch.Tensor) -> np.ndarray:
    """One face's 68 landmarks as a float64 array [68, 2]."""
    landmarks = as_numpy(landmarks).astype(np.float64)
    if landmarks.shape != (NUM_LANDMARKS, 2):
        raise ValueError(f"landmarks must have shape [68, 2], got {list(landmarks.shape)}")
    return landmarks


def check_square_crop(crop: np.ndarray) -> np.ndarray:
    """``crop`` as a square RGB array [S, S, 3], an aligned face."""
    crop = check_image(crop, "crop")
    if crop.shape[0] != crop.shape[1]:
        raise ValueError(f"crop must be square [S, S, 3] (an aligned face), got shape {list(crop.shape)}")
    return crop


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a new figure of ``figsize`` inches with one axes."""
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax


def show_face(ax: Axes, image: np.ndarray) -> None:
    """Draw ``image`` in ``ax`` without ticks."""
    ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])


def heatmap_extent(heatmap_size: int = 64, crop_size: int = 256) -> tuple[float, float, float, float]:
    """The ``imshow`` extent (left, right, bottom, top) that lays a heatmap over its crop.

    The outer edges of heatmap pixels 0 and ``heatmap_size - 1`` (at -0.5 and size - 0.5 in
    heatmap pixels) are mapped to crop pixels with :func:`auheat.aus.rescale_points`, so each
    heatmap pixel centre i is drawn at crop coordinate ``rescale_points(i, heatmap_size, crop_size)``.
    """
    edges = rescale_points(
        torch.tensor([-0.5, heatmap_size - 0.5], dtype=torch.float64), heatmap_size, crop_size
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

    Returns:
        The :class:`~matplotlib.image.AxesImage` of the heatmap, e.g. for a colorbar.
    """
    heatmap = as_numpy(heatmap).astype(np.float64)
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


def load_seaborn():
    """seaborn, imported on first use: it comes with the book extra, not with the library."""
    try:
        import seaborn
    except ModuleNotFoundError as error:  # pragma: no cover - depends on the environment
        raise ModuleNotFoundError(
            "the label-statistics and benchmark figures use seaborn, which comes with the book extra: "
            "pip install 'auheat[book]'"
        ) from error
    return seaborn
