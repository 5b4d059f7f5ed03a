"""One look for every figure of the book, set once by each chapter with :func:`use_book_style`.

The library's figure functions choose what to draw (colour maps for heatmaps, markers, sizes);
the style chooses how every figure reads: type sizes that stay legible at the width of a page,
a light grid behind curves and bars, and the Okabe-Ito colour cycle,
which readers with the common colour-vision deficiencies tell apart. seaborn's figures
(Chapters 2 and 8) draw in the same style, since seaborn follows matplotlib's settings.
"""

from __future__ import annotations

import matplotlib as mpl
from cycler import cycler

from auheat.figures._common import HEATMAP_CMAP

# Okabe & Ito (2008), "Color Universal Design": blue, orange, bluish green, vermillion, reddish
# purple, sky blue, yellow, black.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

BOOK_STYLE: dict[str, object] = {
    "axes.prop_cycle": cycler(color=OKABE_ITO),
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.7,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "figure.titlesize": 11,
    "figure.facecolor": "white",
    "image.cmap": HEATMAP_CMAP,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
}


def use_book_style() -> None:
    """Set the book's style for every figure drawn afterwards (matplotlib's global settings)."""
    mpl.rcParams.update(BOOK_STYLE)
