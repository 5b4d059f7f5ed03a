"""Agreement metrics for AU intensities: ICC(3,1), MAE and Pearson's r, per AU.

Inputs are [N, K] arrays (frames x AUs). NaN in either array marks an unlabelled entry; each
AU is scored on the frames where both are present. A score that is undefined (fewer than two
frames, or no variance where the formula divides by it) is NaN with a warning, never an error.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from auheat.aus import get_au

# The message of the warning a score that is undefined raises, for filters that expect it.
UNDEFINED_SCORE = r".* of column \d+ is undefined"


def _pairs(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.ndim == 1:
        t = t[:, None]
    if p.ndim == 1:
        p = p[:, None]
    if t.ndim != 2 or t.shape != p.shape:
        raise ValueError(
            f"y_true and y_pred must both be [N, K] with equal shapes, got {t.shape} and {p.shape}"
        )
    return t, p


def _per_au(score: Callable[[np.ndarray, np.ndarray], float], name: str, y_true, y_pred) -> np.ndarray:
    t, p = _pairs(y_true, y_pred)
    out = np.full(t.shape[1], np.nan)
    for k in range(t.shape[1]):  # K is small; each AU has its own labelled frames
        keep = ~(np.isnan(t[:, k]) | np.isnan(p[:, k]))
        if keep.sum() < (1 if name == "MAE" else 2):
            warnings.warn(f"{name} of column {k} is undefined: {keep.sum()} labelled frame(s)", stacklevel=3)
            continue
        out[k] = score(t[keep, k], p[keep, k])
        if np.isnan(out[k]):
            warnings.warn(f"{name} of column {k} is undefined: a constant column", stacklevel=3)
    return out


def _icc31(t: np.ndarray, p: np.ndarray) -> float:
    """ICC(3,1), two-way mixed, consistency, single rater (Shrout & Fleiss 1979)."""
    x = np.stack([t, p], 1)  # [n targets, k = 2 raters]
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * np.square(x.mean(1) - grand).sum()
    ss_cols = n * np.square(x.mean(0) - grand).sum()
    ss_err = np.square(x - grand).sum() - ss_rows - ss_cols
    ms_rows = ss_rows / (n - 1)
    ms_err = ss_err / ((n - 1) * (k - 1))
    denominator = ms_rows + (k - 1) * ms_err
    return float((ms_rows - ms_err) / denominator) if denominator > 0 else float("nan")


def _pcc(t: np.ndarray, p: np.ndarray) -> float:
    dt, dp = t - t.mean(), p - p.mean()
    denominator = np.sqrt(np.square(dt).sum() * np.square(dp).sum())
    return float((dt * dp).sum() / denominator) if denominator > 0 else float("nan")


def icc31(y_true, y_pred) -> np.ndarray:
    """ICC(3,1) per AU column, [K]. pingouin calls it ICC3 / "ICC(C,1)"."""
    return _per_au(_icc31, "ICC(3,1)", y_true, y_pred)


def mae(y_true, y_pred) -> np.ndarray:
    """Mean absolute error per AU column, [K], in intensity units."""
    return _per_au(lambda t, p: float(np.abs(t - p).mean()), "MAE", y_true, y_pred)


def pcc(y_true, y_pred) -> np.ndarray:
    """Pearson correlation per AU column, [K]."""
    return _per_au(_pcc, "PCC", y_true, y_pred)


def summary_table(y_true, y_pred, aus: Sequence[int]) -> pd.DataFrame:
    """Per-AU ICC(3,1), MAE, PCC and the number of labelled frames, with a ``mean`` row.

    The mean row averages the AUs whose score is defined (NaN-aware), as papers report it.
    """
    t, p = _pairs(y_true, y_pred)
    if len(aus) != t.shape[1]:
        raise ValueError(f"aus names {len(aus)} AUs but the arrays have {t.shape[1]} columns")
    table = pd.DataFrame(
        {
            "ICC": icc31(t, p),
            "MAE": mae(t, p),
            "PCC": pcc(t, p),
            "frames": (~(np.isnan(t) | np.isnan(p))).sum(0),
        },
        index=pd.Index([get_au(n).label for n in aus], name="AU"),
    )
    table.loc["mean"] = table[["ICC", "MAE", "PCC"]].mean().tolist() + [table["frames"].sum()]
    table["frames"] = table["frames"].astype(int)
    return table


def normalised_errors(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Per-face mean point-to-point error over inter-ocular distance (outer eye corners 36, 45).

    Args:
        truth, predicted: [N, 68, 2] in one pixel frame.
    """
    interocular = np.linalg.norm(truth[:, 36] - truth[:, 45], axis=-1)
    return np.linalg.norm(predicted - truth, axis=-1).mean(-1) / interocular
