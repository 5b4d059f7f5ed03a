"""A landmark network of the library (the book's FAN) as a landmarker: in the boxes of dlib's
detector, cropped as its training faces were."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from auheat.data.align import apply_affine, box_matrix, warp_image
from auheat.heatmaps import landmarks_from_heatmaps
from auheat.landmarkers.base import Landmarker
from auheat.landmarkers.dlib_landmarker import DlibDetector


@dataclass(frozen=True)
class Framing:
    """Where a face sits in the training crops, relative to the box around its 68 landmarks.

    ``side``: crop side over the box's larger side; ``dx``, ``dy``: offset of the crop's centre
    from the box's centre, in units of the box's larger side.
    """

    side: float
    dx: float
    dy: float

    @classmethod
    def measure(cls, landmarks: np.ndarray, crop_size: int) -> Framing:
        """Median framing of [N, 68, 2] landmarks in crops of ``crop_size`` pixels."""
        low, high = landmarks.min(1), landmarks.max(1)
        extent = (high - low).max(-1)
        centre = (low + high) / 2
        crop_centre = (crop_size - 1) / 2
        return cls(
            side=float(np.median(crop_size / extent)),
            dx=float(np.median((crop_centre - centre[:, 0]) / extent)),
            dy=float(np.median((crop_centre - centre[:, 1]) / extent)),
        )

    def matrix(self, landmarks: np.ndarray, size: int) -> np.ndarray:
        """The 2x3 matrix cropping a face with these [68, 2] landmarks as the training faces are cropped."""
        low, high = landmarks.min(0), landmarks.max(0)
        extent = float((high - low).max())
        centre = (low + high) / 2 + extent * np.array([self.dx, self.dy])
        return box_matrix((float(centre[0]), float(centre[1])), self.side * extent, size)


def landmarks_in_crop(
    network: torch.nn.Module,
    image: np.ndarray,
    matrix: np.ndarray,
    input_size: int,
    device: str | torch.device,
) -> np.ndarray:
    """The network's [68, 2] landmarks, in crop pixels, on the ``input_size`` crop that the affine
    ``matrix`` cuts from ``image`` (:func:`auheat.data.align.warp_image`)."""
    crop = torch.from_numpy(warp_image(image, matrix, input_size)).permute(2, 0, 1)[None]
    with torch.no_grad():
        output = network(crop.float().div(255).to(device))
    return landmarks_from_heatmaps(output[-1], input_size)[0].cpu().numpy()


class NetworkLandmarker(Landmarker):
    """A landmark network of the library (e.g. the book's FAN) in the boxes of dlib's detector.

    The network was trained on crops framed around each face's landmarks (``framing``, a
    :class:`Framing`), which a detector's box does not give. So it runs twice:
    first in a crop framed on the detector's box as if it were the landmark box, then in a crop
    framed on the landmarks of that first pass.

    Args:
        network: a landmark network (68 heatmaps out).
        input_size: the side of the crops it was trained on.
        framing: where faces sat in its training crops.
    """

    name = "network"

    def __init__(
        self, network: torch.nn.Module, input_size: int, framing, upsample: int = 0, min_score: float = 0.0
    ) -> None:
        self.network, self.input_size, self.framing = network.eval(), input_size, framing
        self.detector = DlibDetector(upsample, min_score)

    def detect(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        return self.detector(image)

    def landmarks_in(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        points = np.asarray(box, np.float64).reshape(2, 2)  # the framing reads the points' bounding box
        device = next(self.network.parameters()).device
        for _ in range(2):
            matrix = self.framing.matrix(points, self.input_size)
            in_crop = landmarks_in_crop(self.network, image, matrix, self.input_size, device)
            points = apply_affine(np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2], in_crop)
        return points
