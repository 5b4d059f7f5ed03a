import base64
import subprocess
import sys

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from auheat.aus import ACTION_UNITS, heatmap_to_crop
from auheat.heatmaps import DESIGNS, decode_heatmaps, encode_heatmaps
from auheat.plots import (
    heatmap_extent,
    plot_au_atlas,
    plot_au_centres,
    plot_design_grid,
    plot_heatmap_overlay,
    plot_target_profiles,
    unique_centres,
)

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


def test_the_library_does_not_import_widgets():
    code = "import sys, auheat, auheat.plots, auheat.heatmaps; print('ipywidgets' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
