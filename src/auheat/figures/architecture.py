"""Block diagrams (Chapters 3 to 8): FAN's stacked hourglasses, and each transfer method's AU model
with its frozen and trainable parts coloured.

A diagram is read from the module it is given, not from a method's name: its blocks are the network's
submodules, a block's colour says whether its parameters have ``requires_grad`` set (all, none, or a
share), and a block the method added is hatched. Layouts are in inches, so a new figure (8 in wide)
prints its text at the sizes set here. Every function returns the :class:`~matplotlib.figure.Figure`;
each block's patch has its part's name as gid.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import NamedTuple

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Patch, Rectangle
from torch import nn

from auheat.aus import NUM_LANDMARKS

# Okabe-Ito orange and a grey-blue: a pair that colour-blind readers tell apart.
FROZEN_COLOUR, TRAINABLE_COLOUR, NEUTRAL_COLOUR = "#a9bfd4", "#e69f00", "#ececec"
FROZEN_LABEL, TRAINABLE_LABEL = "frozen (from the landmark network)", "trainable"
MIXED_LABEL, NEW_LABEL = "partly trainable (bar: trainable share)", "added by the method"
EDGE, HATCH = "#333333", "#ffffff"
WIDTH = 8.0  # inches of a new figure, a book page
# Column centres of a stack's row, inches: input, stem, sum, skip, hourglass, output layers, head, maps.
X_IN, X_STEM, X_SUM, X_SKIP, X_HG, X_OUT, X_HEAD, X_MAPS = 0.4, 1.4, 2.35, 2.05, 3.25, 4.6, 5.8, 6.72
ROW, BRANCH = 2.2, 1.35  # between two stacks' rows; between the rows of the layers a method adds
FONT, LINE = 6.8, 1.3 * 6.8 / 72  # points; inches per line of text
STYLES = {"title": {"weight": "bold"}, "inside": {"style": "italic"}, "text": {}}
# Layers a method puts inside the landmark network, as a block's label names them.
INSERTED = {"ReparamConv": "mixing A", "ParallelAdapter": "1×1 adapter"}


@dataclass(frozen=True)
class Part:
    """Submodules drawn as one block, ``new`` when a method added them; ``key`` is the block's gid."""

    key: str
    modules: tuple[nn.Module, ...]
    new: bool = False

    def counts(self) -> tuple[int, int]:
        """(trainable, total) parameters, each counted once."""
        params = {id(p): p for m in self.modules for p in m.parameters()}.values()
        return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)

    def inserted(self) -> Counter[str]:
        """Layers a method put inside these modules (neither torch's nor face_alignment's), by class."""
        found = (type(m) for root in self.modules for m in root.modules())
        library = ("torch.", "face_alignment.")
        return Counter(c.__name__ for c in found if not c.__module__.startswith(library))


class Box(NamedTuple):
    """A drawn block's rectangle, inches: centre, width and height."""

    x: float
    y: float
    w: float
    h: float

    def at(self, side: str) -> tuple[float, float]:
        """The middle of the block's ``"left"``, ``"right"``, ``"top"`` or ``"bottom"`` side."""
        dx, dy = {"left": (-1, 0), "right": (1, 0), "top": (0, 1), "bottom": (0, -1)}[side]
        return (self.x + dx * self.w / 2, self.y + dy * self.h / 2)


def count(n: int) -> str:
    """A parameter count the way a block label shows it: 950, 12.3k, 1.2M."""
    return f"{n}" if n < 1000 else f"{n / 1e3:.3g}k" if n < 999_500 else f"{n / 1e6:.3g}M"


def describe(module: nn.Module) -> str:
    """A short description of a layer from its structure, e.g. ``1×1 conv 68→32, BN, ReLU6``."""
    if isinstance(module, nn.Conv2d):
        stride = f" /{module.stride[0]}" if module.stride[0] > 1 else ""
        kind = "grouped " if module.groups > 1 else ""
        kernel = "×".join(str(k) for k in module.kernel_size)
        return f"{kind}{kernel} conv{stride} {module.in_channels}→{module.out_channels}"
    if isinstance(module, nn.Linear):
        return f"linear {module.in_features}→{module.out_features}"
    if isinstance(module, nn.Sequential):
        return ", ".join(d for d in map(describe, module) if d)
    named = {nn.BatchNorm2d: "BN", nn.AdaptiveAvgPool2d: "global avg pool", nn.Flatten: ""}
    if type(module) in named:
        return named[type(module)]
    if isinstance(getattr(module, "conv", None), nn.Conv2d):  # a method's layer around a FAN convolution
        return describe(module.conv)
    return type(module).__name__


