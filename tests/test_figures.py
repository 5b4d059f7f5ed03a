"""The book's figures (auheat.figures): what each draws, checked on the artists it returns."""

import dataclasses
import json
import re
import subprocess
import sys

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from auheat import figures
from auheat.aus import ACTION_UNITS, rescale_points
from auheat.data.dataset import PreparedDataset
from auheat.data.protocols import folds_protocol
from auheat.figures import (
    heatmap_extent,
    plot_attention_maps,
    plot_au_atlas,
    plot_au_centres,
    plot_au_change_maps,
    plot_au_gallery,
    plot_cooccurrence,
    plot_dataset_samples,
    plot_design_grid,
    plot_face_maps,
    plot_face_reading,
    plot_face_targets,
    plot_faces,
    plot_fan_outputs,
    plot_found_faces,
    plot_heatmap_overlay,
    plot_icc_curves,
    plot_icc_per_au,
    plot_label_histograms,
    plot_landmark_heatmaps,
    plot_landmark_predictions,
    plot_landmark_training,
    plot_learning_curves,
    plot_loss_ratios,
    plot_map_sizes,
    plot_mean_icc,
    plot_predicted_vs_target,
    plot_session_labels,
    plot_subject_counts,
    plot_target_profiles,
    unique_centres,
)
from auheat.heatmaps import DESIGNS, decode_heatmaps, encode_heatmaps, landmark_heatmaps
from auheat.models import FAN, build_model
from auheat.synth import Capture, Identity, render_au_series, render_face
from auheat.synth.generate import generate_dataset, preset_labels
from auheat.synth.presets import get_preset

matplotlib.use("Agg")


# The smallest type a figure sets, in points: a figure the page shrinks to its column would make
# anything smaller unreadable (the browser test checks the shrinking).
SMALLEST_TYPE = 8


def small_type(fig) -> list[str]:
    texts = fig.findobj(lambda a: isinstance(a, matplotlib.text.Text) and a.get_visible() and a.get_text())
    small = [t for t in texts if t.get_fontsize() < SMALLEST_TYPE]
    return [f"{t.get_text()!r} at {t.get_fontsize():.1f} pt" for t in small]


@pytest.fixture(autouse=True)
def close_figures():
    """Every figure a test draws is checked for type below SMALLEST_TYPE, then closed."""
    yield
    drawn = [plt.figure(n) for n in plt.get_fignums()]
    plt.close("all")
    for fig in drawn:
        small = small_type(fig)
        assert not small, f"type below {SMALLEST_TYPE} pt: {small[:5]}"


def test_the_type_check_sees_small_type():
    fig, ax = plt.subplots()
    ax.set_title("legible")
    ax.text(0, 0, "too small", fontsize=6)
    assert small_type(fig) == ["'too small' at 6.0 pt"]
    plt.close(fig)


def heatmap_images(ax) -> list:
    """Images drawn over the face (the face is the first image of an axes)."""
    return ax.get_images()[1:]


def test_the_figures_import_no_training_rendering_or_prediction_code():
    code = "import sys, auheat.figures; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = result.stdout.split()
    layers = ["train", "experiment", "benchmark", "recipes", "predict", "faces", "landmarks", "synth"]
    above = [m for m in loaded if m.split(".")[:2] in [["auheat", layer] for layer in layers]]
    assert not above, f"auheat.figures imports {above}"


def test_centres_figure_labels_each_shared_place_once(crop, landmarks):
    fig = plot_au_centres(crop, landmarks)
    (ax,) = fig.axes
    groups = unique_centres(landmarks)
    labels = [t.get_text() for t in ax.texts]
    assert len(ax.get_images()) == 1
    assert len(labels) == len(groups)
    assert "12/14/15/20" in labels  # the lip corners carry four AUs
    assert ax.collections[0].get_offsets().shape == (68, 2)  # the landmarks


def test_unique_centres_keep_every_au_of_the_catalogue(landmarks):
    seen = {n for _, numbers in unique_centres(landmarks) for n in numbers}
    assert seen == set(ACTION_UNITS)


def test_centres_figure_skips_centres_of_missing_landmarks(crop, landmarks):
    landmarks = landmarks.copy()
    landmarks[8] = np.nan  # AU17's only centre is mid(57, 8)
    assert 17 not in {n for _, numbers in unique_centres(landmarks) for n in numbers}
    plot_au_centres(crop, landmarks)


def test_atlas_has_one_panel_per_au(crop, landmarks):
    fig = plot_au_atlas(crop, landmarks, "disfa", ncols=5)
    assert len(fig.axes) == 12
    assert fig.axes[0].get_title().startswith("AU01")


