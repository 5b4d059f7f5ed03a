"""Interactive explorers for the book (ipywidgets).

This module imports the library; the library never imports it, so ipywidgets (part of the
``book`` extra) is needed only here.

Every explorer draws its figure as soon as it is built, with its default values, and keeps the
picture in its Output widget's state. A notebook run without a browser (CI, a static HTML page)
therefore still shows a figure; a live kernel redraws it whenever a control changes.
"""

from __future__ import annotations

import base64
import io
import textwrap
from collections.abc import Mapping

import numpy as np
import torch
from matplotlib.figure import Figure

from auheat.aus import ACTION_UNITS, MAX_INTENSITY, get_au, rescale_points, resolve_aus
from auheat.figures import AUSelection, draw_heatmap, plot_face_targets, plot_heatmap_overlay
from auheat.heatmaps import (
    DESIGNS,
    check_design,
    decode_heatmaps,
    encode_heatmaps,
    target_geometry,
)
from auheat.synth import SYNTH_AUS, Capture, Pose, render_face, sample_identity
from auheat.synth.params import check_intensities

try:
    import ipywidgets as widgets
except ModuleNotFoundError as error:  # pragma: no cover - depends on the environment
    raise ModuleNotFoundError(
        "auheat.widgets needs ipywidgets, which comes with the book extra: pip install 'auheat[book]'"
    ) from error


def _show_in(output: widgets.Output, fig: Figure, text: str) -> None:
    """Replace what ``output`` shows with ``fig`` as a PNG.

    Set on the kernel side, the output is part of the widget's state: it is saved with the
    notebook and shown by a static page, with or without a live kernel behind it.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    output.outputs = (
        {
            "output_type": "display_data",
            "data": {"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"), "text/plain": text},
            "metadata": {},
        },
    )


class HeatmapExplorer(widgets.VBox):
    """Controls (AU, intensity, design) above the target heatmap they define, drawn over a face.

    Attributes:
        au: Dropdown over the AUs offered (values are AU numbers).
        intensity: FloatSlider, 0..5 in steps of 0.5.
        design: ToggleButtons over ``"fixed"``, ``"variable"``, ``"binary"``.
        output: the Output widget that holds the current figure as a PNG display output.
        heatmap: the current target, [h, h] float tensor, heatmap pixels.
        figure: the matplotlib Figure last drawn (not shown through pyplot).
        redraws: how many times the figure has been drawn.
    """

    def __init__(
        self,
        crop: np.ndarray,
        landmarks_crop: np.ndarray,
        aus: AUSelection = None,
        au: int = 12,
        intensity: float = 3.0,
        design: str = "variable",
        heatmap_size: int = 64,
        figsize: tuple[float, float] = (5.5, 4.8),
        dpi: int = 90,
    ) -> None:
        crop = np.asarray(crop)
        if crop.ndim != 3 or crop.shape[2] != 3 or crop.shape[0] != crop.shape[1]:
            raise ValueError(f"crop must be a square RGB face crop [S, S, 3], got shape {list(crop.shape)}")
        landmarks = np.asarray(landmarks_crop, dtype=np.float32)
        if landmarks.shape != (68, 2):
            raise ValueError(
                f"landmarks_crop must have shape [68, 2] (crop pixels), got {list(landmarks.shape)}"
            )
        numbers = tuple(ACTION_UNITS) if aus is None else resolve_aus(aus)
        if au not in numbers:
            raise ValueError(f"au={au!r} is not among the AUs offered: {', '.join(map(str, numbers))}")
        if not 0 <= intensity <= MAX_INTENSITY:
            raise ValueError(f"intensity must lie in [0, {MAX_INTENSITY:g}], got {intensity!r}")
        check_design(design)
        if not isinstance(heatmap_size, int) or heatmap_size < 1:
            raise ValueError(f"heatmap_size must be a positive int, got {heatmap_size!r}")

        self._crop = crop
        self._landmarks = landmarks
        self._heatmap_landmarks = rescale_points(torch.from_numpy(landmarks), crop.shape[0], heatmap_size)[
            None
        ]
        self._heatmap_size = heatmap_size
        self._figsize = figsize
        self._dpi = dpi
        self.redraws = 0
        self.figure: Figure | None = None
        self.heatmap: torch.Tensor | None = None

        self.au = widgets.Dropdown(
            options=[(f"{get_au(n).label} {get_au(n).name}", n) for n in numbers], value=au, description="AU"
        )
        self.intensity = widgets.FloatSlider(
            value=intensity,
            min=0.0,
            max=MAX_INTENSITY,
            step=0.5,
            description="intensity",
            readout_format=".1f",
        )
        self.design = widgets.ToggleButtons(options=list(DESIGNS), value=design, description="design")
        self.output = widgets.Output()
        for control in (self.au, self.intensity, self.design):
            control.observe(self._on_change, names="value")
        super().__init__([widgets.HBox([self.au, self.intensity]), self.design, self.output])
        self.redraw()

    def _on_change(self, change: dict) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Encode the target for the current controls and replace the figure in ``output``."""
        au, level, design = self.au.value, float(self.intensity.value), self.design.value
        heatmaps = encode_heatmaps(
            self._heatmap_landmarks, torch.tensor([[level]]), [au], size=self._heatmap_size, design=design
        )
        self.heatmap = heatmaps[0, 0]
        peak = float(decode_heatmaps(heatmaps).intensities[0, 0])
        sigma, radius = (float(v) for v in target_geometry(torch.tensor(level), design, self._heatmap_size))
        entry = get_au(au)
        fig = Figure(figsize=self._figsize, dpi=self._dpi, layout="constrained")
        plot_heatmap_overlay(
            self._crop,
            self.heatmap,
            landmarks=self._landmarks,
            vmax=1.0 if design == "binary" else MAX_INTENSITY,
            ax=fig.subplots(),
            title=(
                f"{entry.label} {entry.name}, I = {level:g}, {design}\n"
                f"peak {peak:.2f}, σ = {sigma:.2f}, window ±{radius:.1f} heatmap px"
            ),
        )
        self.figure = fig
        self.redraws += 1
        _show_in(self.output, fig, f"<{entry.label} {design} target at I = {level:g}>")


