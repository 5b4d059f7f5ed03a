"""What every explorer shares: its picture in an Output widget, and its page version."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure

from auheat.figures import switcher_html

try:
    import ipywidgets as widgets
except ModuleNotFoundError as error:  # pragma: no cover - depends on the environment
    raise ModuleNotFoundError(
        "auheat.widgets needs ipywidgets, which comes with the book extra: pip install 'auheat[book]'"
    ) from error


PAGE_VERSIONS = "AUHEAT_EXPLORER_PAGES"
PAGE_NOTE = (
    "Precomputed for this page over the values the controls offer here; run the chapter in Jupyter "
    "or Colab for the live explorer, whose controls take any value."
)


class WithPageVersion:
    """Adds the explorer's page version to what it displays, when the book's build asks for it."""

    def _repr_mimebundle_(self, **kwargs) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs)
        if os.environ.get(PAGE_VERSIONS) == "1":
            bundle["text/html"] = self.page_html()
        return bundle

    def page_html(self, grid: Mapping[str, Sequence] | None = None) -> str:
        """The explorer's page version: its figure over a grid of its controls, as HTML.

        Args:
            grid: control name -> the values to precompute, replacing the default ones of
                :meth:`page_controls` for the controls named.

        Returns:
            A self-contained HTML block (see :func:`auheat.figures.switcher_html`).
        """
        controls = self.page_controls()
        unknown = sorted(set(grid or {}) - {c.name for c in controls})
        if unknown:
            raise ValueError(
                f"grid names {unknown}; this explorer's page controls: {[c.name for c in controls]}"
            )
        chosen = [c.with_values(grid[c.name]) if c.name in (grid or {}) else c for c in controls]
        return switcher_html(chosen, self.page_figure, PAGE_NOTE)


def show_in(output: widgets.Output, fig: Figure, text: str) -> None:
    """Replace what ``output`` shows with ``fig`` as a PNG.

    Set on the kernel side, the output is part of the widget's state, so the live explorer shows
    its figure as soon as it is displayed. (The rendered book shows the page version instead.)
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