def test_heatmap_extent_puts_pixel_centres_where_the_library_maps_them():
    left, right, bottom, top = heatmap_extent(64, 256)
    centres = left + (np.arange(64) + 0.5) * (right - left) / 64
    expected = rescale_points(torch.arange(64, dtype=torch.float64), 64, 256).numpy()
    np.testing.assert_allclose(centres, expected)
    assert (left, top) == (-0.5, -0.5) and (right, bottom) == (255.5, 255.5)


def test_overlay_draws_face_heatmap_colorbar_and_peaks(crop, landmarks):
    points = torch.from_numpy(landmarks)[None] / 4
    heat = encode_heatmaps(points, torch.tensor([[4.0]]), [12])
    decoded = decode_heatmaps(heat)
    fig = plot_heatmap_overlay(crop, heat[0, 0], landmarks=landmarks, peaks=decoded.locations[0], title="t")
    ax, colorbar = fig.axes
    assert colorbar.get_ylabel() == "target value"
    (image,) = heatmap_images(ax)
    assert image.get_array().shape == (64, 64)
    assert image.get_extent() == list(heatmap_extent(64, 256))
    peak_xy = ax.collections[-1].get_offsets()
    np.testing.assert_allclose(peak_xy, rescale_points(decoded.locations[0], 64, 256).numpy(), rtol=1e-5)
    dots = ax.collections[0]
    assert len(dots.get_offsets()) == 68 and dots.get_sizes()[0] >= 10  # landmark dots one can see


def test_overlay_names_each_found_peak_and_skips_the_absent_ones(crop, landmarks):
    points = torch.from_numpy(landmarks)[None] / 4
    heat = encode_heatmaps(points, torch.tensor([[4.0, 0.0, 2.0]]), [12, 4, 6])
    peaks = decode_heatmaps(heat).locations[0]
    assert torch.isnan(peaks[1]).all()  # AU4 absent: no peak to name
    fig = plot_heatmap_overlay(crop, heat[0].amax(0), peaks=peaks, peak_labels=["AU12", "AU04", "AU06"])
    names = [t.get_text() for t in fig.axes[0].texts]
    assert names == ["AU12", "AU06"]
    # two AUs drawn at the same landmarks peak at the same spot: one label names both
    same = encode_heatmaps(points, torch.tensor([[4.0, 4.0]]), [12, 15])
    fig = plot_heatmap_overlay(
        crop, same[0].amax(0), peaks=decode_heatmaps(same).locations[0], peak_labels=["AU12", "AU15"]
    )
    assert [t.get_text() for t in fig.axes[0].texts] == ["AU12, AU15"]
    with pytest.raises(ValueError, match="peak_labels names 2 peaks, but peaks has 3 rows"):
        plot_heatmap_overlay(crop, heat[0].amax(0), peaks=peaks, peak_labels=["AU12", "AU06"])


def test_overlay_draws_into_a_given_axes(crop):
    fig, (a, b) = plt.subplots(1, 2)
    returned = plot_heatmap_overlay(crop, np.zeros((64, 64)), ax=b, colorbar=False)
    assert returned is fig
    assert len(b.get_images()) == 2 and len(a.get_images()) == 0


def test_design_grid_has_a_panel_per_design_and_intensity(crop, landmarks):
    fig = plot_design_grid(crop, landmarks, 12)
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == len(DESIGNS) * 6
    assert len(fig.axes) == len(panels) + len(DESIGNS)  # one colorbar per row
    grid = np.array(panels).reshape(len(DESIGNS), 6)
    peaks = np.array([[heatmap_images(ax)[0].get_array().max() for ax in row] for row in grid])
    np.testing.assert_allclose(peaks[DESIGNS.index("variable")], [0, 1, 2, 3, 4, 5], atol=1e-6)
    np.testing.assert_allclose(peaks[DESIGNS.index("binary")], [0, 1, 1, 1, 1, 1], atol=1e-6)
    assert grid[0, 3].get_title() == "I = 3"


def test_design_grid_zooms_on_the_au_or_shows_the_whole_crop(crop, landmarks):
    zoomed = [ax for ax in plot_design_grid(crop, landmarks, 17, margin=20).axes if ax.get_images()]
    whole = [ax for ax in plot_design_grid(crop, landmarks, 17, margin=None).axes if ax.get_images()]
    assert np.ptp(zoomed[0].get_xlim()) == pytest.approx(40.0)
    assert whole[0].get_xlim() == (-0.5, 255.5)


