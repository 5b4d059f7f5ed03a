"""auheat: heatmap regression for Action Unit intensity estimation with transfer learning from FAN.

The AU catalogue, the targets and the scores load with the package; every other public name is in
:mod:`auheat.api` (``from auheat.api import RunSpec, train_or_load``), the figures in
:mod:`auheat.figures`.
"""

from auheat.aus import ACTION_UNITS, DATASET_AUS, au_centres, dataset_aus, get_au, rescale_points
from auheat.heatmaps import decode_heatmaps, encode_heatmaps, labelled_mask
from auheat.metrics import icc31, mae, pcc, summary_table

__version__ = "0.1.0"

__all__ = [
    "ACTION_UNITS",
    "DATASET_AUS",
    "au_centres",
    "dataset_aus",
    "decode_heatmaps",
    "encode_heatmaps",
    "get_au",
    "icc31",
    "labelled_mask",
    "mae",
    "pcc",
    "rescale_points",
    "summary_table",
]
