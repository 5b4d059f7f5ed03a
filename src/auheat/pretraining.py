"""Pretraining the landmark network on synthetic faces, and measuring it on real annotated photos.

FAN is trained as in Bulat & Tzimiropoulos (2017): heatmap regression of the 68 landmarks with a
loss on every stack. The result is cached where :func:`auheat.models.weights.resolve_landmark_weights`
finds it, so the AU models can start from it when face_alignment's real 2DFAN4 is not at hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from auheat.checkpoint import load_checkpoint
from auheat.data.align import apply_affine, box_matrix, warp_image
from auheat.data.dataset import PreparedDataset
from auheat.data.photos import PHOTOS, load_photo
from auheat.models.backbone import FAN
from auheat.models.weights import cache_dir, save_landmark_weights
from auheat.tasks import LandmarkTask, normalised_errors
from auheat.train import LAST, TrainConfig, Trainer, evaluate_model


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


def photo_nme(
    network: torch.nn.Module, framing: Framing, input_size: int, device: str = "cpu"
) -> pd.DataFrame:
    """NME of ``network`` on every annotated real photo, cropped from its ground-truth landmark box.

    Returns a table with one row per photo: its NME (inter-ocular). The crop uses the training
    faces' :class:`Framing`, as a face detector tuned to them would.
    """
    task, rows, names = LandmarkTask(), [], []
    network.eval()
    for name in PHOTOS:
        image, landmarks = load_photo(name)
        matrix = framing.matrix(landmarks, input_size)
        crop = torch.from_numpy(warp_image(image, matrix, input_size)).permute(2, 0, 1)[None]
        with torch.no_grad():
            predicted = task.predict(network(crop.float().div(255).to(device)), input_size)[0].cpu().numpy()
        truth = apply_affine(matrix, landmarks)
        rows.append({"NME": float(normalised_errors(truth[None], predicted[None])[0]), "faces": 1})
        names.append(name)
    return pd.DataFrame(rows, index=pd.Index(names, name="faces"))


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
    progress: bool = True,
) -> tuple[Path, pd.DataFrame]:
    """Train a FAN on a prepared landmark dataset (SynthFACS's ``landmarks`` preset) and cache it.

    Args:
        data: the dataset folder; its ``train`` split trains, its ``test`` split (held-out
            subjects) is scored after every evaluation; the last epoch's weights are kept.
        stacks, width: the FAN's size.
        config: training choices; ``input_size`` should be the one the AU models will use.
        out: run folder (checkpoints, ``metrics.jsonl``); default under the cache folder.

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
        progress=progress,
    )
    trainer.fit(resume=resume)
    load_checkpoint(out / LAST, network)
    weights = save_landmark_weights(network, input_size=config.input_size)
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