def test_map_sizes_draw_one_label_on_each_side_over_the_same_face_region(crop, landmarks):
    fig = plot_map_sizes(crop, landmarks, 12, 2.0, sizes=(64, 32, 16))
    panels = np.array([ax for ax in fig.axes if ax.get_images()]).reshape(2, 3)
    for row in panels:
        maps = [heatmap_images(ax)[0] for ax in row]
        assert [m.get_array().shape for m in maps] == [(64, 64), (32, 32), (16, 16)]
        assert [m.get_array().max() for m in maps] == pytest.approx([2.0] * 3, abs=1e-5)
        assert len({tuple(m.get_extent()) for m in maps}) == 1  # every map laid over the whole crop
        assert len({ax.get_xlim() for ax in row}) == 1
    assert [ax.get_title() for ax in panels[0]] == ["64x64 map", "32x32 map", "16x16 map"]
    with pytest.raises(ValueError, match=r"\[0, 5\]"):
        plot_map_sizes(crop, landmarks, 12, 6.0)


def test_profiles_reach_each_intensity_for_the_variable_design(landmarks):
    fig = plot_target_profiles(landmarks, 6, intensities=(1, 3, 5), designs=("variable",))
    (ax,) = fig.axes
    assert [line.get_ydata().max() for line in ax.get_lines()] == pytest.approx([1, 3, 5], abs=1e-5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c, lm: plot_design_grid(c, lm, 12, designs=("gaussian",)), "unknown design"),
        (lambda c, lm: plot_design_grid(c, lm, 3), "not in the catalogue"),
        (lambda c, lm: plot_design_grid(c, lm, 12, intensities=(2, 6)), r"\[0, 5\]"),
        (lambda c, lm: plot_design_grid(c[:, :200], lm, 12), "square"),
        (lambda c, lm: plot_heatmap_overlay(c, np.zeros((2, 64, 64))), "one square channel"),
        (lambda c, lm: plot_au_centres(c, lm[:5]), r"\[68, 2\]"),
        (lambda c, lm: plot_au_centres(c[..., 0], lm), r"\[H, W, 3\]"),
        (lambda c, lm: plot_au_atlas(c, lm, "ck+"), "unknown dataset"),
    ],
)
def test_bad_arguments_raise_clear_errors(crop, landmarks, call, message):
    with pytest.raises(ValueError, match=message):
        call(crop, landmarks)


# SynthFACS figures.


def test_faces_grid_draws_each_face_with_its_landmarks(crop, landmarks):
    fig = plot_faces([crop] * 3, [landmarks] * 3, ["a", "b", "c"], ncols=2)
    assert len(fig.axes) == 3  # the fourth grid cell is removed
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c"]
    assert fig.axes[2].collections[0].get_offsets().shape == (68, 2)
    with pytest.raises(ValueError, match="one per image"):
        plot_faces([crop] * 2, [landmarks])


def test_gallery_has_a_row_per_au_and_the_face_changes_along_it():
    faces, points = render_au_series(Identity(), (12, 26), (0, 5))
    fig = plot_au_gallery(faces, points, (12, 26), (0, 5))
    assert len(fig.axes) == 4
    assert fig.axes[0].get_title() == "I = 0" and fig.axes[0].get_ylabel().startswith("AU12")
    first, last = (ax.get_images()[0].get_array() for ax in fig.axes[:2])
    assert np.abs(first.astype(int) - last).mean() > 0.5  # AU12 at 5 is not the neutral face
    assert fig.axes[0].get_xlim() == fig.axes[1].get_xlim()  # one window per row
    assert np.ptp(fig.axes[0].get_xlim()) < 256  # zoomed


def test_change_maps_show_the_change_near_the_au_and_not_far_from_it():
    neutral, _ = render_face(Identity(), {}, capture=Capture())
    faces, points = render_au_series(Identity(), (2, 17), [5.0])
    fig = plot_au_change_maps(neutral, faces[:, 0], points[:, 0], (2, 17))
    brows, chin = fig.axes[:2]
    change = brows.get_images()[1].get_array()  # [256, 256] grey levels
    assert change[:128].mean() > 5 * change[128:].mean()  # AU2 changes the upper half
    assert chin.get_images()[1].get_array()[128:].sum() > 0
    assert len(fig.axes) == 2 + 1  # two panels and a colorbar


