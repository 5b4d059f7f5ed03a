"""A label-free check of an AU model on real faces: does its reading rise when a face is edited as
the AU moves it, and does its heatmap peak where the face moved?

Real photos come without AU labels, so no ICC can be computed on them. What can be checked is
whether the model responds to an AU where the AU shows: each face is edited at graded intensities
(:func:`auheat.synth.edits.edit_face`), all edits of a face are read in one batch with the
original, and each edit's **raw reading** (the AU's heatmap maximum, clamped to 0..5, before the
calibration line, which would send weak readings to 0) is compared with the original's. A model
that ignores its input never rises; one that reads the AU rises at every intensity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from auheat.aus import MAX_INTENSITY
from auheat.data.dataset import PreparedDataset, au_column
from auheat.predict import FaceReader, FaceReading, Reading
from auheat.synth import SYNTH_AUS
from auheat.synth.edits import edit_face

#: A heatmap peak is in the edited region when it lies within this share of the eye distance
#: (outer corners) of a landmark the edit moved.
REGION = 0.25
#: A reading rises when it exceeds the original's by more than this (float rounding, not a change).
RISE = 1e-3
#: The share of edits whose reading must rise before a model is said to read an AU's movement.
READS = 0.9


class EditCheck(NamedTuple):
    """What :func:`edit_check` measured."""

    readings: pd.DataFrame  # a row per face, AU and intensity (0: the original)
    summary: pd.DataFrame  # a row per AU: how often its reading rose and peaked where the face moved


def edit_check(
    reader: Callable[[np.ndarray], Reading],
    faces: Mapping[str, FaceReading],
    aus: Sequence[int],
    intensities: Sequence[float] = (1.0, 2.0, 3.0, 4.0, 5.0),
    shown: Mapping[str, Sequence[int]] | None = None,
) -> EditCheck:
    """Edit every face as each AU moves it, at each intensity, and read the edits with ``reader``.

    Args:
        reader: maps [B, S, S, 3] uint8 aligned crops to a :class:`auheat.predict.Reading`
            (a :class:`auheat.predict.FaceReader`), whose ``aus`` must hold every AU checked.
        faces: name -> an aligned face and its landmarks (``FaceReader.read_face``).
        aus: the AUs to edit and read (SynthFACS moves each of them).
        intensities: the edits' intensities, each above 0.
        shown: face name -> the AUs that face already shows (None: none). An edit adds an AU's
            movement from a face without it; added to a face that already shows the AU (a smile
            edited into a smiling face), it pushes the features past anything SynthFACS draws at
            any intensity, so those edits are read and kept, but left out of the summary's
            ``rises``, ``peak in region`` and mean rise, and counted in ``rises where shown``.

    Returns:
        An :class:`EditCheck`. ``readings`` has the raw reading (heatmap maximum clamped to 0..5;
        a direct-regression model's answer), whether it rose over the same face unedited, the
        peak's distance from the nearest moved landmark in eye distances and whether that is
        within :data:`REGION`. ``summary`` gives, per AU, the share of edits whose reading rose
        (``rises``), the share whose peak lay in the edited region (``peak in region``; NaN
        without heatmaps) and the mean rise at the highest intensity, over the faces that do not
        show the AU; and the share of rises on the faces that do (``rises where shown``; NaN if
        none). ``readings`` marks those faces' rows in its ``shown`` column.
    """
    model_aus = tuple(reader.aus)
    unknown = [au for au in aus if au not in model_aus or au not in SYNTH_AUS]
    if unknown:
        raise ValueError(f"AU(s) {unknown} are not both read by the model {model_aus} and moved by SynthFACS")
    if not faces:
        raise ValueError("no faces to edit")
    if not intensities or min(intensities) <= 0:
        raise ValueError(f"intensities must be above 0 (0 is the original face), got {tuple(intensities)}")
    shown = {} if shown is None else shown
    strangers = sorted(set(shown) - set(faces))
    if strangers:
        raise ValueError(f"shown names faces that are not checked: {strangers}; faces: {sorted(faces)}")
    rows = []
    for name, face in faces.items():
        face_shows = set(shown.get(name, ()))
        edits = [
            (au, level, edit_face(face.crop, face.landmarks, au, level))
            for au in aus
            for level in intensities
        ]
        reading = reader(np.stack([face.crop, *(edit.image for _, _, edit in edits)]))
        raw = _raw(reading)
        eyes = float(np.hypot(*(face.landmarks[45] - face.landmarks[36])))
        for au in aus:
            k = model_aus.index(au)
            rows.append(
                {
                    "face": name,
                    "AU": au,
                    "intensity": 0.0,
                    "raw": raw[0, k],
                    "shown": au in face_shows,
                }
            )
        for i, (au, level, edit) in enumerate(edits, start=1):
            k = model_aus.index(au)
            peak = reading.peaks[i, k]
            distance = np.linalg.norm(edit.landmarks[edit.moved] - peak, axis=1).min() / eyes
            rows.append(
                {
                    "face": name,
                    "AU": au,
                    "intensity": level,
                    "raw": raw[i, k],
                    "shown": au in face_shows,
                    "rises": bool(raw[i, k] > raw[0, k] + RISE),
                    "peak distance": distance,
                    "peak in region": bool(distance <= REGION) if np.isfinite(distance) else np.nan,
                }
            )
    readings = pd.DataFrame(rows)
    return EditCheck(readings, _summary(readings, max(intensities)))


def pool_edit_checks(
    checks: Mapping[str, EditCheck], level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> EditCheck:
    """One check of several models, e.g. trainings of one model with other seeds: a single model's
    shares move with its seed by as much as the differences a reader would look for.

    Args:
        checks: model name -> its :func:`edit_check` (of the same faces, AUs and intensities).
        level, resamples, seed: the bootstrap interval of the pooled share of rises.

    Returns:
        An :class:`EditCheck` whose ``readings`` are every check's, with a ``model`` column (the
        mapping's keys), and whose ``summary`` gives the shares over every model's edits, with
        ``rises, lowest model`` and ``rises, highest model`` (how far one model's share strays),
        and ``rises, low`` and ``rises, high``: a ``level`` interval of the pooled share that
        resamples both the models and the faces (:func:`rises_interval`; :func:`verdicts` reads it).
    """
    if not checks:
        raise ValueError("no edit check to pool")
    readings = pd.concat([c.readings.assign(model=name) for name, c in checks.items()], ignore_index=True)
    summary = _summary(readings, readings["intensity"].max())
    per_model = pd.DataFrame({name: c.summary["rises"] for name, c in checks.items()})  # AU x model
    summary["rises, lowest model"] = per_model.min(axis=1)
    summary["rises, highest model"] = per_model.max(axis=1)
    interval = rises_interval(readings, level, resamples, seed)
    summary[["rises, low", "rises, high"]] = interval.reindex(summary.index)
    return EditCheck(readings, summary)


def verdicts(summary: pd.DataFrame, share: float = READS) -> pd.Series:
    """Per AU of a pooled summary (:func:`pool_edit_checks`), its share of rising edits read against
    ``share`` through its interval: whether the model reads the movement, does not, or cannot be
    told apart from ``share`` on these faces and models."""

    def verdict(row: pd.Series) -> str:
        if row["rises, low"] >= share:
            return "reads the movement"
        if row["rises, high"] < share:
            return "does not reliably read the movement"
        return f"undecided at {share:.0%}"

    return summary.apply(verdict, axis=1)


def rises_interval(
    readings: pd.DataFrame, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Per AU, a percentile bootstrap interval of the share of edits whose reading rose, over models
    and faces (the rows of :func:`pool_edit_checks`' ``readings``; shown faces' edits left out).

    Models and faces are crossed (every model reads every face), and both are draws: a training's
    seed moves its share as much as a face does. Each resample draws the models and, independently,
    the faces with replacement and weighs every (model, face) cell by the product of their counts
    (Owen's "pigeonhole" bootstrap; :func:`auheat.stats.bootstrap_interval` draws one kind of unit).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    edited, _ = _edits(readings)
    cells = edited.assign(rises=edited["rises"].astype(float)).pivot_table(
        index="AU", columns=["model", "face"], values="rises", aggfunc=["sum", "count"], fill_value=0
    )
    models, faces = cells["sum"].columns.levels
    every_cell = pd.MultiIndex.from_product([models, faces])  # an AU never edited on a face: 0 of 0
    rises, edits = (
        cells[kind].reindex(columns=every_cell, fill_value=0).to_numpy().reshape(len(cells), len(models), -1)
        for kind in ("sum", "count")
    )
    rng = np.random.default_rng(seed)
    by_model = rng.multinomial(len(models), np.full(len(models), 1 / len(models)), size=resamples)
    by_face = rng.multinomial(len(faces), np.full(len(faces), 1 / len(faces)), size=resamples)
    with np.errstate(invalid="ignore", divide="ignore"):  # a resample of no edits of an AU: NaN
        shares = np.einsum("rm,rf,amf->ra", by_model, by_face, rises) / np.einsum(
            "rm,rf,amf->ra", by_model, by_face, edits
        )
    bounds = np.nanquantile(shares, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return pd.DataFrame({"rises, low": bounds[0], "rises, high": bounds[1]}, index=cells.index)


def _raw(reading: Reading) -> np.ndarray:
    """[B, K] the raw readings: each heatmap's maximum clamped to 0..5 (a direct model's answer)."""
    if reading.heatmaps is None:
        return reading.intensities
    return np.clip(reading.heatmaps.max(axis=(-2, -1)), 0.0, MAX_INTENSITY)


def _edits(readings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The edits' rows: those the shares count, and those of faces that already show the AU."""
    edited = readings[readings["intensity"] > 0]
    shown = edited["shown"].astype(bool)
    return edited[~shown], edited[shown]


def _summary(readings: pd.DataFrame, top: float) -> pd.DataFrame:
    keys = [*(["model"] if "model" in readings else []), "face", "AU"]  # one original per key
    edited, where_shown = _edits(readings)
    original = readings[readings["intensity"] == 0].set_index(keys)["raw"]
    highest = edited[edited["intensity"] == top].set_index(keys)["raw"]
    shares = edited[["rises", "peak in region"]].astype(float).groupby(edited["AU"])  # NaN: no peak
    aus = readings["AU"].unique()
    return pd.DataFrame(
        {
            "edits": edited.groupby("AU").size().reindex(aus, fill_value=0),
            "rises": shares["rises"].mean(),
            "peak in region": shares["peak in region"].mean(),
            f"mean rise at {top:g}": (highest - original).groupby("AU").mean(),  # NaN: shown faces
            "rises where shown": where_shown["rises"].astype(float).groupby(where_shown["AU"]).mean(),
        },
        index=pd.Index(aus, name="AU"),
    )


def neutral_faces(
    dataset: PreparedDataset, reader: FaceReader, limit: int | None = None
) -> dict[str, FaceReading]:
    """One frame of each subject of ``dataset`` whose every AU is coded 0, aligned and read by
    ``reader`` as a photo's face is: the faces on which :func:`edit_check` measures what a model
    reads of the movement alone without the gap between SynthFACS and photos (its own test faces).

    Args:
        dataset: a prepared dataset (e.g. a fold's held-out subjects).
        reader: the model that aligns and reads the faces.
        limit: at most this many subjects, the first in ``dataset.subjects``' order (None: all).

    Returns:
        subject -> its face, for the subjects that have such a frame (the first one).
    """
    columns = [au_column(n) for n in dataset.aus]
    at_rest = dataset.frames[columns].fillna(1).eq(0).all(axis=1).to_numpy()  # an unlabelled AU: not at rest
    first = pd.Series(np.flatnonzero(at_rest)).groupby(dataset.frames["subject"].to_numpy()[at_rest]).first()
    faces = {}
    for subject in [s for s in dataset.subjects if s in first.index][:limit]:
        sample = dataset[int(first[subject])]
        image = np.ascontiguousarray(sample["image"].permute(1, 2, 0).numpy())
        faces[subject] = reader.read_face(image, sample["landmarks"].numpy().astype(np.float64))
    return faces