class Canvas:
    """Draws blocks, sums, maps and wires on an axes whose units are inches; ``coloured``: by
    ``requires_grad``; ``scale``: of the fonts; ``own``: the figure is the diagram's, sized to it."""

    def __init__(self, ax: Axes, coloured: bool, scale: float = 1.0, own: bool = False) -> None:
        self.ax, self.coloured, self.scale, self.own = ax, coloured, scale, own
        self.mixed = self.new = False
        self.low, self.high = 0.0, 0.0

    def text(self, x: float, y: float, s: str, points: float = FONT, **kwargs) -> None:
        self.ax.text(x, y, s, fontsize=points * self.scale, zorder=5, **kwargs)

    def rect(self, x0: float, y0: float, w: float, h: float, **kwargs) -> None:
        self.ax.add_patch(Rectangle((x0, y0), w, h, **{"zorder": 3, "ec": EDGE, **kwargs}))

    def status(self, part: Part) -> tuple[str, float | None, str]:
        """(fill colour, trainable share if partly trainable, parameter line) of ``part``."""
        trainable, total = part.counts()
        if not self.coloured:
            return NEUTRAL_COLOUR, None, f"{count(total)} parameters"
        if total == 0:
            return "white", None, "no parameters"
        if trainable in (0, total):
            word = "frozen" if trainable == 0 else "trainable"
            return (FROZEN_COLOUR if trainable == 0 else TRAINABLE_COLOUR), None, f"{count(total)} {word}"
        pct = 100 * trainable / total
        return FROZEN_COLOUR, trainable / total, f"{count(trainable)} trainable ({max(pct, 1):.0f}%)"

    def block(self, part: Part, x: float, y: float, w: float, title: str, info: str = "") -> Box:
        """A block of ``part`` centred at (x, y): title, wrapped ``info``, the layers a method put
        inside it, and its parameter line; under the title of an hourglass, a glyph of its depth."""
        depth = getattr(part.modules[0], "depth", 0) if title else 0
        fill, share, status = self.status(part)
        inserted = part.inserted() if self.coloured and not part.new else Counter()
        chars = max(8, int(w * 72 / (0.56 * FONT)))  # sizes in inches of the layout, whatever the scale
        lines = [(title, "title")] * bool(title) + [(t, "text") for t in textwrap.wrap(info, chars)]
        lines += [(f"new: {INSERTED.get(k, k)} ×{n}", "inside") for k, n in inserted.items()]
        lines.append((status, "text"))
        line, glyph, bar = LINE, 0.3 * bool(depth), 0.1 * (share is not None)
        content = len(lines) * line + glyph
        h = max(0.6, content + bar + 0.16)
        x0, y0 = x - w / 2, y - h / 2
        bold = part.new or bool(inserted)
        style = {"boxstyle": "round,pad=0,rounding_size=0.05", "zorder": 2, "gid": part.key}
        self.ax.add_patch(FancyBboxPatch((x0, y0), w, h, fc=fill, ec=EDGE, lw=1.8 if bold else 0.8, **style))
        mask = {}
        if part.new and self.coloured:  # hatched, the text on its own fill to stay legible
            self.new, mask = True, {"bbox": {"fc": fill, "ec": "none", "pad": 0.6}}
            self.rect(x0, y0, w, h, fc="none", ec=HATCH, lw=0, hatch="//", zorder=2.5)
        if share is not None:  # a track the block's width, filled to the trainable share
            self.mixed = True
            track, key = (x0 + 0.05, y0 + 0.05), f"{part.key}:share"
            self.rect(*track, w - 0.1, 0.07, fc="white", lw=0.4)
            self.rect(*track, (w - 0.1) * share, 0.07, fc=TRAINABLE_COLOUR, lw=0.4, gid=key)
        cursor = y + (content + bar) / 2
        for i, (text, kind) in enumerate(lines):
            if depth and i == 1:
                self.glyph(x, cursor - glyph / 2, min(w - 0.2, 0.9), glyph - 0.08, depth)
                cursor -= glyph
            self.text(x, cursor, text, ha="center", va="top", **STYLES[kind], **mask)
            cursor -= line
        self.low, self.high = min(self.low, y0), max(self.high, y0 + h)
        return Box(x, y, w, h)

    def glyph(self, x: float, y: float, w: float, h: float, depth: int) -> None:
        """An hourglass: bars shrinking to the bottleneck and back, each level's upper branch above."""
        step = w / (2 * depth)
        for k in range(2 * depth + 1):
            bar = h * (1 - 0.8 * min(k, 2 * depth - k) / depth)
            self.rect(x - w / 2 + k * step - 0.02, y - bar / 2, 0.04, bar, fc=EDGE, lw=0)
        for level in range(depth):
            top, left = y + h * (1 - 0.8 * level / depth) / 2, x - w / 2 + level * step
            xs, ys = [left, left, 2 * x - left, 2 * x - left], [top, top + 0.03, top + 0.03, top]
            self.ax.plot(xs, ys, c=EDGE, lw=0.5)

    def op(self, x: float, y: float, symbol: str) -> Box:
        """A sum or a product node."""
        self.ax.add_patch(Circle((x, y), 0.1, fc="white", ec=EDGE, lw=0.8, zorder=3))
        self.text(x, y, symbol, points=FONT + 2, ha="center", va="center_baseline")
        return Box(x, y, 0.2, 0.2)

    def pile(self, x: float, y: float, colours: tuple, label: str, below: bool = False) -> Box:
        """A pile of maps (an image's channels, heatmaps) with ``label`` on their right or below."""
        for k, colour in enumerate(colours):
            corner = (x - 0.2 + 0.06 * k, y - 0.2 + 0.06 * (len(colours) - 1 - k))
            self.rect(*corner, 0.28, 0.28, fc=colour, ec="white", lw=0.6)
        where = (x, y - 0.26, {"ha": "center", "va": "top"}) if below else (x + 0.3, y, {"va": "center"})
        self.text(*where[:2], label, **where[2])
        self.low = min(self.low, y - (0.6 if below else 0.3))
        return Box(x, y, 0.4, 0.4)

    def maps(self, x: float, y: float, label: str) -> Box:
        """A pile of heatmaps with ``label`` on their right."""
        return self.pile(x, y, tuple(plt.get_cmap("inferno")([0.3, 0.55, 0.85])), label)

    def wire(self, *points: tuple[float, float]) -> None:
        """An arrow along right-angled segments through ``points``, its head at the last one."""
        if len(points) > 2:
            xs, ys = zip(*points[:-1], strict=True)
            self.ax.plot(xs, ys, c=EDGE, lw=0.8, zorder=1, solid_capstyle="butt")
        arrow = {"arrowstyle": "-|>", "mutation_scale": 7, "shrinkA": 0, "shrinkB": 0, "zorder": 1}
        self.ax.add_patch(FancyArrowPatch(points[-2], points[-1], lw=0.8, color=EDGE, **arrow))

    def chain(self, *boxes: Box) -> None:
        """Arrows from each box's right side to the next one's left side."""
        for a, b in zip(boxes, boxes[1:], strict=False):
            self.wire(a.at("right"), b.at("left"))


