"""The book's figures, one module per chapter topic.

A chapter writes ``from auheat import figures`` and calls ``figures.plot_...``:

- :mod:`auheat.figures.targets` (Chapter 1): alignment, AU centres, heatmaps over a face;
- :mod:`auheat.figures.designs` (Chapter 1): the target designs compared;
- :mod:`auheat.figures.synth` (Chapter 2): SynthFACS faces and their AUs;
- :mod:`auheat.figures.labels` (Chapter 2): label statistics of a dataset;
- :mod:`auheat.figures.landmarks` (Chapter 3): the landmark network;
- :mod:`auheat.figures.architecture` (Chapters 3 to 8): block diagrams of FAN and of each transfer
  method's model, frozen and trainable parts coloured;
- :mod:`auheat.figures.transfer` (Chapters 4 to 7): learning curves, a model's maps over faces;
- :mod:`auheat.figures.benchmark` (Chapter 8): the benchmark of the transfer methods;
- :mod:`auheat.figures.photos` (Chapter 9): real photos read by a trained model.

Every figure function draws with matplotlib and returns its :class:`~matplotlib.figure.Figure`.
The figures draw what they are given: faces are rendered by :mod:`auheat.synth`, label
statistics computed by :mod:`auheat.data.labels`, before they reach a figure; the figures of
Chapters 4 to 7 run the model they are given on the frames they show.
"""

from auheat.figures._common import HEATMAP_CMAP, INTENSITIES, AUSelection, draw_heatmap, heatmap_extent
from auheat.figures.architecture import plot_fan_diagram, plot_transfer_diagram, plot_transfer_diagrams
from auheat.figures.benchmark import (
    plot_contrasts,
    plot_icc_curves,
    plot_icc_per_au,
    plot_loss_ratios,
    plot_mean_icc,
    plot_subject_counts,
)
from auheat.figures.designs import plot_design_grid, plot_map_sizes, plot_target_profiles
from auheat.figures.labels import plot_cooccurrence, plot_label_histograms, plot_session_labels
from auheat.figures.landmarks import (
    plot_fan_outputs,
    plot_landmark_heatmaps,
    plot_landmark_predictions,
    plot_landmark_training,
    plot_photo_landmarks,
)
from auheat.figures.photos import plot_edit_check, plot_face_edits, plot_face_reading, plot_found_faces
from auheat.figures.style import BOOK_STYLE, OKABE_ITO, use_book_style
from auheat.figures.switcher import PageControl, switcher_html
from auheat.figures.synth import (
    plot_au_change_maps,
    plot_au_gallery,
    plot_dataset_samples,
    plot_face_targets,
    plot_faces,
)
from auheat.figures.targets import (
    plot_alignment,
    plot_au_atlas,
    plot_au_centres,
    plot_heatmap_overlay,
    unique_centres,
)
from auheat.figures.transfer import (
    plot_attention_maps,
    plot_face_maps,
    plot_learning_curves,
    plot_predicted_vs_target,
)

__all__ = [
    "BOOK_STYLE",
    "HEATMAP_CMAP",
    "OKABE_ITO",
    "INTENSITIES",
    "AUSelection",
    "PageControl",
    "draw_heatmap",
    "heatmap_extent",
    "plot_alignment",
    "plot_attention_maps",
    "plot_au_atlas",
    "plot_au_centres",
    "plot_au_change_maps",
    "plot_au_gallery",
    "plot_cooccurrence",
    "plot_dataset_samples",
    "plot_design_grid",
    "plot_face_maps",
    "plot_face_reading",
    "plot_face_edits",
    "plot_edit_check",
    "plot_face_targets",
    "plot_faces",
    "plot_fan_diagram",
    "plot_fan_outputs",
    "plot_found_faces",
    "plot_heatmap_overlay",
    "plot_icc_curves",
    "plot_icc_per_au",
    "plot_label_histograms",
    "plot_landmark_heatmaps",
    "plot_landmark_predictions",
    "plot_photo_landmarks",
    "plot_landmark_training",
    "plot_learning_curves",
    "plot_loss_ratios",
    "plot_map_sizes",
    "plot_contrasts",
    "plot_mean_icc",
    "plot_predicted_vs_target",
    "plot_session_labels",
    "plot_subject_counts",
    "plot_target_profiles",
    "plot_transfer_diagram",
    "plot_transfer_diagrams",
    "switcher_html",
    "unique_centres",
    "use_book_style",
]
