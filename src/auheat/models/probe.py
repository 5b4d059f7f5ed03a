"""A linear probe, the baseline that measures what the frozen landmark features hold for AUs.

One 1x1 convolution reads the features of the frozen FAN's last stack, the features its last
landmark head reads, and gives K AU heatmaps. Whatever a transfer method gains over the probe, it
gains by computing new features; whatever the probe reaches, the landmark network already knew.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from auheat.models.backbone import FAN
from auheat.models.base import AUModel, freeze, parameters_outside


class LinearProbe(AUModel):
    """Frozen FAN whose last landmark head becomes a 1x1 convolution to K AU heatmaps.

    [B, 3, H, W] -> [B, K, H/4, W/4]. Only the new convolution trains (``width * K + K``
    parameters). It takes the place of the last landmark head instead of sitting beside it, so
    the model runs no landmark head whose output nothing reads, and its cost is the landmark
    network's less that head's.

    Args:
        fan: the pretrained landmark network; frozen here.
        aus: the K AU numbers, in channel order.
    """

    def __init__(self, fan: FAN, aus: tuple[int, ...]) -> None:
        super().__init__(aus, fan.stacks, fan.width)
        freeze(fan)
        fan.replace_last_head(nn.Conv2d(fan.width, len(aus), kernel_size=1))
        self.fan = fan
        self.train()

    @property
    def head(self) -> nn.Conv2d:
        """The probe's 1x1 convolution, [B, width, h, w] -> [B, K, h, w]."""
        return self.fan.get_submodule(f"l{self.fan.stacks - 1}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The FAN's own pass runs the probe once, as its last head; nothing before it takes a
        # gradient, so autograd keeps no activation of the frozen layers.
        return self.fan(x)[-1]

    @torch.no_grad()
    def frozen_features(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(last-stack features [B, width, h, w],): what the last landmark head read.

        ``forward_features`` runs the probe too (a K-channel 1x1 convolution, once per cached
        frame); its output is dropped.
        """
        return (self.fan.forward_features(x).stacks[-1],)

    def from_features(self, features: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.head(features[0])

    def feature_parameters(self) -> Iterator[nn.Parameter]:
        """The landmark network's parameters but the probe's convolution."""
        return parameters_outside(self.fan, self.head)
