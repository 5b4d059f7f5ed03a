"""Alignment of a face to the 256x256 crop the models see.

The affine warp of the authors' 2018 release sends three landmarks, the chin (8) and the outer
eye corners (36, 45), to fixed places in the crop; three point pairs fix an affine map exactly.
"""

from __future__ import annotations

import cv2
import numpy as np

CROP_SIZE = 256
ANCHOR_LANDMARKS = (8, 36, 45)
# Where the anchors land in a 256x256 crop; other crop sizes scale them.
ANCHOR_POSITIONS_256 = np.array([[127.6, 227.8], [79.2, 87.0], [176.8, 87.0]])


def alignment_matrix(landmarks: np.ndarray, crop_size: int = CROP_SIZE) -> np.ndarray:
    """The 2x3 affine matrix taking image pixel coordinates to crop pixel coordinates.

    Args:
        landmarks: [68, 2] (x, y) image pixels of one face.
        crop_size: side of the square crop; anchors scale with it.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (68, 2):
        raise ValueError(f"landmarks must have shape [68, 2], got {list(landmarks.shape)}")
    src = landmarks[list(ANCHOR_LANDMARKS)]
    if not np.isfinite(src).all():
        raise ValueError(f"landmarks {ANCHOR_LANDMARKS} (chin, outer eye corners) must be finite to align")
    dst = ANCHOR_POSITIONS_256 * (crop_size / CROP_SIZE)
    design = np.hstack([src, np.ones((3, 1))])  # [3, 3]
    if abs(np.linalg.det(design)) < 1e-6:
        raise ValueError("chin and eye-corner landmarks are collinear; the face cannot be aligned")
    return np.linalg.solve(design, dst).T  # [2, 3]


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to [..., 2] points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def warp_image(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Warp an [H, W, 3] uint8 RGB image by a 2x3 affine matrix (image -> crop pixels) to a square crop.

    Pixel centres sit at integer coordinates in both frames; bilinear sampling; outside is black.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be [H, W, 3] uint8 RGB, got {image.shape} {image.dtype}")
    # OpenCV, not Pillow: both put pixel centres where this library does once told how, but Pillow's
    # bilinear affine sampling is off by up to 0.18 px for sub-pixel shifts (measured on a smooth
    # blob); OpenCV's, with its 1/32-pixel grid, stays within 0.06 px. The matrix is image -> crop,
    # as warpAffine wants; pixel centres at integer coordinates in both frames, as here.
    return cv2.warpAffine(
        np.ascontiguousarray(image),
        np.asarray(matrix, np.float64),
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def box_matrix(centre: tuple[float, float], side: float, size: int) -> np.ndarray:
    """The 2x3 matrix that maps the square of ``side`` pixels around ``centre`` onto a ``size`` crop."""
    scale = size / side
    cx, cy = centre
    # The square spans [c - side/2, c + side/2] and the crop [-0.5, size - 0.5] (pixel edges).
    return np.array([[scale, 0.0, size / 2 - 0.5 - scale * cx], [0.0, scale, size / 2 - 0.5 - scale * cy]])


def align_face(
    image: np.ndarray, landmarks: np.ndarray, crop_size: int = CROP_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """Warp a face to the model's crop.

    Args:
        image: [H, W, 3] uint8 RGB.
        landmarks: [68, 2] (x, y) image pixels.

    Returns:
        crop [crop_size, crop_size, 3] uint8 and landmarks [68, 2] float32 in crop pixels.
    """
    matrix = alignment_matrix(landmarks, crop_size)
    return warp_image(image, matrix, crop_size), apply_affine(matrix, landmarks).astype(np.float32)
