"""The benchmark's answers: paired comparisons of the grid's runs, by bootstrap over test subjects.

A question such as "does fine-tuning beat training from scratch?" is asked of two sets of runs
of :func:`auheat.grid.run_grid` that differ in one thing (the method, the target design, the
number of training subjects) and share the rest. Each set is read as its runs' held-out answers
frame by frame (:data:`auheat.evaluation.PREDICTIONS`): the folds of a subject-independent
protocol pooled, so the interval draws from every subject of the dataset, and its seeds stacked.
Agreement is compared on the raw heatmap maximum, as the runs are scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from auheat.checkpoint import read_info
from auheat.evaluation import PREDICTIONS, RunPredictions, read_predictions
from auheat.grid import Grid
from auheat.metrics import summary_table
from auheat.stats import Comparison, Score, compare_models, conditional_scores
from auheat.train import LAST


class HeldOut(NamedTuple):
    """The pooled held-out answers of a set of runs (every fold; one row of ``raw`` per seed)."""

    truth: np.ndarray  # [N, K] labels
    raw: np.ndarray  # [S, N, K] raw readings (heatmap maxima), one per seed
    subjects: np.ndarray  # [N]
    folds: np.ndarray  # [N] the fold that tested each frame (-1 for a train/test split)
    aus: tuple[int, ...]
    runs: int  # how many runs were pooled


class Contrast(NamedTuple):
    """One question for the benchmark: runs ``a`` against runs ``b``, each a selection of the grid
    by its key columns (e.g. ``{"method": "finetune"}``); ``shared`` selects what both have in common
    (e.g. ``{"dataset": "disfa-like", "design": "variable"}``)."""

    question: str
    a: Mapping[str, Any]
    b: Mapping[str, Any]
    shared: Mapping[str, Any]


def held_out(grid: Grid, **where: Any) -> HeldOut:
    """Pool the held-out answers of the grid's runs that match ``where`` (key column = value).

    The runs must cover one dataset and give every seed the same folds: frames are concatenated
    fold by fold in fold order, so two selections of one dataset answer the same frames in the
    same order and can be compared frame by frame.
    """
    runs = grid.runs
    for column, value in where.items():
        if column not in runs:
            raise ValueError(f"the grid has no column {column!r}; its columns: {', '.join(runs.columns)}")
        runs = runs[runs[column].isna()] if value is None else runs[runs[column] == value]
    if runs.empty:
        raise ValueError(f"no run of the grid matches {where}")
    if runs["dataset"].nunique() != 1:
        raise ValueError(f"runs of several datasets match {where}: name one with dataset=...")
    runs = runs.assign(order=runs["fold"].fillna(-1).astype(int)).sort_values(["seed", "order"])
    seeds = []
    for _, of_seed in runs.groupby("seed", sort=True):
        parts = [read_predictions(folder / PREDICTIONS) for folder in of_seed["folder"]]
        seeds.append((of_seed["order"].tolist(), parts))
    folds = seeds[0][0]
    if any(order != folds for order, _ in seeds):
        raise ValueError(f"the seeds of {where} were not run on the same folds")
    first = seeds[0][1]
    truth = np.concatenate([p.truth for p in first])
    for _, parts in seeds[1:]:
        _check_same_frames(first, parts, where)
    aus = tuple(read_info(Path(runs["folder"].iloc[0]) / LAST)["aus"])
    return HeldOut(
        truth,
        np.stack([np.concatenate([p.raw for p in parts]) for _, parts in seeds]),
        np.concatenate([p.subjects for p in first]),
        np.concatenate([np.full(len(p.truth), fold) for p, fold in zip(first, folds, strict=True)]),
        aus,
        len(runs),
    )


def _check_same_frames(first: Sequence[RunPredictions], other: Sequence[RunPredictions], where) -> None:
    if [p.ids.tolist() for p in first] != [p.ids.tolist() for p in other]:
        raise ValueError(f"the runs of {where} did not answer the same held-out frames")


def _pooled_pair(grid: Grid, contrast: Contrast) -> tuple[HeldOut, HeldOut]:
    """The held-out answers of both sides of ``contrast``, checked to answer the same frames."""
    a = held_out(grid, **contrast.shared, **contrast.a)
    b = held_out(grid, **contrast.shared, **contrast.b)
    if not (np.array_equal(a.subjects, b.subjects) and np.array_equal(a.folds, b.folds)):
        raise ValueError(f"{contrast.question}: the two sets of runs answer different frames")
    return a, b


def _compare(a: HeldOut, b: HeldOut, score: Score, n_resamples: int, seed: int) -> Comparison:
    return compare_models(
        a.truth, a.raw, b.raw, a.subjects, score, folds=a.folds, n_resamples=n_resamples, seed=seed
    )


def compare_runs(
    grid: Grid, contrast: Contrast, score: Score = "icc", n_resamples: int = 2000, seed: int = 0
) -> Comparison:
    """Runs ``contrast.a`` minus runs ``contrast.b`` on the mean ``score`` over AUs, with its
    percentile interval over test subjects (:func:`auheat.stats.compare_models`)."""
    return _compare(*_pooled_pair(grid, contrast), score, n_resamples, seed)


def answer(
    grid: Grid, contrasts: Sequence[Contrast], score: Score = "icc", n_resamples: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """A table with a row per contrast: the difference A minus B in mean ``score``, its 95 %
    interval over test subjects, the verdict (only where the interval excludes 0), the runs pooled
    on each side and the number of test subjects the interval resamples."""
    rows = []
    for contrast in contrasts:
        a, b = _pooled_pair(grid, contrast)
        result = _compare(a, b, score, n_resamples, seed)
        rows.append(
            {
                "question": contrast.question,
                "difference": result.difference,
                "low": result.low,
                "high": result.high,
                "verdict": result.verdict,
                "runs A": a.runs,
                "runs B": b.runs,
                "subjects": result.units,
            }
        )
    table = pd.DataFrame(rows).set_index("question")
    table.columns.name = f"mean {score.upper()}, A minus B (95 % interval over test subjects)"
    table.attrs["score"] = score.upper()  # for answer_lines, whatever a page renames the columns to
    return table


def answer_lines(table: pd.DataFrame) -> str:
    """:func:`answer`'s table in sentences, a line per question: the difference, its interval and
    the verdict, so that a page reads its contrasts in words that follow the run."""
    score = table.attrs["score"]
    return "\n".join(
        f"{question}: {row['difference']:+.3f} mean {score} [{row['low']:+.3f}, {row['high']:+.3f}], "
        f"{row['verdict']}"
        for question, row in table.iterrows()
    )


def co_occurrence_check(grid: Grid, au: int, absent: int, **where: Any) -> pd.DataFrame:
    """The raw-maximum scores of ``au`` on every frame and on the frames where ``absent`` is 0
    (e.g. AU6 where AU12 = 0), for the runs that match ``where``, seeds averaged: a model that reads
    ``au`` only through its co-occurrence with ``absent`` scores well on the first and not on the
    second."""
    pooled = held_out(grid, **where)
    mean_raw = pooled.raw.mean(0)
    k = pooled.aus.index(au)
    every = summary_table(pooled.truth[:, k : k + 1], mean_raw[:, k : k + 1], [au]).iloc[[0]]
    return pd.concat([every, conditional_scores(pooled.truth, mean_raw, pooled.aus, au, absent)])
