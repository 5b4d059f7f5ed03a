"""Transfer by reparametrisation (the paper's method d, Chapter 7): the landmark network's filters are kept
frozen and only remixed.

Every convolution weight W [C_out, C_in, k, k] of the FAN becomes W' = A W, where A [C_out, C_out]
is a learned mixing of its output filters (identity at the start, or low rank: A = I + U V^T),
and the bias b becomes A b. BatchNorm layers learn new statistics and affine parameters, starting
from FAN's. After training, :meth:`Reparam.fold` multiplies A into W once, so inference costs what
the landmark network costs.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from auheat.models.backbone import FAN
from auheat.models.base import AUModel, freeze, replace_modules


class ReparamConv(nn.Module):
    """A frozen convolution whose output filters are remixed by a learned matrix A.

    Args:
        conv: the frozen convolution (W, b).
        rank: None for a full A (C_out^2 parameters, identity at the start); an int r for
            A = I + U V^T with U [C_out, r] at zero and V [C_out, r] random (r * 2 * C_out
            parameters), so the start is again the identity and U still gets a gradient.
    """

    def __init__(self, conv: nn.Conv2d, rank: int | None = None) -> None:
        super().__init__()
        if rank is not None and rank < 1:
            raise ValueError(f"rank must be a positive int or None (full), got {rank}")
        self.conv = conv
        c = conv.out_channels
        if rank is None:
            self.mixing = nn.Parameter(torch.eye(c))
        else:
            self.u = nn.Parameter(torch.zeros(c, rank))
            self.v = nn.Parameter(torch.randn(c, rank) / c**0.5)
        self.rank = rank

    def mix(self, t: torch.Tensor) -> torch.Tensor:
        """A t for t [C_out, ...]: the mixing applied to a weight or a bias."""
        flat = t.reshape(t.shape[0], -1)
        if self.rank is None:
            mixed = self.mixing @ flat
        else:  # (I + U V^T) t without forming the C_out x C_out matrix
            mixed = flat + self.u @ (self.v.T @ flat)
        return mixed.reshape(t.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.conv.bias is None else self.mix(self.conv.bias)
        # _conv_forward applies the convolution's own stride, padding and padding mode.
        return self.conv._conv_forward(x, self.mix(self.conv.weight), bias)

    @torch.no_grad()
    def fold(self) -> nn.Conv2d:
        """A plain frozen convolution with weight A W and bias A b: same output, no extra cost."""
        folded = copy.deepcopy(self.conv)
        folded.weight.copy_(self.mix(self.conv.weight))
        if folded.bias is not None:
            folded.bias.copy_(self.mix(self.conv.bias))
        return folded


class Reparam(AUModel):
    """FAN with remixed frozen filters, new BatchNorm, and a K-channel head.

    [B, 3, H, W] -> [B, K, H/4, W/4]. Trainable: each convolution's mixing (A, or U and V), every
    BatchNorm (affine parameters and running statistics, starting from FAN's), and the new head.

    Args:
        fan: the pretrained landmark network; its convolution weights are frozen here.
        aus: the K AU numbers.
        rank: None for full mixing matrices, an int for low-rank ones (see :class:`ReparamConv`).
    """

    def __init__(self, fan: FAN, aus: tuple[int, ...], rank: int | None = None) -> None:
        super().__init__(aus, fan.stacks, fan.width)
        freeze(fan)
        replace_modules(fan, lambda m: isinstance(m, nn.Conv2d), lambda conv: ReparamConv(conv, rank))
        for module in fan.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.requires_grad_(True)
        fan.replace_last_head(nn.Conv2d(fan.width, len(aus), kernel_size=1))
        self.fan = fan
        self.folded = False
        self.train()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fan(x)[-1]

    def fold(self) -> Reparam:
        """Merge every mixing into its convolution, in place, for inference; returns ``self``.

        Afterwards the network has exactly the modules and parameters of the landmark network
        with a K-channel head, every one of them frozen: a folded model is for inference only.
        Folding cannot be undone: train before folding.
        """
        replace_modules(self.fan, lambda m: isinstance(m, ReparamConv), lambda m: m.fold())
        self.requires_grad_(False)
        self.folded = True
        return self
