"""The book's interactive explorers (auheat.widgets): each draws once when built, and again when
one of its controls changes."""

import base64
import subprocess
import sys

import matplotlib
import numpy as np
import pytest
import torch

from auheat.aus import ACTION_UNITS

matplotlib.use("Agg")


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
    code = "import sys, auheat, auheat.figures, auheat.heatmaps; print('ipywidgets' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# Real photos (Chapter 9).


def test_photo_explorer_draws_the_chosen_au_and_hides_values_below_the_threshold(widgets, reading):
    explorer = widgets.photo_explorer({"a": reading, "b": reading}, (6, 12, 25))
    assert explorer.redraws == 1 and png_of(explorer).startswith(b"\x89PNG")
    assert explorer.shown.max() == 2.0 and "AU12" in explorer.figure.axes[0].get_title()
    assert "answer 2.10" in explorer.figure.axes[0].get_title()
    explorer.au.value = 0  # the maximum over all AUs
    assert (explorer.shown > 0).sum() == 1 + 9
    explorer.threshold.value = 1.0
    assert (explorer.shown > 0).sum() == 1
    explorer.opacity.value = 0.0
    assert len(explorer.figure.axes[0].get_images()) == 1  # the face only
    explorer.photo.value = "b"
    assert explorer.redraws == 5


def test_photo_explorer_rejects_bad_arguments(widgets, reading):
    with pytest.raises(ValueError, match="must match 2 AUs"):
        widgets.photo_explorer({"a": reading}, (6, 12))
    with pytest.raises(ValueError, match="au=4 is not among"):
        widgets.photo_explorer({"a": reading}, (6, 12, 25), au=4)
    with pytest.raises(ValueError, match="photo='c' is not among a"):
        widgets.photo_explorer({"a": reading}, (6, 12, 25), photo="c")
