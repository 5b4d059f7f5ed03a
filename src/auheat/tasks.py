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

from auheat.aus import crop_to_heatmap, heatmap_to_crop, resolve_aus
from auheat.heatmaps import decode_heatmaps, encode_heatmaps, labelled_mask, landmark_heatmaps
from auheat.metrics import summary_table


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the labelled (sample, AU) entries only.

    Args:
        prediction, target: [B, K, H, W] heatmaps or [B, K] intensities.
        mask: [B, K] bool, True where labelled (:func:`auheat.heatmaps.labelled_mask`).

    An unlabelled AU must not pull its channel towards zero, which would teach the network that
    every AU the annotators skipped is absent. A batch with no label at all gives a zero loss
    that still depends on the prediction, so every process takes part in the gradient exchange.
    """
    per_entry = (prediction.float() - target.float()).square()
    if per_entry.ndim == 4:
        per_entry = per_entry.mean((-1, -2))
    weights = mask.to(per_entry.dtype)
    return (per_entry * weights).sum() / weights.sum().clamp(min=1.0)


def intensities_from_output(output: torch.Tensor) -> torch.Tensor:
    """[B, K] intensities from a model's output: decoded heatmaps or direct regression."""
    if output.ndim == 4:
        return decode_heatmaps(output.float()).intensities
    if output.ndim == 2:
        return output.float().clamp(0.0, 5.0)
    raise ValueError(
        f"an AU model must output [B, K, H, W] heatmaps or [B, K] intensities, got {list(output.shape)}"
    )


@dataclass
class AUTask:
    """AU intensity by heatmap regression (or direct regression, for a [B, K] output).

    Attributes:
        aus: the K AU numbers of the model's outputs, in order.
        design: heatmap target design (``"fixed"``, ``"variable"``, ``"binary"``).
        target_options: further keyword arguments of :func:`auheat.heatmaps.encode_heatmaps`.
    """

    aus: tuple[int, ...]
    design: str = "variable"
    target_options: dict[str, float] = field(default_factory=dict)
    score_name = "ICC_mean"  # higher is better; picks the best checkpoint

    def __post_init__(self) -> None:
        self.aus = resolve_aus(self.aus)

    def describe(self) -> dict[str, Any]:
        return {
            "task": "au",
            "aus": list(self.aus),
            "design": self.design,
            "target_options": self.target_options,
        }

    def loss(self, output: torch.Tensor, landmarks: torch.Tensor, intensities: torch.Tensor, size: int):
        """Masked MSE against targets encoded here, on the batch's device.

        ``landmarks`` are in input pixels of side ``size``; heatmap targets take the output's side.
        """
        if output.ndim == 4:
            target = encode_heatmaps(
                crop_to_heatmap(landmarks, crop_size=size, heatmap_size=output.shape[-1]),
                intensities,
                self.aus,
                size=output.shape[-1],
                design=self.design,
                **self.target_options,
            )
        else:
            target = intensities.nan_to_num(0.0)
        return masked_mse(output, target, labelled_mask(intensities))

    def predict(self, output: torch.Tensor, size: int) -> torch.Tensor:
        return intensities_from_output(output)

    def truth(self, landmarks: torch.Tensor, intensities: torch.Tensor) -> torch.Tensor:
        return intensities

    def score(self, truth: np.ndarray, predicted: np.ndarray) -> tuple[pd.DataFrame, dict[str, float]]:
        """Per-AU ICC(3,1), MAE, PCC table, and its entries flattened for one log line."""
        table = summary_table(truth, predicted, self.aus)
        record = {
            f"{m}_{row}": float(table.loc[row, m]) for m in ("ICC", "MAE", "PCC") for row in table.index
        }
        return table, record


def normalised_errors(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Per-face mean point-to-point error over inter-ocular distance (outer eye corners 36, 45).

    Args:
        truth, predicted: [N, 68, 2] in one pixel frame.
    """
    interocular = np.linalg.norm(truth[:, 36] - truth[:, 45], axis=-1)
    return np.linalg.norm(predicted - truth, axis=-1).mean(-1) / interocular


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
        target = landmark_heatmaps(crop_to_heatmap(landmarks, size, side), side, self.sigma)
        return sum((stack.float() - target).square().mean() for stack in output)

    def predict(self, output: list[torch.Tensor], size: int) -> torch.Tensor:
        """[B, 68, 2] landmarks in input pixels, from the last stack's heatmaps.

        A landmark is read at its channel's arg-max whatever the sign of the values, as
        face_alignment does (the channel's minimum is subtracted first); only a constant channel
        has no arg-max, and gives NaN.
        """
        last = output[-1].float()
        last = last - last.amin((-1, -2), keepdim=True)
        return heatmap_to_crop(decode_heatmaps(last).locations, size, last.shape[-1])

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