def test_gallery_and_change_maps_want_one_face_per_au_and_intensity():
    faces, points = render_au_series(Identity(), (12,), (0, 5), size=64)
    with pytest.raises(ValueError, match=r"faces must be \[A, n, S, S, 3\]"):
        plot_au_gallery(faces, points, (12, 26), (0, 5))
    with pytest.raises(ValueError, match=r"landmarks must be \[A, n, 68, 2\]"):
        plot_au_gallery(faces, points[:, :1], (12,), (0, 5))
    with pytest.raises(ValueError, match=r"faces must be \[A, S, S, 3\]"):
        plot_au_change_maps(faces[0, 0], faces[:, 1], points[:, 1], (12, 26))
    with pytest.raises(ValueError, match=r"\(0, 5\]"):
        plot_au_change_maps(faces[0, 0], faces[:, 1], points[:, 1], (12,), intensity=0.0)


def test_face_targets_label_the_centres_of_the_present_aus():
    image, lm = render_face(Identity(), {12: 4.0})
    points = torch.from_numpy(lm)[None] / 4
    heat = encode_heatmaps(points, torch.tensor([[4.0, 0.0]]), [12, 1])[0]
    fig = plot_face_targets(image, lm, heat, [12, 1])
    face, targets, colorbar = fig.axes
    assert {t.get_text() for t in targets.texts} == {"12"}  # AU1 is absent
    assert len(targets.texts) == 2  # both lip corners
    assert targets.get_images()[1].get_array().max() == pytest.approx(4.0)
    with pytest.raises(ValueError, match=r"\[K, h, h\] with K = 1"):
        plot_face_targets(image, lm, heat, [12])


def test_label_figures_have_a_panel_per_table_and_a_cell_per_au_pair():
    tables = {name: preset_labels(name, frames_per_subject=8) for name in ("bp4d-like", "disfa-like")}
    histograms = plot_label_histograms(tables)
    assert [ax.get_title().split(":")[0] for ax in histograms.axes] == ["bp4d-like", "disfa-like"]
    heights = sum(p.get_height() for p in histograms.axes[0].patches)
    occurring = 100 * (tables["bp4d-like"].filter(like="AU") > 0).mean().sum()
    assert heights == pytest.approx(occurring)  # stacked bars add up to each AU's occurrence
    fig = plot_cooccurrence(tables["disfa-like"], title="disfa-like")
    heatmap, colorbar = fig.axes
    assert [t.get_text() for t in heatmap.get_xticklabels()][:2] == ["AU01", "AU02"]
    session = plot_session_labels(tables["disfa-like"], "S002", lines=[12, 25])
    strip, lines = session.axes[:2]
    assert strip.get_images()[0].get_array().shape == (12, 8)
    assert [t.get_text() for t in lines.get_legend().get_texts()] == ["AU12", "AU25"]
    with pytest.raises(ValueError, match="no frames of subject 'S999'"):
        plot_session_labels(tables["disfa-like"], "S999")


def test_dataset_samples_show_frames_with_their_labels(tmp_path):
    preset = get_preset("disfa-like")
    subjects = preset.subjects[:3]
    tiny = dataclasses.replace(preset, subjects=subjects, protocol=folds_protocol([[s] for s in subjects]))
    root = generate_dataset(tiny, tmp_path / "tiny", frames_per_subject=2, workers=1)
    dataset = PreparedDataset(root, split="test", fold=1)
    fig = plot_dataset_samples(dataset, [0, 1], ncols=2)
    assert len(fig.axes) == 2
    assert fig.axes[1].get_title().startswith(f"{subjects[1]} T1 frame ")
    assert fig.axes[0].get_images()[0].get_array().shape == (256, 256, 3)


# -- The landmark network (Chapter 3) -------------------------------------------------------------


def test_landmark_predictions_draw_both_point_sets_and_one_error_line_each(crop, landmarks):
    fig = plot_landmark_predictions([crop, crop], [landmarks] * 2, [landmarks + 3] * 2, ["a", "b"], ncols=2)
    assert len(fig.axes) == 2
    lines, truth, predicted = fig.axes[1].collections
    assert len(lines.get_segments()) == 68
    np.testing.assert_allclose(truth.get_offsets(), landmarks)
    np.testing.assert_allclose(predicted.get_offsets(), landmarks + 3)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["ground truth", "predicted"]


def test_landmark_predictions_want_one_prediction_per_image(crop, landmarks):
    with pytest.raises(ValueError, match="predictions has 1 entries for 2 images"):
        plot_landmark_predictions([crop, crop], [landmarks] * 2, [landmarks])


