import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from test_metrics import pingouin_icc3

from auheat.aus import au_centres
from auheat.metrics import icc31, mae, pcc, summary_table
from auheat.stats import (
    Comparison,
    bootstrap_interval,
    compare_models,
    conditional_scores,
    localisation_error,
    resampled_scores,
)


def mean_of(x: np.ndarray):
    """The sample mean as a statistic of counts [R, n]: each draw is its own unit."""
    return lambda counts: counts @ x / counts.sum(1)


def test_the_interval_of_a_large_sample_mean_is_mean_plus_minus_1_96_standard_errors():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, 1000)
    interval = bootstrap_interval(mean_of(x), len(x), n_resamples=2000, seed=1)
    se = x.std() / np.sqrt(len(x))
    assert interval.estimate == pytest.approx(x.mean())
    assert (interval.resamples, interval.units, interval.level) == (2000, 1000, 0.95)
    # The quantiles of 2,000 resamples sit within a few per cent of the normal ones; 10 % is the bound.
    assert interval.high - interval.low == pytest.approx(2 * 1.96 * se, rel=0.10)
    assert (interval.low + interval.high) / 2 == pytest.approx(x.mean(), abs=0.15 * se)


def test_the_95_percent_interval_of_a_mean_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(4)
    repetitions, n = 400, 100
    covered = 0
    for _ in range(repetitions):
        x = rng.normal(1.0, 1.0, n)
        interval = bootstrap_interval(mean_of(x), n, n_resamples=400, seed=rng)
        covered += interval.low <= 1.0 <= interval.high
    # 400 repetitions estimate the coverage within about 1 percentage point (one standard error);
    # the percentile interval of a mean of 100 undercovers slightly (about 94 %).
    assert 0.90 <= covered / repetitions <= 0.99


def test_bootstrap_arguments_are_checked_by_name():
    with pytest.raises(ValueError, match="level must lie strictly between 0 and 1"):
        bootstrap_interval(mean_of(np.ones(5)), 5, level=95)
    with pytest.raises(ValueError, match="n_units must be an int of at least 2"):
        bootstrap_interval(mean_of(np.ones(1)), 1)
    with pytest.raises(ValueError, match="statistic must map counts"):
        bootstrap_interval(lambda counts: counts, 5)


