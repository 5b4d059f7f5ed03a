"""Sizes of runs that fit a machine, and the cached data and landmark network the chapters share.

A chapter asks for a :class:`Recipe` (``QUICK`` for the tests, ``CPU`` for a laptop build of the
book, ``PAPER`` for a GPU) and gets datasets and a pretrained landmark network that are made once
and cached under :func:`auheat.models.weights.cache_dir`, so re-running a chapter, or the next
chapter, does not render or train again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from auheat.cache import cache_dir, made_once
from auheat.config import TrainConfig
from auheat.data.digest import dataset_digest
from auheat.landmarkers import hub_checkpoint_path
from auheat.models import FAN
from auheat.models.weights import FAN4_STACKS, FAN4_WIDTH, pretrained_fan
from auheat.pretraining import pretrain_landmarks
from auheat.synth.generate import generate_dataset, renderer_digest
from auheat.train import LAST


@dataclass(frozen=True)
class Recipe:
    """How large a run is: the landmark network, the data, and the AU runs' training choices.

    The AU runs' loss, input size and schedule are part of the recipe (``training``): a small
    network on small maps needs the weighted loss to leave the all-zero answer (see
    :class:`auheat.tasks.AUTask`), where the paper's network on 64x64 maps is trained with the
    paper's plain MSE.
    """

    name: str
    stacks: int  # hourglasses of the landmark network
    width: int  # its features
    training: TrainConfig  # the AU runs' choices: step budget, batch, learning rate, input size, loss
    landmark_frames_per_subject: int  # frames per subject of the ``landmarks`` preset (400 subjects)
    landmark_epochs: int
    au_frames_per_subject: int  # frames per subject of the AU presets
    design: str = "variable"  # AU target design (auheat.heatmaps)

    @property
    def input_size(self) -> int:
        """The side of the network input in pixels, for the AU runs and the landmark network."""
        return self.training.input_size

    def config(self, steps: int | None = None, seed: int = 0) -> TrainConfig:
        """The AU runs' training configuration (``training.steps`` unless ``steps`` is given)."""
        return replace(self.training, steps=self.training.steps if steps is None else steps, seed=seed)

    def landmark_config(self, seed: int = 0, epochs: int | None = None) -> TrainConfig:
        """The landmark network's pretraining configuration: the AU runs' batch, learning rate,
        input size and threads, for ``landmark_epochs`` epochs (``epochs`` instead, for a shorter
        prior), evaluated :data:`LANDMARK_EVALUATIONS` times."""
        t = self.training
        return TrainConfig(
            epochs=self.landmark_epochs if epochs is None else epochs,
            batch_size=t.batch_size,
            lr=t.lr,
            input_size=t.input_size,
            seed=seed,
            threads=t.threads,
            evaluations=LANDMARK_EVALUATIONS,
        )


#: Held-out evaluations of a landmark pretraining (every fifth epoch of the CPU recipe's 60): enough
#: points for its learning curve, where scoring after every epoch, each a pass over the held-out
#: faces and a checkpoint, took a tenth of the pretraining's time.
LANDMARK_EVALUATIONS = 12


def runs_folder(recipe: Recipe, seed: int) -> Path:
    """Where the chapters keep the AU runs of a recipe and seed: Chapters 4 to 7 train there the
    runs Chapter 8's benchmark reads, and Chapter 9 reads its model from there."""
    return cache_dir() / "runs" / f"benchmark-{recipe.name}-seed{seed}"


