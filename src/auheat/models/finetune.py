"""Transfer by fine-tuning (the paper's method a, Chapter 4), and the same network trained from scratch.

The landmark network is kept whole; its last landmark convolution (68 heatmaps) is replaced by a
1x1 convolution to K AU heatmaps. Either every layer trains, or only the last stack.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from auheat.models.backbone import FAN
from auheat.models.base import AUModel, freeze

Train = Literal["all", "last_stack"]
TRAIN_CHOICES: tuple[str, ...] = ("all", "last_stack")


class FineTune(AUModel):
    """FAN with its last landmark head swapped for K AU heatmaps: [B, 3, H, W] -> [B, K, H/4, W/4].

    Args:
        fan: the landmark network, used as is (pretrained for fine-tuning, freshly initialised
            for the scratch baseline); it becomes part of this model.
        aus: the K AU numbers, in channel order.
        train: ``"all"`` trains every layer; ``"last_stack"`` freezes the stem and the earlier
            stacks (BatchNorm statistics included) and trains the last stack and the new head.
    """

    def __init__(self, fan: FAN, aus: tuple[int, ...], train: Train = "all") -> None:
        if train not in TRAIN_CHOICES:
            raise ValueError(f"train must be one of {', '.join(TRAIN_CHOICES)}, got {train!r}")
        super().__init__(aus, fan.stacks, fan.width)
        fan.replace_last_head(nn.Conv2d(fan.width, len(aus), kernel_size=1))
        self.fan = fan
        if train == "last_stack":
            for module in fan.stem_modules():
                freeze(module)
            for i in range(fan.stacks - 1):
                for module in fan.stack_modules(i):
                    freeze(module)
        self.train()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fan(x)[-1]