def heatmap_explorer(
    crop: np.ndarray,
    landmarks_crop: np.ndarray,
    aus: AUSelection = None,
    au: int = 12,
    intensity: float = 3.0,
    design: str = "variable",
    heatmap_size: int = 64,
) -> HeatmapExplorer:
    """Explore heatmap targets on a face: pick an AU, an intensity and a design.

    Args:
        crop: [S, S, 3] RGB aligned face crop (S = 256 for the models).
        landmarks_crop: [68, 2] float, the face's landmarks in crop pixels.
        aus: dataset name or AU numbers offered in the dropdown; ``None`` offers the catalogue.
        au, intensity, design: the values drawn first (intensity in [0, 5]).
        heatmap_size: side of the target, heatmap pixels.

    Returns:
        The widget; display it (last expression of a cell). It already holds the figure for the
        default values, so a notebook executed without a browser still shows one.
    """
    return HeatmapExplorer(crop, landmarks_crop, aus, au, intensity, design, heatmap_size)


class SynthFaceExplorer(widgets.VBox):
    """One slider per Action Unit above a SynthFACS face rendered with those intensities, its
    68 landmarks and the AU targets drawn from them.

    The subject is ``sample_identity(np.random.default_rng(subject))``; the ``subject`` slider
    picks another one. Moving a slider renders the face again, so geometry (landmarks) and
    appearance (wrinkles, folds) both follow it; the targets are
    :func:`auheat.heatmaps.encode_heatmaps` of the rendered landmarks.

    Attributes:
        sliders: AU number -> FloatSlider, 0..5 in steps of 0.5.
        subject: IntSlider, the identity's seed.
        neutral: Button that sets every AU to 0 (one redraw).
        output: the Output widget that holds the current figure as a PNG display output.
        image: [S, S, 3] uint8, the face last rendered. landmarks: [68, 2] float32, its crop pixels.
        heatmaps: [K, h, h] float tensor, its targets, channels in ``aus`` order.
        figure: the matplotlib Figure last drawn. redraws: how many times it has been drawn.
    """

    def __init__(
        self,
        intensities: Mapping[int, float] | None = None,
        subject: int = 0,
        aus: AUSelection = None,
        pose: Pose | None = None,
        capture: Capture | None = None,
        design: str = "variable",
        heatmap_size: int = 64,
        size: int = 256,
        figsize: tuple[float, float] = (9.0, 4.6),
        dpi: int = 80,
    ) -> None:
        self.aus: tuple[int, ...] = SYNTH_AUS if aus is None else resolve_aus(aus)
        cannot = [n for n in self.aus if n not in SYNTH_AUS]
        if cannot:
            raise ValueError(f"SynthFACS cannot render AU(s) {cannot}; renderable AUs: {SYNTH_AUS}")
        start = dict(intensities or {})
        check_intensities(start)
        shown = [n for n in start if n not in self.aus]
        if shown:
            raise ValueError(f"intensities name AU(s) {shown} that have no slider; sliders: {self.aus}")
        check_design(design)
        if not isinstance(subject, int) or not 0 <= subject <= 99:
            raise ValueError(f"subject must be an int in 0..99, got {subject!r}")
        if not isinstance(heatmap_size, int) or heatmap_size < 1:
            raise ValueError(f"heatmap_size must be a positive int, got {heatmap_size!r}")

        self._pose = Pose() if pose is None else pose
        self._capture = Capture() if capture is None else capture  # a clean studio frame
        self._design, self._heatmap_size, self._size = design, heatmap_size, size
        self._figsize, self._dpi = figsize, dpi
        self._holding = False
        self.redraws = 0
        self.figure: Figure | None = None
        self.image: np.ndarray | None = None
        self.landmarks: np.ndarray | None = None
        self.heatmaps: torch.Tensor | None = None

        self.sliders = {
            n: widgets.FloatSlider(
                value=float(start.get(n, 0.0)),
                min=0.0,
                max=MAX_INTENSITY,
                step=0.5,
                description=f"{get_au(n).label} {get_au(n).name}",
                readout_format=".1f",
                continuous_update=False,
                style={"description_width": "170px"},
                layout=widgets.Layout(width="370px"),
            )
            for n in self.aus
        }
        self.subject = widgets.IntSlider(
            value=subject, min=0, max=99, description="subject", continuous_update=False
        )
        self.neutral = widgets.Button(description="neutral face", tooltip="set every AU to 0")
        self.output = widgets.Output()
        for control in (*self.sliders.values(), self.subject):
            control.observe(self._on_change, names="value")
        self.neutral.on_click(self._on_neutral)
        grid = widgets.GridBox(
            list(self.sliders.values()), layout=widgets.Layout(grid_template_columns="repeat(2, 380px)")
        )
        super().__init__([widgets.HBox([self.subject, self.neutral]), grid, self.output])
        self.redraw()

    def _on_change(self, change: dict) -> None:
        if not self._holding:
            self.redraw()

    def _on_neutral(self, button: widgets.Button | None = None) -> None:
        self._holding = True
        try:
            for slider in self.sliders.values():
                slider.value = 0.0
        finally:
            self._holding = False
        self.redraw()

    def intensities(self) -> dict[int, float]:
        """The sliders' values: AU number -> intensity."""
        return {n: float(slider.value) for n, slider in self.sliders.items()}

    def redraw(self) -> None:
        """Render the face for the current sliders, encode its targets, replace the figure."""
        levels = self.intensities()
        identity = sample_identity(np.random.default_rng(self.subject.value))
        self.image, self.landmarks = render_face(identity, levels, self._pose, self._capture, size=self._size)
        points = rescale_points(torch.from_numpy(self.landmarks), self._size, self._heatmap_size)[None]
        labels = torch.tensor([[levels[n] for n in self.aus]], dtype=torch.float32)
        self.heatmaps = encode_heatmaps(
            points, labels, self.aus, size=self._heatmap_size, design=self._design
        )[0]
        active = ", ".join(f"{get_au(n).label}={v:g}" for n, v in levels.items() if v > 0) or "none"
        fig = Figure(figsize=self._figsize, dpi=self._dpi, layout="constrained")
        plot_face_targets(
            self.image,
            self.landmarks,
            self.heatmaps,
            self.aus,
            fig=fig,
            vmax=1.0 if self._design == "binary" else MAX_INTENSITY,
            title=f"subject {self.subject.value}; AUs: {active}",
        )
        self.figure = fig
        self.redraws += 1
        _show_in(self.output, fig, f"<SynthFACS face, subject {self.subject.value}, AUs: {active}>")


