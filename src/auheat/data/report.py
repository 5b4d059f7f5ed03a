"""The summary a preparation writes beside its dataset: ``report.json`` and a short ``report.md``.

It answers what a user checks before training for days: how many frames each subject kept, which
frames were lost and why (no face, a failed fit), how much of each AU is labelled, and how its
intensities are distributed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auheat.atomic import write_atomically
from auheat.aus import MAX_INTENSITY
from auheat.data.dataset import au_column

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
LEVELS = tuple(range(int(MAX_INTENSITY) + 1))


def summarise(
    frames: pd.DataFrame,
    aus: Sequence[int],
    subjects: Mapping[str, Mapping[str, Any]],
    skipped: Mapping[str, str],
    failed: Mapping[str, str],
) -> dict[str, Any]:
    """The report of a prepared dataset.

    Args:
        frames: the dataset's rows (frames.csv), AU columns float with NaN = unlabelled.
        aus: the AU numbers.
        subjects: each prepared subject's own report (frames decoded and kept, lost frames, ...).
        skipped, failed: subjects or sessions left out, with the reason or the error.

    Returns:
        A JSON-ready dict: ``frames``, ``frames_per_subject``, ``coverage`` (labelled share of
        the frames, per AU), ``histograms`` (per AU: frames at each intensity 0..5, rounded to the
        nearest level, and unlabelled), ``subjects``, ``skipped``, ``failed``.
    """
    coverage, histograms = {}, {}
    for number in aus:
        values = frames[au_column(number)].to_numpy(np.float64)
        labelled = values[~np.isnan(values)]
        coverage[au_column(number)] = float(len(labelled) / len(values)) if len(values) else 0.0
        counts = np.bincount(np.rint(labelled).astype(int), minlength=len(LEVELS))
        histograms[au_column(number)] = {
            **{str(level): int(counts[level]) for level in LEVELS},
            "unlabelled": int(len(values) - len(labelled)),
        }
    return {
        "frames": len(frames),
        "frames_per_subject": {str(k): int(v) for k, v in frames.groupby("subject").size().items()},
        "coverage": coverage,
        "histograms": histograms,
        "subjects": dict(subjects),
        "skipped": dict(skipped),
        "failed": dict(failed),
    }


def frames_lost(subject: Mapping[str, Any]) -> int:
    """Frames of one subject's report left out: no face, a failed fit or a damaged image."""
    return len(subject["no_face"]) + len(subject["failed_fit"]) + len(subject.get("damaged", []))


def markdown(report: Mapping[str, Any], title: str) -> str:
    """A short human-readable version of :func:`summarise`'s report."""
    lost = {name: frames_lost(info) for name, info in report["subjects"].items()}
    damaged = sum(len(info.get("damaged", [])) for info in report["subjects"].values())
    lines = [
        f"# {title}",
        "",
        f"{report['frames']} frames from {len(report['frames_per_subject'])} subjects; "
        f"{sum(lost.values())} frames lost (no face, failed fit or a damaged image: {damaged}), "
        f"listed in {REPORT_JSON}.",
        "",
        "| subject | frames kept | lost |",
        "| --- | --- | --- |",
        *(f"| {s} | {n} | {lost.get(s, 0)} |" for s, n in report["frames_per_subject"].items()),
        "",
        "| AU | labelled | " + " | ".join(str(level) for level in LEVELS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in LEVELS) + " |",
    ]
    for au, counts in report["histograms"].items():
        cells = " | ".join(str(counts[str(level)]) for level in LEVELS)
        lines.append(f"| {au} | {report['coverage'][au]:.1%} | {cells} |")
    for heading, entries in (("Skipped", report["skipped"]), ("Failed", report["failed"])):
        if entries:
            lines += ["", f"## {heading}", "", *(f"- {name}: {why}" for name, why in entries.items())]
    return "\n".join(lines) + "\n"


def write_report(folder: str | Path, report: Mapping[str, Any], title: str) -> None:
    """Write ``report.json`` and ``report.md`` into ``folder``, each atomically."""
    text = json.dumps(report, indent=2) + "\n"
    write_atomically(Path(folder) / REPORT_JSON, lambda f: f.write(text.encode()))
    md = markdown(report, title)
    write_atomically(Path(folder) / REPORT_MD, lambda f: f.write(md.encode()))
