"""Pretraining the landmark network on synthetic faces.

FAN is trained as in Bulat & Tzimiropoulos (2017): heatmap regression of the 68 landmarks with a
loss on every stack. The result is cached where :func:`auheat.models.weights.resolve_landmark_weights`
finds it, so the AU models can start from it when face_alignment's real 2DFAN4 is not at hand. Its
measures on real photos are :mod:`auheat.landmarkers`'.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from auheat.checkpoint import load_checkpoint
from auheat.config import TrainConfig
from auheat.data.dataset import PreparedDataset
from auheat.evaluation import evaluate_model
from auheat.landmarkers import Framing, photo_nme
from auheat.models.backbone import FAN
from auheat.models.weights import cache_dir, save_landmark_weights
from auheat.tasks import LandmarkTask
from auheat.train import LAST, Trainer


def pretrain_landmarks(
    data: str | Path,
    stacks: int = 1,
    width: int = 64,
    config: TrainConfig | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    weights: str | Path | None = None,
) -> tuple[Path, pd.DataFrame]:
    """Train a FAN on a prepared landmark dataset (SynthFACS's ``landmarks`` preset) and cache it.

    Args:
        data: the dataset folder; its ``train`` split trains, its ``test`` split (held-out
            subjects) is scored after every evaluation; the last epoch's weights are kept.
        stacks, width: the FAN's size.
        config: training choices; ``input_size`` should be the one the AU models will use.
        out: run folder (checkpoints, ``metrics.jsonl``); default under the cache folder.
        weights: where to write the network's weights; None: the cache's default, which every
            run that names no landmark weights starts from.

    Returns:
        The cached weights' path, and an NME table: held-out synthetic faces and each real photo.
    """
    config = config or TrainConfig()
    out = Path(out) if out is not None else cache_dir() / "runs" / f"landmarks-s{stacks}-w{width}"
    train, test = PreparedDataset(data, "train"), PreparedDataset(data, "test")
    torch.manual_seed(config.seed)
    network = FAN(stacks, width)
    trainer = Trainer(
        network,
        LandmarkTask(),
        train,
        test,
        out,
        config,
        info={"stacks": stacks, "width": width},
    )
    trainer.fit(resume=resume)
    load_checkpoint(out / LAST, network)
    weights = save_landmark_weights(network, weights, input_size=config.input_size)
    held_out = evaluate_model(
        network, test, LandmarkTask(), trainer.device, config.input_size, config.batch_size
    )
    framing = Framing.measure(train.landmarks, train.crop_size)
    photos = photo_nme(network, framing, config.input_size, str(trainer.device))
    table = pd.concat(
        [
            pd.DataFrame(
                {"NME": [held_out.record["NME_mean"]], "faces": [len(test)]},
                index=pd.Index(["held-out synthetic subjects"], name="scored on"),
            ),
            photos,
        ]
    )
    return weights, table