Parts, Anchors = dict[str, Part], dict[str, Box]


def fan_parts(fan: nn.Module) -> Parts:
    """A FAN's blocks, read from its modules: ``stem``, and per stack i its hourglass ``m{i}``, its
    output layers ``out{i}`` (``top_m_{i}``, ``conv_last{i}``, ``bn_end{i}``), its head ``l{i}`` and,
    between stacks, the feedback convolutions ``feedback{i}`` (``bl{i}``, ``al{i}``). A head that
    does not draw 68 landmark heatmaps is a method's (``new``)."""
    mods = fan._modules
    parts = {"stem": Part("stem", tuple(mods[n] for n in ("conv1", "bn1", "conv2", "conv3", "conv4")))}
    for i in range(sum(name[:1] == "m" and name[1:].isdigit() for name in mods)):
        head = mods[f"l{i}"]
        landmarks = getattr(getattr(head, "conv", head), "out_channels", None) == NUM_LANDMARKS
        parts[f"m{i}"] = Part(f"m{i}", (mods[f"m{i}"],))
        parts[f"out{i}"] = Part(f"out{i}", (mods[f"top_m_{i}"], mods[f"conv_last{i}"], mods[f"bn_end{i}"]))
        parts[f"l{i}"] = Part(f"l{i}", (head,), new=not landmarks)
        if f"bl{i}" in mods:
            parts[f"feedback{i}"] = Part(f"feedback{i}", (mods[f"bl{i}"], mods[f"al{i}"]))
    return parts


