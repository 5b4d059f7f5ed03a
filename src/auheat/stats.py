"""The statistics of a benchmark: intervals over test subjects, paired model comparisons, where
heatmap peaks land and scores that co-occurring AUs cannot inflate.

Frames of one subject are far from independent (one face, session and labeller), so intervals
resample subjects, never frames. Scores follow :mod:`auheat.metrics`: NaN marks an unlabelled
entry, and an AU whose score is undefined on a sample is left out of that sample's mean.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
import torch
from numpy.typing import ArrayLike

from auheat.aus import au_centres, get_au, resolve_aus
from auheat.heatmaps import REFERENCE_SIZE
from auheat.metrics import summary_table

Score = Literal["icc", "pcc", "mae"]
SCORES: tuple[str, ...] = ("icc", "pcc", "mae")


class Interval(NamedTuple):
    """A percentile bootstrap interval of a statistic."""

    estimate: float  # the statistic on the full sample
    low: float
    high: float
    level: float  # e.g. 0.95
    resamples: int  # resamples on which the statistic is defined; the others are left out
    units: int  # units (subjects) the resamples draw from


def bootstrap_interval(
    statistic: Callable[[np.ndarray], np.ndarray],
    n_units: int,
    n_resamples: int = 2000,
    level: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> Interval:
    """Percentile bootstrap over units: each resample draws ``n_units`` units with replacement.

    Args:
        statistic: maps counts [R, U], how many times each of the U units is drawn in each of R
            samples (a row of ones is the full sample), to [R] values, NaN where undefined; it
            is given all resamples at once, so that it can compute them together.
        n_units, n_resamples: U, the number of units (e.g. test subjects), and R.
        level: coverage of the interval, between 0 and 1.
        seed: an int or a ``numpy.random.Generator`` that draws the resamples.

    Returns:
        An :class:`Interval` whose bounds are the ``(1 - level) / 2`` and ``(1 + level) / 2``
        quantiles of the resampled values where they are defined.
    """
    for name, value, least in (("n_units", n_units, 2), ("n_resamples", n_resamples, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an int of at least {least}, got {value!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    counts = np.random.default_rng(seed).multinomial(n_units, np.full(n_units, 1 / n_units), size=n_resamples)
    estimate = np.asarray(statistic(np.ones((1, n_units), dtype=np.int64)), dtype=np.float64)
    values = np.asarray(statistic(counts), dtype=np.float64)
    if estimate.shape != (1,) or values.shape != (n_resamples,):
        raise ValueError(f"statistic must map counts [R, U] to [R] values, got {list(values.shape)}")
    values = values[np.isfinite(values)]
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2]) if len(values) else (np.nan,) * 2
    return Interval(float(estimate[0]), float(low), float(high), level, len(values), n_units)


def _frames(
    truth: ArrayLike, predicted: ArrayLike, subjects: ArrayLike, name: str = "predicted"
) -> tuple[np.ndarray, ...]:
    """truth [N, K], predicted as [S, N, K] and the subjects' codes [N] (0..U-1, np.unique order)."""
    t, p = (np.asarray(x, dtype=np.float64) for x in (truth, predicted))
    if t.ndim != 2:
        raise ValueError(f"truth must be [N, K] (frames x AUs), got shape {list(t.shape)}")
    p = p[None] if p.ndim == 2 else p
    if p.ndim != 3 or p.shape[1:] != t.shape:
        raise ValueError(f"{name} must be [N, K] = {list(t.shape)} or [S, N, K], got {list(p.shape)}")
    s = np.asarray(subjects)
    if s.shape != (t.shape[0],):
        raise ValueError(f"subjects must be [N] = [{t.shape[0]}], one per frame, got {list(s.shape)}")
    return t, p, np.unique(s, return_inverse=True)[1].reshape(-1)


