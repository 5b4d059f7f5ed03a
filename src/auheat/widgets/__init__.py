"""Interactive explorers for the book (ipywidgets).

This package imports the library; the library never imports it, so ipywidgets (part of the
``book`` extra) is needed only here.

Every explorer draws its figure as soon as it is built, with its default values, and keeps the
picture in its Output widget's state; a live kernel (Jupyter, Colab) redraws it whenever a control
changes.

A rendered page has no kernel. When the environment variable ``AUHEAT_EXPLORER_PAGES`` is ``1``
(``book/build.py`` sets it while it executes the chapters), displaying an explorer also gives a
``text/html`` *page version*: its figure precomputed over a small grid of its controls, with plain
HTML controls that switch between the pictures (:func:`auheat.figures.switcher_html`). The book
renders that version; Jupyter and Colab show the live widget. Elsewhere the grid is not drawn, so
a live notebook pays nothing for it.
"""

from auheat.widgets._page import PAGE_VERSIONS
from auheat.widgets.faces import SynthFaceExplorer, synth_face_explorer
from auheat.widgets.photos import PhotoExplorer, photo_explorer
from auheat.widgets.targets import HeatmapExplorer, heatmap_explorer

__all__ = [
    "PAGE_VERSIONS",
    "HeatmapExplorer",
    "PhotoExplorer",
    "SynthFaceExplorer",
    "heatmap_explorer",
    "photo_explorer",
    "synth_face_explorer",
]
