"""Faces and their 68 landmarks in real images, behind one small interface.

Every landmarker answers ``find(image)`` with a list of :class:`Face`: a box, the 68 iBUG
landmarks and the detector's confidence. Three are offered (:data:`LANDMARKERS`):

- ``dlib``: dlib's frontal face detector (HOG features, a linear SVM) and its 68-point shape
  predictor (an ensemble of regression trees, Kazemi & Sullivan 2014). Both install from PyPI
  (``dlib-bin``; the predictor file ships in ``face-recognition-models``) and run offline.
- ``face_alignment``: face_alignment's S3FD detector and 2DFAN4, the network the paper
  transfers from; used only when their weights are already in the torch hub cache (face_alignment
  downloads them on first use where the internet can be reached, e.g. on Colab).
- :class:`auheat.pretraining.NetworkLandmarker`: any landmark network of the library, such as
  the book's FAN pretrained on SynthFACS, in the boxes of dlib's detector.

This module is the one adapter to face detectors and landmarkers that preparation
(:mod:`auheat.data.prepare`) and prediction (:mod:`auheat.predict`) share.

What each model learned from, and the terms that follow (:data:`LANDMARKERS` says it too):
dlib's 68-point predictor was trained on iBUG 300-W, whose images are for research use only, so
the predictor is too; dlib's code and its face detector are under the Boost licence. 2DFAN4 was
trained on 300W-LP, made from 300-W's images (research use), and S3FD on WIDER FACE.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DLIB_INSTALL = "pip install dlib-bin face-recognition-models (or auheat[faces])"
PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
S3FD_CHECKPOINT = "s3fd-619a316812.pth"  # the detector file face_alignment 1.5 downloads
# The 2DFAN4 file face_alignment 1.5 downloads; the hub folder follows $TORCH_HOME.
FAN4_CHECKPOINT = "2DFAN4-11f355bf06.pth.tar"

#: The landmarkers the data preparation can use, by name: what each is made of and its terms.
LANDMARKERS = {
    "dlib": {
        "detector": "dlib's frontal face detector (HOG + linear SVM)",
        "landmarks": "dlib's 68-point shape predictor (regression trees)",
        "trained on": "iBUG 300-W (predictor); dlib's own annotated faces (detector)",
        "terms": "predictor: research use only (300-W's licence); dlib: Boost licence",
    },
    "face_alignment": {
        "detector": "S3FD (face_alignment)",
        "landmarks": "2DFAN4 (face_alignment)",
        "trained on": "300W-LP, made from 300-W (2DFAN4); WIDER FACE (S3FD)",
        "terms": "research use (300-W, WIDER FACE); face_alignment's code: BSD-3-Clause",
    },
    "network": {
        "detector": "dlib's frontal face detector",
        "landmarks": "a landmark network of the library (the book's: FAN pretrained on SynthFACS)",
        "trained on": "SynthFACS, the book's synthetic faces",
        "terms": "the book's own (MIT)",
    },
}


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


def _package_folder(package: str) -> Path:
    """The folder of an installed package, found without importing it.

    face_recognition_models imports ``pkg_resources`` at import time, which recent setuptools no
    longer ships; only its data file is needed.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{package} is not installed: {DLIB_INSTALL}")
    return Path(spec.submodule_search_locations[0])


def _import_dlib():
    try:
        import dlib
    except ModuleNotFoundError:
        raise ModuleNotFoundError(f"dlib is not installed: {DLIB_INSTALL}") from None
    return dlib


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


class DlibDetector:
    """dlib's frontal face detector: boxes and scores.

    Args:
        upsample: times the image is doubled before detection; each finds faces half as large
            (80 px wide at 0) and costs about four times as long.
        min_score: the SVM margin a detection needs (dlib's default: 0).
    """

    def __init__(self, upsample: int = 0, min_score: float = 0.0) -> None:
        self.detector = _import_dlib().get_frontal_face_detector()
        self.upsample, self.min_score = upsample, min_score

    def __call__(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        rects, scores, _ = self.detector.run(np.ascontiguousarray(image), self.upsample, self.min_score)
        return [
            (np.array([r.left(), r.top(), r.right(), r.bottom()], np.float64), float(s))
            for r, s in zip(rects, scores, strict=True)
        ]


class DlibLandmarker(Landmarker):
    """dlib's frontal face detector and 68-point shape predictor (module docstring)."""

    name = "dlib"

    def __init__(self, upsample: int = 0, min_score: float = 0.0) -> None:
        dlib = _import_dlib()
        predictor = _package_folder("face_recognition_models") / "models" / PREDICTOR_FILE
        if not predictor.is_file():
            raise FileNotFoundError(f"{predictor} is missing: reinstall face-recognition-models")
        self.detector = DlibDetector(upsample, min_score)
        self.predictor = dlib.shape_predictor(str(predictor))
        self._rectangle = dlib.rectangle

    def detect(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        return self.detector(image)

    def landmarks_in(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        rectangle = self._rectangle(*(int(round(v)) for v in box))
        shape = self.predictor(np.ascontiguousarray(image), rectangle)
        return np.array([[p.x, p.y] for p in shape.parts()], np.float64)


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


def box_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1)."""
    low, high = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = np.prod(np.clip(high - low, 0, None))
    union = np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter
    return float(inter / union) if union > 0 else 0.0


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


def make_landmarker(name: str = "auto", device: str = "cpu", upsample: int = 0) -> Landmarker:
    """A landmarker by name: ``dlib``, ``face_alignment`` or ``auto``.

    ``auto`` takes face_alignment's S3FD + 2DFAN4 when their weights are in the torch hub cache
    (the more accurate pair, and the paper's landmark network), else dlib's.
    """
    if name == "auto":
        name = "dlib" if missing_face_alignment_weights() else "face_alignment"
    if name == "dlib":
        return DlibLandmarker(upsample)
    if name == "face_alignment":
        return FaceAlignmentLandmarker(device)
    raise ValueError(f"unknown landmarker {name!r}; valid: auto, dlib, face_alignment")