def test_landmark_heatmaps_show_targets_predictions_and_a_zoomed_channel(landmarks):
    small = np.zeros((2, 64, 64, 3))
    targets = landmark_heatmaps(torch.from_numpy(np.round(landmarks / 16)).float()[None].repeat(2, 1, 1), 16)
    fig = plot_landmark_heatmaps(small, targets, 0.5 * targets, landmark=30, zoom=3)
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 8 and len(fig.axes) == 10  # 2 faces x 4 panels, a colorbar for each side
    zoomed_target, zoomed_prediction = panels[1].get_images()[0], panels[3].get_images()[0]
    assert zoomed_target.get_array().max() == pytest.approx(1.0)
    assert zoomed_prediction.get_array().max() == pytest.approx(0.5)
    assert zoomed_prediction.get_clim() == pytest.approx((0.0, 0.5))  # predictions on their own scale
    with pytest.raises(ValueError, match=r"\[N, 68, h, h\]"):
        plot_landmark_heatmaps(small, targets, targets[:, :10])


def test_fan_outputs_have_a_column_per_stack():
    with torch.no_grad():
        features = FAN(2, 16).eval().forward_features(torch.rand(1, 3, 64, 64))
    fig = plot_fan_outputs(np.zeros((64, 64, 3)), features)
    assert len(fig.axes) == 2 * 3
    assert [ax.get_title().split(",")[0] for ax in fig.axes[3:]] == [
        "stem features",
        "stack 1 features",
        "stack 2 features",
    ]


def test_landmark_training_plots_loss_and_nme_per_epoch():
    log = pd.DataFrame(
        {"epoch": [1, 2], "train_loss": [0.2, 0.1], "NME_mean": [0.3, 0.1], "NME_median": [0.2, 0.1]}
    )
    left, right = plot_landmark_training(log).axes
    np.testing.assert_allclose(left.lines[0].get_ydata(), [0.2, 0.1])
    assert left.get_xticks().tolist() == [1, 2]
    assert len(right.lines) == 2
    with pytest.raises(ValueError, match="NME_mean"):
        plot_landmark_training(log.drop(columns="NME_mean"))


# -- Transfer methods (Chapters 4 to 7) -----------------------------------------------------------


def au_log(epochs: int = 3) -> pd.DataFrame:
    """A metrics log of an AU run with two AUs."""
    e = np.arange(1, epochs + 1, dtype=float)
    return pd.DataFrame(
        {
            "epoch": e.astype(int),
            "train_loss": 1 / e,
            "ICC_AU01": 0.1 * e,
            "ICC_AU12": 0.2 * e,
            "ICC_mean": 0.15 * e,
            "MAE_AU01": 1 / e,
            "MAE_AU12": 2 / e,
            "MAE_mean": 1.5 / e,
        }
    )


def test_learning_curves_show_the_mean_over_each_au_of_one_run():
    loss, icc, mae = plot_learning_curves(au_log()).axes
    np.testing.assert_allclose(loss.lines[0].get_ydata(), [1, 1 / 2, 1 / 3])
    assert len(icc.lines) == 2 + 1 + 1  # two AUs, the mean, the zero line
    np.testing.assert_allclose(icc.lines[2].get_ydata(), [0.15, 0.3, 0.45])
    low, high = icc.get_xlim()
    assert [t for t in icc.get_xticks() if low <= t <= high] == [1, 2, 3]  # whole epochs
    assert len(mae.lines) == 3


def test_learning_curves_divide_each_loss_by_its_floor_and_follow_steps():
    logs = {"a": au_log().assign(step=[10, 20, 30]), "b": au_log(2).assign(step=[10, 20])}
    loss, icc, _ = plot_learning_curves(logs, floors={"a": 0.5, "b": 2.0}).axes
    np.testing.assert_allclose(loss.lines[0].get_ydata(), [2, 1, 2 / 3])
    np.testing.assert_allclose(loss.lines[1].get_ydata(), [0.5, 0.25])
    np.testing.assert_allclose(loss.lines[2].get_ydata(), [1, 1])  # the all-zero heatmaps' line
    np.testing.assert_allclose(icc.lines[0].get_xdata(), [10, 20, 30])
    assert loss.get_xlabel().startswith("step") and "all-zero" in loss.get_ylabel()
    with pytest.raises(ValueError, match="floors must name the runs"):
        plot_learning_curves(logs, floors={"a": 1.0})


def test_learning_curves_compare_runs_one_line_each():
    fig = plot_learning_curves({"a": au_log(), "b": au_log(1)})
    loss, icc, _ = fig.axes
    assert [t.get_text() for t in loss.get_legend().get_texts()] == ["a", "b"]
    assert len(icc.lines) == 2 + 1
    assert loss.get_xlim() == (0.5, 3.5)
    with pytest.raises(ValueError, match="ICC_mean"):
        plot_learning_curves({"a": au_log().drop(columns="ICC_mean")})


