"""What a network learns and how it is scored: AU intensities, or the 68 landmarks.

The :class:`auheat.train.Trainer` loop is the same for both; a task supplies the loss of a batch,
the per-frame predictions, and the scores computed on a whole evaluation set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from auheat.aus import MAX_INTENSITY, rescale_points, resolve_aus
from auheat.heatmaps import (
    au_windows,
    decode_heatmaps,
    encode_heatmaps,
    labelled_mask,
    landmark_heatmaps,
    landmarks_from_heatmaps,
)
from auheat.metrics import mae, normalised_errors, summary_table


def masked_mse(
    prediction: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    pixel_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean squared error over the labelled (sample, AU) entries only.

    Args:
        prediction, target: [B, K, H, W] heatmaps or [B, K] intensities.
        mask: [B, K] bool, True where labelled (:func:`auheat.heatmaps.labelled_mask`).
        pixel_weights: [B, K, H, W] weight of each heatmap pixel's squared error (None: 1), e.g.
            from :func:`foreground_weights`.

    An unlabelled AU must not pull its channel towards zero, which would teach the network that
    every AU the annotators skipped is absent. A batch with no label at all gives a zero loss
    that still depends on the prediction, so every process takes part in the gradient exchange.
    """
    per_entry = (prediction.float() - target.float()).square()
    if pixel_weights is not None:
        per_entry = per_entry * pixel_weights
    if per_entry.ndim == 4:
        per_entry = per_entry.mean((-1, -2))
    weights = mask.to(per_entry.dtype)
    return (per_entry * weights).sum() / weights.sum().clamp(min=1.0)


def foreground_weights(
    landmarks: torch.Tensor, intensities: torch.Tensor, aus: tuple[int, ...], size: int, weight: float
) -> torch.Tensor:
    """[B, K, size, size] pixel weights: ``weight`` where an AU that is present shows, 1 elsewhere.

    Args:
        landmarks: [B, 68, 2] heatmap pixels; intensities: [B, K] labels (NaN: unlabelled).

    The foreground of a (frame, AU) with a label above 0 is the window around the AU's centres
    (:func:`auheat.heatmaps.au_windows`). With plain MSE a small network settles on all-zero maps:
    most labels are 0 and the few Gaussians cover a few pixels, so drawing nothing is close to the
    minimum. Weighting the pixels of present AUs makes missing them expensive, and the network
    leaves that answer within a few hundred steps; the price is a bias upwards of the decoded
    maxima, which :func:`fit_calibration` removes. Measured in the book's Chapter 4.
    """
    present = (intensities.nan_to_num(0.0) > 0)[..., None, None]
    foreground = au_windows(landmarks, aus, size) & present
    return 1.0 + (weight - 1.0) * foreground.to(landmarks.dtype)


def fit_calibration(predicted: np.ndarray, truth: np.ndarray, max_frames: int = 4096) -> torch.Tensor:
    """Per-AU line from decoded to labelled intensities: [2, K] rows (scale, shift).

    Args:
        predicted, truth: [N, K]; NaN labels are left out.
        max_frames: the fit uses at most this many labelled frames per AU (an even subsample).

    A heatmap's maximum is a biased reading of the intensity (a weighted loss raises it; the
    maximum of a noisy map is above its mean), so decoded values can rank frames well and still
    miss the labels' scale. The line minimises the mean absolute error of ``clamp(scale * x +
    shift, 0, 5)`` against the labels, the error the benchmark reports, in the range the answers
    are read in: a negative shift sends the weak readings of frames without the AU to exactly 0,
    which matters where most labels are 0. It is found on a grid (slopes 0..4 and shifts -6..5,
    in steps of 0.05): the clamp makes the error non-convex, and a non-negative slope never
    reverses the order of the frames. An AU with fewer than two labels keeps the identity.
    """
    k = truth.shape[1]
    out = np.stack([np.ones(k), np.zeros(k)])
    scales = np.linspace(0.0, 4.0, 81)
    shifts = np.linspace(-6.0, 5.0, 221)[:, None]
    for j in range(k):
        keep = np.flatnonzero(~np.isnan(truth[:, j]) & np.isfinite(predicted[:, j]))
        if keep.size < 2:
            continue
        keep = keep[np.linspace(0, keep.size - 1, min(keep.size, max_frames)).astype(int)]
        x, y = predicted[keep, j].astype(np.float64), truth[keep, j].astype(np.float64)
        # One slope at a time, in one reused buffer: [shifts, frames] errors, computed in place,
        # cost a sixth of the time that fresh arrays for every step did (it runs at every evaluation).
        errors, buffer = np.empty((len(scales), len(shifts))), np.empty((len(shifts), len(x)))
        for i, scale in enumerate(scales):
            np.add(scale * x, shifts, out=buffer)
            np.clip(buffer, 0.0, MAX_INTENSITY, out=buffer)
            np.subtract(y, buffer, out=buffer)
            errors[i] = np.abs(buffer, out=buffer).mean(-1)
        i, m = np.unravel_index(np.argmin(errors), errors.shape)
        out[:, j] = scales[i], shifts[m, 0]
    return torch.as_tensor(out, dtype=torch.float32)


