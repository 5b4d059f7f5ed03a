"""The book's interactive explorers (auheat.widgets): each draws once when built, and again when
one of its controls changes."""

import base64
import json
import re
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


# Page versions: each explorer's figures precomputed over a grid of its controls, for a page
# without a kernel (auheat.figures.switcher_html).


def page_data(block: str) -> dict:
    """The pictures, descriptions, combination index and labels a page version's script holds."""
    found = re.search(
        r"const pictures = (\[.*?\]), alts = (\[.*?\]), index = (\{.*?\}), labels = (\[.*?\]);", block
    )
    assert found, "no data in the page version's script"
    return dict(zip(("pictures", "alts", "index", "labels"), map(json.loads, found.groups()), strict=True))


def test_page_version_draws_every_combination_and_starts_at_the_widgets_values(widgets, crop, landmarks):
    explorer = widgets.heatmap_explorer(crop, landmarks, au=12, intensity=3.0, design="variable")
    block = explorer.page_html(grid={"AU": (2, 12), "intensity": (0.0, 3.0)})
    data = page_data(block)
    assert len(data["index"]) == 2 * 2 * 4  # AU x intensity x design
    assert len(data["pictures"]) == 16  # the titles differ, so no two pictures are the same
    assert data["labels"][0] == ["AU02 outer brow raiser", "AU12 lip corner puller"]
    assert data["labels"][1] == ["0", "3"]
    assert data["labels"][2] == ["fixed", "windowed", "variable", "binary"]
    start = data["index"]["1,1,2"]  # AU12, I = 3, variable: the widget's values
    assert data["alts"][start] == "AU12 variable target at I = 3"
    assert f'<img src="{data["pictures"][start]}"' in block
    assert all(p.startswith("data:image/webp;base64,") for p in data["pictures"])
    assert block.count('type="range"') == 1 and block.count("<select") == 2  # intensity is a slider


def test_page_version_is_displayed_only_when_the_build_asks_for_it(widgets, crop, landmarks, monkeypatch):
    explorer = widgets.heatmap_explorer(crop, landmarks, aus=(12,))
    monkeypatch.delenv(widgets.PAGE_VERSIONS, raising=False)
    live = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in live and "text/html" not in live
    monkeypatch.setenv(widgets.PAGE_VERSIONS, "1")
    built = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in built
    assert len(page_data(built["text/html"])["index"]) == 1 * 3 * 4


def test_page_version_rejects_a_control_it_does_not_have(widgets, crop, landmarks):
    explorer = widgets.heatmap_explorer(crop, landmarks)
    with pytest.raises(ValueError, match=r"grid names \['colour'\]"):
        explorer.page_html(grid={"colour": ("red",)})


def test_synth_page_version_shows_one_au_or_a_named_pair_and_stores_the_neutral_face_once(widgets):
    explorer = widgets.synth_face_explorer({6: 3.0, 12: 4.0})
    controls = explorer.page_controls()
    assert controls[0].start == (6, 12)  # the pair set now
    choices = dict(zip(controls[0].shown(), controls[0].values, strict=True))
    # The combinations Chapter 2's text asks for are on the page.
    assert choices["AU06 + AU12 together"] == (6, 12) and choices["AU01 + AU04 together"] == (1, 4)
    data = page_data(explorer.page_html(grid={"AUs": ((6,), (12,), (6, 12)), "intensity": (0.0, 4.0)}))
    assert data["labels"][0] == ["AU06 cheek raiser", "AU12 lip corner puller", "AU06 + AU12 together"]
    assert data["index"]["0,0"] == data["index"]["1,0"] == data["index"]["2,0"]  # the same neutral face
    assert len(data["pictures"]) == 4
    assert data["alts"][data["index"]["1,1"]] == "SynthFACS face, subject 0, AUs: AU12=4"
    assert data["alts"][data["index"]["2,1"]] == "SynthFACS face, subject 0, AUs: AU06=4, AU12=4"
    # A face set to no pair starts at its highest AU alone.
    assert widgets.synth_face_explorer({6: 3.0, 12: 4.0, 25: 2.0}).page_controls()[0].start == (12,)


def test_photo_page_version_covers_photos_the_chapters_aus_thresholds_and_opacities(widgets, reading):
    explorer = widgets.photo_explorer({"a": reading, "b": reading}, (6, 12, 25))
    controls = {c.name: c for c in explorer.page_controls()}
    assert list(controls) == ["photo", "AU", "threshold", "opacity"]
    assert controls["threshold"].values == (0.0, 1.0, 2.0) and controls["opacity"].values == (0.45, 0.9)
    data = page_data(explorer.page_html(grid={"threshold": (0.0, 1.0)}))
    assert len(data["index"]) == 2 * 4 * 2 * 2  # photos x (3 AUs and their maximum) x thresholds x opacities
    assert data["alts"][data["index"]["1,0,1,0"]] == "b, all AUs (maximum), threshold 1, opacity 0.45"
    # The page offers only the AUs Chapter 9 reads (and the maximum); the live explorer offers all.
    wide = widgets.photo_explorer({"a": reading}, (5, 12, 25))
    assert next(c for c in wide.page_controls() if c.name == "AU").values == (0, 12, 25)