def landmark_run_folder(recipe: Recipe, epochs: int | None = None, seed: int = 0) -> Path:
    """The run folder of the recipe's landmark pretraining (of ``epochs`` epochs instead of the
    recipe's own, for a shorter prior; with another ``seed``, for another draw of it).

    Its name ends in a digest of what the pretraining depends on (the network's size, its faces'
    content, its training configuration), so a recipe whose pretraining changes pretrains again
    instead of reading the network of its old setting. Naming the faces by their content generates
    them first where the cache has none (:func:`synthetic_dataset`).
    """
    config = recipe.landmark_config(seed=seed, epochs=epochs)
    record = {"config": asdict(config), "size": [recipe.stacks, recipe.width]}
    data = synthetic_dataset("landmarks", recipe.landmark_frames_per_subject)
    record["data"] = dataset_digest(data)
    digest = hashlib.sha1(json.dumps(record, sort_keys=True).encode()).hexdigest()[:8]
    name = (
        f"landmarks-{recipe.name}{'' if epochs is None else f'-e{epochs}'}{'' if seed == 0 else f'-s{seed}'}"
    )
    return cache_dir() / "runs" / f"{name}-{digest}"


# The CPU recipes' target design. On their 16x16 maps the variable design draws an intensity-1 AU
# as a spike of about one pixel (std 0.44 px), which a small network learns poorly: on disfa-like
# fold 0, fixed targets beat variable ones by +0.075 mean ICC for fine-tuning (95 % interval over
# test subjects 0.042 to 0.136) and +0.137 for training from scratch. Chapter 8 measures it on
# every fold (its Q1). The paper's 64x64 maps keep the variable design.
SMALL_MAP_DESIGN = "fixed"
#: Every chapter's quick setting: enough to run each code path in seconds, too small to learn much.
QUICK = Recipe(
    "quick",
    1,
    32,
    TrainConfig(steps=8, input_size=64, loss="weighted_mse", calibrate=True),
    landmark_frames_per_subject=1,
    landmark_epochs=2,  # two, so that Chapter 8's shorter prior (a third, at least one) is shorter
    au_frames_per_subject=4,
    design=SMALL_MAP_DESIGN,
)
#: A laptop CPU: a narrow 1-stack FAN at a quarter of the paper's input size (64 px, heatmaps of
#: 16x16), sized from measurements on 2 cores (see the README's "CPU recipe"). Twice the side buys
#: much (measured on the three disfa-like folds, one seed): the same pretraining at 128 px (about 10
#: minutes) reaches a held-out landmark NME of 0.052 (0.041 at 64 px; the mean shape 0.140), and
#: fine-tuning's mean ICC rises from 0.354 to 0.459 (scratch 0.273 to 0.405), at four times the
#: multiply-adds per run; the book's build pretrained other weights with the same digest (NME 0.056)
#: and measured 0.510: a pretraining repeats bit for bit only on as many CPU threads (two 128-px
#: pretrainings on two threads agree, one on one thread does not; checkpoints record the count),
#: so a prior is a draw as a seed is. 30 epochs at 128 px end at NME 0.121 and 0.422. The
#: book's hour holds the 64-pixel recipe, and Chapter 8 measures the larger side
#: (:func:`at_input_size`). Its 60 epochs (about 4 minutes on two cores)
#: are what the frozen methods need: after 20, its landmarks on the disfa-like crops were no closer
#: than the mean shape, and the adaptation layers trailed fine-tuning by far more (Chapter 8
#: measures both priors).
CPU = Recipe(
    "cpu",
    1,
    32,
    TrainConfig(
        steps=1500,
        batch_size=32,
        lr=2e-3,
        warmup_steps=50,
        input_size=64,
        loss="weighted_mse",
        calibrate=True,
        evaluations=5,
    ),
    landmark_frames_per_subject=8,
    landmark_epochs=60,
    au_frames_per_subject=80,
    design=SMALL_MAP_DESIGN,
)
#: The paper's network (2DFAN4) on a GPU, with the paper's plain MSE on 64x64 maps.
PAPER = Recipe(
    "paper",
    4,
    256,
    TrainConfig(steps=20_000, batch_size=32, lr=2.5e-4, warmup_steps=500, input_size=256, evaluations=10),
    landmark_frames_per_subject=25,
    landmark_epochs=30,
    au_frames_per_subject=370,
)


