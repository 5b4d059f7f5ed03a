"""The library's public face: every name a chapter (or a user's notebook) needs, in one place::

    from auheat.api import PreparedDataset, RunSpec, build_model, train_or_load

Listed in data-flow order: the AU catalogue and targets, data, SynthFACS, the networks, training,
runs and the grid, prediction. The figures are one namespace (``from auheat import figures``) and
the interactive explorers another (:mod:`auheat.widgets`, which needs ipywidgets). Names used by
one chapter to show an inner part (a layer, a cost counter) are imported from their module there.
"""

from auheat.aus import (
    ACTION_UNITS,
    DATASET_AUS,
    MAX_INTENSITY,
    NUM_LANDMARKS,
    au_centres,
    get_au,
    rescale_points,
)
from auheat.benchmark import Contrast, answer, answer_lines, co_occurrence_check, compare_runs, held_out
from auheat.cache import cache_dir
from auheat.config import TrainConfig
from auheat.data.align import align_face, apply_affine, warp_image
from auheat.data.dataset import PreparedDataset, Split, protocol_datasets, read_frames, read_meta
from auheat.data.inputs import prepare_batch
from auheat.data.labels import label_columns, showcase_frames
from auheat.data.photos import PHOTOS, Photo, load_photo, real_photos
from auheat.data.prepare import PreparationError, PrepareOptions, prepare_dataset
from auheat.data.protocols import DISFA_FOLDS, folds_protocol, split_protocol
from auheat.edit_check import READS, EditCheck, edit_check, neutral_faces, pool_edit_checks, verdicts
from auheat.evaluation import RunPredictions, evaluate_model, read_predictions
from auheat.experiment import (
    RunSpec,
    TrainedRun,
    evaluate_checkpoint,
    load_au_model,
    train_au_model,
    train_or_load,
)
from auheat.grid import (
    PUBLISHED,
    Grid,
    concat_grids,
    grid_specs,
    run_grid,
    train_runs,
    yardstick_checks,
    zero_prediction,
)
from auheat.heatmaps import DESIGNS, decode_heatmaps, encode_heatmaps, labelled_mask, landmark_heatmaps
from auheat.landmarkers import (
    LANDMARKERS,
    DlibLandmarker,
    FaceAlignmentLandmarker,
    Framing,
    NetworkLandmarker,
    landmark_residual,
    make_landmarker,
    photo_nme,
)
from auheat.metrics import icc31, mae, pcc, summary_table
from auheat.models import (
    FAN,
    METHODS,
    Adapters,
    Attention,
    DirectRegression,
    FineTune,
    LinearProbe,
    Method,
    Reparam,
    ResidualAdapters,
    build_model,
    cost_table,
    get_method,
    parameter_table,
    pretrained_fan,
    reestimate_batchnorm,
)
from auheat.predict import FaceReader, FaceReading, Reading, predict
from auheat.pretraining import pretrain_landmarks
from auheat.prior import landmark_readout, ridge_predict
from auheat.recipes import (
    CPU,
    PAPER,
    QUICK,
    RECIPES,
    landmark_network,
    landmark_run_folder,
    landmark_weights,
    runs_folder,
    synthetic_dataset,
)
from auheat.stats import (
    bootstrap_interval,
    clear_peaks,
    compare_models,
    conditional_scores,
    localisation_error,
)
from auheat.synth import (
    SYNTH_AUS,
    Capture,
    Pose,
    render_au_series,
    render_face,
    sample_capture,
    sample_identity,
)
from auheat.synth.edits import FaceEdit, au_movement, edit_face, moved_landmarks
from auheat.synth.generate import generate_dataset
from auheat.synth.presets import PRESETS
from auheat.tasks import AUTask, LandmarkTask, masked_mse
from auheat.train import LAST, Trainer, read_log

__all__ = [
    # AUs, targets and scores
    "ACTION_UNITS",
    "DATASET_AUS",
    "MAX_INTENSITY",
    "NUM_LANDMARKS",
    "au_centres",
    "get_au",
    "rescale_points",
    "DESIGNS",
    "encode_heatmaps",
    "decode_heatmaps",
    "labelled_mask",
    "landmark_heatmaps",
    "icc31",
    "mae",
    "pcc",
    "summary_table",
    "bootstrap_interval",
    "compare_models",
    "conditional_scores",
    "localisation_error",
    "clear_peaks",
    "cache_dir",
    # data
    "PreparedDataset",
    "read_frames",
    "read_meta",
    "align_face",
    "apply_affine",
    "warp_image",
    "prepare_batch",
    "label_columns",
    "showcase_frames",
    "PHOTOS",
    "load_photo",
    "real_photos",
    "Photo",
    "LANDMARKERS",
    "DlibLandmarker",
    "FaceAlignmentLandmarker",
    "make_landmarker",
    "landmark_residual",
    "photo_nme",
    "DISFA_FOLDS",
    "folds_protocol",
    "split_protocol",
    "PreparationError",
    "PrepareOptions",
    "prepare_dataset",
    # SynthFACS
    "SYNTH_AUS",
    "Capture",
    "Pose",
    "render_face",
    "render_au_series",
    "sample_capture",
    "sample_identity",
    "generate_dataset",
    "PRESETS",
    # networks
    "FAN",
    "METHODS",
    "Method",
    "get_method",
    "FineTune",
    "Adapters",
    "ResidualAdapters",
    "Attention",
    "Reparam",
    "DirectRegression",
    "LinearProbe",
    "build_model",
    "cost_table",
    "parameter_table",
    "pretrained_fan",
    "reestimate_batchnorm",
    # training
    "AUTask",
    "LandmarkTask",
    "masked_mse",
    "TrainConfig",
    "Trainer",
    "evaluate_model",
    "read_predictions",
    "RunPredictions",
    "read_log",
    "LAST",
    "Framing",
    "NetworkLandmarker",
    "pretrain_landmarks",
    "landmark_readout",
    "ridge_predict",
    # runs, recipes and the grid
    "RunSpec",
    "TrainedRun",
    "train_au_model",
    "train_or_load",
    "load_au_model",
    "evaluate_checkpoint",
    "protocol_datasets",
    "Split",
    "RECIPES",
    "QUICK",
    "CPU",
    "PAPER",
    "landmark_network",
    "runs_folder",
    "landmark_run_folder",
    "landmark_weights",
    "synthetic_dataset",
    "grid_specs",
    "run_grid",
    "Grid",
    "concat_grids",
    "Contrast",
    "answer",
    "answer_lines",
    "compare_runs",
    "held_out",
    "co_occurrence_check",
    "train_runs",
    "zero_prediction",
    "yardstick_checks",
    "PUBLISHED",
    # prediction
    "FaceReader",
    "FaceReading",
    "Reading",
    "predict",
    # real faces edited as an AU moves them
    "edit_face",
    "FaceEdit",
    "au_movement",
    "moved_landmarks",
    "edit_check",
    "pool_edit_checks",
    "neutral_faces",
    "verdicts",
    "READS",
    "EditCheck",
]