def benchmark(seed: int = 0, frames: int = 600, subjects: int = 12, aus: int = 5):
    """Labels [N, K] with about 10 % unlabelled, and the subject of each frame [N]."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 6, (frames, aus)).astype(float)
    truth[rng.random(truth.shape) < 0.1] = np.nan
    return rng, truth, rng.integers(0, subjects, frames)


def noisy(rng: np.random.Generator, truth: np.ndarray, noise: float, seeds: int = 1) -> np.ndarray:
    """Predictions [S, N, K] of the labels plus Gaussian noise, clamped to 0..5 as decoded maxima."""
    return np.clip(np.nan_to_num(truth) + rng.normal(0, noise, (seeds, *truth.shape)), 0, 5)


@pytest.mark.parametrize(("score", "metric"), [("icc", icc31), ("pcc", pcc), ("mae", mae)])
def test_resampled_scores_equal_the_metrics_on_the_frames_drawn(score, metric):
    rng, truth, subjects = benchmark(frames=300, subjects=8, aus=4)
    predicted = noisy(rng, truth, 1.0, seeds=2)
    predicted[0, rng.random(300) < 0.05, 1] = np.nan  # unlabelled in the model's column only
    truth[:, 3] = np.where(np.isin(subjects, [2, 5]), truth[:, 3], 0.0)  # constant in most resamples
    units = np.unique(subjects)
    counts = np.vstack([np.ones(8, int), rng.multinomial(8, np.full(8, 1 / 8), size=20)])
    scores = resampled_scores(truth, predicted, subjects, counts, score)
    assert scores.shape == (21, 2, 4)
    for r, row in enumerate(counts):
        # A subject drawn twice brings its frames twice.
        frames = np.concatenate([np.flatnonzero(subjects == u) for u in np.repeat(units, row)])
        for s in range(2):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the metrics warn where a score is undefined
                expected = metric(truth[frames], predicted[s, frames])
            np.testing.assert_allclose(scores[r, s], expected, rtol=0, atol=1e-9)
    if score == "pcc":  # the resamples without subjects 2 and 5 leave AU 3 constant
        assert np.isnan(scores[1:, :, 3]).any()


def test_resampled_icc_on_the_full_sample_equals_pingouins_icc3():
    rng, truth, subjects = benchmark(seed=3, frames=200, aus=1)
    predicted = noisy(rng, truth, 0.8)[0]
    labelled = ~np.isnan(truth[:, 0])
    ours = resampled_scores(truth, predicted, subjects, np.ones((1, 12)), "icc")[0, 0, 0]
    assert ours == pytest.approx(pingouin_icc3(truth[labelled, 0], predicted[labelled, 0]), abs=1e-9)


def test_a_model_with_less_noise_is_better_and_the_verdict_follows_the_interval():
    rng, truth, subjects = benchmark()
    good, poor = noisy(rng, truth, 0.3), noisy(rng, truth, 1.5)
    for score in ("icc", "pcc", "mae"):
        result = compare_models(truth, good, poor, subjects, score, n_resamples=500)
        assert isinstance(result, Comparison) and result.units == 12 and result.resamples == 500
        if score == "mae":  # lower is better: A's advantage is a negative difference
            assert result.high < 0 and result.low <= result.difference <= result.high
        else:
            assert result.low > 0 and result.low <= result.difference <= result.high
        assert result.verdict == "A better"
        assert compare_models(truth, poor, good, subjects, score, n_resamples=500).verdict == "B better"


def test_identical_models_differ_by_zero_and_swapping_them_negates_the_interval():
    rng, truth, subjects = benchmark(seed=4)
    a, b = noisy(rng, truth, 0.8, seeds=3), noisy(rng, truth, 0.9, seeds=2)
    same = compare_models(truth, a, a, subjects, n_resamples=300)
    assert (same.difference, same.low, same.high) == (0.0, 0.0, 0.0)
    assert same.verdict == "no evidence either way"
    forward = compare_models(truth, a, b, subjects, n_resamples=300, seed=7)
    backward = compare_models(truth, b, a, subjects, n_resamples=300, seed=7)
    assert backward.difference == pytest.approx(-forward.difference, abs=1e-12)
    assert (backward.low, backward.high) == pytest.approx((-forward.high, -forward.low), abs=1e-12)


def test_seeds_are_averaged_before_the_difference_as_the_summary_tables_mean_rows():
    rng, truth, subjects = benchmark(seed=5)
    a, b = noisy(rng, truth, 0.5, seeds=3), noisy(rng, truth, 1.0, seeds=2)
    aus = (6, 10, 12, 14, 17)
    expected = np.mean([summary_table(truth, p, aus).loc["mean", "ICC"] for p in a]) - np.mean(
        [summary_table(truth, p, aus).loc["mean", "ICC"] for p in b]
    )
    assert compare_models(truth, a, b, subjects, n_resamples=50).difference == pytest.approx(
        expected, abs=1e-9
    )


def test_resamples_that_leave_an_au_undefined_are_quiet_and_the_full_sample_warns():
    rng, truth, subjects = benchmark(seed=6)
    truth[:, 2] = np.where(subjects == 0, truth[:, 2], 0.0)  # AU varies in one subject only
    a, b = noisy(rng, truth, 0.5), noisy(rng, truth, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = compare_models(truth, a, b, subjects, "pcc", n_resamples=300)
    assert result.resamples == 300 and result.verdict == "A better"
    truth[:, 2] = 0.0
    with pytest.warns(UserWarning, match="PCC of column 2 is undefined"):
        compare_models(truth, a, b, subjects, "pcc", n_resamples=50)


def test_pooled_folds_test_each_subject_once():
    rng, truth, subjects = benchmark(seed=8)
    a, b = noisy(rng, truth, 0.5), noisy(rng, truth, 1.0)
    folds = subjects % 3
    assert compare_models(truth, a, b, subjects, folds=folds, n_resamples=50).units == 12
    folds[np.flatnonzero(subjects == 4)[0]] = 0
    with pytest.raises(ValueError, match="subject 4 is in several folds"):
        compare_models(truth, a, b, subjects, folds=folds)
    with pytest.raises(ValueError, match="predicted_b must be"):
        compare_models(truth, a, b[:, :10], subjects)


def face(frames: int) -> np.ndarray:
    """[N, 68, 2] landmarks on a circle of radius 100 px: distinct centres lie pixels apart."""
    angles = 2 * np.pi * np.arange(68) / 68
    circle = np.stack([128 + 100 * np.cos(angles), 128 + 100 * np.sin(angles)], -1)
    return np.repeat(circle[None], frames, 0)


def test_localisation_error_measures_the_distance_to_the_nearest_centre_in_64_pixel_units():
    aus = (1, 12, 17)  # three, two and one centres
    landmarks = face(4)
    centres = au_centres(torch.from_numpy(landmarks), aus).numpy()  # [4, 3, C, 2]
    last = np.array([2, 1, 0])  # each AU's last centre: the peak need not be at the first
    peaks = centres[:, np.arange(3), last].copy()  # [4, 3, 2]
    labels = np.full((4, 3), 3.0)
    exact = localisation_error(peaks, landmarks, labels, aus, size=64)
    assert list(exact.index) == ["AU01", "AU12", "AU17"]
    np.testing.assert_allclose(exact["error"], 0.0, atol=1e-9)
    assert exact["frames"].tolist() == [4, 4, 4]

    shifted = peaks + np.array([0.3, 0.4])  # 0.5 px from the centre
    np.testing.assert_allclose(localisation_error(shifted, landmarks, labels, aus, 64)["error"], 0.5)
    # On a 16x16 map the same 0.5 px is 2 px of a 64x64 map.
    np.testing.assert_allclose(localisation_error(shifted, landmarks, labels, aus, 16)["error"], 2.0)


def test_localisation_error_scores_clear_frames_and_counts_missing_peaks_and_centres():
    landmarks = face(5)
    peaks = au_centres(torch.from_numpy(landmarks), (12,)).numpy()[:, :, 0]  # [5, 1, 2]
    labels = np.array([[3.0], [1.0], [np.nan], [4.0], [2.0]])
    peaks[1] += 50.0  # labelled 1, below min_intensity: not scored
    peaks[2] += 50.0  # unlabelled: not scored
    peaks[3] = np.nan  # no peak: counted as missing
    landmarks[4, [48, 54]] = np.nan  # no centre for AU12
    table = localisation_error(peaks, landmarks, labels, (12,), size=64, min_intensity=2)
    assert table.loc["AU12"].tolist() == [0.0, 1, 1, 1]
    assert list(table.columns) == ["error", "frames", "missing", "no_centre"]
    assert localisation_error(peaks, landmarks, labels, (12,), 64, min_intensity=1).loc["AU12", "error"] > 0
    with pytest.raises(ValueError, match="locations must be"):
        localisation_error(peaks[:, :, :1], landmarks, labels, (12,), 64)


def test_conditional_scores_use_only_the_frames_where_the_other_au_is_absent():
    rng = np.random.default_rng(9)
    truth = rng.integers(0, 6, (200, 5)).astype(float)
    truth[:100, 2] = 0.0  # AU12 absent in the first half
    truth[150, 2] = np.nan  # unlabelled: not "absent"
    predicted = np.where(truth[:, [2]] == 0, truth, rng.uniform(0, 5, truth.shape))  # perfect only there
    row = conditional_scores(truth, predicted, "bp4d", au=6, absent=12)
    assert list(row.index) == ["AU06 | AU12 = 0"]
    assert row.loc["AU06 | AU12 = 0", "frames"] == (truth[:, 2] == 0).sum()
    assert row.loc["AU06 | AU12 = 0", ["ICC", "PCC"]].tolist() == pytest.approx([1.0, 1.0])
    assert row.loc["AU06 | AU12 = 0", "MAE"] == 0.0
    everywhere = summary_table(truth[:, [0]], predicted[:, [0]], [6])
    assert everywhere.loc["AU06", "ICC"] < 0.9  # the same AU on all frames: the other half is noise
    with pytest.raises(ValueError, match="two different AUs"):
        conditional_scores(truth, predicted, "bp4d", au=6, absent=6)
    assert isinstance(row, pd.DataFrame)


def test_clear_peaks_reads_unlabelled_faces_by_peak_height_and_distance_to_the_aus_centre():
    from auheat.aus import au_centres
    from auheat.stats import clear_peaks

    rng = np.random.default_rng(0)
    landmarks = rng.uniform(10, 50, (2, 68, 2))
    aus = (12, 25)
    centres = au_centres(torch.from_numpy(landmarks), aus).numpy()[:, :, 0]  # [2, K, 2], first centres
    heatmaps = np.zeros((2, 2, 8, 8))
    heatmaps[0, 0, 3, 3], heatmaps[1, 0, 3, 3], heatmaps[0, 1, 3, 3] = 1.0, 0.8, 0.2  # the last: too low
    peaks = centres + np.array([3.0, 4.0])  # 5 px from the first centre of each AU
    summary = clear_peaks(peaks, heatmaps, landmarks, aus, min_height=0.5)
    assert summary["faces"] == 2 and summary["clear peaks per face"] == 1.0
    assert summary["median peak height"] == pytest.approx(0.9)
    assert summary["median distance to the AU's centre"] <= 5.0  # the nearest centre may be closer
    empty = clear_peaks(peaks, heatmaps, landmarks, aus, min_height=2.0)
    assert empty["clear peaks per face"] == 0 and np.isnan(empty["median peak height"])
