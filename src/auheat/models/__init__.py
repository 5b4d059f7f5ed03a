"""AU models: the FAN landmark network, its weights, the four transfer methods and three baselines.

fan = pretrained_fan(stacks=1, width=128)          # weights: see auheat.models.weights
model = build_model("adapters", fan, "disfa")      # [B, 3, 256, 256] -> [B, 12, 64, 64]
intensities = model.eval().predict_intensities(images)   # [B, 12] in [0, 5]
"""

from auheat.models.adapters import (
    Adapters,
    LightHourGlass,
    ParallelAdapter,
    ReleasedConvBlock,
    ReleasedHourGlass,
    ResidualAdapters,
)
from auheat.models.attention import Attention
from auheat.models.backbone import FAN, FanFeatures
from auheat.models.base import AUModel
from auheat.models.baselines import DirectRegression
from auheat.models.batchnorm import reestimate_batchnorm
from auheat.models.cost import cost_table, parameter_table
from auheat.models.factory import METHODS, Method, build_model, get_method
from auheat.models.finetune import FineTune
from auheat.models.probe import LinearProbe
from auheat.models.reparam import Reparam, ReparamConv
from auheat.models.weights import (
    LandmarkWeights,
    hub_checkpoint_path,
    load_landmark_weights,
    pretrained_fan,
    pretrained_landmarks_path,
    resolve_landmark_weights,
    save_landmark_weights,
)

__all__ = [
    "METHODS",
    "Method",
    "get_method",
    "FAN",
    "Adapters",
    "AUModel",
    "Attention",
    "DirectRegression",
    "FanFeatures",
    "FineTune",
    "LandmarkWeights",
    "LightHourGlass",
    "LinearProbe",
    "ParallelAdapter",
    "ReleasedConvBlock",
    "ReleasedHourGlass",
    "Reparam",
    "ReparamConv",
    "ResidualAdapters",
    "build_model",
    "cost_table",
    "hub_checkpoint_path",
    "load_landmark_weights",
    "parameter_table",
    "pretrained_fan",
    "pretrained_landmarks_path",
    "reestimate_batchnorm",
    "resolve_landmark_weights",
    "save_landmark_weights",
]
