import warnings

import numpy as np
import pandas as pd
import pingouin
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auheat.metrics import icc31, mae, pcc, summary_table


def pingouin_icc3(t: np.ndarray, p: np.ndarray) -> float:
    n = len(t)
    long = pd.DataFrame(
        {
            "frame": np.r_[np.arange(n), np.arange(n)],
            "rater": ["label"] * n + ["model"] * n,
            "score": np.r_[t, p],
        }
    )
    table = pingouin.intraclass_corr(long, targets="frame", raters="rater", ratings="score")
    return float(table.set_index("Type").loc["ICC(C,1)", "ICC"])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(5, 200), noise=st.floats(0.1, 3.0))
def test_icc31_agrees_with_pingouin(seed, n, noise):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 6, (n, 3)).astype(float)
    p = t * rng.uniform(0.3, 1.2) + rng.normal(0, noise, (n, 3))
    t[rng.random((n, 3)) < 0.1] = np.nan
    ours = icc31(t, p)
    for k in range(3):
        keep = ~np.isnan(t[:, k])
        if keep.sum() >= 5 and np.ptp(t[keep, k]) > 0:
            assert ours[k] == pytest.approx(pingouin_icc3(t[keep, k], p[keep, k]), abs=1e-6)


def test_nan_entries_are_ignored_per_au():
    t = np.array([[1.0, np.nan], [2.0, 2.0], [3.0, 3.0], [np.nan, 5.0]])
    p = np.array([[1.0, 9.0], [2.0, 2.0], [3.0, 3.0], [4.0, 5.0]])
    np.testing.assert_allclose(mae(t, p), [0.0, 0.0])
    np.testing.assert_allclose(icc31(t, p), [1.0, 1.0])
    np.testing.assert_allclose(pcc(t, p), [1.0, 1.0])


def test_mae_and_pcc_match_numpy():
    rng = np.random.default_rng(0)
    t, p = rng.normal(size=(40, 2)), rng.normal(size=(40, 2))
    np.testing.assert_allclose(mae(t, p), np.abs(t - p).mean(0))
    np.testing.assert_allclose(pcc(t, p), [np.corrcoef(t[:, k], p[:, k])[0, 1] for k in range(2)])


def test_constant_columns_give_nan_with_a_warning():
    t = np.zeros((10, 1))
    with pytest.warns(UserWarning, match="PCC of column 0 is undefined: a constant column"):
        assert np.isnan(pcc(t, np.arange(10.0)[:, None])).all()
    with pytest.warns(UserWarning, match="ICC"):
        assert np.isnan(icc31(t, t)).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mae(t, t)[0] == 0.0


def test_too_few_labelled_frames_give_nan_with_a_warning():
    t = np.array([[1.0], [np.nan], [np.nan]])
    with pytest.warns(UserWarning, match="1 labelled frame"):
        assert np.isnan(icc31(t, np.ones((3, 1)))).all()


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="equal shapes"):
        icc31(np.zeros((4, 2)), np.zeros((4, 3)))


def test_summary_table_has_one_row_per_au_and_a_mean():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 6, (30, 5)).astype(float)
    p = t + rng.normal(0, 0.5, (30, 5))
    t[0, 2] = np.nan
    table = summary_table(t, p, [6, 10, 12, 14, 17])
    assert list(table.index) == ["AU06", "AU10", "AU12", "AU14", "AU17", "mean"]
    assert list(table.columns) == ["ICC", "MAE", "PCC", "frames"]
    assert table.loc["mean", "ICC"] == pytest.approx(table["ICC"].iloc[:5].mean())
    assert table.loc["AU12", "frames"] == 29 and table.loc["mean", "frames"] == 149
    with pytest.raises(ValueError, match="names 2 AUs but the arrays have 5 columns"):
        summary_table(t, p, [6, 10])
