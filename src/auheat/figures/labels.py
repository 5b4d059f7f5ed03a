"""Chapter 2's label figures: how often each AU shows at each intensity, which AUs show together,
and one session's labels over time.

The statistics come from :mod:`auheat.data.labels`; these functions only draw. Every function draws
with matplotlib and returns the :class:`~matplotlib.figure.Figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from auheat.aus import (
    get_au,
)
from auheat.data.labels import au_cooccurrence, label_columns, level_shares
from auheat.figures._common import (
    load_seaborn,
    new_axes,
)


def plot_label_histograms(tables: Mapping[str, pd.DataFrame], *, height: float = 3.4) -> Figure:
    """Per-AU intensity histograms of label tables: one panel per table.

    Each bar is the share of frames in which the AU occurs (intensity 1..5), stacked by level;
    the rest of the frames are at 0.

    Args:
        tables: name -> frames table with AU columns (e.g. from
            :func:`auheat.synth.generate.preset_labels` or a PreparedDataset's ``frames``).
        height: figure height, inches.

    Returns:
        The figure: one panel per table, titled with its numbers of frames and subjects, and a
        legend of the levels.
    """
    sns = load_seaborn()
    if not tables:
        raise ValueError("tables is empty: give at least one name -> label table")
    widths = [len(label_columns(t)) + 2 for t in tables.values()]
    fig, axes = plt.subplots(
        1,
        len(tables),
        figsize=(0.36 * sum(widths) + 1.2, height),
        layout="constrained",
        squeeze=False,
        sharey=True,
        gridspec_kw={"width_ratios": widths},
    )
    palette = dict(zip(range(1, 6), sns.color_palette("rocket_r", 5), strict=True))
    for ax, (name, table) in zip(axes[0], tables.items(), strict=True):
        shares = level_shares(table)
        long = (100 * shares[list(range(1, 6))]).rename_axis("AU").reset_index()
        long = long.melt(id_vars="AU", var_name="level", value_name="frames (%)")
        sns.histplot(
            long,
            x="AU",
            hue="level",
            weights="frames (%)",
            multiple="stack",
            discrete=True,
            shrink=0.8,
            palette=palette,
            linewidth=0.3,
            ax=ax,
            legend=ax is axes[0, -1],
        )
        ax.set_ylabel("frames with the AU at this level (%)")
        ax.set_xlabel("")
        ax.tick_params(axis="x", rotation=90)
        ax.set_title(f"{name}: {len(table)} frames, {table['subject'].nunique()} subjects", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    legend = axes[0, -1].get_legend()
    if legend is not None:
        legend.set_title("intensity")
    return fig


def plot_cooccurrence(
    table: pd.DataFrame, *, title: str | None = None, ax: Axes | None = None, cell: float = 0.42
) -> Figure:
    """Co-occurrence of the AUs of a label table: P(AU j > 0 | AU i > 0) in %, as a heatmap.

    Args:
        table: frames table with AU columns (e.g. from :func:`auheat.synth.generate.preset_labels`).
        title: axes title.
        ax: draw into this axes instead of a new figure.
        cell: side of one cell of a new figure, inches.

    Returns:
        The figure: a K x K matrix of percentages (diagonal masked) with a colorbar.
    """
    sns = load_seaborn()
    matrix = 100 * au_cooccurrence(table)
    fig, ax = new_axes(ax, (cell * len(matrix) + 2.4, cell * len(matrix) + 1.2))
    sns.heatmap(
        matrix,
        mask=np.eye(len(matrix), dtype=bool),
        vmin=0,
        vmax=100,
        cmap="mako_r",
        annot=True,
        fmt=".0f",
        annot_kws={"fontsize": 8},
        square=True,
        cbar_kws={"label": "P(AU j > 0 | AU i > 0) (%)", "shrink": 0.8},
        linewidths=0.5,
        ax=ax,
    )
    ax.set_xlabel("AU j")
    ax.set_ylabel("given AU i")
    ax.tick_params(axis="y", rotation=0)
    ax.set_title(title if title is not None else "How often AU j is present when AU i is", fontsize=10)
    return fig


def plot_session_labels(
    table: pd.DataFrame,
    subject: str,
    session: str | None = None,
    *,
    lines: Sequence[int] | None = None,
    fps: float = 25.0,
    figsize: tuple[float, float] = (9.0, 5.2),
) -> Figure:
    """The labels of one session over time: every AU as a strip, and a few AUs as lines.

    Args:
        table: frames table with ``subject``, ``session``, ``frame`` and AU columns.
        subject: the subject to show.
        session: its session; None: the subject's first.
        lines: AU numbers drawn as lines in the lower panel; None: the three most active AUs.
        fps: frame rate of the frame numbers, frames per second.
        figsize: figure size, inches.

    Returns:
        The figure: the intensities of every AU over time as a coloured strip (top), and the
        chosen AUs as lines (bottom).
    """
    sns = load_seaborn()
    columns = label_columns(table)
    rows = table[table["subject"] == subject]
    if rows.empty:
        raise ValueError(
            f"no frames of subject {subject!r}; subjects: {', '.join(table['subject'].unique())}"
        )
    session = rows["session"].iloc[0] if session is None else session
    rows = rows[rows["session"] == session].sort_values("frame")
    if rows.empty:
        raise ValueError(f"subject {subject!r} has no session {session!r}")
    seconds = rows["frame"].to_numpy() / fps
    labels = rows[columns].to_numpy(np.float64).T  # [K, T]
    if lines is None:
        activity = np.nan_to_num(labels).sum(1)
        lines = [int(columns[k][2:]) for k in sorted(np.argsort(-activity)[:3])]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=figsize, layout="constrained", sharex=True, height_ratios=[len(columns), 5]
    )
    step = float(np.median(np.diff(seconds))) if len(seconds) > 1 else 1.0 / fps
    cmap = ListedColormap(["white", *sns.color_palette("rocket_r", 5)])
    top.grid(False)  # the strip is an image: grid lines would cross its cells
    strip = top.imshow(
        labels,
        aspect="auto",
        interpolation="nearest",
        cmap=cmap,
        vmin=-0.5,
        vmax=5.5,
        extent=(seconds[0] - step / 2, seconds[-1] + step / 2, len(columns) - 0.5, -0.5),
    )
    top.set_yticks(range(len(columns)), columns)
    top.set_title(f"{subject}, session {session}: {len(rows)} frames, one every {step:.2f} s", fontsize=10)
    fig.colorbar(strip, ax=top, ticks=range(6), label="intensity", shrink=0.9)
    long = pd.DataFrame({"time (s)": np.tile(seconds, len(lines))})
    long["AU"] = np.repeat([get_au(n).label for n in lines], len(seconds))
    long["intensity"] = np.concatenate([rows[f"AU{n:02d}"].to_numpy(np.float64) for n in lines])
    sns.lineplot(long, x="time (s)", y="intensity", hue="AU", drawstyle="steps-mid", ax=bottom)
    bottom.set_ylim(-0.2, 5.2)
    bottom.set_yticks(range(6))
    bottom.grid(alpha=0.3)
    bottom.legend(loc="upper right", fontsize=8)
    return fig
