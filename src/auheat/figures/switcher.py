"""Pictures precomputed over a grid of controls, as one HTML block that switches between them.

A rendered page has no kernel, so an ipywidgets explorer there cannot draw anything new. The
book's pages show each explorer's *page version* instead: its figure drawn beforehand for every
combination of a few values of each control, and plain HTML controls (a menu, a slider) whose
script shows the picture of the combination chosen. The block is self-contained: the pictures are
inlined as WebP data URIs and the script is a dozen lines with no library, so the page needs no
server, no widget manager and no network.

Written here rather than taken from ipywidgets' HTML embedding: embedded widget state can show the
controls, but their callbacks are Python, so nothing redraws without a kernel.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure

__all__ = ["PageControl", "switcher_html"]


@dataclass(frozen=True)
class PageControl:
    """One control of a page version: its name, the values it offers, and the one shown first.

    Attributes:
        name: the label shown beside the control, and the key of ``values`` given to ``draw``.
        values: the values precomputed, in the order the control offers them.
        labels: what the control shows for each value; default ``str(value)``.
        start: the value shown first; it must be one of ``values``.
        slider: a slider over the values in order (for amounts); otherwise a menu.
    """

    name: str
    values: tuple
    start: object
    labels: tuple[str, ...] | None = None
    slider: bool = False

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError(f"control {self.name!r} offers no values")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"control {self.name!r} repeats a value: {self.values}")
        if self.start not in self.values:
            raise ValueError(f"control {self.name!r} starts at {self.start!r}, not among {self.values}")
        if self.labels is not None and len(self.labels) != len(self.values):
            raise ValueError(
                f"control {self.name!r} has {len(self.labels)} labels for {len(self.values)} values"
            )

    def shown(self) -> tuple[str, ...]:
        return self.labels if self.labels is not None else tuple(map(_label, self.values))

    def with_values(self, values: Sequence) -> PageControl:
        """The same control offering ``values``: known values keep their labels, it starts where
        it did if it still can, else at the first value."""
        known = dict(zip(self.values, self.shown(), strict=True))
        values = tuple(values)
        labels = tuple(known.get(v, _label(v)) for v in values)
        start = self.start if self.start in values else values[0]
        return PageControl(self.name, values, start, labels, self.slider)

    @classmethod
    def nearest(cls, name: str, values: tuple, current: float, **options) -> PageControl:
        """A control over amounts that starts at the value nearest ``current``."""
        return cls(name, values, min(values, key=lambda v: abs(v - current)), **options)


def _label(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _webp(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="webp", pil_kwargs={"quality": 75, "method": 6})
    return "data:image/webp;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _control_html(number: int, control: PageControl) -> str:
    name = html.escape(control.name)
    start = control.values.index(control.start)
    if control.slider:  # a slider over the values' positions; its readout shows the value
        return (
            f'<label>{name} <input type="range" data-control="{number}" min="0" '
            f'max="{len(control.values) - 1}" step="1" value="{start}"> '
            f"<output>{html.escape(control.shown()[start])}</output></label>"
        )
    options = "".join(
        f'<option value="{i}"{" selected" if i == start else ""}>{html.escape(label)}</option>'
        for i, label in enumerate(control.shown())
    )
    return f'<label>{name} <select data-control="{number}">{options}</select></label>'


# Reads the controls' positions, shows the picture precomputed for them and updates the readouts.
_SCRIPT = """(function () {
  const root = document.getElementById(%(id)s);
  const pictures = %(pictures)s, alts = %(alts)s, index = %(index)s, labels = %(labels)s;
  const controls = [...root.querySelectorAll("[data-control]")];
  const picture = root.querySelector("img");
  function show() {
    const chosen = index[controls.map((c) => c.value).join(",")];
    picture.src = pictures[chosen];
    picture.alt = alts[chosen];
    controls.forEach((c, i) => {
      const readout = c.parentElement.querySelector("output");
      if (readout) readout.textContent = labels[i][Number(c.value)];
    });
  }
  // "input" while a slider moves; "change" when a choice is committed (some browsers and assistive
  // tools send only that one).
  controls.forEach((c) => ["input", "change"].forEach((kind) => c.addEventListener(kind, show)));
})();"""


def switcher_html(
    controls: Sequence[PageControl], draw: Callable[[dict[str, object]], tuple[Figure, str]], note: str
) -> str:
    """Draw every combination of the controls' values and return the page block that shows them.

    Args:
        controls: the controls, each with the values to precompute; the block draws
            ``prod(len(c.values))`` figures, so keep the grid small.
        draw: control name -> value (one combination) to (Figure, one-line description); the
            description becomes the picture's alt text.
        note: a sentence under the picture, saying what was precomputed and where the live
            explorer runs.

    Returns:
        An HTML fragment (a ``div`` and its ``script``), to be given as a ``text/html`` output.
        Identical pictures are stored once.
    """
    if not controls:
        raise ValueError("controls is empty: a page version needs at least one control")
    names = [c.name for c in controls]
    if len(set(names)) != len(names):
        raise ValueError(f"control names repeat: {names}")
    pictures: list[str] = []
    alts: list[str] = []
    stored: dict[str, int] = {}
    index: dict[str, int] = {}
    for positions in itertools.product(*(range(len(c.values)) for c in controls)):
        fig, alt = draw({c.name: c.values[p] for c, p in zip(controls, positions, strict=True)})
        uri = _webp(fig)
        if uri not in stored:
            stored[uri] = len(pictures)
            pictures.append(uri)
            alts.append(alt)
        index[",".join(map(str, positions))] = stored[uri]
    element = f"auheat-switcher-{uuid.uuid4().hex[:12]}"
    first = index[",".join(str(c.values.index(c.start)) for c in controls)]
    data = {"pictures": pictures, "alts": alts, "index": index, "labels": [c.shown() for c in controls]}
    # "</" would end the script element early if a description held "</script>".
    values = {name: json.dumps(value).replace("</", "<\\/") for name, value in data.items()}
    script = _SCRIPT % {"id": json.dumps(element), **values}
    return (
        f'<div class="auheat-switcher" id="{element}">'
        f'<div class="auheat-switcher-controls" style="display:flex;flex-wrap:wrap;gap:0.4em 1.5em">'
        + "".join(_control_html(i, c) for i, c in enumerate(controls))
        + f'</div><img src="{pictures[first]}" alt="{html.escape(alts[first])}" style="max-width:100%">'
        f'<p class="auheat-switcher-note" style="font-size:0.85em">{html.escape(note)}</p>'
        f"<script>{script}</script></div>"
    )
