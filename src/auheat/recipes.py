"""Sizes of runs that fit a machine, and the cached data and landmark network the chapters share.

A chapter asks for a :class:`Recipe` (``QUICK`` for the tests, ``CPU`` for a laptop build of the
book, ``PAPER`` for a GPU) and gets datasets and a pretrained landmark network that are made once
and cached under :func:`auheat.models.weights.cache_dir`, so re-running a chapter, or the next
chapter, does not render or train again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auheat.landmarks import pretrain_landmarks
from auheat.models import FAN, pretrained_fan
from auheat.models.weights import cache_dir, resolve_landmark_weights, trained_input_size
from auheat.synth.generate import generate_dataset
from auheat.train import LAST, TrainConfig


@dataclass(frozen=True)
class Recipe:
    """How large a run is: the landmark network, its input, and the data and epochs it gets."""

    name: str
    stacks: int  # hourglasses of the landmark network
    width: int  # its features
    input_size: int  # side of the network input, pixels (heatmaps are a quarter of it)
    landmark_frames_per_subject: int  # frames per subject of the ``landmarks`` preset (400 subjects)
    landmark_epochs: int
    au_frames_per_subject: int  # frames per subject of the AU presets
    au_epochs: int
    batch_size: int = 16
    lr: float = 1e-3

    def config(self, epochs: int | None = None, seed: int = 0) -> TrainConfig:
        """A training configuration of this size (AU epochs unless ``epochs`` is given)."""
        return TrainConfig(
            epochs=self.au_epochs if epochs is None else epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            input_size=self.input_size,
            seed=seed,
        )


# Every chapter's quick setting: enough to run each code path in seconds, too small to learn much.
QUICK = Recipe(
    "quick", 1, 32, 64, landmark_frames_per_subject=1, landmark_epochs=1, au_frames_per_subject=4, au_epochs=1
)
# A laptop CPU: a narrow 1-stack FAN at a quarter of the paper's input size (64 px, heatmaps of
# 16x16), sized so that the whole book builds in about an hour on 2 cores. At 64 px the landmark
# network learns several times faster per step than at 128 px, where the same schedule ended with
# landmarks worse than the training set's mean shape; so the budget goes to more epochs instead.
CPU = Recipe(
    "cpu", 1, 32, 64, landmark_frames_per_subject=8, landmark_epochs=20, au_frames_per_subject=30, au_epochs=6
)
# The paper's network (2DFAN4) on a GPU.
PAPER = Recipe(
    "paper",
    4,
    256,
    256,
    landmark_frames_per_subject=25,
    landmark_epochs=30,
    au_frames_per_subject=370,
    au_epochs=15,
)


def synthetic_dataset(preset: str, frames_per_subject: int, seed: int = 0, progress: bool = True) -> Path:
    """A SynthFACS dataset, generated on first use and cached (same arguments, same bytes)."""
    root = cache_dir() / "datasets" / f"{preset}-f{frames_per_subject}-s{seed}"
    if not (root / "meta.json").is_file():
        generate_dataset(preset, root, frames_per_subject, seed=seed, progress=progress)
    return root


def landmark_network(recipe: Recipe, progress: bool = True) -> tuple[FAN, str]:
    """The recipe's pretrained landmark network and where its weights came from.

    Weights are resolved as :func:`auheat.models.weights.resolve_landmark_weights` says (real
    2DFAN4 where face_alignment has downloaded it and the recipe is 256 wide); when none is
    found, the network is pretrained on SynthFACS's ``landmarks`` preset and cached.
    """
    run = cache_dir() / "runs" / f"landmarks-{recipe.name}"
    try:
        found = resolve_landmark_weights(None, recipe.stacks, recipe.width)
        trained_at = trained_input_size(found.path) if found.source == "auheat" else recipe.input_size
        if trained_at != recipe.input_size:
            # The cache is keyed by stacks and width; a network pretrained at another input size
            # would transfer badly, and silently.
            raise ValueError(
                f"{found.path} was pretrained at input size {trained_at or 'unknown'}, but recipe "
                f"{recipe.name!r} runs at {recipe.input_size}: delete it (and the run folder "
                f"{run}) to pretrain again"
            )
    except FileNotFoundError:
        data = synthetic_dataset("landmarks", recipe.landmark_frames_per_subject, progress=progress)
        config = recipe.config(recipe.landmark_epochs)
        # An interrupted pretraining continues where it stopped.
        pretrain_landmarks(data, recipe.stacks, recipe.width, config, run, (run / LAST).exists(), progress)
        found = resolve_landmark_weights(None, recipe.stacks, recipe.width)
    return pretrained_fan(recipe.stacks, recipe.width, found.path), f"{found.source}: {found.path}"
