"""face_alignment's S3FD detector and 2DFAN4, used only where their weights are in the torch hub
cache: face_alignment downloads them on first use, which offline would fail deep inside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from auheat.landmarkers.base import Landmarker

S3FD_CHECKPOINT = "s3fd-619a316812.pth"  # the detector file face_alignment 1.5 downloads
# The 2DFAN4 file face_alignment 1.5 downloads; the hub folder follows $TORCH_HOME.
FAN4_CHECKPOINT = "2DFAN4-11f355bf06.pth.tar"


def hub_checkpoint_path() -> Path:
    """Where face_alignment keeps 2DFAN4: ``<torch hub dir>/checkpoints/2DFAN4-11f355bf06.pth.tar``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / FAN4_CHECKPOINT


def face_alignment_weights() -> list[Path]:
    """The files face_alignment needs for 2D landmarks: 2DFAN4 and S3FD, in the torch hub cache."""
    return [hub_checkpoint_path(), hub_checkpoint_path().parent / S3FD_CHECKPOINT]


def missing_face_alignment_weights() -> list[str]:
    """The files of :func:`face_alignment_weights` that are not there."""
    return [str(p) for p in face_alignment_weights() if not p.is_file()]


def require_face_alignment_weights() -> None:
    """Raise FileNotFoundError, saying how to get them, unless face_alignment's weights are present.

    face_alignment downloads them on first use; offline, that download would fail deep inside it.
    """
    missing = missing_face_alignment_weights()
    if missing:
        raise FileNotFoundError(
            "face_alignment's weights are missing from the torch hub cache (it follows $TORCH_HOME): "
            f"{', '.join(missing)}. face_alignment downloads them on first use where the internet can be "
            'reached (e.g. Colab): run `python -c "import face_alignment as fa; '
            'fa.FaceAlignment(fa.LandmarksType.TWO_D)"` once there, then copy the files to that folder'
        )


class FaceAlignmentLandmarker(Landmarker):
    """face_alignment's S3FD and 2DFAN4, refusing to start (instead of downloading) without weights."""

    name = "face_alignment"

    def __init__(self, device: str = "cpu") -> None:
        require_face_alignment_weights()
        import face_alignment  # imported here: it loads numba, which other paths never need

        self.net = face_alignment.FaceAlignment(
            face_alignment.LandmarksType.TWO_D, device=device, face_detector="sfd", compile=False
        )

    def detect(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        boxes = self.net.face_detector.detect_from_image(image.copy())  # as get_landmarks_from_image does
        return [(np.asarray(b[:4], np.float64), float(b[4])) for b in boxes]

    def landmarks_in(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        (points,) = self.net.get_landmarks_from_image(image, detected_faces=[np.asarray(box)])
        return points[:, :2].astype(np.float64)
