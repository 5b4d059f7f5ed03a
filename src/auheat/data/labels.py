"""Label statistics of frames tables, and frames chosen by their labels.

A frames table is a prepared dataset's ``frames.csv`` (:func:`auheat.data.dataset.read_frames`,
``PreparedDataset.frames``) or a table of simulated labels
(:func:`auheat.synth.generate.preset_labels`): one row per frame, one ``AUxx`` column per AU,
intensities 0..5 and NaN for an unlabelled entry. Chapter 2 reads the synthetic presets' label
statistics with these functions; the chapters on the transfer methods pick the frames their
figures show with :func:`showcase_frames`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from auheat.aus import resolve_aus

if TYPE_CHECKING:
    from auheat.data.dataset import PreparedDataset


def label_columns(table: pd.DataFrame) -> list[str]:
    """The AU columns (``AU01``, ...) of a frames table, in table order."""
    columns = [c for c in table.columns if re.fullmatch(r"AU\d+", str(c))]
    if not columns:
        raise ValueError("the table has no AU columns (AU01, AU06, ...): it labels no AUs")
    return columns


def level_shares(table: pd.DataFrame) -> pd.DataFrame:
    """Share of labelled frames at each intensity level: rows AU columns, columns levels 0..5."""
    labels = table[label_columns(table)]
    counts = {c: labels[c].dropna().round().astype(int).value_counts() for c in labels}
    shares = pd.DataFrame(counts).T.reindex(columns=range(6), fill_value=0).fillna(0)
    return shares.div(labels.notna().sum(), axis=0)


def au_cooccurrence(table: pd.DataFrame) -> pd.DataFrame:
    """P(AU j > 0 | AU i > 0) over the frames where both are labelled: row i, column j.

    A row whose AU never occurs is NaN. The diagonal is 1 wherever the AU occurs.
    """
    columns = label_columns(table)
    labels = table[columns].to_numpy(np.float64)
    present, labelled = (labels > 0).astype(np.float64), (~np.isnan(labels)).astype(np.float64)
    both = present.T @ present  # [K, K] frames with i and j present
    given = present.T @ labelled  # frames with i present and j labelled
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(given > 0, both / given, np.nan)
    return pd.DataFrame(ratio, index=columns, columns=columns)


def known_aus(aus: str | int | Sequence[int], available: Sequence[int], owner: str) -> tuple[int, ...]:
    """The AU numbers of ``aus`` (a dataset name, one AU number or several), each checked to be
    among ``available``; the error for a missing AU names ``owner`` (e.g. ``"the model"``)."""
    numbers = resolve_aus(aus)
    missing = [n for n in numbers if n not in tuple(available)]
    if missing:
        raise ValueError(f"{owner} has no AU(s) {missing}; its AUs: {list(available)}")
    return numbers


def showcase_frames(dataset: PreparedDataset, aus: str | int | Sequence[int], count: int = 3) -> list[int]:
    """Positions of ``count`` frames from different subjects that show the given AUs strongly.

    Each subject's frame with the largest summed intensity of ``aus`` (unlabelled counts as 0)
    is a candidate; the ``count`` subjects whose candidate sums most are kept, strongest first.

    Args:
        dataset: a prepared dataset (or a split or fold of one): its ``aus``, ``intensities``
            [N, K] and ``frames`` (with a ``subject`` column) are read.
        aus: the AUs whose intensities are summed, among the dataset's.
        count: how many frames, one per subject.

    Returns:
        ``count`` frame positions in ``dataset``, strongest first.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    columns = [dataset.aus.index(number) for number in known_aus(aus, dataset.aus, "the dataset")]
    strength = np.nan_to_num(np.asarray(dataset.intensities)[:, columns]).sum(1)
    subjects = dataset.frames["subject"].to_numpy()
    best: dict[str, int] = {}
    for position in np.argsort(-strength, kind="stable"):
        best.setdefault(subjects[position], int(position))
    if len(best) < count:
        raise ValueError(f"the dataset holds {len(best)} subjects, fewer than count={count}")
    return list(best.values())[:count]
