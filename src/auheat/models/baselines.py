"""Direct regression, the baseline that shows what heatmaps add (Chapter 8).

The other baseline, training from scratch, is :class:`auheat.models.finetune.FineTune` on a
freshly initialised FAN (``build_model("scratch", ...)``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import torch
from torch import nn

from auheat.models.backbone import FAN
from auheat.models.base import AUModel, Output, freeze, parameters_outside

DirectTrain = Literal["all", "head"]
DIRECT_TRAIN_CHOICES: tuple[str, ...] = ("all", "head")


class DirectRegression(AUModel):
    """FAN features, global average pooling and a linear layer: [B, 3, H, W] -> intensities [B, K].

    The pooling and linear layer take the place of the last landmark convolution, so the FAN's
    own forward pass computes them and no landmark head is left unused.

    Args:
        fan: the pretrained landmark network.
        aus: the K AU numbers.
        train: ``"all"`` trains the FAN too (the fair match for fine-tuning); ``"head"`` trains
            only the linear layer (a linear probe of frozen features).
    """

    output: Output = "intensities"

    def __init__(self, fan: FAN, aus: tuple[int, ...], train: DirectTrain = "all") -> None:
        if train not in DIRECT_TRAIN_CHOICES:
            raise ValueError(f"train must be one of {', '.join(DIRECT_TRAIN_CHOICES)}, got {train!r}")
        super().__init__(aus, fan.stacks, fan.width)
        if train == "head":
            freeze(fan)
        fan.replace_last_head(
            nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(fan.width, len(aus)))
        )
        self.fan = fan
        self.train()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fan(x)[-1]

    def frozen_features(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(pooled last-stack features [B, width],): what the linear layer reads.

        Defined for both settings; only ``train="head"`` keeps it free of gradients, which
        :attr:`caches_features` checks.
        """
        stack = self.fan.forward_features(x).stacks[-1]
        return (self.pooled(stack),)

    def from_features(self, features: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.linear(features[0])

    def feature_parameters(self) -> Iterator[nn.Parameter]:
        """The landmark network's parameters but the pooling-and-linear head's."""
        return parameters_outside(self.fan, self.fan.get_submodule(f"l{self.fan.stacks - 1}"))

    @property
    def pooled(self) -> nn.Module:
        return self.fan.get_submodule(f"l{self.fan.stacks - 1}")[:2]

    @property
    def linear(self) -> nn.Module:
        return self.fan.get_submodule(f"l{self.fan.stacks - 1}")[2]