def _check_fan(fan: object) -> nn.Module:
    from face_alignment.models.fan import FAN  # auheat.models.FAN subclasses it

    if not isinstance(fan, FAN):
        hint = "; for an AU model use plot_transfer_diagram" if hasattr(fan, "fan") else ""
        raise TypeError(f"fan must be a FAN (auheat.models.FAN), got {type(fan).__name__}{hint}")
    return fan


def _check_model(model: object, name: str = "model") -> nn.Module:
    from auheat.models import METHODS

    known = tuple(dict.fromkeys(m.model for m in METHODS.values()))
    if not isinstance(model, known):
        hint = "; for a FAN use plot_fan_diagram" if hasattr(model, "num_modules") else ""
        names, got = ", ".join(c.__name__ for c in known), type(model).__name__
        raise TypeError(f"{name} must be an AU model of build_model ({names}), got {got}{hint}")
    return model


def _heatmap_side(fan: nn.Module, input_size: int) -> int:
    """The heatmap side for ``input_size`` (a quarter of it), checked against the hourglasses' depth."""
    depth = max(m.depth for name, m in fan.named_children() if name[:1] == "m" and name[1:].isdigit())
    step = 4 * 2**depth
    if input_size < step or input_size % step:
        raise ValueError(f"input_size must be a multiple of {step} (4 x 2**depth), got {input_size}")
    return input_size // 4


def _draw_fan(c: Canvas, fan: nn.Module, input_size: int, landmark_loss: bool) -> Anchors:
    """The landmark network, one row per stack; returns the anchors the added layers wire to:
    ``stem``, and the last stack's ``out``, ``l`` and (if it draws landmark heatmaps) ``maps``.
    ``landmark_loss``: every stack's heatmaps meet the loss (Chapter 3's training)."""
    parts, hm, width = fan_parts(fan), input_size // 4, fan.m0.features
    c.pile(X_IN, 0.0, ("#d55e00", "#009e73", "#0072b2"), f"image\n3×{input_size}×{input_size}", below=True)
    blocks = sum(type(m).__name__ == "ConvBlock" for m in parts["stem"].modules)
    stem = f"{describe(fan.conv1)}, BN, ReLU, {blocks} ConvBlocks, avg pool /2 → {width}×{hm}×{hm}"
    at = {"stem": c.block(parts["stem"], X_STEM, 0.0, 1.0, "stem", stem)}
    c.wire((X_IN + 0.25, 0.0), at["stem"].at("left"))
    into, stacks = at["stem"], sum(key.startswith("m") for key in parts)
    for i in range(stacks):
        y, depth, head = -i * ROW, fan._modules[f"m{i}"].depth, parts[f"l{i}"]
        span = f"depth {depth}, {hm}→{hm >> depth}→{hm} px"
        hg = c.block(parts[f"m{i}"], X_HG, y, 1.2, f"hourglass {i + 1}", span)
        layers = ", ".join(describe(m) for m in parts[f"out{i}"].modules) + ", ReLU"
        at["out"] = c.block(parts[f"out{i}"], X_OUT, y, 1.05, "output layers", layers)
        title = "new head" if head.new else f"landmark head l{i}"
        at["l"] = c.block(head, X_HEAD, y, 0.95, title, describe(head.modules[0]))
        c.chain(into, hg, at["out"], at["l"])
        if not head.new:
            loss = (" → loss" + "\n(intermediate\nsupervision)" * (i < stacks - 1)) * landmark_loss
            at["maps"] = c.maps(X_MAPS, y, f"{NUM_LANDMARKS} landmark\nheatmaps\n{hm}×{hm}{loss}")
            c.chain(at["l"], at["maps"])
        if i < stacks - 1:  # the feedback into the next stack, and the skip of this stack's input
            fb_y, skip_y, tap = y - ROW / 2, y - 0.62, X_HG - 0.7
            convs = ", ".join(f"{n}: {describe(fan._modules[n + str(i)])}" for n in ("bl", "al"))
            fb = c.block(parts[f"feedback{i}"], X_OUT, fb_y, 1.05, "feedback", convs)
            into = c.op(X_SUM, y - ROW, "+")
            c.wire(at["out"].at("bottom"), fb.at("top"))
            c.wire(at["maps"].at("bottom"), (X_MAPS, fb_y), fb.at("right"))
            c.wire(fb.at("left"), (X_SUM, fb_y), into.at("top"))
            c.wire((tap, y), (tap, skip_y), (X_SKIP, skip_y), (X_SKIP, y - ROW), into.at("left"))
    return at


