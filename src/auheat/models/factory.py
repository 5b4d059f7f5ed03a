"""One entry point for every AU model: ``build_model(method, backbone, aus, **options)``."""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass

from face_alignment.models import fan as fa_fan

from auheat.aus import resolve_aus
from auheat.models.adapters import Adapters, ResidualAdapters
from auheat.models.attention import Attention
from auheat.models.backbone import FAN
from auheat.models.base import AUModel
from auheat.models.baselines import DirectRegression
from auheat.models.finetune import FineTune
from auheat.models.probe import LinearProbe
from auheat.models.reparam import Reparam


@dataclass(frozen=True)
class Method:
    """A transfer method or baseline: the AU model it builds and what a run needs to know of it.

    Adding a method is its model class (an :class:`AUModel` in a module of its own) and one entry
    of :data:`METHODS`: :func:`build_model`, the runs (:class:`auheat.experiment.RunSpec`), the
    command line, the grid and the figures read everything else from the entry and the class.
    """

    model: type[AUModel]
    summary: str  # what it is, in one line (``auheat train --help``)
    pretrained: bool = True  # starts from the landmark network's weights; False: random, no options

    @property
    def draws_heatmaps(self) -> bool:
        """Whether the model answers heatmaps (else intensities [B, K]: no target design enters)."""
        return self.model.output == "heatmaps"

    @property
    def version(self) -> int:
        """The version of the model's layers, bumped when they change (part of a run's digest)."""
        return self.model.version

    @property
    def splits_at_frozen_features(self) -> bool:
        """Whether the model can train on frozen features computed once per frame
        (:meth:`AUModel.frozen_features`; a built model's ``caches_features`` says whether it does)."""
        return self.model.frozen_features is not AUModel.frozen_features

    @property
    def options(self) -> tuple[str, ...]:
        """The keyword options :func:`build_model` passes to the model (none from random weights)."""
        return tuple(inspect.signature(self.model).parameters)[2:] if self.pretrained else ()


#: The transfer methods and baselines by name, in the book's order.
METHODS: dict[str, Method] = {
    "finetune": Method(FineTune, "(a) fine-tuning: FAN with K AU heatmap outputs, all or last stack trained"),
    "adapters": Method(
        Adapters, "(b) adaptation layers on the frozen FAN (released design, or design=light)"
    ),
    "residual_adapters": Method(
        ResidualAdapters, "(b) residual adapters inside the frozen FAN, task BatchNorm"
    ),
    "attention": Method(Attention, "(c) attention maps from the frozen FAN's landmark heatmaps"),
    "reparam": Method(Reparam, "(d) reparametrisation: remixed frozen filters, foldable"),
    "scratch": Method(FineTune, "baseline: the fine-tuning network, randomly initialised", pretrained=False),
    "direct": Method(DirectRegression, "baseline: pooled FAN features + linear layer -> intensities"),
    "probe": Method(
        LinearProbe, "baseline: linear probe, 1x1 conv from the frozen FAN's last-stack features"
    ),
}


def get_method(name: str) -> Method:
    """The registry entry of a method name, or a ValueError that lists the valid names."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(METHODS)}")
    return METHODS[name]


def build_model(
    method: str, backbone: FAN | fa_fan.FAN, aus: str | int | list[int] | tuple[int, ...], **options
) -> AUModel:
    """Build the AU model of one transfer method on a landmark network.

    Args:
        method: one of :data:`METHODS`.
        backbone: the landmark network (:class:`auheat.models.FAN`, e.g. from
            :func:`auheat.models.pretrained_fan`, or face_alignment's own ``FAN``). It is copied,
            never changed, so one backbone serves several models; a method that is not
            ``pretrained`` (``"scratch"``) uses only its number of stacks and width.
        aus: a dataset name (``"disfa"``) or the K AU numbers, in output channel order.
        **options: the method's own options, e.g. ``train="last_stack"`` for ``"finetune"``,
            ``design="light"`` for ``"adapters"``, ``rank=8`` for ``"reparam"``.

    Returns:
        An :class:`auheat.models.AUModel` in train mode: ``forward`` gives heatmaps
        [B, K, H/4, W/4] (intensities [B, K] for ``"direct"``), ``predict_intensities`` gives
        [B, K] in [0, 5] for all.
    """
    entry = get_method(method)
    valid = entry.options
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"method {method!r} has no option(s) {', '.join(unknown)}; "
            f"its options: {', '.join(valid) or 'none'}"
        )
    aus = resolve_aus(aus)
    if not isinstance(backbone, fa_fan.FAN):
        raise TypeError(f"backbone must be a FAN (auheat.models.FAN), got {type(backbone).__name__}")
    if not entry.pretrained:
        return entry.model(FAN(backbone.num_modules, getattr(backbone, "width", 256)), aus)
    if isinstance(backbone, FAN):
        network = copy.deepcopy(backbone)
    else:  # face_alignment's FAN is 256 wide; ours adds the accessors the AU heads use
        network = FAN(backbone.num_modules, 256)
        network.load_state_dict(backbone.state_dict())
    return entry.model(network, aus, **options)