@pytest.fixture(scope="module")
def disfa_test_set(tmp_path_factory) -> PreparedDataset:
    preset = get_preset("disfa-like")
    subjects = preset.subjects[:2]
    tiny = dataclasses.replace(preset, subjects=subjects, protocol=folds_protocol([[s] for s in subjects]))
    root = generate_dataset(tiny, tmp_path_factory.mktemp("disfa") / "tiny", frames_per_subject=2, workers=1)
    return PreparedDataset(root, split="test", fold=0)


def test_predicted_vs_target_pairs_each_target_with_the_models_heatmap(disfa_test_set):
    torch.manual_seed(0)
    model = build_model("adapters", FAN(1, 16), "disfa")
    fig = plot_predicted_vs_target(model, disfa_test_set, [0, 1], [12, 25], input_size=64)
    panels = [ax for ax in fig.axes if ax.get_title()]
    # A row per frame and AU (2 x 2), each (target, predicted, predicted on its own scale), a
    # colorbar per own-scale panel and the shared one; three panels a row fit a page.
    assert len(panels) == 2 * 2 * 3 and len(fig.axes) == 2 * 2 * 3 + 2 * 2 + 1
    assert panels[3].get_title().startswith("AU25 target") and fig.get_figwidth() < 7
    label = float(disfa_test_set[1]["intensities"][disfa_test_set.aus.index(12)])
    assert panels[6].get_title() == f"AU12 target\nI = {label:g}"
    assert panels[7].get_title().startswith("AU12 predicted\nmax ")
    assert panels[8].get_title() == "AU12 predicted\nits own scale"
    target = panels[6].get_images()[1].get_array()
    assert target.shape == (16, 16) and target.max() == pytest.approx(label, abs=1e-5)
    shared, own = (panels[i].get_images()[1] for i in (7, 8))
    np.testing.assert_array_equal(shared.get_array(), own.get_array())  # the same map
    assert shared.norm.vmax == 5.0
    assert own.norm.vmax == pytest.approx(float(own.get_array().max()))  # its own top
    # A map with nothing above 0 has no scale to stretch: the panel says so.
    nothing = [ax for ax in panels if "own scale" in ax.get_title() and not ax.get_images()[1:]]
    assert all(ax.texts[0].get_text() == "nothing above 0" for ax in nothing)
    assert model.training  # the mode is restored


def test_face_maps_refuse_an_own_scale_column_they_do_not_have():
    crop = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match=r"own_scale names columns \[2\]; the maps have columns 0..1"):
        plot_face_maps([crop], np.zeros((1, 2, 8, 8)), own_scale=[2])


def test_face_maps_with_every_column_on_its_own_scale_have_no_shared_colorbar():
    crop = np.zeros((32, 32, 3), np.uint8)
    maps = np.zeros((1, 2, 8, 8))
    maps[0, 0, 4, 4] = 2.0  # one panel with a scale, one with nothing above 0
    fig = plot_face_maps([crop], maps, own_scale=[0, 1])
    assert len(fig.axes) == 2 + 1  # two panels and the one colorbar of the panel that has a scale
    plt.close(fig)


def test_predicted_vs_target_needs_heatmaps_and_known_aus(disfa_test_set):
    model = build_model("direct", FAN(1, 16), "disfa")
    with pytest.raises(ValueError, match="outputs intensities"):
        plot_predicted_vs_target(model, disfa_test_set, [0], [12], input_size=64)
    with pytest.raises(ValueError, match=r"no AU\(s\) \[14\]"):
        plot_predicted_vs_target(build_model("adapters", FAN(1, 16), "disfa"), disfa_test_set, [0], [14], 64)


def test_attention_maps_start_on_the_aus_landmarks(disfa_test_set):
    model = build_model("attention", FAN(1, 16), "disfa")
    fig = plot_attention_maps(model, disfa_test_set, [0, 1], [1, 12, 25], input_size=64)
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 2 * 3
    assert panels[1].get_title() == "AU12\nlip corner puller"
    maps = panels[1].get_images()[1].get_array()
    assert maps.shape == (16, 16) and 0 <= maps.min() and maps.max() <= 1
    assert len(panels[1].collections[0].get_offsets()) == 2  # AU12's two centres
    with pytest.raises(ValueError, match="no attention maps"):
        plot_attention_maps(build_model("adapters", FAN(1, 16), "disfa"), disfa_test_set, [0], [12], 64)


def test_face_maps_check_their_shapes(crop):
    with pytest.raises(ValueError, match=r"\[N, M, h, h\]"):
        plot_face_maps([crop], np.zeros((1, 16, 16)))
    with pytest.raises(ValueError, match="2 crops for 1 rows"):
        plot_face_maps([crop, crop], np.zeros((1, 2, 16, 16)))


