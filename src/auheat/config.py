"""Every choice of a training run, in one dataclass: its defaults, help texts and limits live here.

The command line's training options are generated from these fields (:mod:`auheat.cli`), and a
recipe holds one of these (:class:`auheat.recipes.Recipe`), so a default is changed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


def setting(default: Any, help: str, minimum: int | None = None, au_only: bool = False) -> Any:
    """A :class:`TrainConfig` field with its help text, its smallest value (None allowed where the
    default is None) and whether it means anything outside AU runs (the command line offers an
    ``au_only`` setting to ``auheat train`` only)."""
    return field(default=default, metadata={"help": help, "minimum": minimum, "au_only": au_only})


@dataclass
class TrainConfig:
    """Every choice of a training run; stored in its checkpoints."""

    epochs: int = setting(10, "epochs, when no step budget is set", minimum=1)
    steps: int | None = setting(
        None, "optimisation steps; when set, the epochs follow from them (ceil(steps / batches))", minimum=1
    )
    batch_size: int = setting(16, "frames per step, per process", minimum=1)
    lr: float = setting(1e-3, "learning rate")
    weight_decay: float = setting(1e-4, "AdamW's (or SGD's) weight decay")
    optimizer: Literal["adamw", "sgd"] = setting("adamw", "optimiser")
    schedule: Literal["cosine", "constant"] = setting(
        "cosine", "learning-rate schedule over the whole budget, after the warm-up"
    )
    warmup_steps: int = setting(0, "linear warm-up steps before the schedule", minimum=0)
    grad_clip: float = setting(1.0, "max gradient norm; 0 switches clipping off", minimum=0)
    amp: bool = setting(True, "mixed precision on CUDA (bfloat16, else float16 with loss scaling)")
    input_size: int = setting(256, "side of the network input in pixels (64 in the CPU recipe)", minimum=1)
    seed: int = setting(0, "random seed of the initialisation and the batches")
    workers: int = setting(0, "DataLoader worker processes", minimum=0)
    device: str = setting("auto", "auto (CUDA when available, the local rank's GPU), cpu, cuda, cuda:1, ...")
    evaluations: int | None = setting(
        None, "held-out evaluations (log lines, checkpoints) spread evenly; unset: every epoch", minimum=1
    )
    threads: int | None = setting(None, "torch CPU threads; unset: torch's default (all cores)", minimum=1)
    oversample: float = setting(
        0.0, "frames showing an AU (a label >= 1) are drawn 1 + this times as often", au_only=True
    )
    augment: bool = setting(False, "random similarity jitter of the crop, image and landmarks together")
    cache_inputs: bool = setting(True, "decode and resize each prepared dataset once (CachedInputs)")
    cache_features: bool = setting(
        True, "compute a frozen landmark network's features once per frame (FeatureCache)", au_only=True
    )
    loss: Literal["mse", "weighted_mse"] = setting(
        "mse", "AU heatmap loss: the paper's MSE, or weighted_mse (auheat.tasks.AUTask)", au_only=True
    )
    foreground_weight: float = setting(
        10.0, "weight of the pixels where an AU shows, under weighted_mse", au_only=True
    )
    val_subjects: int = setting(
        0, "training subjects held out to choose best.safetensors", minimum=0, au_only=True
    )
    calibrate: bool = setting(
        False, "fit a per-AU line from decoded to labelled intensities on the training frames", au_only=True
    )
    # oneDNN's (CPU) and cuDNN's convolutions are faster on NHWC (one thread, FAN(1, 32) at 64 px:
    # 1.1x to 1.4x the frames per second; `auheat bench train`).
    channels_last: bool = setting(True, "NHWC (channels-last) weights and inputs")

    def __post_init__(self) -> None:
        # A budget of no step, or of a negative one, would train nothing and fail later, far away.
        for name, spec in self.__dataclass_fields__.items():
            value, minimum = getattr(self, name), spec.metadata["minimum"]
            if minimum is not None and value is not None and value < minimum:
                allowed = " (or None)" if spec.default is None else ""
                raise ValueError(f"{name} must be at least {minimum}{allowed}, got {value}")
