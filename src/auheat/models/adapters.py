"""Transfer by adaptation layers (the paper's method b, Chapter 5): the landmark network is frozen, small new
layers learn the AUs.

:class:`Adapters` follows the "adaptation" model released by the authors' group: new layers on
top of the frozen FAN's stem features and landmark heatmaps. :class:`ResidualAdapters` puts the
new layers inside the frozen FAN instead, as residual adapters (Rebuffi et al.).

The released model is known from code that reuses its DISFA checkpoint ("disfa_adaptation_f0"):
chi0tzp/WarpedGANSpace, ``lib/evaluation/au_detector/hourglass.py`` (``FANAU``, ``HourGlass``,
``ConvBlock``, ``init_weights``). That code shows the layers and their start, not how they were
trained.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from face_alignment.models.fan import HourGlass
from torch import nn

from auheat.aus import NUM_LANDMARKS
from auheat.models.backbone import FAN
from auheat.models.base import AUModel, freeze, replace_modules

Design = Literal["released", "light"]
DESIGNS: tuple[str, ...] = ("released", "light")
BatchNormMode = Literal["task", "frozen"]
BATCHNORM_MODES: tuple[str, ...] = ("task", "frozen")


def pointwise(in_channels: int, out_channels: int, bias: bool = False) -> nn.Sequential:
    """1x1 convolution + BatchNorm + ReLU6, the building block of the released adaptation layers.

    [B, in_channels, h, w] -> [B, out_channels, h, w]. ``bias``: the released layers keep the
    convolution's bias; the BatchNorm after it cancels it, so it adds parameters but no function.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=bias),
        nn.BatchNorm2d(out_channels),
        nn.ReLU6(inplace=True),
    )


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """The released layers' start: convolution weights from N(0, std), BatchNorm scales from
    N(1, std), biases zero."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


class ReleasedConvBlock(nn.Module):
    """The released adaptation layers' ConvBlock: [B, F, h, w] -> [B, F, h, w].

    Three convolutions of ``kernel_size`` (F -> F/2 -> F/4 -> F/4, no bias), each followed by
    BatchNorm and ReLU6; their three outputs are concatenated back to F channels and added to the
    input. It is written here, not taken from face_alignment, because face_alignment's ConvBlock is
    pre-activation (BatchNorm -> ReLU -> convolution) and 3x3 only, while the released block is
    conv -> BN -> ReLU6 and 1x1 on the hourglass's upper branches. The released block also
    projects the residual when its input and output widths differ; inside the hourglass they never
    do, so this one keeps F channels throughout.
    """

    def __init__(self, features: int, kernel_size: int = 3) -> None:
        super().__init__()
        half, quarter, pad = features // 2, features // 4, kernel_size // 2
        self.conv1 = nn.Conv2d(features, half, kernel_size, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(half, quarter, kernel_size, padding=pad, bias=False)
        self.bn2 = nn.BatchNorm2d(quarter)
        self.conv3 = nn.Conv2d(quarter, quarter, kernel_size, padding=pad, bias=False)
        self.bn3 = nn.BatchNorm2d(quarter)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = F.relu6(self.bn1(self.conv1(x)))
        out2 = F.relu6(self.bn2(self.conv2(out1)))
        out3 = F.relu6(self.bn3(self.conv3(out2)))
        return torch.cat((out1, out2, out3), 1) + x


class ReleasedHourGlass(nn.Module):
    """The released adaptation layers' hourglass: [B, F, h, w] -> [B, F, h, w], h divisible by 2**depth.

    Per level, the upper branch ``b1_{level}`` is a 1x1 :class:`ReleasedConvBlock` at the level's
    full resolution; the lower branch max-pools by 2, runs 3x3 blocks ``b2_{level}``, the next
    level (or ``b2_plus_1`` at the bottom) and ``b3_{level}``, and is upsampled (nearest) back and
    added. Module names are face_alignment's. It is written here because face_alignment's
    hourglass average-pools and builds its own pre-activation blocks; the released one max-pools.
    """

    def __init__(self, depth: int, features: int) -> None:
        super().__init__()
        self.depth = depth
        self.features = features
        for level in range(depth, 0, -1):  # face_alignment's module order: outer level first
            self.add_module(f"b1_{level}", ReleasedConvBlock(features, kernel_size=1))
            self.add_module(f"b2_{level}", ReleasedConvBlock(features))
        self.add_module("b2_plus_1", ReleasedConvBlock(features))
        for level in range(1, depth + 1):
            self.add_module(f"b3_{level}", ReleasedConvBlock(features))

    def level(self, level: int, x: torch.Tensor) -> torch.Tensor:
        """The hourglass from ``level`` down, on [B, F, s, s] (s divisible by 2**level)."""
        up = self._modules[f"b1_{level}"](x)
        low = self._modules[f"b2_{level}"](F.max_pool2d(x, 2, stride=2))
        low = self.level(level - 1, low) if level > 1 else self._modules["b2_plus_1"](low)
        low = self._modules[f"b3_{level}"](low)
        return up + F.interpolate(low, scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.level(self.depth, x)


class LightHourGlass(HourGlass):
    """face_alignment's hourglass with one pointwise block on each upper (full-resolution) branch.

    The upper branch ``b1_{level}`` runs at the highest resolution of each level, so making it a
    single 1x1 block (:func:`pointwise`, no residual) removes most of the hourglass's cost; the
    lower branch keeps face_alignment's pre-activation ConvBlocks and average pooling. Its forward
    pass is face_alignment's. The ``"light"`` design of :class:`Adapters`.
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
    :func:`pointwise` to ``features`` channels and summed; an hourglass follows, then a pointwise
    block (``neck``) and a 1x1 convolution (``head``) to K heatmaps. Only these layers train; the
    FAN runs in eval mode and without gradient.

    Two designs:

    - ``"released"``: the released model's layers. The hourglass is a :class:`ReleasedHourGlass`
      (conv -> BN -> ReLU6 blocks, three 1x1 layers concatenated with a residual on each upper
      branch, max pooling); the pointwise convolutions keep their bias; every new weight starts
      from :func:`init_normal`. The released code applies that start to its whole model before
      loading the checkpoint, landmark network included; here the landmark network keeps its
      pretrained weights, as it must have when the released layers were trained. Two departures
      lie outside these layers: the released landmark network is built from the same
      conv -> BN -> ReLU6 blocks and max-pools its stem, where this one is face_alignment's FAN;
      and the released model min-max normalises its input batch, where every model here reads
      images in [0, 1].
    - ``"light"``: a cheaper variant, :class:`LightHourGlass` (a single 1x1 block without residual
      on each upper branch, face_alignment's pre-activation blocks and average pooling below),
      pointwise convolutions without bias, PyTorch's default start.

    Args:
        fan: the pretrained landmark network; frozen here.
        aus: the K AU numbers.
        features: channels of the adaptation layers (default: the FAN's width; the released
            model has 128, on a 128-wide FAN).
        depth: levels of the hourglass; the heatmap side must be divisible by 2**depth.
        design: ``"released"`` or ``"light"``, as above.
    """

    # 2: the released design (post-activation blocks, max pooling, N(0, 0.02) start) is the default
    version = 2

    def __init__(
        self,
        fan: FAN,
        aus: tuple[int, ...],
        features: int | None = None,
        depth: int = 4,
        design: Design = "released",
    ) -> None:
        if design not in DESIGNS:
            raise ValueError(f"design must be one of {', '.join(DESIGNS)}, got {design!r}")
        super().__init__(aus, fan.stacks, fan.width)
        features = features or fan.width
        if features % 4:
            raise ValueError(f"features must be a multiple of 4 (ConvBlock quarters it), got {features}")
        freeze(fan)
        self.fan = fan
        self.design = design
        released = design == "released"
        self.from_heatmaps = pointwise(NUM_LANDMARKS, features, bias=released)
        self.from_stem = pointwise(fan.width, features, bias=released)
        self.hourglass = ReleasedHourGlass(depth, features) if released else LightHourGlass(depth, features)
        self.neck = pointwise(features, features, bias=released)
        self.head = nn.Conv2d(features, len(aus), kernel_size=1)
        if released:
            for part in (self.from_heatmaps, self.from_stem, self.hourglass, self.neck, self.head):
                init_normal(part)
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

    [B, 3, H, W] -> [B, K, H/4, W/4]. Trainable: the adapters (about 1/9 of the 3x3 weights), the
    head, and with ``batchnorm="task"`` every BatchNorm of the FAN.

    Args:
        fan: the pretrained landmark network; its convolutions are frozen here.
        aus: the K AU numbers.
        batchnorm: ``"task"`` gives the AU task its own BatchNorm, as Rebuffi et al. learn one
            per task: the FAN's BatchNorm layers start from the landmark network's and train
            (affine parameters by gradient, running statistics on the AU data in train mode).
            ``"frozen"`` keeps the landmark network's BatchNorm, statistics included.
    """

    version = 2  # 2: task-specific BatchNorm by default

    def __init__(self, fan: FAN, aus: tuple[int, ...], batchnorm: BatchNormMode = "task") -> None:
        if batchnorm not in BATCHNORM_MODES:
            raise ValueError(f"batchnorm must be one of {', '.join(BATCHNORM_MODES)}, got {batchnorm!r}")
        super().__init__(aus, fan.stacks, fan.width)
        freeze(fan)
        if batchnorm == "task":
            # Trainable parameters also keep the layer in train mode (AUModel.train), so its
            # running statistics follow the AU data.
            for module in fan.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.requires_grad_(True)
        replace_modules(fan, _is_convblock_conv, ParallelAdapter)
        fan.replace_last_head(nn.Conv2d(fan.width, len(aus), kernel_size=1))
        self.fan = fan
        self.batchnorm = batchnorm
        self.train()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fan(x)[-1]


def _is_convblock_conv(module: nn.Module) -> bool:
    """FAN's 3x3 convolutions: all of them sit inside ConvBlocks (stride 1, padding 1)."""
    return isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3)