def at_input_size(recipe: Recipe, input_size: int) -> Recipe:
    """``recipe`` at another input side, for its AU runs and its landmark network alike (a run
    cannot start from a network pretrained at another side: :func:`auheat.models.weights.pretrained_fan`
    refuses). It is named after the side (``cpu128``), so it keeps a landmark network and runs of its
    own; its maps are a quarter of the side, and its targets' lengths scale with them."""
    if input_size < 16 or input_size % 4:
        raise ValueError(f"input_size must be a multiple of 4 of at least 16, got {input_size}")
    training = replace(recipe.training, input_size=input_size)
    return replace(recipe, name=f"{recipe.name}{input_size}", training=training)


#: The recipes by name.
RECIPES: dict[str, Recipe] = {r.name: r for r in (QUICK, CPU, PAPER)}


def synthetic_dataset(preset: str, frames_per_subject: int, seed: int = 0) -> Path:
    """A SynthFACS dataset, generated on first use and cached (same arguments, same bytes).

    Its folder is named by the renderer too (:func:`auheat.synth.generate.renderer_digest`): an
    edit of the renderer's code makes the dataset again. Runs are named by the dataset's content
    (:mod:`auheat.data.digest`), so an edit that leaves the bytes alike trains nothing again.
    """
    name = f"{preset}-f{frames_per_subject}-s{seed}-{renderer_digest()}"
    root = cache_dir() / "datasets" / name
    with made_once(root):
        if not (root / "meta.json").is_file():
            generate_dataset(preset, root, frames_per_subject, seed=seed)
    return root


def landmark_weights(recipe: Recipe, epochs: int | None = None, seed: int = 0) -> Path:
    """The weights of the recipe's landmark network, pretrained first if they are missing.

    face_alignment's 2DFAN4 where it serves the recipe (256 wide, up to 4 stacks, downloaded into
    the torch hub cache); else the recipe's own pretraining on SynthFACS's ``landmarks`` preset,
    cached in its run folder (:func:`landmark_run_folder`). Each recipe keeps its own network:
    two recipes of one network size never share one (the quick recipe's one-epoch network would
    otherwise serve the CPU recipe's runs), and the cache's default network, which runs that name
    no weights start from, is left to ``auheat pretrain-landmarks --set-default``. ``epochs``
    instead of the recipe's own gives a shorter prior, to measure what the pretraining buys;
    another ``seed`` another draw of the same pretraining (its spread is as large as the effects
    the book reads, so Chapter 9 pools over two), never 2DFAN4. An interrupted pretraining
    continues where it stopped.
    """
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be positive, got {epochs}")
    hub = hub_checkpoint_path()
    fan4 = recipe.width == FAN4_WIDTH and recipe.stacks <= FAN4_STACKS
    if epochs is None and seed == 0 and hub.is_file() and fan4:
        return hub
    run = landmark_run_folder(recipe, epochs, seed)
    weights = run / "weights.safetensors"
    with made_once(run):
        if not weights.is_file():
            data = synthetic_dataset("landmarks", recipe.landmark_frames_per_subject)
            config, resume = recipe.landmark_config(seed=seed, epochs=epochs), (run / LAST).exists()
            pretrain_landmarks(data, recipe.stacks, recipe.width, config, run, resume, weights)
    return weights


def landmark_network(recipe: Recipe) -> tuple[FAN, str]:
    """The recipe's pretrained landmark network (:func:`landmark_weights`, loaded by
    :func:`auheat.models.weights.pretrained_fan` at the recipe's input size) and where its weights
    came from (``<cache>`` stands for :func:`auheat.cache.cache_dir`)."""
    weights = landmark_weights(recipe)
    network = pretrained_fan(recipe.stacks, recipe.width, weights, input_size=recipe.input_size)
    if weights == hub_checkpoint_path():
        return network, f"face_alignment: {weights.name} in the torch hub cache"
    # Relative to the cache, so that a page does not print the builder's home folder.
    return network, f"recipe {recipe.name!r}: <cache>/{weights.relative_to(cache_dir())}"
