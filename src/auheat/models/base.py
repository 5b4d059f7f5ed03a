"""What every AU model shares: its AU list, its output type, and how frozen parts stay frozen."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal

import torch
from torch import nn

from auheat.aus import MAX_INTENSITY
from auheat.heatmaps import decode_heatmaps

Output = Literal["heatmaps", "intensities"]


class AUModel(nn.Module):
    """Base class of the AU models built by :func:`auheat.models.build_model`.

    ``forward`` maps images [B, 3, H, W] in [0, 1] to AU heatmaps [B, K, H/4, W/4] when
    ``output == "heatmaps"``, or to intensities [B, K] when ``output == "intensities"`` (direct
    regression). :meth:`predict_intensities` gives [B, K] intensities in [0, 5] for both, so
    evaluation treats all models alike, through the model's per-AU linear ``calibration``.

    A parameter is frozen when ``requires_grad`` is False; that flag is the only record. A module
    whose parameters are all frozen stays in eval mode through ``train()``, so frozen BatchNorm
    layers keep the landmark network's running statistics.
    """

    output: Output = "heatmaps"
    # Bumped when a method's layers change, so cached runs of the old layers are not read as new.
    version: int = 1

    def __init__(self, aus: tuple[int, ...], stacks: int, width: int) -> None:
        super().__init__()
        self.aus = aus
        # The landmark network this model was built on, so a cost table can measure it alone.
        self.landmark_config = {"stacks": stacks, "width": width}
        # Per-AU linear calibration of the decoded intensities, rows (scale, shift): the identity
        # unless a run fits it on its training frames (auheat.train, TrainConfig.calibrate).
        self.register_buffer("calibration", torch.stack([torch.ones(len(aus)), torch.zeros(len(aus))]))

    def train(self, mode: bool = True) -> AUModel:
        super().train(mode)
        for module in self.modules():
            params = list(module.parameters())
            if params and not any(p.requires_grad for p in params):
                # nn.Module's own train(): this model itself may be all frozen (a folded one)
                nn.Module.train(module, False)
        return self

    def frozen_features(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """What the frozen landmark network gives the trainable layers, for images [B, 3, H, W].

        Models whose landmark network takes no gradient (adaptation layers, attention maps, a
        linear probe) split ``forward`` into this and :meth:`from_features`, so a trainer can
        compute these features once per frame and train the new layers on them
        (:attr:`caches_features`). Others raise NotImplementedError.
        """
        raise NotImplementedError(f"{type(self).__name__} does not split at frozen features")

    def from_features(self, features: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The output from :meth:`frozen_features`: ``forward(x) == from_features(frozen_features(x))``."""
        raise NotImplementedError(f"{type(self).__name__} does not split at frozen features")

    @property
    def caches_features(self) -> bool:
        """Whether :meth:`frozen_features` is defined and takes no gradient, so it can be cached."""
        own = type(self).frozen_features is not AUModel.frozen_features
        return own and not any(p.requires_grad for p in self.feature_parameters())

    def feature_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters :meth:`frozen_features` computes with: by default the landmark network's.

        Models that put their trainable head where the last landmark head was (a linear probe,
        direct regression) leave that head out, as :meth:`from_features` applies it.
        """
        return self.fan.parameters()

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters an optimiser should update."""
        return (p for p in self.parameters() if p.requires_grad)

    @torch.no_grad()
    def predict_intensities(self, x: torch.Tensor) -> torch.Tensor:
        """AU intensities [B, K] in [0, 5] for images [B, 3, H, W] in [0, 1] (no gradient).

        Heatmap models are read as the channel maximum (:func:`auheat.heatmaps.decode_heatmaps`).
        Call ``model.eval()`` first, as for any prediction: in train mode BatchNorm layers that
        train would use (and update) batch statistics.
        """
        return self.read_intensities(self(x))

    def read_intensities(self, output: torch.Tensor) -> torch.Tensor:
        """The [B, K] intensities the model answers for its ``forward`` output: the heatmaps' maxima
        (or the regressed values), clamped to [0, 5], through the model's calibration."""
        if self.output == "heatmaps":
            return self.calibrated(decode_heatmaps(output).intensities)
        return self.calibrated(output.clamp(0.0, MAX_INTENSITY))

    def calibrated(self, intensities: torch.Tensor) -> torch.Tensor:
        """[B, K] intensities through the model's per-AU calibration ``scale * I + shift``, in [0, 5]."""
        scale, shift = self.calibration.to(intensities)
        return (intensities * scale + shift).clamp(0.0, MAX_INTENSITY)


def freeze(module: nn.Module) -> None:
    """Stop gradient updates of every parameter of ``module`` (see :class:`AUModel` for BatchNorm)."""
    for p in module.parameters():
        p.requires_grad_(False)


def parameters_outside(module: nn.Module, part: nn.Module) -> Iterator[nn.Parameter]:
    """The parameters of ``module`` that are not ``part``'s (a submodule of it)."""
    inside = {id(p) for p in part.parameters()}
    return (p for p in module.parameters() if id(p) not in inside)


def replace_modules(
    root: nn.Module, match: Callable[[nn.Module], bool], make: Callable[[nn.Module], nn.Module]
) -> int:
    """Swap every submodule for which ``match`` holds by ``make(submodule)``; return how many.

    The new module keeps the old one's attribute name, so code that looks modules up by name
    (face_alignment's ``FAN.forward`` does) finds it.
    """
    targets = [(name, m) for name, m in root.named_modules() if name and match(m)]
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = root.get_submodule(parent_name) if parent_name else root
        setattr(parent, child, make(module))
    return len(targets)
