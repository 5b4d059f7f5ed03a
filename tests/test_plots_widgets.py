import base64
import dataclasses
import subprocess
import sys

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from auheat.aus import ACTION_UNITS, heatmap_to_crop
from auheat.data.dataset import PreparedDataset, folds_protocol
from auheat.heatmaps import DESIGNS, decode_heatmaps, encode_heatmaps
from auheat.plots import (
    au_cooccurrence,
    heatmap_extent,
    level_shares,
    plot_au_atlas,
    plot_au_centres,
    plot_au_change_maps,
    plot_au_gallery,
    plot_cooccurrence,
    plot_dataset_samples,
    plot_design_grid,
    plot_face_targets,
    plot_faces,
    plot_heatmap_overlay,
    plot_label_histograms,
    plot_session_labels,
    plot_target_profiles,
    unique_centres,
)
from auheat.synth import Identity, render_face
from auheat.synth.generate import generate_dataset, preset_labels
from auheat.synth.presets import get_preset

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def crop() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)


@pytest.fixture
def landmarks() -> np.ndarray:
    """68 points spread over the middle of a 256x256 crop (crop pixels)."""
    return np.random.default_rng(1).uniform(60, 196, (68, 2)).astype(np.float32)


def heatmap_images(ax) -> list:
    """Images drawn over the face (the face is the first image of an axes)."""
    return ax.get_images()[1:]


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
    expected = heatmap_to_crop(torch.arange(64, dtype=torch.float64), 256, 64).numpy()
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
    np.testing.assert_allclose(peak_xy, heatmap_to_crop(decoded.locations[0], 256, 64).numpy(), rtol=1e-5)


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
    fig = plot_au_gallery(Identity(), (12, 26), intensities=(0, 5))
    assert len(fig.axes) == 4
    assert fig.axes[0].get_title() == "I = 0" and fig.axes[0].get_ylabel().startswith("AU12")
    first, last = (ax.get_images()[0].get_array() for ax in fig.axes[:2])
    assert np.abs(first.astype(int) - last).mean() > 0.5  # AU12 at 5 is not the neutral face
    assert fig.axes[0].get_xlim() == fig.axes[1].get_xlim()  # one window per row
    assert np.ptp(fig.axes[0].get_xlim()) < 256  # zoomed


def test_change_maps_show_the_change_near_the_au_and_not_far_from_it():
    fig = plot_au_change_maps(Identity(), (2, 17))
    brows, chin = fig.axes[:2]
    change = brows.get_images()[1].get_array()  # [256, 256] grey levels
    assert change[:128].mean() > 5 * change[128:].mean()  # AU2 changes the upper half
    assert chin.get_images()[1].get_array()[128:].sum() > 0
    assert len(fig.axes) == 2 + 1  # two panels and a colorbar


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


@pytest.fixture
def table() -> pd.DataFrame:
    """Four frames of one session: AU01 present in three, AU02 in two of those."""
    return pd.DataFrame(
        {
            "subject": "S1",
            "session": "T1",
            "frame": [0, 10, 20, 30],
            "AU01": [0, 1, 3, 5],
            "AU02": [0, 0, 2, 1],
            "AU04": [0.0, 0.0, 0.0, np.nan],
        }
    )


def test_level_shares_are_shares_of_labelled_frames(table):
    shares = level_shares(table)
    assert list(shares.columns) == [0, 1, 2, 3, 4, 5]
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert shares.loc["AU01"].tolist() == [0.25, 0.25, 0, 0.25, 0, 0.25]
    assert shares.loc["AU04", 0] == 1.0  # the unlabelled frame does not count


def test_cooccurrence_is_conditional_on_the_row_au(table):
    matrix = au_cooccurrence(table)
    assert matrix.loc["AU01", "AU02"] == pytest.approx(2 / 3)
    assert matrix.loc["AU02", "AU01"] == 1.0
    assert matrix.loc["AU01", "AU04"] == 0.0  # present twice where AU04 is labelled, never with it
    assert matrix.loc["AU04"].isna().all()  # AU04 never occurs


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
    root = generate_dataset(tiny, tmp_path / "tiny", frames_per_subject=2, workers=1, progress=False)
    dataset = PreparedDataset(root, split="test", fold=1)
    fig = plot_dataset_samples(dataset, [0, 1], ncols=2)
    assert len(fig.axes) == 2
    assert fig.axes[1].get_title().startswith(f"{subjects[1]} T1 frame ")
    assert fig.axes[0].get_images()[0].get_array().shape == (256, 256, 3)


# The explorer.


@pytest.fixture
def widgets():
    return pytest.importorskip("auheat.widgets", reason="ipywidgets (book extra) is not installed")


def png_of(explorer) -> bytes:
    (output,) = explorer.output.outputs
    assert output["output_type"] == "display_data"
    return base64.b64decode(output["data"]["image/png"])