def _draw_adapters(c: Canvas, model: nn.Module, parts: Parts, at: Anchors, hm: int) -> set[str]:
    """Adaptation layers under the frozen network: its stem features and landmark heatmaps, each
    through a pointwise block, summed into a light hourglass, a neck and the AU head."""
    ya = at["l"].y - BRANCH
    yb, light = ya - BRANCH, f"depth {model.hourglass.depth}, 1×1 upper branches"
    fs = c.block(parts["from_stem"], X_STEM, ya, 1.0, "from stem", describe(model.from_stem))
    fh = c.block(parts["from_heatmaps"], X_MAPS, ya, 1.05, "from heatmaps", describe(model.from_heatmaps))
    plus = c.op(X_SUM, yb, "+")
    hg = c.block(parts["hourglass"], X_HG, yb, 1.2, "light hourglass", light)
    neck = c.block(parts["neck"], X_OUT, yb, 1.05, "neck", describe(model.neck))
    head = c.block(parts["head"], X_HEAD, yb, 0.95, "AU head", describe(model.head))
    c.chain(plus, hg, neck, head, c.maps(X_MAPS, yb, f"{len(model.aus)} AU\nheatmaps\n{hm}×{hm} → loss"))
    c.wire(at["stem"].at("bottom"), fs.at("top"))
    c.wire(at["maps"].at("bottom"), fh.at("top"))
    c.wire(fs.at("bottom"), (X_STEM, yb), plus.at("left"))
    c.wire(fh.at("bottom"), (X_MAPS, yb + 0.72), (X_SUM, yb + 0.72), plus.at("top"))
    return {"from_stem", "from_heatmaps", "hourglass", "neck", "head"}


def _draw_attention(c: Canvas, model: nn.Module, parts: Parts, at: Anchors, hm: int) -> set[str]:
    """The attention branch: landmark heatmaps widened, mixed to one map per AU and squashed to
    [0, 1]; each gates its AU's channels (from the stem and the last stack) before the AU heads."""
    ya = at["l"].y - BRANCH
    yb, widen = ya - BRANCH, f"max-pool widen, {describe(model.attention)}, sigmoid"
    fs = c.block(parts["from_stem"], X_STEM, ya, 1.0, "from stem", describe(model.from_stem))
    ft = c.block(parts["features"], X_OUT, ya, 1.05, "from last stack", describe(model.features))
    att = c.block(parts["attention"], X_MAPS, ya, 1.05, "attention", widen)
    plus, gate = c.op(X_SUM, yb, "+"), c.op(X_HG, yb, "×")
    gating = f"gate: AU k's map\ntimes its {model.channels_per_au} channels"
    c.text(X_HG, yb - 0.16, gating, ha="center", va="top")
    head = c.block(parts["head"], X_OUT + 0.15, yb, 1.35, "AU heads", describe(model.head))
    c.chain(plus, gate, head, c.maps(X_HEAD + 0.35, yb, f"{len(model.aus)} AU heatmaps\n{hm}×{hm} → loss"))
    for a, b in ((at["stem"], fs), (at["out"], ft), (at["maps"], att)):
        c.wire(a.at("bottom"), b.at("top"))
    c.wire(fs.at("bottom"), (X_STEM, yb), plus.at("left"))
    c.wire(ft.at("bottom"), (X_OUT, yb + 0.85), (X_SUM, yb + 0.85), plus.at("top"))
    c.wire(att.at("bottom"), (X_MAPS, yb + 0.62), (X_HG, yb + 0.62), gate.at("top"))
    return {"from_stem", "features", "attention", "head"}


# How the layers a method adds are wired, by model class. Other models' added layers, if any, are
# drawn in a row of their own, unwired.
LAYOUTS = {"Adapters": _draw_adapters, "Attention": _draw_attention}


def _canvas(ax: Axes | None, coloured: bool) -> tuple[Figure, Canvas]:
    """A canvas on ``ax`` (fonts scaled to its width) or on a new 8 in wide figure."""
    if ax is None:
        fig = plt.figure(figsize=(WIDTH, 4.0))
        return fig, Canvas(fig.add_axes((0.0, 0.0, 1.0, 1.0)), coloured, own=True)
    inches = ax.get_position().width * ax.figure.get_figwidth()
    return ax.figure, Canvas(ax, coloured, min(1.0, inches / WIDTH))


