from dataclasses import replace

import pytest

from auheat.config import TrainConfig
from auheat.models.weights import pretrained_landmarks_path, read_state_dict
from auheat.recipes import QUICK, RECIPES, Recipe, landmark_network, shorter_prior, synthetic_dataset


def test_datasets_and_the_landmark_network_are_made_once_and_cached(tmp_path, monkeypatch):
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
    weights = pretrained_landmarks_path(1, 16)
    assert source == f"auheat: {weights}" and network.width == 16
    import auheat.recipes as recipes

    def never(*args, **kwargs):
        raise AssertionError("the cached landmark network was trained again")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recipes, "pretrain_landmarks", never)
        again, _ = landmark_network(tiny)  # found, not trained again
    assert again.state_dict().keys() == network.state_dict().keys()
    # the same stacks and width at another input size: the cached weights do not fit it
    with pytest.raises(ValueError, match="pretrained at input size 64, but this run's input size is 96"):
        landmark_network(replace(tiny, name="wider", training=TrainConfig(input_size=96)))
    root = synthetic_dataset("landmarks", 1)
    assert root == tmp_path / "datasets" / "landmarks-f1-s0" and (root / "meta.json").is_file()
    # a shorter prior is pretrained apart: the default network every run starts from stays as it was
    default = weights.read_bytes()
    short = shorter_prior(replace(tiny, landmark_epochs=3), 1)
    assert short == tmp_path / "runs" / "landmarks-tiny-e1" / "weights.safetensors"
    assert weights.read_bytes() == default
    assert read_state_dict(short).keys() == network.state_dict().keys()
    with pytest.raises(ValueError, match="epochs must be positive"):
        shorter_prior(tiny, 0)


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
        "disfa-like-f1-s0",
        "disfa-like-f1-s0.lock",
    ]
