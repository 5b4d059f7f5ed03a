"""The SynthFACS explorer of Chapter 2: one slider per AU above the face and its targets."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from matplotlib.figure import Figure

from auheat.aus import MAX_INTENSITY, get_au, rescale_points, resolve_aus
from auheat.figures import AUSelection, PageControl, plot_face_targets
from auheat.heatmaps import check_design, encode_heatmaps
from auheat.synth import SYNTH_AUS, Capture, Pose, render_face, sample_identity
from auheat.synth.params import check_intensities
from auheat.widgets._page import WithPageVersion, show_in, widgets


class SynthFaceExplorer(WithPageVersion, widgets.VBox):
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
        self.figure, self.image, self.landmarks, self.heatmaps = self._draw(levels, self.subject.value)
        self.redraws += 1
        show_in(
            self.output,
            self.figure,
            f"<SynthFACS face, subject {self.subject.value}, AUs: {_active(levels)}>",
        )

    def _draw(
        self, levels: dict[int, float], subject: int
    ) -> tuple[Figure, np.ndarray, np.ndarray, torch.Tensor]:
        identity = sample_identity(np.random.default_rng(subject))
        image, landmarks = render_face(identity, levels, self._pose, self._capture, size=self._size)
        points = rescale_points(torch.from_numpy(landmarks), self._size, self._heatmap_size)[None]
        labels = torch.tensor([[levels[n] for n in self.aus]], dtype=torch.float32)
        heatmaps = encode_heatmaps(points, labels, self.aus, size=self._heatmap_size, design=self._design)[0]
        fig = Figure(figsize=self._figsize, dpi=self._dpi, layout="constrained")
        plot_face_targets(
            image,
            landmarks,
            heatmaps,
            self.aus,
            fig=fig,
            vmax=1.0 if self._design == "binary" else MAX_INTENSITY,
            title=f"subject {subject}; AUs: {_active(levels)}",
        )
        return fig, image, landmarks, heatmaps

    def page_controls(self) -> list[PageControl]:
        """The page version's controls: one AU, or one of :data:`PAGE_PAIRS`, at a time (the others
        at 0) at intensities 0, 1, 3 and 5, on the current subject. It starts at the pair set now,
        if one is, else at the AU set highest."""
        levels = self.intensities()
        choices = [(n,) for n in self.aus] + [pair for pair in PAGE_PAIRS if set(pair) <= set(self.aus)]
        active = {n for n, v in levels.items() if v > 0}
        first = next((c for c in choices if set(c) == active), (max(self.aus, key=lambda n: levels[n]),))
        return [
            PageControl("AUs", tuple(choices), first, tuple(_names(c) for c in choices)),
            PageControl.nearest("intensity", (0.0, 1.0, 3.0, 5.0), levels[first[0]], slider=True),
        ]

    def page_figure(self, values: Mapping[str, object]) -> tuple[Figure, str]:
        """The face with only the AUs ``values["AUs"]`` at ``values["intensity"]``, and its
        description."""
        levels = {n: (float(values["intensity"]) if n in values["AUs"] else 0.0) for n in self.aus}
        fig = self._draw(levels, self.subject.value)[0]
        return fig, f"SynthFACS face, subject {self.subject.value}, AUs: {_active(levels)}"


#: The AU pairs the page version offers beside each AU alone: those Chapter 2 asks the reader to
#: combine (AU12 with AU6: a smile; AU1 with AU4: two channels on the same centres), and the two
#: other pairs its presets make most often (raised brows; an open mouth with the jaw dropped).
PAGE_PAIRS: tuple[tuple[int, int], ...] = ((6, 12), (1, 4), (1, 2), (25, 26))


def _names(aus: tuple[int, ...]) -> str:
    if len(aus) == 1:
        return f"{get_au(aus[0]).label} {get_au(aus[0]).name}"
    return " + ".join(get_au(n).label for n in aus) + " together"


def _active(levels: Mapping[int, float]) -> str:
    return ", ".join(f"{get_au(n).label}={v:g}" for n, v in levels.items() if v > 0) or "none"


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
        design: the target design, one of :data:`auheat.heatmaps.DESIGNS`.

    Returns:
        The widget; display it (last expression of a cell). It already holds the figure for its
        starting values, so a notebook executed without a browser still shows one.
    """
    return SynthFaceExplorer(intensities, subject, aus, pose, capture, design)