def resampled_scores(
    truth: ArrayLike, predicted: ArrayLike, subjects: ArrayLike, counts: ArrayLike, score: Score = "icc"
) -> np.ndarray:
    """Per-AU scores on resampled subjects, every resample at once.

    Args:
        truth: [N, K] intensities, NaN = unlabelled.
        predicted: [N, K] or [S, N, K] (S seeds) predicted intensities.
        subjects: [N] the subject of each frame; the U units are ``np.unique(subjects)``.
        counts: [R, U] how many times each subject is drawn in each resample (its frames count
            that many times).
        score: ``"icc"`` (ICC(3,1)), ``"pcc"`` or ``"mae"`` (intensity units).

    Returns:
        [R, S, K]: :func:`auheat.metrics.icc31`, ``pcc`` or ``mae`` of each seed on the frames of
        each resample, to rounding; NaN, without a warning, where the score is undefined.

    Each subject's frames are reduced once to sums (count, t, p, t^2, p^2, t p, |t - p|); those of
    a resample are its subjects' weighted by the counts, a matrix product: R resamples cost
    about one pass over the frames.
    """
    if score not in SCORES:
        raise ValueError(f"unknown score {score!r}; valid scores: {', '.join(SCORES)}")
    t, p, codes = _frames(truth, predicted, subjects)
    n_units = int(codes.max()) + 1
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[1] != n_units:
        raise ValueError(f"counts must be [R, U] with U = {n_units} subjects, got {list(counts.shape)}")
    labelled = ~(np.isnan(t) | np.isnan(p))  # [S, N, K]
    with np.errstate(invalid="ignore", divide="ignore"):
        # Centred on each column's mean, the sums of squares stay small and their differences
        # below lose no precision to cancellation; ICC and PCC do not depend on the shift.
        count = labelled.sum(1, keepdims=True)
        ct, cp = (np.where(labelled, x, 0.0) for x in (t, p))
        ct, cp = (np.where(labelled, x - x.sum(1, keepdims=True) / count, 0.0) for x in (ct, cp))
        frame_sums = np.stack(
            [labelled, ct, cp, ct * ct, cp * cp, ct * cp, np.where(labelled, np.abs(t - p), 0.0)], -1
        )  # [S, N, K, 7]
        one_hot = (codes[None] == np.arange(n_units)[:, None]).astype(np.float64)  # [U, N]
        per_unit = one_hot @ np.moveaxis(frame_sums, 1, 0).reshape(len(codes), -1)  # [U, S K 7]
        sums = (counts @ per_unit).reshape(len(counts), len(p), -1, 7)  # [R, S, K, 7]
        n, st, sp, stt, spp, stp, absolute = np.moveaxis(sums, -1, 0)
        if score == "mae":
            return np.where(n >= 1, absolute / n, np.nan)
        # Rounding leaves a constant column a spread of about eps times its sum of squares, not 0.
        var_t = np.where(stt - st * st / n > 1e-12 * stt, stt - st * st / n, 0.0)
        var_p = np.where(spp - sp * sp / n > 1e-12 * spp, spp - sp * sp / n, 0.0)
        cov = stp - st * sp / n
        if score == "icc":  # ICC(3,1) of two raters: 2 cov / (var_t + var_p), sums over frames
            return np.where((n >= 2) & (var_t + var_p > 0), 2 * cov / (var_t + var_p), np.nan)
        return np.where((n >= 2) & (var_t > 0) & (var_p > 0), cov / np.sqrt(var_t * var_p), np.nan)


class Comparison(NamedTuple):
    """Model A against model B: the difference of their scores (A minus B) and its interval."""

    score: str  # "icc", "pcc" or "mae"
    difference: float  # A minus B on the full sample
    low: float
    high: float
    level: float
    resamples: int
    units: int

    @property
    def verdict(self) -> str:
        """``"A better"``, ``"B better"`` or ``"no evidence either way"``, only from whether the
        interval excludes 0 (for MAE, lower is better, so a negative difference favours A)."""
        sign = -1.0 if self.score == "mae" else 1.0
        low, high = sorted((sign * self.low, sign * self.high))
        return "A better" if low > 0 else "B better" if high < 0 else "no evidence either way"


