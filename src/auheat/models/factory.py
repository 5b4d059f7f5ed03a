"""One entry point for every AU model: ``build_model(method, backbone, aus, **options)``."""

from __future__ import annotations

import copy
import inspect

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

#: The transfer methods: name -> (class, what it is), in the book's order.
METHODS: dict[str, tuple[type[AUModel], str]] = {
    "finetune": (FineTune, "(a) fine-tuning: FAN with K AU heatmap outputs, all or last stack trained"),
    "adapters": (Adapters, "(b) adaptation layers on the frozen FAN (released design, or design=light)"),
    "residual_adapters": (ResidualAdapters, "(b) residual adapters inside the frozen FAN, task BatchNorm"),
    "attention": (Attention, "(c) attention maps from the frozen FAN's landmark heatmaps"),
    "reparam": (Reparam, "(d) reparametrisation: remixed frozen filters, foldable"),
    "scratch": (FineTune, "baseline: the fine-tuning network, randomly initialised"),
    "direct": (DirectRegression, "baseline: pooled FAN features + linear layer -> intensities"),
    "probe": (LinearProbe, "baseline: linear probe, 1x1 conv from the frozen FAN's last-stack features"),
}


def build_model(
    method: str, backbone: FAN | fa_fan.FAN, aus: str | int | list[int] | tuple[int, ...], **options
) -> AUModel:
    """Build the AU model of one transfer method on a landmark network.

    Args:
        method: one of :data:`METHODS`.
        backbone: the landmark network (:class:`auheat.models.FAN`, e.g. from
            :func:`auheat.models.pretrained_fan`, or face_alignment's own ``FAN``). It is copied,
            never changed, so one backbone serves several models; ``"scratch"`` uses only its
            number of stacks and width.
        aus: a dataset name (``"disfa"``) or the K AU numbers, in output channel order.
        **options: the method's own options, e.g. ``train="last_stack"`` for ``"finetune"``,
            ``design="light"`` for ``"adapters"``, ``rank=8`` for ``"reparam"``.

    Returns:
        An :class:`auheat.models.AUModel` in train mode: ``forward`` gives heatmaps
        [B, K, H/4, W/4] (intensities [B, K] for ``"direct"``), ``predict_intensities`` gives
        [B, K] in [0, 5] for all.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    cls = METHODS[method][0]
    valid = [] if method == "scratch" else list(inspect.signature(cls).parameters)[2:]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"method {method!r} has no option(s) {', '.join(unknown)}; "
            f"its options: {', '.join(valid) or 'none'}"
        )
    aus = resolve_aus(aus)
    if not isinstance(backbone, fa_fan.FAN):
        raise TypeError(f"backbone must be a FAN (auheat.models.FAN), got {type(backbone).__name__}")
    if method == "scratch":
        return cls(FAN(backbone.num_modules, getattr(backbone, "width", 256)), aus)
    if isinstance(backbone, FAN):
        network = copy.deepcopy(backbone)
    else:  # face_alignment's FAN is 256 wide; ours adds the accessors the AU heads use
        network = FAN(backbone.num_modules, 256)
        network.load_state_dict(backbone.state_dict())
    return cls(network, aus, **options)
