import pytest
import torch

from auheat.aus import (
    ACTION_UNITS,
    DATASET_AUS,
    MAX_CENTRES,
    au_centres,
    dataset_aus,
    get_au,
    rescale_points,
    resolve_aus,
)


def test_every_dataset_au_is_catalogued_with_a_name():
    for name, numbers in DATASET_AUS.items():
        for n in numbers:
            assert get_au(n).name, f"{name} AU {n}"
    assert set(ACTION_UNITS) == {1, 2, 4, 5, 6, 9, 10, 12, 14, 15, 17, 20, 25, 26}


def test_dataset_lists_follow_the_literature():
    assert dataset_aus("BP4D") == (6, 10, 12, 14, 17)
    assert dataset_aus("disfa") == (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
    assert dataset_aus("FERA-2017") == (1, 4, 6, 10, 12, 14, 17)


def test_unknown_dataset_lists_the_valid_names():
    with pytest.raises(ValueError, match="bp4d, fera2015, disfa, fera2017"):
        dataset_aus("ck+")


def test_unknown_au_lists_the_valid_numbers():
    with pytest.raises(ValueError, match=r"AU 3 .*valid AU numbers: 1, 2, 4"):
        resolve_aus([1, 3])


def test_repeated_or_empty_au_lists_are_rejected():
    with pytest.raises(ValueError, match="twice"):
        resolve_aus([6, 6])
    with pytest.raises(ValueError, match="empty"):
        resolve_aus([])


def test_centres_are_means_of_their_landmarks():
    landmarks = torch.rand(3, 68, 2, dtype=torch.float64) * 100
    centres = au_centres(landmarks, [1, 12, 17])
    assert centres.shape == (3, 3, MAX_CENTRES, 2)
    torch.testing.assert_close(centres[:, 0, 2], landmarks[:, [21, 22, 27]].mean(1))
    torch.testing.assert_close(centres[:, 1, 0], landmarks[:, 48])
    torch.testing.assert_close(centres[:, 1, 1], landmarks[:, 54])
    torch.testing.assert_close(centres[:, 2, 0], landmarks[:, [57, 8]].mean(1))
    assert torch.isnan(centres[:, 1, 2]).all() and torch.isnan(centres[:, 2, 1:]).all()


def test_a_nan_landmark_only_spoils_the_centres_built_from_it():
    landmarks = torch.rand(1, 68, 2) * 100
    landmarks[0, 48] = float("nan")
    centres = au_centres(landmarks, [12, 17])
    assert torch.isnan(centres[0, 0, 0]).all()
    assert torch.isfinite(centres[0, 0, 1]).all() and torch.isfinite(centres[0, 1, 0]).all()


def test_centres_reject_wrong_shapes_and_integer_landmarks():
    with pytest.raises(ValueError, match=r"landmarks must have shape \[B, 68, 2\]"):
        au_centres(torch.zeros(68, 2), "bp4d")
    with pytest.raises(TypeError, match="float"):
        au_centres(torch.zeros(1, 68, 2, dtype=torch.long), "bp4d")


def test_crop_and_heatmap_frames_are_inverse_and_align_pixel_centres():
    points = torch.tensor([[-0.5, -0.5], [1.5, 1.5], [255.5, 127.5]])
    heat = rescale_points(points, 256, 64)
    # The outer edge of the crop is the outer edge of the heatmap; 4 crop pixels make one.
    torch.testing.assert_close(heat[0], torch.tensor([-0.5, -0.5]))
    torch.testing.assert_close(heat[1], torch.tensor([0.0, 0.0]))
    torch.testing.assert_close(rescale_points(heat, 64, 256), points)