def _finish(c: Canvas, fig: Figure, title: str) -> Figure:
    """The title above the drawing, limits in inches, and a new figure's size."""
    top, bottom = c.high + 0.4, c.low - 0.12
    c.text(0.05, top - 0.06, title, points=FONT + 2.2, va="top", weight="bold")
    c.ax.set(xlim=(0.0, WIDTH), ylim=(bottom, top), aspect="equal")
    c.ax.axis("off")
    if c.own:
        fig.set_size_inches(WIDTH, top - bottom)
    return fig


def _legend(c: Canvas) -> None:
    """Frozen and trainable, and where drawn, partly trainable and added blocks, under the diagram."""
    frozen, trainable = Patch(fc=FROZEN_COLOUR, ec=EDGE), Patch(fc=TRAINABLE_COLOUR, ec=EDGE)
    entries = {FROZEN_LABEL: frozen, TRAINABLE_LABEL: trainable}
    if c.mixed:  # a frozen swatch crossed by an orange bar
        entries[MIXED_LABEL] = (frozen, Line2D([], [], c=TRAINABLE_COLOUR, lw=3))
    if c.new:
        entries[NEW_LABEL] = Patch(fc=TRAINABLE_COLOUR, ec=EDGE, hatch="//", lw=1.6)
    c.low -= 0.32
    options = {"loc": "lower center", "bbox_to_anchor": (0.5, 0.0), "frameon": False, "columnspacing": 1.2}
    c.ax.legend(list(entries.values()), list(entries), ncol=len(entries), fontsize=FONT * c.scale, **options)


def plot_fan_diagram(
    fan: nn.Module, ax: Axes | None = None, *, input_size: int = 256, title: str | None = None
) -> Figure:
    """A block diagram of a FAN, read from its modules: the stem, one row per stacked hourglass
    (drawn as an encoder-decoder of its depth), the output layers and the 1x1 head to 68 landmark
    heatmaps that every stack ends with, and the feedback of each stack into the next.

    Args:
        fan: the landmark network (:class:`auheat.models.FAN`), any number of stacks.
        ax: draw into this axes instead of a new figure (fonts shrink if it is narrower than 8 in).
        input_size: side of the input image [3, S, S], pixels; features and heatmaps are S/4 wide.
        title: the diagram's title; by default the stacks, width and parameter count.

    Returns:
        The figure. Block gids: ``stem``, and per stack i ``m{i}`` (hourglass), ``out{i}``,
        ``l{i}`` (head) and, between stacks, ``feedback{i}``.
    """
    fan = _check_fan(fan)
    _heatmap_side(fan, input_size)  # checked before a figure is made
    fig, c = _canvas(ax, coloured=False)
    _draw_fan(c, fan, input_size, landmark_loss=True)
    stacks = sum(key.startswith("m") for key in fan_parts(fan))
    params = count(sum(p.numel() for p in fan.parameters()))
    glasses = f"{stacks} stacked hourglass{'es' if stacks > 1 else ''}"
    return _finish(c, fig, title or f"FAN: {glasses}, {fan.m0.features} features, {params} parameters")


