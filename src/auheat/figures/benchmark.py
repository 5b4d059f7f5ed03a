"""Chapter 8's figures: the benchmark of every transfer method under one protocol.

The functions draw the tables that :func:`auheat.grid.run_grid` returns: ``scores``, one
row per run and AU (and ``mean``) with columns ``dataset``, ``method``, ``design``, ``fold``,
``train_subjects``, ``AU``, ``ICC`` and ``MAE``; ``curves``, one row per run and logged
evaluation with ``dataset``, ``method``, ``step``, ``train_loss`` and ``ICC_mean``. They draw
with seaborn (the book extra), which follows matplotlib's settings, so they take the book's style
(:func:`auheat.figures.use_book_style`) like every other figure. Every function returns the
:class:`~matplotlib.figure.Figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from auheat.figures._common import load_seaborn
from auheat.models import get_method


def plot_mean_icc(means: pd.DataFrame, methods: Sequence[str]) -> Figure:
    """The mean ICC over AUs of each method's run: one bar per method, one panel per dataset.

    Args:
        means: the ``mean`` rows of a ``scores`` table (``scores[scores["AU"] == "mean"]``), one
            per dataset and method.
        methods: the methods, in the order of the bars.

    Returns:
        The figure: a bar chart per dataset, with a line at ICC 0.
    """
    sns = load_seaborn()
    grid = sns.catplot(
        data=means,
        x="method",
        y="ICC",
        col="dataset",
        kind="bar",
        height=3.2,
        aspect=1.25,
        order=list(methods),
        color="tab:blue",
        errorbar=None,  # how sure a difference is: the intervals of auheat.benchmark.answer
    )
    grid.set_xticklabels(rotation=30, ha="right")
    for ax in grid.axes.flat:
        ax.axhline(0, color="black", linewidth=0.8)
    grid.set_titles("{col_name}")
    grid.set_axis_labels("", "mean ICC(3,1) over AUs")
    grid.figure.suptitle(
        "Test subjects: mean ICC of the last evaluation, by method (over folds and seeds)", y=1.04
    )
    return grid.figure


def plot_icc_per_au(
    scores: pd.DataFrame, methods: Sequence[str], datasets: Sequence[str] | None = None
) -> Figure:
    """Each AU's ICC, a bar per method: one row of panels per dataset.

    Args:
        scores: a ``scores`` table; its ``mean`` rows are left out.
        methods: the methods, in the order of the bars (and of the legend).
        datasets: the rows, in order; None: the datasets of ``scores`` in their first order.

    Returns:
        The figure: one bar chart per dataset, AUs along the x-axis, a line at ICC 0.
    """
    sns = load_seaborn()
    per_au = scores[scores["AU"] != "mean"]
    grid = sns.catplot(
        data=per_au,
        x="AU",
        y="ICC",
        hue="method",
        row="dataset",
        kind="bar",
        height=2.8,
        aspect=2.9,
        hue_order=list(methods),
        sharex=False,
        row_order=list(dict.fromkeys(per_au["dataset"])) if datasets is None else list(datasets),
    )
    for ax in grid.axes.flat:
        ax.axhline(0, color="black", linewidth=0.8)
    grid.set_titles("{row_name}")
    grid.set_axis_labels("AU", "ICC(3,1)")
    return grid.figure


def plot_icc_curves(curves: pd.DataFrame, methods: Sequence[str]) -> Figure:
    """The mean ICC on the test subjects at each logged evaluation: a line per method, a panel
    per dataset.

    Args:
        curves: a ``curves`` table.
        methods: the methods, in the order of the legend.

    Returns:
        The figure: ICC against the optimisation step, with a line at ICC 0.
    """
    sns = load_seaborn()
    grid = sns.relplot(
        data=curves,
        x="step",
        y="ICC_mean",
        hue="method",
        col="dataset",
        kind="line",
        height=3.2,
        aspect=1.25,
        hue_order=list(methods),
        markers=True,
        style="method",
        dashes=False,
    )
    for ax in grid.axes.flat:
        ax.axhline(0, color="black", linewidth=0.8)
    grid.set_titles("{col_name}")
    grid.set_axis_labels("optimisation step", "mean ICC, test subjects")
    return grid.figure


def plot_loss_ratios(
    curves: pd.DataFrame, zero_losses: Mapping[str, float] | pd.Series, methods: Sequence[str]
) -> Figure:
    """The training loss of the heatmap methods divided by the loss of all-zero heatmaps: a line
    per method, a panel per dataset. A ratio that stays at 1 is a network that draws nothing.

    Methods that answer intensities, not heatmaps (direct regression), are left out: their loss is
    an MSE on intensities, on another scale.

    Args:
        curves: a ``curves`` table.
        zero_losses: dataset -> the training loss of all-zero heatmaps under the runs' loss
            (``heatmap_loss`` of :func:`auheat.grid.zero_prediction`).
        methods: the methods, in the order of the legend; those without heatmaps are skipped.

    Returns:
        The figure: the loss ratio against the optimisation step, with a grey line at 1.
    """
    sns = load_seaborn()
    heatmap_methods = [m for m in methods if get_method(m).draws_heatmaps]
    heatmap_runs = curves[curves["method"].isin(heatmap_methods)].copy()
    heatmap_runs["loss / all-zero loss"] = heatmap_runs["train_loss"] / heatmap_runs["dataset"].map(
        zero_losses
    )
    grid = sns.relplot(
        data=heatmap_runs,
        x="step",
        y="loss / all-zero loss",
        hue="method",
        col="dataset",
        kind="line",
        height=3.2,
        aspect=1.25,
        hue_order=heatmap_methods,
        markers=True,
        style="method",
        dashes=False,
    )
    for ax in grid.axes.flat:
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    grid.set_titles("{col_name}")
    grid.figure.suptitle("Grey line: the loss of all-zero heatmaps, a network that draws nothing", y=1.04)
    grid.set_axis_labels("optimisation step", "training loss / all-zero loss")
    return grid.figure


def plot_subject_counts(means: pd.DataFrame, methods: Sequence[str]) -> Figure:
    """The mean ICC of runs trained on few or on all training subjects, over folds.

    Args:
        means: the ``mean`` rows of a ``scores`` table of one dataset (named in the title),
            with a run per method, fold and number of training subjects (``train_subjects``).
        methods: the methods, in the order of the legend.

    Returns:
        The figure: per number of training subjects, a point per method at the mean over folds
        with a bar of one standard deviation over folds, and a line at ICC 0.
    """
    sns = load_seaborn()
    fig, ax = plt.subplots(figsize=(8, 4))
    sns.pointplot(
        data=means,
        x="train_subjects",
        y="ICC",
        hue="method",
        hue_order=list(methods),
        errorbar="sd",
        dodge=0.3,
        ax=ax,
    )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("training subjects")
    ax.set_ylabel("mean ICC over AUs")
    datasets = ", ".join(dict.fromkeys(means["dataset"]))
    ax.set_title(f"{datasets}; points: mean over folds, bars: standard deviation over folds")
    ax.legend(fontsize=8)
    return fig


def plot_contrasts(table: pd.DataFrame, title: str) -> Figure:
    """Paired differences with their intervals: a point and a bar per row of ``table``.

    Args:
        table: :func:`auheat.benchmark.answer`'s table (``difference``, ``low``, ``high``,
            ``verdict``), indexed by question; a two-level index (e.g. dataset, method) is
            joined into one label.
        title: what the differences are, for the x-axis.

    Returns:
        The figure: one row per question, the difference as a point, its interval as a bar, a line
        at 0; a bar that crosses the line is no evidence either way, and is drawn grey.
    """
    labels = [" / ".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in table.index]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(table) + 1.2))
    y = range(len(table))[::-1]
    for row, (_, r) in zip(y, table.iterrows(), strict=True):
        decided = r["low"] > 0 or r["high"] < 0
        colour = "tab:blue" if decided else "grey"
        ax.plot([r["low"], r["high"]], [row, row], color=colour, linewidth=2.5)
        ax.plot(r["difference"], row, "o", color=colour)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(list(y), labels)
    ax.set_xlabel(title)
    ax.set_title("grey: the interval includes 0, no evidence either way", fontsize="medium")
    return fig