def test_explorer_draws_once_when_built(widgets, crop, landmarks):
    explorer = widgets.heatmap_explorer(crop, landmarks)
    assert explorer.redraws == 1
    assert png_of(explorer).startswith(b"\x89PNG")
    assert float(explorer.heatmap.max()) == pytest.approx(3.0)
    assert explorer.au.value == 12 and explorer.design.value == "variable"
    assert set(explorer.au.options) == {(f"{au.label} {au.name}", n) for n, au in ACTION_UNITS.items()}


def test_explorer_redraws_when_a_control_changes(widgets, crop, landmarks):
    explorer = widgets.heatmap_explorer(crop, landmarks)
    before = png_of(explorer)
    explorer.intensity.value = 5.0
    assert explorer.redraws == 2
    assert float(explorer.heatmap.max()) == pytest.approx(5.0)
    assert png_of(explorer) != before
    explorer.design.value = "binary"
    assert float(explorer.heatmap.max()) == pytest.approx(1.0)
    lips = explorer.heatmap.clone()
    explorer.au.value = 2
    assert explorer.redraws == 4
    assert not torch.equal(explorer.heatmap, lips)  # the brows, not the lip corners
    assert "AU02" in explorer.figure.axes[0].get_title()


def test_explorer_at_intensity_zero_draws_an_empty_target(widgets, crop, landmarks):
    explorer = widgets.heatmap_explorer(crop, landmarks, intensity=0.0)
    assert torch.count_nonzero(explorer.heatmap) == 0
    assert png_of(explorer).startswith(b"\x89PNG")


def test_explorer_offers_only_the_aus_asked_for(widgets, crop, landmarks):
    explorer = widgets.heatmap_explorer(crop, landmarks, aus="bp4d")
    assert [n for _, n in explorer.au.options] == [6, 10, 12, 14, 17]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"au": 1, "aus": "bp4d"}, "not among the AUs offered"),
        ({"intensity": 7.0}, r"\[0, 5\]"),
        ({"design": "gaussian"}, "unknown design"),
        ({"heatmap_size": 0}, "positive int"),
    ],
)
def test_explorer_rejects_bad_arguments(widgets, crop, landmarks, kwargs, message):
    with pytest.raises(ValueError, match=message):
        widgets.heatmap_explorer(crop, landmarks, **kwargs)


def test_explorer_rejects_landmarks_of_the_wrong_shape(widgets, crop, landmarks):
    with pytest.raises(ValueError, match=r"\[68, 2\]"):
        widgets.heatmap_explorer(crop, landmarks[:10])


def test_synth_explorer_draws_once_with_its_starting_intensities(widgets):
    explorer = widgets.synth_face_explorer({12: 4.0})
    assert explorer.redraws == 1 and png_of(explorer).startswith(b"\x89PNG")
    assert len(explorer.sliders) == 14 and explorer.sliders[12].value == 4.0
    assert explorer.heatmaps.shape == (14, 64, 64)
    peaks = explorer.heatmaps.amax((-1, -2))
    assert peaks[explorer.aus.index(12)] == pytest.approx(4.0) and peaks.sum() == pytest.approx(4.0)


def test_synth_explorer_renders_again_when_a_slider_moves(widgets):
    explorer = widgets.synth_face_explorer()
    before, face, landmarks = png_of(explorer), explorer.image.copy(), explorer.landmarks.copy()
    explorer.sliders[26].value = 5.0
    assert explorer.redraws == 2 and png_of(explorer) != before
    assert explorer.landmarks[8, 1] > landmarks[8, 1] + 5  # the jaw dropped
    assert float(explorer.heatmaps[explorer.aus.index(26)].max()) == pytest.approx(5.0)
    explorer.subject.value = 3
    assert explorer.redraws == 3 and not np.array_equal(explorer.image, face)
    explorer.sliders[4].value = 2.0
    explorer.neutral.click()
    assert explorer.redraws == 5  # the button redraws once, not once per slider
    assert explorer.intensities() == dict.fromkeys(explorer.aus, 0.0)
    assert torch.count_nonzero(explorer.heatmaps) == 0


def test_synth_explorer_offers_only_the_aus_asked_for(widgets):
    explorer = widgets.synth_face_explorer({6: 2.0}, aus="bp4d")
    assert list(explorer.sliders) == [6, 10, 12, 14, 17] and explorer.heatmaps.shape[0] == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"intensities": {12: 6.0}}, r"\[0, 5\]"),
        ({"intensities": {1: 2.0}, "aus": "bp4d"}, "have no slider"),
        ({"subject": 100}, "0..99"),
        ({"design": "gaussian"}, "unknown design"),
    ],
)
def test_synth_explorer_rejects_bad_arguments(widgets, kwargs, message):
    with pytest.raises(ValueError, match=message):
        widgets.synth_face_explorer(**kwargs)


def test_the_library_does_not_import_widgets():
    code = "import sys, auheat, auheat.plots, auheat.heatmaps; print('ipywidgets' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