def intensities_from_output(output: torch.Tensor) -> torch.Tensor:
    """[B, K] intensities from a model's output: decoded heatmaps or direct regression."""
    if output.ndim == 4:
        return decode_heatmaps(output.float()).intensities
    if output.ndim == 2:
        return output.float().clamp(0.0, MAX_INTENSITY)
    raise ValueError(
        f"an AU model must output [B, K, H, W] heatmaps or [B, K] intensities, got {list(output.shape)}"
    )


LOSSES: tuple[str, ...] = ("mse", "weighted_mse")
# What each AU score is computed on: the label above every score table.
SCORES_READ_ON = "ICC, PCC: raw heatmap maximum; MAE: calibrated answer"


@dataclass
class AUTask:
    """AU intensity by heatmap regression (or direct regression, for a [B, K] output).

    Attributes:
        aus: the K AU numbers of the model's outputs, in order.
        design: heatmap target design, one of :data:`auheat.heatmaps.DESIGNS`.
        target_options: further keyword arguments of :func:`auheat.heatmaps.encode_heatmaps`.
        loss_name: ``"mse"``, the paper's pixel-wise MSE, or ``"weighted_mse"``, the same MSE with
            the pixels where each present AU shows weighted by ``foreground_weight``
            (:func:`foreground_weights`; a departure from the paper that lets small networks leave
            the all-zero answer).
            Direct regression's [B, K] output always takes the plain MSE of the intensities.
        foreground_weight: the weight of those pixels (at least 1) under ``"weighted_mse"``.
    """

    aus: tuple[int, ...]
    design: str = "variable"
    target_options: dict[str, float] = field(default_factory=dict)
    loss_name: str = "mse"
    foreground_weight: float = 10.0
    score_name = "ICC_mean"  # higher is better; picks the best checkpoint

    def __post_init__(self) -> None:
        self.aus = resolve_aus(self.aus)
        if self.loss_name not in LOSSES:
            raise ValueError(f"unknown loss {self.loss_name!r}; valid losses: {', '.join(LOSSES)}")
        if self.foreground_weight < 1:
            raise ValueError(f"foreground_weight must be at least 1, got {self.foreground_weight}")

    def describe(self) -> dict[str, Any]:
        return {
            "task": "au",
            "aus": list(self.aus),
            "design": self.design,
            "target_options": self.target_options,
            "loss": self.loss_name,
            "foreground_weight": self.foreground_weight,
        }

    def loss(self, output: torch.Tensor, landmarks: torch.Tensor, intensities: torch.Tensor, size: int):
        """Masked MSE against targets encoded here, on the batch's device.

        ``landmarks`` are in input pixels of side ``size``; heatmap targets take the output's side.
        """
        mask = labelled_mask(intensities)
        if output.ndim != 4:
            return masked_mse(output, intensities.nan_to_num(0.0), mask)
        side = output.shape[-1]
        points = rescale_points(landmarks, size, side)
        target = encode_heatmaps(
            points, intensities, self.aus, size=side, design=self.design, **self.target_options
        )
        weights = None
        if self.loss_name == "weighted_mse":
            weights = foreground_weights(points, intensities, self.aus, side, self.foreground_weight)
        return masked_mse(output, target, mask, weights)

    def read(self, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The raw reading of a model's output: intensities [B, K] (the heatmaps' maxima clamped to
        [0, 5], or the regressed values) and the heatmaps' peaks [B, K, 2] in heatmap pixels (NaN
        where a map has no positive value; None for direct regression's intensities)."""
        if output.ndim == 4:
            decoded = decode_heatmaps(output.float())
            return decoded.intensities, decoded.locations
        return intensities_from_output(output), None

    def truth(self, landmarks: torch.Tensor, intensities: torch.Tensor) -> torch.Tensor:
        return intensities

    def score(
        self, truth: np.ndarray, raw: np.ndarray, answers: np.ndarray | None = None
    ) -> tuple[pd.DataFrame, dict[str, float]]:
        """Per-AU scores as the paper reads them, and the table's entries flattened for one log line.

        Args:
            truth: [N, K] labels, NaN where unlabelled.
            raw: [N, K] the model's raw reading: the heatmap maximum clamped to [0, 5] (the paper's
                and the authors' inference code's reading), or direct regression's clamped output.
            answers: [N, K] the answers through the model's calibration line (None: ``raw``).

        Returns:
            A table with a row per AU and a ``mean`` row: ``ICC`` (ICC(3,1)) and ``PCC`` of the raw
            reading, ``MAE`` of the calibrated answer, ``MAE raw`` of the raw reading, and the
            labelled ``frames``. Agreement is scored on the raw reading so that a calibration line,
            fitted for the MAE, never changes which model ranks frames better. The record holds
            ``ICC_<row>``, ``PCC_<row>``, ``MAE_<row>`` and ``MAE_raw_<row>``.
        """
        answers = raw if answers is None else answers
        table = summary_table(truth, raw, self.aus).rename(columns={"MAE": "MAE raw"})
        calibrated = pd.Series(mae(truth, answers))
        table.insert(2, "MAE", [*calibrated, calibrated.mean()])  # the mean row skips NaN, as above
        table = table[["ICC", "PCC", "MAE", "MAE raw", "frames"]]
        table.columns.name = SCORES_READ_ON
        record = {
            f"{m.replace(' ', '_')}_{row}": float(table.loc[row, m])
            for m in ("ICC", "PCC", "MAE", "MAE raw")
            for row in table.index
        }
        return table, record