# The benchmark (Chapter 8).

METHODS = ["scratch", "adapters", "direct"]


@pytest.fixture
def benchmark_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """``scores`` and ``curves`` as run_grid returns them: two datasets, three methods, two AUs;
    method k scores ICC 0.1 k, and its loss at step s is (k + 1) / s."""
    scores, curves = [], []
    for dataset, aus in (("bp4d-like", ["AU06", "AU12"]), ("disfa-like", ["AU01", "AU12"])):
        for k, method in enumerate(METHODS):
            key = {"dataset": dataset, "method": method, "design": "variable", "fold": 0, "train_subjects": 9}
            scores += [{**key, "AU": au, "ICC": 0.1 * k, "MAE": 0.5} for au in [*aus, "mean"]]
            curves += [{**key, "step": s, "train_loss": (k + 1) / s, "ICC_mean": 0.1 * k * s} for s in (1, 2)]
    return pd.DataFrame(scores), pd.DataFrame(curves)


def test_mean_icc_has_a_bar_per_method_and_a_panel_per_dataset(benchmark_tables):
    scores, _ = benchmark_tables
    fig = plot_mean_icc(scores[scores["AU"] == "mean"], METHODS)
    assert [ax.get_title() for ax in fig.axes] == ["bp4d-like", "disfa-like"]
    for ax in fig.axes:
        assert [p.get_height() for p in ax.patches] == pytest.approx([0.0, 0.1, 0.2])
        assert [t.get_text() for t in ax.get_xticklabels()] == METHODS


def test_icc_per_au_leaves_the_mean_out(benchmark_tables):
    scores, _ = benchmark_tables
    fig = plot_icc_per_au(scores, METHODS)
    assert [ax.get_title() for ax in fig.axes] == ["bp4d-like", "disfa-like"]
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["AU01", "AU12"]
    assert len(fig.axes[0].patches) == len(METHODS) * 2


def test_curves_follow_the_steps_and_divide_each_loss_by_its_datasets_zero_loss(benchmark_tables):
    _, curves = benchmark_tables
    icc = plot_icc_curves(curves, METHODS)
    assert [ax.get_title() for ax in icc.axes] == ["bp4d-like", "disfa-like"]
    np.testing.assert_allclose(icc.axes[0].lines[1].get_ydata(), [0.1, 0.2])  # adapters
    ratios = plot_loss_ratios(curves, {"bp4d-like": 2.0, "disfa-like": 4.0}, METHODS)
    bp4d, disfa = ([line for line in ax.lines if len(line.get_xdata())] for ax in ratios.axes)
    assert len(bp4d) == 2 + 1  # direct regression left out; the line at 1
    np.testing.assert_allclose(bp4d[0].get_ydata(), [0.5, 0.25])  # scratch: 1 / s / 2
    np.testing.assert_allclose(disfa[1].get_ydata(), [0.5, 0.25])  # adapters: 2 / s / 4
    assert list(bp4d[-1].get_ydata()) == [1, 1]
    assert [t.get_text() for t in ratios.legends[0].get_texts()] == ["scratch", "adapters"]


def test_subject_counts_show_a_point_per_method_and_count(benchmark_tables):
    scores, _ = benchmark_tables
    means = scores[(scores["AU"] == "mean") & (scores["dataset"] == "disfa-like")]
    means = pd.concat([means, means.assign(train_subjects=3, ICC=means["ICC"] / 2)])
    (ax,) = plot_subject_counts(means, ["scratch", "adapters"]).axes
    assert ax.get_title().startswith("disfa-like; points: mean over folds")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3", "9"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["scratch", "adapters"]


# Real photos (Chapter 9).


