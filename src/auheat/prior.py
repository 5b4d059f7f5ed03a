"""What a landmark prior knows of the AUs: where it puts the landmarks of the AU crops, and how much
of each AU a linear readout of those landmarks recovers.

On SynthFACS, as on real faces, most AUs move landmarks (brows up, lip corners out, jaw down).
A landmark network that placed the 68 points of an AU crop exactly would hand the frozen transfer
methods most of what they need; one that places them no better than the training faces' mean
shape hands them little, whatever layers are added on top. :func:`landmark_readout` measures both
ends on one dataset: the network's error against the mean shape's, and the ICC a ridge regression
reaches from the labelled landmarks, from the network's landmarks and, as the floor, from
nothing at all.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from auheat.data.inputs import prepare_batch
from auheat.metrics import UNDEFINED_SCORE, icc31, normalised_errors
from auheat.tasks import LandmarkTask

READOUT_ALPHA = 100.0  # ridge penalty on standardised coordinates; 1 and 10,000 read less on disfa-like


def ridge_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, alpha: float) -> np.ndarray:
    """A ridge regression from standardised ``train_x`` [N, D] to ``train_y`` [N, K], applied to ``test_x``.

    Unlabelled entries of ``train_y`` (NaN) count as the AU's mean. Written here as one
    closed-form solve because scikit-learn is not a dependency of the library (the tests check it
    against scikit-learn's ``Ridge``).
    """
    train_x = train_x.reshape(len(train_x), -1).astype(np.float64)
    test_x = test_x.reshape(len(test_x), -1).astype(np.float64)
    mean, scale = train_x.mean(0), train_x.std(0)
    scale[scale == 0] = 1.0  # a constant coordinate stays 0 after centring
    a, b = (train_x - mean) / scale, (test_x - mean) / scale
    target_mean = np.nanmean(train_y, axis=0)
    centred = np.nan_to_num(train_y - target_mean)
    weights = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ centred)
    return b @ weights + target_mean


@torch.no_grad()
def _landmarks_of(
    network: torch.nn.Module, dataset: Dataset, input_size: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The network's [N, 68, 2] landmarks, the labelled ones (input pixels) and the [N, K] intensities."""
    found, labelled, intensities = [], [], []
    for batch in DataLoader(dataset, batch_size=batch_size):
        images, landmarks, labels = prepare_batch(batch, "cpu", input_size)
        found.append(LandmarkTask().predict(network(images), input_size).numpy())
        labelled.append(landmarks.numpy())
        intensities.append(labels.numpy())
    return tuple(np.concatenate(parts) for parts in (found, labelled, intensities))


def landmark_readout(
    network: torch.nn.Module,
    train: Dataset,
    test: Dataset,
    input_size: int,
    batch_size: int = 64,
    alpha: float = READOUT_ALPHA,
) -> pd.DataFrame:
    """How much of the AUs a landmark network's landmarks hold, on an AU dataset's crops.

    Args:
        network: a landmark network (``forward`` gives a list of 68-channel heatmaps per stack).
        train, test: an AU dataset's training and test frames (e.g. one fold).
        input_size: the side the network reads.
        alpha: the ridge penalty (:func:`ridge_predict`).

    Returns:
        One row per set of landmarks, index ``landmarks``: ``labelled`` (the dataset's own),
        ``network`` (what ``network`` finds) and ``mean shape`` (the training frames' mean, the
        same for every frame); columns ``NME`` on the test frames (inter-ocular,
        :func:`auheat.metrics.normalised_errors`) and ``ICC``, the mean over AUs of the ICC(3,1)
        on the test frames of a ridge regression from the landmarks' coordinates, fitted on the
        training frames (an AU constant on the test frames is left out). The mean shape's
        readout answers every frame alike: its ICC is the floor, 0.
    """
    network.eval()
    train_found, train_labelled, train_y = _landmarks_of(network, train, input_size, batch_size)
    test_found, test_labelled, test_y = _landmarks_of(network, test, input_size, batch_size)
    mean_shape = train_labelled.mean(0)
    rows = {}
    for name, train_points, test_points in (
        ("labelled", train_labelled, test_labelled),
        ("network", train_found, test_found),
        (
            "mean shape",
            np.broadcast_to(mean_shape, train_labelled.shape),
            np.broadcast_to(mean_shape, test_labelled.shape),
        ),
    ):
        readout = ridge_predict(train_points, train_y, test_points, alpha)
        with warnings.catch_warnings():  # an AU the test frames never show has no ICC: left out
            warnings.filterwarnings("ignore", message=UNDEFINED_SCORE, category=UserWarning)
            icc = float(np.nanmean(icc31(test_y, readout)))
        rows[name] = {"NME": float(np.nanmean(normalised_errors(test_labelled, test_points))), "ICC": icc}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("landmarks")
