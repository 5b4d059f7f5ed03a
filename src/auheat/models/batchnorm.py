"""BatchNorm re-estimation (AdaBN, Li et al. 2016): the landmark network's normalisation statistics
measured on the AU data instead of the landmark data.

A frozen FAN normalises every layer with the running mean and variance of the faces it learnt
landmarks on. Recomputing those statistics on the frames of an AU dataset moves each layer's
features back to zero mean and unit variance there, without changing a single weight.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from auheat.models.base import AUModel


@torch.no_grad()
def reestimate_batchnorm(model: AUModel, batches: Iterable[torch.Tensor]) -> AUModel:
    """Recompute the running statistics of the landmark network's BatchNorm layers; returns ``model``.

    Every BatchNorm layer of ``model.fan`` (frozen or trainable) gets, as running mean and
    variance, the cumulative average over ``batches`` of each batch's mean and (unbiased) variance:
    PyTorch's ``momentum=None``. Each batch weighs the same, so give batches of one size. Weights,
    the layers a method added (their BatchNorm statistics included) and the model's train or eval
    mode stay as they were.

    Args:
        model: an AU model from :func:`auheat.models.build_model`.
        batches: images [B, 3, H, W] in [0, 1], e.g. frames of the AU dataset's training subjects;
            moved to the model's device.

    Raises:
        ValueError: ``batches`` is empty (the statistics are then left as they were).
    """
    norms = [m for m in model.fan.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    device = next(model.parameters()).device
    was_training = model.training
    # Only the BatchNorm layers run in train mode, so that they measure the batches and nothing
    # else (the added layers' BatchNorm included) changes.
    model.eval()
    seen = 0
    try:
        for images in batches:
            if not seen:  # reset only once a batch is there, so an empty iterable changes nothing
                for norm in norms:
                    norm.reset_running_stats()
                    norm.momentum = None
                    norm.train()
            model.fan(images.to(device))
            seen += 1
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
        model.train(was_training)
    if not seen:
        raise ValueError("batches is empty: give at least one batch of images [B, 3, H, W]")
    return model