def test_face_reading_draws_every_au_and_a_bar_per_answer(reading):
    crop, heatmaps, levels = reading.crop, reading.reading.heatmaps[0], reading.reading.intensities[0]
    fig = plot_face_reading(crop, heatmaps, levels, (6, 12, 25), ncols=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["AU06: 0.00\nmap max 0.00", "AU12: 2.10\nmap max 2.00", "AU25: 0.40\nmap max 0.50"]
    bars = [ax for ax in fig.axes if ax.patches and not ax.get_images()]
    assert [p.get_height() for p in bars[0].patches] == pytest.approx([0.0, 2.1, 0.4, 0.0, 2.0, 0.5])
    with pytest.raises(ValueError, match="must match 3 AUs"):
        plot_face_reading(crop, heatmaps[:2], levels, (6, 12, 25))


def test_found_faces_draw_a_box_and_landmarks_per_face(crop, landmarks):
    from auheat.landmarkers import Face

    faces = [Face.from_landmarks(landmarks.astype(np.float64))]
    fig = plot_found_faces([crop, crop], [faces, []], ["one", "none"], ncols=2)
    assert [len(ax.patches) for ax in fig.axes] == [1, 0]
    assert fig.axes[0].get_title() == "one\n1 face(s)" and fig.axes[1].get_title() == "none\n0 face(s)"


# Page versions (figures.switcher): pictures precomputed over a grid of controls.


def test_page_control_rejects_a_start_or_labels_that_do_not_fit_its_values():
    with pytest.raises(ValueError, match="starts at 7, not among"):
        figures.PageControl("AU", (1, 2), 7)
    with pytest.raises(ValueError, match="repeats a value"):
        figures.PageControl("AU", (1, 1), 1)
    with pytest.raises(ValueError, match="2 labels for 3 values"):
        figures.PageControl("AU", (1, 2, 3), 1, ("a", "b"))


def test_switcher_stores_identical_pictures_once_and_keeps_its_script_closed():
    from matplotlib.figure import Figure

    def draw(values):
        fig = Figure(figsize=(1, 1))
        fig.subplots().plot([0, 1], [0, values["level"] > 0])
        return fig, "</script> in a description"

    controls = [
        figures.PageControl("side", ("left", "right"), "left"),
        figures.PageControl("level", (0, 1, 2), 1, slider=True),
    ]
    block = figures.switcher_html(controls, draw, "a note")
    pictures = re.search(r"const pictures = (\[.*?\]),", block).group(1)
    assert len(json.loads(pictures)) == 2  # level 0, and levels 1 and 2, whichever the side
    assert block.count("</script>") == 1  # the description's is escaped inside the script
    assert '<input type="range" data-control="1" min="0" max="2" step="1" value="1">' in block


def test_the_book_style_sets_a_colour_blind_safe_cycle_and_legible_type():
    with matplotlib.rc_context():
        figures.use_book_style()
        assert [c.upper() for c in matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]] == list(
            figures.OKABE_ITO
        )
        assert matplotlib.rcParams["xtick.labelsize"] >= 8 and matplotlib.rcParams["image.cmap"] == "inferno"
        fig, ax = plt.subplots()
        (line,) = ax.plot([0, 1])
        assert line.get_color().upper() == figures.OKABE_ITO[0]
        plt.close(fig)


def test_photo_landmarks_are_drawn_one_panel_per_photo_titled_with_its_nme(crop, landmarks):
    from auheat.figures import plot_photo_landmarks
    from auheat.landmarkers import PhotoLandmarks

    found = {
        "a": PhotoLandmarks(crop, landmarks, landmarks + 3),
        "b": PhotoLandmarks(crop, landmarks, landmarks),
    }
    fig = plot_photo_landmarks(found, "64x64", pd.Series({"a": 0.05, "b": 0.0}), ncols=2)
    assert [ax.get_title() for ax in fig.axes[:2]] == ["a, 64x64\nNME 0.050", "b, 64x64\nNME 0.000"]
    plt.close(fig)


def test_the_edit_check_draws_a_panel_per_au_three_to_a_row():
    rows = [
        {"AU": au, "face": face, "intensity": level, "raw": au * level / 10 + face}
        for au in (1, 2, 4, 12, 25)
        for face in (0, 1)
        for level in (0.0, 2.5, 5.0)
    ]
    fig = figures.plot_edit_check(pd.DataFrame(rows))
    assert [ax.get_title() for ax in fig.axes] == ["AU01", "AU02", "AU04", "AU12", "AU25"]
    assert fig.get_figwidth() <= 9 and len(fig.axes[0].lines) == 3  # two faces and their mean
    assert [ax.get_subplotspec().rowspan.start for ax in fig.axes] == [0, 0, 0, 1, 1]
    np.testing.assert_allclose(fig.axes[3].lines[-1].get_ydata(), [0.5, 0.5 + 12 * 0.25, 0.5 + 12 * 0.5])


def test_the_edit_check_dashes_faces_that_show_the_au_and_leaves_them_out_of_the_mean():
    rows = [
        {"AU": 12, "face": face, "intensity": level, "raw": face + level, "shown": face == 1}
        for face in (0, 1)
        for level in (0.0, 5.0)
    ]
    fig = figures.plot_edit_check(pd.DataFrame(rows))
    faces, mean = fig.axes[0].lines[:2], fig.axes[0].lines[-1]
    assert [line.get_linestyle() for line in faces] == ["-", "--"]
    np.testing.assert_allclose(mean.get_ydata(), [0.0, 5.0])
    plt.close(fig)
