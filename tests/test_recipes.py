from dataclasses import replace

import pytest

from auheat.models.weights import pretrained_landmarks_path
from auheat.recipes import QUICK, RECIPES, Recipe, landmark_network, synthetic_dataset


def test_datasets_and_the_landmark_network_are_made_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("AUHEAT_CACHE", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    tiny = Recipe(
        "tiny",
        1,
        16,
        64,
        landmark_frames_per_subject=1,
        landmark_epochs=1,
        au_frames_per_subject=1,
        au_steps=1,
    )
    network, source = landmark_network(tiny, progress=False)
    weights = pretrained_landmarks_path(1, 16)
    assert source == f"auheat: {weights}" and network.width == 16
    import auheat.recipes as recipes

    def never(*args, **kwargs):
        raise AssertionError("the cached landmark network was trained again")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recipes, "pretrain_landmarks", never)
        again, _ = landmark_network(tiny, progress=False)  # found, not trained again
    assert again.state_dict().keys() == network.state_dict().keys()
    # the same stacks and width at another input size: the cached weights do not fit it
    with pytest.raises(ValueError, match="pretrained at input size 64, but recipe 'wider' runs at 96"):
        landmark_network(replace(tiny, name="wider", input_size=96), progress=False)
    root = synthetic_dataset("landmarks", 1, progress=False)
    assert root == tmp_path / "datasets" / "landmarks-f1-s0" and (root / "meta.json").is_file()


def test_recipes_make_training_configurations():
    config = QUICK.config()
    assert (config.steps, config.input_size, config.batch_size) == (QUICK.au_steps, 64, 16)
    assert (config.loss, config.foreground_weight) == (QUICK.loss, QUICK.foreground_weight)
    assert QUICK.config(steps=3, seed=2).steps == 3 and QUICK.config(seed=2).seed == 2
    landmarks = QUICK.landmark_config()
    assert (landmarks.epochs, landmarks.steps) == (QUICK.landmark_epochs, None)
    assert set(RECIPES) == {"quick", "cpu", "paper"}
