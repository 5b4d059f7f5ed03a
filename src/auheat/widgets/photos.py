"""The photo explorer of Chapter 9: a trained model's heatmaps over real faces."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from auheat.aus import MAX_INTENSITY, get_au
from auheat.figures import PageControl, draw_heatmap
from auheat.predict import FaceReading
from auheat.widgets._page import WithPageVersion, show_in, widgets


class PhotoExplorer(WithPageVersion, widgets.VBox):
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
        readings: Mapping[str, FaceReading],
        aus: tuple[int, ...],
        photo: str | None = None,
        au: int = 12,
        opacity: float = 0.85,
        threshold: float = 0.0,
        figsize: tuple[float, float] = (5.0, 4.6),
        dpi: int = 90,
    ) -> None:
        if not readings:
            raise ValueError("readings is empty: give at least one photo's FaceReader.read_face")
        # photo -> (aligned crop [S, S, 3], heatmaps [K, h, h], intensities [K]) of its one face
        readings = {
            name: (r.crop, r.reading.heatmaps[0], r.reading.intensities[0]) for name, r in readings.items()
        }
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
        self.figure, self.shown, name = self._draw(
            self.photo.value, self.au.value, self.opacity.value, self.threshold.value
        )
        self.redraws += 1
        show_in(self.output, self.figure, f"<{self.photo.value}, {name}>")

    def _draw(self, photo: str, au: int, opacity: float, threshold: float) -> tuple[Figure, np.ndarray, str]:
        crop, heatmaps, levels = self._readings[photo]
        heatmaps = np.asarray(heatmaps, dtype=np.float64)
        if au == 0:
            heatmap, name = heatmaps.max(0), "all AUs (maximum)"
            answer = ", ".join(f"{get_au(n).label} {v:.1f}" for n, v in zip(self._aus, levels, strict=True))
        else:
            k = self._aus.index(au)
            heatmap, name = heatmaps[k], f"{get_au(au).label} {get_au(au).name}"
            answer = f"answer {levels[k]:.2f} (0-5)"
        shown = np.where(heatmap >= threshold, np.clip(heatmap, 0, None), 0.0)
        fig = Figure(figsize=self._figsize, dpi=self._dpi, layout="constrained")
        ax = fig.subplots()
        ax.imshow(crop)
        ax.set_axis_off()
        if opacity > 0 and shown.max() > 0:
            vmax = max(1.0, float(heatmaps.max()))
            image = draw_heatmap(ax, shown, crop_size=crop.shape[0], vmax=vmax, alpha=opacity)
            fig.colorbar(image, ax=ax, shrink=0.8, label="heatmap value")
        ax.set_title(f"{photo}: {name}\n" + "\n".join(textwrap.wrap(answer, 50)), fontsize=11)
        return fig, shown, name

    def page_controls(self) -> list[PageControl]:
        """The page version's controls: every photo; the maximum over all AUs and each of
        :data:`PAGE_AUS` the model has; thresholds 0, 1 and 2; opacities 0.45 and 0.9."""
        offered = [(label, n) for label, n in self.au.options if n == 0 or n in PAGE_AUS]
        labels, aus = tuple(label for label, _ in offered), tuple(n for _, n in offered)
        return [
            PageControl("photo", tuple(self._readings), self.photo.value),
            PageControl("AU", aus, self.au.value if self.au.value in aus else 0, labels),
            PageControl.nearest("threshold", (0.0, 1.0, 2.0), self.threshold.value, slider=True),
            PageControl.nearest("opacity", (0.45, 0.9), self.opacity.value, slider=True),
        ]

    def page_figure(self, values: Mapping[str, object]) -> tuple[Figure, str]:
        """The figure for one combination of the page controls, and its description."""
        fig, _, name = self._draw(
            values["photo"], values["AU"], float(values["opacity"]), float(values["threshold"])
        )
        return (
            fig,
            f"{values['photo']}, {name}, threshold {values['threshold']:g}, opacity {values['opacity']:g}",
        )


#: The AUs the page version of the photo explorer offers beside the maximum over all AUs: those
#: Chapter 9 reads on real faces (brows: AU1, AU2, AU4; the smile: AU6, AU12; parted lips: AU25).
#: Every AU would multiply the page's pictures; the live explorer offers them all.
PAGE_AUS: tuple[int, ...] = (1, 2, 4, 6, 12, 25)


def photo_explorer(
    readings: Mapping[str, FaceReading],
    aus: tuple[int, ...],
    photo: str | None = None,
    au: int = 12,
) -> PhotoExplorer:
    """Explore a model's heatmaps on real faces.

    Args:
        readings: photo name -> its face, aligned and read by a heatmap model
            (:meth:`auheat.predict.FaceReader.read_face`).
        aus: the model's K AU numbers.
        photo, au: what is drawn first (au 0: the maximum over all AUs).

    Returns:
        The widget; display it. It already holds the figure for its starting values, so a
        notebook executed without a browser still shows one.
    """
    return PhotoExplorer(readings, aus, photo, au)
