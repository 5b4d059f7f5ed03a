"""The target explorer of Chapter 1: an AU, an intensity and a design, drawn over a face."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from matplotlib.figure import Figure

from auheat.aus import ACTION_UNITS, MAX_INTENSITY, get_au, rescale_points, resolve_aus
from auheat.figures import AUSelection, PageControl, plot_heatmap_overlay
from auheat.heatmaps import DESIGNS, check_design, decode_heatmaps, encode_heatmaps, target_geometry
from auheat.widgets._page import WithPageVersion, show_in, widgets


class HeatmapExplorer(WithPageVersion, widgets.VBox):
    """Controls (AU, intensity, design) above the target heatmap they define, drawn over a face.

    Attributes:
        au: Dropdown over the AUs offered (values are AU numbers).
        intensity: FloatSlider, 0..5 in steps of 0.5.
        design: ToggleButtons over :data:`auheat.heatmaps.DESIGNS`.
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
        self.figure, self.heatmap = self._draw(au, level, design)
        self.redraws += 1
        show_in(self.output, self.figure, f"<{get_au(au).label} {design} target at I = {level:g}>")

    def _draw(self, au: int, level: float, design: str) -> tuple[Figure, torch.Tensor]:
        heatmaps = encode_heatmaps(
            self._heatmap_landmarks, torch.tensor([[level]]), [au], size=self._heatmap_size, design=design
        )
        peak = float(decode_heatmaps(heatmaps).intensities[0, 0])
        sigma, radius = (float(v) for v in target_geometry(torch.tensor(level), design, self._heatmap_size))
        entry = get_au(au)
        fig = Figure(figsize=self._figsize, dpi=self._dpi, layout="constrained")
        plot_heatmap_overlay(
            self._crop,
            heatmaps[0, 0],
            landmarks=self._landmarks,
            vmax=1.0 if design == "binary" else MAX_INTENSITY,
            ax=fig.subplots(),
            title=(
                f"{entry.label} {entry.name}, I = {level:g}, {design}\n"
                f"peak {peak:.2f}, σ = {sigma:.2f}, window ±{radius:.1f} heatmap px"
            ),
        )
        return fig, heatmaps[0, 0]

    def page_controls(self) -> list[PageControl]:
        """The page version's controls: every AU offered, intensities 1, 3 and 5, every design
        (168 pictures for the 14 AUs of the catalogue and the four designs)."""
        aus = tuple(n for _, n in self.au.options)
        levels = (1.0, 3.0, 5.0)
        return [
            PageControl("AU", aus, self.au.value, tuple(label for label, _ in self.au.options)),
            PageControl.nearest("intensity", levels, self.intensity.value, slider=True),
            PageControl("design", tuple(DESIGNS), self.design.value),
        ]

    def page_figure(self, values: Mapping[str, object]) -> tuple[Figure, str]:
        """The figure for one combination of the page controls, and its description."""
        au, level, design = values["AU"], float(values["intensity"]), values["design"]
        return self._draw(au, level, design)[0], f"{get_au(au).label} {design} target at I = {level:g}"


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
