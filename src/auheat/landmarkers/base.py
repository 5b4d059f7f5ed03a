"""What every landmarker is: a detector, then 68 landmarks in each box it finds."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Face:
    """One face found in an image.

    Attributes:
        box: [4] float, x0, y0, x1, y1 in image pixels.
        landmarks: [68, 2] float, (x, y) image pixels, iBUG order.
        score: the detector's confidence on its own scale (dlib: SVM margin, 0 is its default
            threshold; S3FD: a probability); NaN where no detector ran.
    """

    box: np.ndarray
    landmarks: np.ndarray
    score: float = float("nan")

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray) -> Face:
        """A face known only by its landmarks (an annotation file): the box is theirs."""
        landmarks = np.asarray(landmarks, dtype=np.float64)
        if landmarks.shape != (68, 2):
            raise ValueError(f"landmarks must have shape [68, 2], got {list(landmarks.shape)}")
        return cls(np.concatenate([landmarks.min(0), landmarks.max(0)]), landmarks)


class Landmarker(ABC):
    """Finds every face of an image and its 68 landmarks: a detector, then landmarks in each box."""

    name: str

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """The face boxes [4] (x0, y0, x1, y1) of an [H, W, 3] uint8 RGB image, with their scores."""

    @abstractmethod
    def landmarks_in(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The [68, 2] landmarks (image pixels) of the face in ``box``."""

    def find(self, image: np.ndarray) -> list[Face]:
        """Every face of an [H, W, 3] uint8 RGB image, largest first."""
        image = np.ascontiguousarray(image)
        boxes = sorted(self.detect(image), key=lambda b: -np.prod(b[0][2:] - b[0][:2]))
        return [Face(box, self.landmarks_in(image, box), score) for box, score in boxes]


def box_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1)."""
    low, high = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = np.prod(np.clip(high - low, 0, None))
    union = np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter
    return float(inter / union) if union > 0 else 0.0
