"""Transfer by adaptation layers (the paper's method b, Chapter 5): the landmark network is frozen, small new
layers learn the AUs.

:class:`Adapters` is the design of the "adaptation" model released by the authors' group: new
layers on top of the frozen FAN's stem features and landmark heatmaps. :class:`ResidualAdapters`
puts the new layers inside the frozen FAN instead, as residual adapters (Rebuffi et al.).
"""

from __future__ import annotations

import torch
from face_alignment.models.fan import HourGlass
from torch import nn

from auheat.aus import NUM_LANDMARKS
from auheat.models.backbone import FAN
from auheat.models.base import AUModel, freeze, replace_modules


def pointwise(in_channels: int, out_channels: int) -> nn.Sequential:
    """1x1 convolution + BatchNorm + ReLU6, the building block of the released adaptation layers."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU6(inplace=True),
    )


class LightHourGlass(HourGlass):
    """face_alignment's hourglass with 1x1 blocks on the upper (full-resolution) branch.

    The upper branch ``b1_{level}`` runs at the highest resolution of each level, so making it a
    1x1 block (:func:`pointwise`) removes most of the hourglass's cost; the lower branch keeps
    face_alignment's ConvBlocks. Its forward pass is face_alignment's.
    """

    def __init__(self, depth: int, features: int) -> None:
        super().__init__(1, depth, features)

    def _generate_network(self, level: int) -> None:
        # HourGlass builds level by level through this method; replacing b1_ right after the
        # parent creates it keeps face_alignment's module order and forward pass.
        super()._generate_network(level)
        self._modules[f"b1_{level}"] = pointwise(self.features, self.features)


class Adapters(AUModel):
    """Frozen FAN + adaptation layers: [B, 3, H, W] -> [B, K, H/4, W/4].

    The last stack's landmark heatmaps (68 channels) and the stem features are each mapped by
    :func:`pointwise` to ``features`` channels and summed; a :class:`LightHourGlass` follows, then
    a pointwise block and a 1x1 convolution to K heatmaps. Only these layers train; the FAN runs
    in eval mode and without gradient.

    Args:
        fan: the pretrained landmark network; frozen here.
        aus: the K AU numbers.
        features: channels of the adaptation layers (default: the FAN's width).
        depth: levels of the light hourglass; the heatmap side must be divisible by 2**depth.
    """

    def __init__(self, fan: FAN, aus: tuple[int, ...], features: int | None = None, depth: int = 4) -> None:
        super().__init__(aus, fan.stacks, fan.width)
        features = features or fan.width
        if features % 4:
            raise ValueError(f"features must be a multiple of 4 (ConvBlock quarters it), got {features}")
        freeze(fan)
        self.fan = fan
        self.from_heatmaps = pointwise(NUM_LANDMARKS, features)
        self.from_stem = pointwise(fan.width, features)
        self.hourglass = LightHourGlass(depth, features)
        self.neck = pointwise(features, features)
        self.head = nn.Conv2d(features, len(aus), kernel_size=1)
        self.train()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_features(self.frozen_features(x))

    @torch.no_grad()  # the FAN is frozen: no activations kept for a backward pass
    def frozen_features(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(last-stack landmark heatmaps [B, 68, h, w], stem features [B, width, h, w])."""
        feats = self.fan.forward_features(x)
        return feats.heatmaps[-1], feats.stem

    def from_features(self, features: tuple[torch.Tensor, ...]) -> torch.Tensor:
        heatmaps, stem = features
        h = self.from_heatmaps(heatmaps) + self.from_stem(stem)
        return self.head(self.neck(self.hourglass(h)))


class ParallelAdapter(nn.Module):
    """A frozen 3x3 convolution with a trainable 1x1 convolution beside it: ``conv(x) + adapter(x)``.

    The parallel residual adapter of Rebuffi et al. (2017; the parallel form is their 2018
    follow-up). The adapter starts at zero, so before training the output equals the frozen
    convolution's.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv
        self.adapter = nn.Conv2d(
            conv.in_channels, conv.out_channels, kernel_size=1, stride=conv.stride, bias=False
        )
        nn.init.zeros_(self.adapter.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.adapter(x)


class ResidualAdapters(AUModel):
    """Frozen FAN with a :class:`ParallelAdapter` on every 3x3 convolution and a new K-channel head.

    [B, 3, H, W] -> [B, K, H/4, W/4]. Trainable: the adapters (about 1/9 of the 3x3 weights) and
    the head; FAN's weights and BatchNorm statistics stay as pretrained.
    """

    def __init__(self, fan: FAN, aus: tuple[int, ...]) -> None:
        super().__init__(aus, fan.stacks, fan.width)
        freeze(fan)
        replace_modules(fan, _is_convblock_conv, ParallelAdapter)
        fan.replace_last_head(nn.Conv2d(fan.width, len(aus), kernel_size=1))
        self.fan = fan
        self.train()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fan(x)[-1]


def _is_convblock_conv(module: nn.Module) -> bool:
    """FAN's 3x3 convolutions: all of them sit inside ConvBlocks (stride 1, padding 1)."""
    return isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3)
