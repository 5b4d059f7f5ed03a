"""Transfer by attention maps (the paper's method c, Chapter 6): the frozen landmark network
says where to look.

The frozen FAN's landmark heatmaps are mapped by a 1x1 convolution to one attention map per AU
(sigmoid, in [0, 1]). Each AU has its own small group of feature channels, computed from the
FAN's stem and last-stack features and gated by that AU's attention map, so every AU's head sees
mostly the face region its landmarks mark.

The stem's features are needed: the last stack's feed a 1x1 convolution to 68 heatmaps and carry
little else, so a head that read only them learnt the average AU map and no frame-to-frame
change (held-out mean ICC 0.002 on disfa-like in the book's CPU recipe, 0.17 within 630 steps
with the stem's features added). The released adaptation layers read the stem for the same reason.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from auheat.aus import ACTION_UNITS, NUM_LANDMARKS
from auheat.models.adapters import pointwise
from auheat.models.backbone import FAN
from auheat.models.base import AUModel, freeze


class Attention(AUModel):
    """Frozen FAN + landmark-driven attention: [B, 3, H, W] -> [B, K, H/4, W/4].

    Args:
        fan: the pretrained landmark network; frozen here.
        aus: the K AU numbers.
        channels_per_au: feature channels each AU's head receives (G); the heads are grouped
            convolutions, so the cost grows with K * G, not with K * width.
        spread: side of the region each landmark's heatmap is widened to before the 1x1
            convolution, as a fraction of the heatmap side. A 1x1 convolution only combines
            heatmaps pixel by pixel, and FAN's peaks are a few pixels wide, while some AU centres
            (the cheek of AU6, a centroid of three landmarks) lie several pixels away from every
            landmark; a max-pool over this region lets the attention reach them.
        init_scale: the 1x1 convolution starts with weight ``init_scale`` from each landmark the
            AU's centres name (see :mod:`auheat.aus`) and bias ``-init_scale / 2``, so before
            training each AU attends to (about 1) the regions of its own landmarks and ignores
            (about 0) the rest.
    """

    version = 2  # 2: the heads read the stem's features too

    def __init__(
        self,
        fan: FAN,
        aus: tuple[int, ...],
        channels_per_au: int = 16,
        spread: float = 0.25,
        init_scale: float = 8.0,
    ) -> None:
        super().__init__(aus, fan.stacks, fan.width)
        if channels_per_au < 1 or not 0 <= spread <= 1:
            raise ValueError("channels_per_au must be >= 1 and spread in [0, 1]")
        k, g = len(aus), channels_per_au
        freeze(fan)
        self.fan = fan
        self.spread = spread
        self.channels_per_au = g
        self.attention = nn.Conv2d(NUM_LANDMARKS, k, kernel_size=1)
        with torch.no_grad():
            self.attention.weight.zero_()
            for i, number in enumerate(aus):
                landmarks = sorted({p for centre in ACTION_UNITS[number].centres for p in centre})
                self.attention.weight[i, landmarks] = init_scale
            self.attention.bias.fill_(-init_scale / 2)
        self.features = pointwise(fan.width, k * g)  # from the last stack
        self.from_stem = pointwise(fan.width, k * g)
        self.head = nn.Sequential(
            nn.Conv2d(k * g, k * g, kernel_size=3, padding=1, groups=k, bias=False),
            nn.BatchNorm2d(k * g),
            nn.ReLU6(inplace=True),
            nn.Conv2d(k * g, k, kernel_size=1, groups=k),
        )
        self.train()

    def attend(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """Attention maps [B, K, h, w] in [0, 1] from landmark heatmaps [B, 68, h, w]."""
        radius = int(self.spread * heatmaps.shape[-1] / 2)
        if radius:
            # A square max-pool done as two 1-D passes: the same result at 2/side of the cost.
            size = 2 * radius + 1
            heatmaps = F.max_pool2d(heatmaps, (1, size), stride=1, padding=(0, radius))
            heatmaps = F.max_pool2d(heatmaps, (size, 1), stride=1, padding=(radius, 0))
        return torch.sigmoid(self.attention(heatmaps))

    def attention_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The attention maps [B, K, H/4, W/4] for images [B, 3, H, W], e.g. to draw them."""
        with torch.no_grad():
            return self.attend(self.fan.forward_features(x).heatmaps[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_features(self.frozen_features(x))

    @torch.no_grad()  # the FAN is frozen: no activations kept for a backward pass
    def frozen_features(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(last-stack landmark heatmaps [B, 68, h, w], last-stack and stem features [B, width, h, w])."""
        feats = self.fan.forward_features(x)
        return feats.heatmaps[-1], feats.stacks[-1], feats.stem

    def from_features(self, features: tuple[torch.Tensor, ...]) -> torch.Tensor:
        heatmaps, stack, stem = features
        gate = self.attend(heatmaps)  # [B, K, h, w]
        z = self.features(stack) + self.from_stem(stem)  # [B, K * G, h, w], AU k owns channels k*G..(k+1)*G-1
        b, _, h, w = z.shape
        z = (z.view(b, len(self.aus), self.channels_per_au, h, w) * gate[:, :, None]).view(b, -1, h, w)
        return self.head(z)