def compare_models(
    truth: ArrayLike,
    predicted_a: ArrayLike,
    predicted_b: ArrayLike,
    subjects: ArrayLike,
    score: Score = "icc",
    folds: ArrayLike | None = None,
    n_resamples: int = 2000,
    level: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> Comparison:
    """Paired comparison of two models on the same frames, by bootstrap over test subjects.

    Args:
        truth: [N, K] intensities, NaN = unlabelled.
        predicted_a, predicted_b: [N, K], or [S, N, K] for S seeds (A and B may have different S);
            NaN only where truth is NaN, since both models are scored on the same frames.
        subjects: [N] the subject of each frame. Folds of a subject-independent protocol are
            pooled by concatenating their test frames, so the resamples draw from all subjects.
        score: ``"icc"``, ``"pcc"`` or ``"mae"``.
        folds: [N] the fold that tested each frame, when folds are pooled: checked so that each
            subject is tested in one fold only.
        n_resamples, level, seed: as :func:`bootstrap_interval`.

    The statistic is model A's score minus model B's, each the mean over seeds of the mean over
    AUs, with the frames of a resample's subjects (drawn twice: counted twice). Seeds need no
    pairing: the seed means are taken before the difference, so their order changes nothing.
    They are held fixed, not resampled: the interval speaks of these trained networks, not of
    the spread between trainings. An AU undefined for either model (any seed) on a sample is left
    out of both models' means on that sample, so that A and B are averaged over the same AUs.
    """
    t, a, codes = _frames(truth, predicted_a, subjects, "predicted_a")
    b = _frames(truth, predicted_b, subjects, "predicted_b")[1]
    if np.isnan(np.concatenate([a, b])[:, ~np.isnan(t)]).any():
        raise ValueError("predicted_a and predicted_b must not be NaN where truth is labelled")
    if folds is not None:
        fold = np.asarray(folds)
        if fold.shape != codes.shape:
            raise ValueError(f"folds must be [N] = [{len(codes)}], one per frame, got {list(fold.shape)}")
        tested = pd.Series(fold).groupby(codes).nunique()  # the folds that test each subject
        if (tested > 1).any():
            raise ValueError(
                f"folds: subject {np.unique(subjects)[tested.idxmax()].item()!r} is in several folds"
            )

    def statistic(counts: np.ndarray) -> np.ndarray:
        # Each model apart ([R, S_a, K], [R, S_b, K]), so that equal predictions give equal bits.
        sa, sb = (resampled_scores(t, x, codes, counts, score) for x in (a, b))
        common = np.isfinite(sa).all(1) & np.isfinite(sb).all(1)  # [R, K]
        with np.errstate(invalid="ignore"):  # a resample where no AU is defined gives NaN
            means = [np.where(common[:, None], x, 0).sum(-1).mean(1) / common.sum(-1) for x in (sa, sb)]
        return means[0] - means[1]

    n_units = int(codes.max()) + 1
    full = resampled_scores(t, np.concatenate([a, b]), codes, np.ones((1, n_units)), score)[0]
    for k in np.flatnonzero(~np.isfinite(full).all(0)):
        warnings.warn(f"{score.upper()} of column {k} is undefined; left out of both means", stacklevel=2)
    interval = bootstrap_interval(statistic, n_units, n_resamples, level, seed)
    return Comparison(score, *interval)


def nearest_centre_distance(locations: ArrayLike, landmarks: ArrayLike, aus: Sequence[int]) -> np.ndarray:
    """[N, K] distance from each AU's peak ([N, K, 2]) to the nearest of its centres
    (:func:`auheat.aus.au_centres` of [N, 68, 2] landmarks in the same pixels); inf where the
    landmarks place no centre, NaN where there is no peak."""
    loc = np.asarray(locations, np.float64)
    marks = torch.from_numpy(np.asarray(landmarks, dtype=np.float64))
    centres = au_centres(marks, aus).numpy()  # [N, K, C, 2]; au_centres checks the shape
    distance = np.linalg.norm(loc[:, :, None] - centres, axis=-1)
    nearest = np.where(np.isnan(distance), np.inf, distance).min(-1)  # NaN centre slots: unused
    return np.where(np.isnan(loc).any(-1), np.nan, nearest)


def clear_peaks(
    locations: ArrayLike, heatmaps: ArrayLike, landmarks: ArrayLike, aus: Sequence[int], min_height: float
) -> dict[str, float]:
    """How far the clear peaks of unlabelled faces' heatmaps land from where their AUs show.

    A peak is clear where its map's maximum reaches ``min_height`` (a reading before
    calibration) and the landmarks place the AU's centres; no label is needed, so real photos
    can be read as the synthetic test faces are.

    Args:
        locations: [N, K, 2] peaks, in the pixels of ``landmarks``.
        heatmaps: [N, K, h, h] the maps they are the maxima of.
        landmarks: [N, 68, 2].
        aus: the K AU numbers.
        min_height: the smallest map maximum that counts as a peak.

    Returns:
        ``faces``, ``clear peaks per face``, and the ``median peak height`` and ``median distance
        to the AU's centre`` over the clear peaks (NaN without one).
    """
    nearest = nearest_centre_distance(locations, landmarks, aus)
    height = np.asarray(heatmaps, np.float64).max((2, 3))
    clear = (height >= min_height) & np.isfinite(nearest)
    return {
        "faces": len(height),
        "clear peaks per face": clear.sum() / max(len(height), 1),
        "median peak height": float(np.median(height[clear])) if clear.any() else np.nan,
        "median distance to the AU's centre": float(np.median(nearest[clear])) if clear.any() else np.nan,
    }


def localisation_error(
    locations: ArrayLike,
    landmarks: ArrayLike,
    intensities: ArrayLike,
    aus: str | int | Sequence[int],
    size: int,
    min_intensity: float = 2.0,
) -> pd.DataFrame:
    """How far each AU's heatmap peak lands from where the AU shows, on frames where it is clear.

    Args:
        locations: [N, K, 2] decoded peaks (x, y) in heatmap pixels, NaN where the map has no
            positive value (:func:`auheat.heatmaps.decode_heatmaps`).
        landmarks: [N, 68, 2] (x, y) in the same heatmap pixels.
        intensities: [N, K] labelled intensities, NaN = unlabelled.
        aus: dataset name or the K AU numbers, in column order.
        size: heatmap side, pixels.
        min_intensity: only frames labelled at least this are scored.

    Returns:
        One row per AU (index: ``"AU06"``...), columns ``error``: mean distance from the peak to
        the nearest of the AU's centres (:func:`auheat.aus.au_centres`), in pixels of a 64x64
        map (distances times 64 / size), NaN without scored frames; ``frames``: frames scored;
        ``missing``: frames whose map has no peak; ``no_centre``: frames with a peak whose
        landmarks place none of the AU's centres. The three counts share out the frames
        labelled at least ``min_intensity``; only ``frames`` enter the mean.
    """
    numbers = resolve_aus(aus)
    loc, label = (np.asarray(x, dtype=np.float64) for x in (locations, intensities))
    if label.ndim != 2 or label.shape[1] != len(numbers):
        raise ValueError(f"intensities must be [N, K] with K = {len(numbers)} AUs, got {list(label.shape)}")
    if loc.shape != (*label.shape, 2):
        raise ValueError(f"locations must be [N, K, 2] = {[*label.shape, 2]}, got {list(loc.shape)}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive int (heatmap side in pixels), got {size!r}")
    nearest = nearest_centre_distance(loc, landmarks, numbers)
    clear = label >= min_intensity  # NaN (unlabelled) compares False
    missing = clear & np.isnan(loc).any(-1)
    scored = clear & ~missing & np.isfinite(nearest)
    frames, unplaced = scored.sum(0), (clear & ~missing & ~scored).sum(0)
    with np.errstate(invalid="ignore"):
        error = np.where(scored, nearest, 0.0).sum(0) / frames * (REFERENCE_SIZE / size)
    table = {"error": error, "frames": frames, "missing": missing.sum(0), "no_centre": unplaced}
    return pd.DataFrame(table, index=pd.Index([get_au(a).label for a in numbers], name="AU"))


def conditional_scores(
    truth: ArrayLike, predicted: ArrayLike, aus: str | int | Sequence[int], au: int, absent: int
) -> pd.DataFrame:
    """ICC, MAE and PCC of AU ``au`` on the frames where AU ``absent`` is labelled 0.

    AUs co-occur (AU6 with AU12 in a smile), so a model can score on AU6 by reading AU12; on the
    frames without AU12 it must see AU6 itself.

    Args:
        truth, predicted: [N, K] intensities, NaN = unlabelled.
        aus: dataset name or the K AU numbers, in column order.
        au, absent: AU numbers among ``aus``.

    Returns:
        One row, e.g. ``"AU06 | AU12 = 0"``, with :func:`auheat.metrics.summary_table`'s columns
        ``ICC``, ``MAE``, ``PCC`` and ``frames``, the frames scored.
    """
    numbers = resolve_aus(aus)
    if au == absent or au not in numbers or absent not in numbers:
        raise ValueError(f"au and absent must be two different AUs of {numbers}, got {au!r} and {absent!r}")
    t, p = (np.asarray(x, dtype=np.float64) for x in (truth, predicted))
    if t.shape != p.shape or t.shape[1:] != (len(numbers),):
        raise ValueError(f"truth and predicted must be [N, {len(numbers)}], got {t.shape} and {p.shape}")
    k, keep = numbers.index(au), t[:, numbers.index(absent)] == 0  # NaN (unlabelled) is not 0
    row = summary_table(t[keep, k : k + 1], p[keep, k : k + 1], [au]).iloc[[0]]
    return row.set_axis(pd.Index([f"{get_au(au).label} | {get_au(absent).label} = 0"], name="AU"))
