"""What a landmark prior knows of the AUs: the ridge readout and the landmark readout table."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from auheat.data.dataset import protocol_datasets
from auheat.models import FAN
from auheat.prior import landmark_readout, ridge_predict
from auheat.recipes import synthetic_dataset


def test_ridge_predict_is_scikit_learns_ridge_on_standardised_inputs():
    rng = np.random.default_rng(0)
    x, y, new = rng.normal(size=(60, 5)) * [1, 2, 3, 4, 5], rng.normal(size=(60, 3)), rng.normal(size=(7, 5))
    ours = ridge_predict(x, y, new, alpha=3.0)
    mean, scale = x.mean(0), x.std(0)
    reference = Ridge(alpha=3.0).fit((x - mean) / scale, y).predict((new - mean) / scale)
    np.testing.assert_allclose(ours, reference, atol=1e-10)


def test_ridge_predict_reads_an_unlabelled_entry_as_the_mean_and_a_constant_input_as_nothing():
    x = np.stack([np.arange(6.0), np.full(6, 2.0)], axis=1)  # the second coordinate never changes
    y = np.array([[0.0], [1.0], [np.nan], [3.0], [4.0], [5.0]])
    filled = np.where(np.isnan(y), np.nanmean(y), y)  # 2.6 in place of the unlabelled frame
    np.testing.assert_allclose(
        ridge_predict(x, y, x, alpha=0.5), ridge_predict(x[:, :1], filled, x[:, :1], alpha=0.5)
    )


@pytest.fixture(scope="module")
def fold():
    return protocol_datasets(synthetic_dataset("disfa-like", 2), 0, "test")


def test_landmark_readout_compares_the_network_with_the_labelled_landmarks_and_the_mean_shape(fold):
    train, test = fold
    torch.manual_seed(0)
    table = landmark_readout(FAN(1, 16), train, test, input_size=64)
    assert list(table.index) == ["labelled", "network", "mean shape"]
    assert table.loc["labelled", "NME"] == 0.0
    assert table.loc["mean shape", "NME"] > 0.0
    assert abs(table.loc["mean shape", "ICC"]) < 1e-9  # the same answer for every frame
    # the labelled landmarks carry the AUs' movements: their readout beats the mean shape's
    assert table.loc["labelled", "ICC"] > 0.1
    # an untrained network finds landmarks far worse than the mean shape
    assert table.loc["network", "NME"] > table.loc["mean shape", "NME"]
