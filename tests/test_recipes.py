from dataclasses import replace

import pytest

from auheat.checkpoint import read_info
from auheat.config import TrainConfig
from auheat.models.weights import pretrained_fan, pretrained_landmarks_path, read_state_dict
from auheat.recipes import (
    QUICK,
    RECIPES,
    Recipe,
    at_input_size,
    landmark_network,
    landmark_run_folder,
    landmark_weights,
    synthetic_dataset,
)
from auheat.synth.generate import renderer_digest
from auheat.train import LAST


def test_each_recipe_pretrains_its_own_landmark_network_once_and_leaves_the_default_alone(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("AUHEAT_CACHE", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    tiny = Recipe(
        "tiny",
        1,
        16,
        TrainConfig(steps=1, input_size=64),
        landmark_frames_per_subject=1,
        landmark_epochs=1,
        au_frames_per_subject=1,
    )
    network, source = landmark_network(tiny)
    weights = landmark_run_folder(tiny) / "weights.safetensors"
    assert weights.parent.parent == tmp_path / "runs" and weights.parent.name.startswith("landmarks-tiny-")
    assert source == f"recipe 'tiny': <cache>/{weights.relative_to(tmp_path)}" and network.width == 16
    assert not pretrained_landmarks_path(1, 16).exists()  # runs that name no weights are not affected
    import auheat.recipes as recipes

    def never(*args, **kwargs):
        raise AssertionError("the cached landmark network was trained again")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recipes, "pretrain_landmarks", never)
        again, _ = landmark_network(tiny)  # found, not trained again
        # another recipe of the same network size does not take tiny's network, nor does tiny
        # once its pretraining changes
        for other in (replace(tiny, name="other"), replace(tiny, landmark_epochs=2)):
            with pytest.raises(AssertionError, match="trained again"):
                landmark_weights(other)
    assert again.state_dict().keys() == network.state_dict().keys()
    # the weights record their input size: a run at another size is refused
    with pytest.raises(ValueError, match="pretrained at input size 64, but this run's input size is 96"):
        pretrained_fan(1, 16, weights, input_size=96)
    root = synthetic_dataset("landmarks", 1)
    assert root == tmp_path / "datasets" / f"landmarks-f1-s0-{renderer_digest()}"
    assert (root / "meta.json").is_file()
    # a shorter prior is pretrained apart: the recipe's own network stays as it was
    own = weights.read_bytes()
    short = landmark_weights(replace(tiny, landmark_epochs=3), epochs=1)
    assert short == landmark_run_folder(tiny, epochs=1) / "weights.safetensors" != weights
    assert weights.read_bytes() == own
    assert read_state_dict(short).keys() == network.state_dict().keys()
    with pytest.raises(ValueError, match="epochs must be positive"):
        landmark_weights(tiny, epochs=0)
    # another seed is another draw of the same pretraining, in its own folder
    other_draw = landmark_weights(tiny, seed=1)
    assert other_draw == landmark_run_folder(tiny, seed=1) / "weights.safetensors"
    assert other_draw.parent.name.startswith("landmarks-tiny-s1-") and weights.read_bytes() == own
    assert other_draw.read_bytes() != own and read_info(other_draw.parent / LAST)["config"]["seed"] == 1


def test_recipes_make_training_configurations():
    config = QUICK.config()
    assert config == QUICK.training and (config.steps, config.input_size, config.loss) == (
        8,
        64,
        "weighted_mse",
    )
    assert QUICK.config(steps=3, seed=2).steps == 3 and QUICK.config(seed=2).seed == 2
    landmarks = QUICK.landmark_config()
    assert (landmarks.epochs, landmarks.steps) == (QUICK.landmark_epochs, None)
    assert set(RECIPES) == {"quick", "cpu", "paper"}


def test_a_recipe_at_another_input_side_keeps_its_own_landmark_network_and_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("AUHEAT_CACHE", str(tmp_path))
    larger = at_input_size(QUICK, 128)
    assert (larger.name, larger.input_size, larger.config().input_size) == ("quick128", 128, 128)
    assert larger.landmark_config().input_size == 128 and larger.landmark_epochs == QUICK.landmark_epochs
    assert landmark_run_folder(larger) != landmark_run_folder(QUICK)  # pretrained at its own side
    with pytest.raises(ValueError, match="multiple of 4"):
        at_input_size(QUICK, 126)


def _make_dataset(cache: str, start) -> int:
    """In a process of its own (forked: the libraries are already imported), wait for the other
    one, then ask for the same dataset."""
    import os

    os.environ["AUHEAT_CACHE"] = cache
    start.wait()
    root = synthetic_dataset("disfa-like", 1)
    return (root / "meta.json").stat().st_mtime_ns


def test_two_processes_asking_for_one_dataset_make_it_once(tmp_path):
    # Two notebooks (or two chapters of a parallel book build) share one cache: without a lock
    # both would generate the dataset and the second rename would fail.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    start = context.Manager().Barrier(2)
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        made = [pool.submit(_make_dataset, str(tmp_path), start) for _ in range(2)]
        stamps = [job.result(timeout=300) for job in made]
    assert stamps[0] == stamps[1], "the second process made the dataset again"
    assert sorted(p.name for p in (tmp_path / "datasets").iterdir()) == [
        f"disfa-like-f1-s0-{renderer_digest()}",
        f"disfa-like-f1-s0-{renderer_digest()}.lock",
    ]