def synth_face_explorer(
    intensities: Mapping[int, float] | None = None,
    subject: int = 0,
    aus: AUSelection = None,
    pose: Pose | None = None,
    capture: Capture | None = None,
    design: str = "variable",
) -> SynthFaceExplorer:
    """Play with a synthetic face: one slider per AU, the face, its landmarks and its AU targets.

    Args:
        intensities: AU number -> starting intensity in [0, 5]; missing AUs start at 0.
        subject: the identity's seed, 0..99 (``sample_identity(np.random.default_rng(subject))``).
        aus: dataset name or AU numbers that get a slider (and a target channel); None: all 14
            AUs SynthFACS renders.
        pose, capture: :class:`auheat.synth.Pose` and :class:`auheat.synth.Capture`; None: a
            frontal face in a clean studio frame.
        design: the target design, ``"fixed"``, ``"variable"`` or ``"binary"``.

    Returns:
        The widget; display it (last expression of a cell). It already holds the figure for its
        starting values, so a notebook executed without a browser still shows one.
    """
    return SynthFaceExplorer(intensities, subject, aus, pose, capture, design)


class PhotoExplorer(widgets.VBox):
    """A trained model's heatmaps over real faces: pick a photo and an AU, slide the overlay's
    opacity and a threshold below which the heatmap is not drawn.

    Attributes:
        photo: Dropdown over the photos' names. au: Dropdown over the model's AUs, plus the
            maximum over all of them (value 0).
        opacity: FloatSlider 0..1, the overlay's opacity at its top value.
        threshold: FloatSlider 0..5, heatmap values below it are not drawn.
        output: the Output widget that holds the current figure as a PNG display output.
        shown: the heatmap [h, h] last drawn, after the threshold.
        figure: the matplotlib Figure last drawn. redraws: how many times it has been drawn.
    """

    def __init__(
        self,
        readings: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
        aus: tuple[int, ...],
        photo: str | None = None,
        au: int = 12,
        opacity: float = 0.85,
        threshold: float = 0.0,
        figsize: tuple[float, float] = (5.0, 4.6),
        dpi: int = 90,
    ) -> None:
        if not readings:
            raise ValueError("readings is empty: give at least one photo's (crop, heatmaps, intensities)")
        for name, (_, heatmaps, levels) in readings.items():
            if np.shape(heatmaps)[0] != len(aus) or np.shape(levels) != (len(aus),):
                raise ValueError(f"{name}: heatmaps [K, h, h] and intensities [K] must match {len(aus)} AUs")
        photo = next(iter(readings)) if photo is None else photo
        if photo not in readings:
            raise ValueError(f"photo={photo!r} is not among {', '.join(readings)}")
        if au != 0 and au not in aus:
            raise ValueError(f"au={au!r} is not among the model's AUs {aus} (0: all of them)")
        self._readings, self._aus = dict(readings), tuple(aus)
        self._figsize, self._dpi = figsize, dpi
        self.redraws = 0
        self.figure: Figure | None = None
        self.shown: np.ndarray | None = None
        self.photo = widgets.Dropdown(options=list(readings), value=photo, description="photo")
        self.au = widgets.Dropdown(
            options=[("all AUs (maximum)", 0)] + [(f"{get_au(n).label} {get_au(n).name}", n) for n in aus],
            value=au,
            description="AU",
        )
        self.opacity = widgets.FloatSlider(value=opacity, min=0.0, max=1.0, step=0.05, description="opacity")
        self.threshold = widgets.FloatSlider(
            value=threshold, min=0.0, max=MAX_INTENSITY, step=0.1, description="threshold"
        )
        self.output = widgets.Output()
        for control in (self.photo, self.au, self.opacity, self.threshold):
            control.observe(self._on_change, names="value")
        super().__init__(
            [widgets.HBox([self.photo, self.au]), widgets.HBox([self.opacity, self.threshold]), self.output]
        )
        self.redraw()

    def _on_change(self, change: dict) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Draw the chosen photo's heatmap for the current controls into ``output``."""
        crop, heatmaps, levels = self._readings[self.photo.value]
        heatmaps = np.asarray(heatmaps, dtype=np.float64)
        if self.au.value == 0:
            heatmap, name = heatmaps.max(0), "all AUs (maximum)"
            answer = ", ".join(f"{get_au(n).label} {v:.1f}" for n, v in zip(self._aus, levels, strict=True))
        else:
            k = self._aus.index(self.au.value)
            heatmap, name = heatmaps[k], f"{get_au(self.au.value).label} {get_au(self.au.value).name}"
            answer = f"answer {levels[k]:.2f} (0-5)"
        self.shown = np.where(heatmap >= self.threshold.value, np.clip(heatmap, 0, None), 0.0)
        fig = Figure(figsize=self._figsize, dpi=self._dpi, layout="constrained")
        ax = fig.subplots()
        ax.imshow(crop)
        ax.set_axis_off()
        if self.opacity.value > 0 and self.shown.max() > 0:
            vmax = max(1.0, float(heatmaps.max()))
            image = draw_heatmap(ax, self.shown, crop_size=crop.shape[0], vmax=vmax, alpha=self.opacity.value)
            fig.colorbar(image, ax=ax, shrink=0.8, label="heatmap value")
        ax.set_title(f"{self.photo.value}: {name}\n" + "\n".join(textwrap.wrap(answer, 60)), fontsize=9)
        self.figure = fig
        self.redraws += 1
        _show_in(self.output, fig, f"<{self.photo.value}, {name}>")


def photo_explorer(
    readings: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    aus: tuple[int, ...],
    photo: str | None = None,
    au: int = 12,
) -> PhotoExplorer:
    """Explore a model's heatmaps on real faces.

    Args:
        readings: photo name -> (aligned crop [S, S, 3], heatmaps [K, h, h], intensities [K]),
            e.g. from :meth:`auheat.predict.FaceReader.read_face`.
        aus: the model's K AU numbers.
        photo, au: what is drawn first (au 0: the maximum over all AUs).

    Returns:
        The widget; display it. It already holds the figure for its starting values, so a
        notebook executed without a browser still shows one.
    """
    return PhotoExplorer(readings, aus, photo, au)
