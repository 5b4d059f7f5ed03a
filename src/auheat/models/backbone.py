"""The landmark network: face_alignment's FAN, with a width that CPU runs can afford.

FAN (Bulat & Tzimiropoulos, 2017) is a stem (7x7 convolution with stride 2, three ConvBlocks and
an average pool, so features are at 1/4 of the input size) followed by stacked hourglasses. Each
stack ends in a 1x1 convolution ``l{i}`` to 68 landmark heatmaps; between stacks, ``bl{i}`` and
``al{i}`` feed the stack's features and heatmaps back into the next one.

The modules are face_alignment's own (``ConvBlock``, ``HourGlass``, and ``FAN.forward``); only the
constructor is rewritten, because face_alignment hard-codes 256 features. Module names are kept,
so a 256-wide network loads face_alignment's released weights (2DFAN4) strictly.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from face_alignment.models import fan
from torch import nn

from auheat.aus import NUM_LANDMARKS


class FanFeatures(NamedTuple):
    """What :meth:`FAN.forward_features` exposes to the AU heads (input [B, 3, H, W])."""

    stem: torch.Tensor  # [B, width, H/4, W/4], after conv4, the input of the first hourglass
    stacks: list[torch.Tensor]  # per stack [B, width, H/4, W/4], the input of its head ``l{i}``
    heatmaps: list[torch.Tensor]  # per stack, the output of ``l{i}``: [B, 68, H/4, W/4] for FAN's heads


class FAN(fan.FAN):
    """face_alignment's FAN with ``stacks`` hourglasses of ``width`` features.

    ``FAN(4, 256)`` is exactly face_alignment's ``FAN(4)`` (2DFAN4, 23.8 M parameters): same module
    names and shapes. The stem scales with the width as face_alignment's does with 256
    (``width/4 -> width/2 -> width/2 -> width``). The AU model released by the authors' group uses a
    1-stack, 128-feature FAN; widths of 32-64 keep tests and CPU runs fast.

    Input: [B, 3, H, W] RGB in [0, 1], H and W multiples of 64 (the hourglass halves its input
    four times from H/4). ``forward`` is face_alignment's: a list with each stack's heatmaps.
    """

    def __init__(self, stacks: int = 4, width: int = 256) -> None:
        if stacks < 1:
            raise ValueError(f"stacks must be at least 1, got {stacks}")
        if width < 8 or width % 8:
            # ConvBlock splits its output into halves and quarters, and the stem starts at width/4.
            raise ValueError(f"width must be a positive multiple of 8, got {width}")
        # fan.FAN.__init__ is skipped on purpose: it would build the 256-wide modules that the
        # lines below rebuild at the asked width, under the same names and in the same order.
        nn.Module.__init__(self)
        self.num_modules = stacks
        self.width = width
        w = width
        self.conv1 = nn.Conv2d(3, w // 4, kernel_size=7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(w // 4)
        self.conv2 = fan.ConvBlock(w // 4, w // 2)
        self.conv3 = fan.ConvBlock(w // 2, w // 2)
        self.conv4 = fan.ConvBlock(w // 2, w)
        for i in range(stacks):
            self.add_module(f"m{i}", fan.HourGlass(1, 4, w))
            self.add_module(f"top_m_{i}", fan.ConvBlock(w, w))
            self.add_module(f"conv_last{i}", nn.Conv2d(w, w, kernel_size=1))
            self.add_module(f"bn_end{i}", nn.BatchNorm2d(w))
            self.add_module(f"l{i}", nn.Conv2d(w, NUM_LANDMARKS, kernel_size=1))
            if i < stacks - 1:
                self.add_module(f"bl{i}", nn.Conv2d(w, w, kernel_size=1))
                self.add_module(f"al{i}", nn.Conv2d(NUM_LANDMARKS, w, kernel_size=1))

    @property
    def stacks(self) -> int:
        """Number of stacked hourglasses (face_alignment calls it ``num_modules``)."""
        return self.num_modules

    def stem_modules(self) -> list[nn.Module]:
        """The modules before the first hourglass."""
        return [self.conv1, self.bn1, self.conv2, self.conv3, self.conv4]

    def stack_modules(self, i: int) -> list[nn.Module]:
        """The modules of stack ``i``, its feedback convolutions to the next stack included."""
        names = [f"m{i}", f"top_m_{i}", f"conv_last{i}", f"bn_end{i}", f"l{i}", f"bl{i}", f"al{i}"]
        return [self._modules[n] for n in names if n in self._modules]

    def replace_last_head(self, head: nn.Module) -> None:
        """Put ``head`` where the last stack's landmark convolution ``l{stacks-1}`` was.

        ``forward`` then returns ``head``'s output as its last element. Earlier stacks keep their
        68-channel heads, because ``al{i}`` feeds those heatmaps into the next stack.
        """
        self._modules[f"l{self.stacks - 1}"] = head

    def forward_features(self, x: torch.Tensor) -> FanFeatures:
        """Run the network and keep what the AU heads need.

        Mirrors face_alignment's ``FAN.forward`` step by step (a test checks that both give the
        same heatmaps); written out because ``forward`` keeps only the heatmaps.
        """
        x = F.relu(self.bn1(self.conv1(x)), True)
        x = F.avg_pool2d(self.conv2(x), 2, stride=2)
        x = self.conv4(self.conv3(x))
        stem = previous = x
        stacks, heatmaps = [], []
        for i in range(self.stacks):
            ll = self._modules[f"top_m_{i}"](self._modules[f"m{i}"](previous))
            ll = F.relu(self._modules[f"bn_end{i}"](self._modules[f"conv_last{i}"](ll)), True)
            out = self._modules[f"l{i}"](ll)
            stacks.append(ll)
            heatmaps.append(out)
            if i < self.stacks - 1:
                previous = previous + self._modules[f"bl{i}"](ll) + self._modules[f"al{i}"](out)
        return FanFeatures(stem, stacks, heatmaps)