def plot_transfer_diagram(
    model: nn.Module, ax: Axes | None = None, title: str | None = None, *, input_size: int = 256
) -> Figure:
    """A transfer method's AU model as blocks coloured by whether their parameters train.

    The landmark network is drawn as in :func:`plot_fan_diagram`. A block is orange when all its
    parameters have ``requires_grad``, grey-blue when none has, grey-blue with an orange bar (the
    trainable share, also in its label) when some have. Blocks the method added (a new head,
    adaptation layers, the attention branch) are hatched with a bold outline; blocks it put layers
    inside (the reparametrisation's mixings, residual adapters) have a bold outline and name them.

    Args:
        model: an AU model from :func:`auheat.models.build_model`, any method.
        ax: draw into this axes instead of a new figure (fonts shrink if it is narrower than 8 in).
        title: the diagram's title; by default the model's class and trainable parameters.
        input_size: side of the input image [3, S, S], pixels; heatmaps are S/4 wide.

    Returns:
        The figure. Block gids: the landmark network's as in :func:`plot_fan_diagram`, the added
        layers' their attribute names (``head``, ``from_stem``, ...); a partly trainable block's
        share bar has the gid ``"{gid}:share"``.
    """
    model = _check_model(model)
    hm = _heatmap_side(model.fan, input_size)
    fig, c = _canvas(ax, coloured=True)
    at = _draw_fan(c, model.fan, input_size, landmark_loss=False)
    if "maps" not in at or at["maps"].y != at["l"].y:  # the method replaced the last head
        k, y = len(model.aus), at["l"].y
        if model.output == "heatmaps":
            c.chain(at["l"], c.maps(X_MAPS, y, f"{k} AU heatmaps\n{hm}×{hm} → loss"))
        else:  # K numbers
            c.chain(at["l"], c.pile(X_MAPS, y, ("#f6cf80",), f"{k} AU intensities\n→ loss"))
    added = {name: Part(name, (m,), new=True) for name, m in model.named_children() if name != "fan"}
    layout = LAYOUTS.get(type(model).__name__)
    drawn = layout(c, model, added, at, hm) if layout else set()
    others = [part for name, part in added.items() if name not in drawn]
    if others:
        y = c.low - 0.75
        c.text(0.05, y + 0.5, "other added layers (how they connect is not drawn):", va="bottom")
        for j, part in enumerate(others):
            c.block(part, X_STEM + 1.3 * j, y, 1.15, part.key, describe(part.modules[0]))
    _legend(c)
    trainable, total = (count(n) for n in Part("model", (model,)).counts())
    return _finish(c, fig, title or f"{type(model).__name__}: {trainable} of {total} parameters train")


def summary_parts(model: nn.Module) -> Parts:
    """An AU model's parts: ``stem``, ``stack i`` (its hourglass, output layers, feedback and, but for
    the last, landmark head), ``last head``, and ``added layers`` (the children but ``fan``) if any."""
    fan = fan_parts(model.fan)
    stacks = sum(key.startswith("m") for key in fan)
    columns = {"stem": fan["stem"]}
    for i in range(stacks):
        keys = [f"m{i}", f"out{i}", f"feedback{i}", f"l{i}" if i < stacks - 1 else ""]
        modules = tuple(m for k in keys if k in fan for m in fan[k].modules)
        columns[f"stack {i + 1}"] = Part(f"stack {i + 1}", modules)
    columns["last head"] = fan[f"l{stacks - 1}"]
    added = tuple(m for name, m in model.named_children() if name != "fan")
    if added:
        columns["added layers"] = Part("added layers", added, new=True)
    return columns


def plot_transfer_diagrams(models: Mapping[str, nn.Module], *, title: str | None = None) -> Figure:
    """Several AU models, one row each: which of their parts train (Chapter 8).

    Args:
        models: name -> AU model from :func:`auheat.models.build_model`, e.g. one per method.
        title: the figure's title.

    Returns:
        The figure: a row per model, a column per part (:func:`summary_parts`), each cell coloured
        as in :func:`plot_transfer_diagram` with its parameter count; cell gids ``"{name}:{column}"``.
    """
    if not models:
        raise ValueError("models is empty: give name -> AU model, e.g. one per transfer method")
    rows = {name: summary_parts(_check_model(m, f"models[{name!r}]")) for name, m in models.items()}
    columns = list(dict.fromkeys(col for parts in rows.values() for col in parts))
    fig, c = _canvas(None, coloured=True)
    step = min(1.35, (WIDTH - 1.6) / len(columns))
    for j, col in enumerate(columns):
        c.text(1.55 + (j + 0.5) * step, 0.45, col, ha="center", va="bottom", weight="bold")
    for r, (name, parts) in enumerate(rows.items()):
        y, added = -0.8 * r, ", ".join(n for n, _ in models[name].named_children() if n != "fan")
        c.text(0.05, y, textwrap.fill(name, 24), va="center")
        for j, col in enumerate(columns):
            x, part = 1.55 + (j + 0.5) * step, parts.get(col)
            if part is None:
                c.text(x, y, "–", ha="center", va="center")
                continue
            detail = {"added layers": added, "last head": describe(part.modules[0])}.get(col, "")
            c.block(replace(part, key=f"{name}:{col}"), x, y, step - 0.12, "", detail)
    c.high = max(c.high, 0.6)
    _legend(c)
    return _finish(c, fig, title or "Which parts train, model by model")