@dataclass
class LandmarkTask:
    """68-point landmark heatmap regression, as FAN is trained.

    The loss sums the MSE of every stack's heatmaps (FAN's intermediate supervision); the score
    is the normalised mean error (NME, inter-ocular) of the last stack's decoded landmarks.
    """

    sigma: float = 1.0  # Gaussian std of the landmark targets, heatmap pixels
    score_name = "NME_negative"  # higher is better, so the smallest error is kept

    def describe(self) -> dict[str, Any]:
        return {"task": "landmarks", "sigma": self.sigma}

    def loss(self, output: list[torch.Tensor], landmarks: torch.Tensor, intensities: torch.Tensor, size: int):
        side = output[-1].shape[-1]
        target = landmark_heatmaps(rescale_points(landmarks, size, side), side, self.sigma)
        return sum((stack.float() - target).square().mean() for stack in output)

    def predict(self, output: list[torch.Tensor], size: int) -> torch.Tensor:
        """[B, 68, 2] landmarks in input pixels, from the last stack's heatmaps.

        A landmark is read at its channel's arg-max whatever the sign of the values, as
        face_alignment does (the channel's minimum is subtracted first); only a constant channel
        has no arg-max, and gives NaN.
        """
        return landmarks_from_heatmaps(output[-1], size)

    def truth(self, landmarks: torch.Tensor, intensities: torch.Tensor) -> torch.Tensor:
        return landmarks

    def score(self, truth: np.ndarray, predicted: np.ndarray) -> tuple[pd.DataFrame, dict[str, float]]:
        """Mean and median NME, the share of faces above 0.08 (a common failure threshold), and the
        number of faces with an unreadable (constant) landmark channel, which the NME leaves out.
        """
        errors = normalised_errors(truth, predicted)
        readable = errors[np.isfinite(errors)]
        record = {
            "NME_mean": float(readable.mean()) if readable.size else float("nan"),
            "NME_median": float(np.median(readable)) if readable.size else float("nan"),
            "failure_rate": float((readable > 0.08).mean()) if readable.size else float("nan"),
            "unreadable_faces": int(errors.size - readable.size),
        }
        record["NME_negative"] = -record["NME_mean"]
        table = pd.DataFrame(
            {
                "NME mean": [record["NME_mean"]],
                "NME median": [record["NME_median"]],
                "failures (NME > 0.08)": [record["failure_rate"]],
                "unreadable faces": [record["unreadable_faces"]],
                "faces": [errors.size],
            },
            index=pd.Index(["landmarks"], name="task"),
        )
        return table, record
