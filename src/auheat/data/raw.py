"""Readers for the files of raw AU datasets: intensity label files, videos, frame folders, landmarks.

Every reader checks what it reads and raises :class:`RawDataError`, a ``ValueError`` whose message
names the file and, where one is at fault, the line, so a problem found after hours of processing
can be fixed at once.

Formats:

* **intensity file** (DISFA ``SN001_au1.txt``, BP4D/FERA ``F001_T1_AU06.csv``): one
  ``frame,intensity`` pair per line; the separator may be a comma, semicolon, tab or spaces; a
  first line whose frame field is not a number is a header and skipped; blank lines are skipped.
  Intensities are 0..5; an ``unknown`` code (9 in BP4D/FERA) marks an uncoded frame (NaN).
* **video**: anything OpenCV decodes; frames are numbered from 1 in decoding order, as DISFA's
  labels count them.
* **frame folder** (BP4D ``F001/T1/*.jpg``): one image per frame; a frame's number is the last run
  of digits in its file name (``2440.jpg`` and ``F001_T1_2440.jpg`` are both frame 2440).
* **landmark file** (landmarks the user already has, one per session), image pixels (x, y):
  ``.npy`` float [F, 68, 2], row i for the i-th frame in order (video frame i + 1, or the i-th
  image of the sorted folder), a row of NaN where there is no face; or ``.csv`` with a ``frame``
  column (the frame number) and ``x0, y0, ..., x67, y67``; a frame that is absent or has empty
  cells has no face; or a folder of MATLAB ``.mat`` files, one per frame, as DISFA ships them
  (``Landmark_Points/SN001/tmp_frame_lm/SN001_0000_lm.mat``): the file's last run of digits is the
  frame counted from 0 (so ``0000`` is video frame 1), and its one array of 66 (or 68) (x, y)
  points is the face (:func:`points_66_to_68`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from auheat.aus import MAX_INTENSITY, NUM_LANDMARKS

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
LANDMARK_COLUMNS = [f"{axis}{i}" for i in range(NUM_LANDMARKS) for axis in "xy"]
_SEPARATOR = r"[,;\t ]+"
_DIGITS = re.compile(r"(\d+)(?!.*\d)")


class DamagedImageError(ValueError):
    """One frame's image is damaged (truncated, corrupt): that frame is lost, not the subject."""


class RawDataError(ValueError):
    """A raw dataset file is missing, unreadable or inconsistent; the message names it."""


class IntensityFile(NamedTuple):
    """One AU's label file, read."""

    labels: pd.Series  # float intensities (NaN = unknown) indexed by frame number, sorted
    lines: dict[int, int]  # each frame's line number in the file (1-based), for error messages


def read_intensity_file(path: str | Path, unknown: float | None = 9) -> IntensityFile:
    """Read one AU's intensity labels.

    Args:
        path: the label file (format in the module docstring).
        unknown: the code of an uncoded frame, read as NaN; None when the dataset has none (DISFA).

    Returns:
        (labels, lines): float intensities (NaN = unknown) indexed by frame number, sorted; and
        each frame's line number in the file (1-based), for later error messages.

    Raises:
        RawDataError: missing file, a line without two numbers, a non-integer frame number, a
            frame number given twice, or an intensity outside 0..5 other than ``unknown``.
    """
    path = Path(path)
    if not path.is_file():
        raise RawDataError(f"{path}: label file not found")
    try:
        table = pd.read_csv(
            path, sep=_SEPARATOR, engine="python", header=None, dtype=str, skip_blank_lines=False
        )
    except pd.errors.EmptyDataError:
        raise RawDataError(f"{path}: the label file is empty") from None
    except pd.errors.ParserError as error:  # its message names the line, e.g. a third field
        raise RawDataError(f"{path}: not 'frame,intensity' lines ({error})") from None
    table.index = np.arange(1, len(table) + 1)  # line numbers, blank lines included
    table = table.dropna(how="all")
    if table.shape[1] < 2 and len(table):
        raise RawDataError(
            f"{path}, line {table.index[0]}: expected 'frame,intensity', got {table.iloc[0, 0]!r}"
        )
    if len(table) and pd.to_numeric(pd.Series([table.iloc[0, 0]]), errors="coerce").isna().all():
        table = table.iloc[1:]  # a header such as "frame,intensity"
    if table.empty:
        raise RawDataError(f"{path}: the label file is empty (no 'frame,intensity' line)")
    frames, intensities, lines = [], [], {}
    for line, (frame_text, value_text) in zip(
        table.index, table.iloc[:, :2].itertuples(index=False), strict=True
    ):
        try:
            frame_value, value = float(frame_text), float(value_text)
            if np.isnan(value) or np.isnan(frame_value):
                raise ValueError
        except (TypeError, ValueError):
            raise RawDataError(
                f"{path}, line {line}: expected two numbers 'frame,intensity', "
                f"got {frame_text!r}, {value_text!r}"
            ) from None
        if frame_value != int(frame_value):
            raise RawDataError(f"{path}, line {line}: frame number {frame_text!r} is not an integer")
        frame = int(frame_value)
        if frame in lines:
            raise RawDataError(
                f"{path}, line {line}: frame {frame} appears twice (first at line {lines[frame]})"
            )
        if unknown is not None and value == unknown:
            value = np.nan
        elif not 0 <= value <= MAX_INTENSITY:
            code = f" or the unknown code {unknown:g}" if unknown is not None else ""
            raise RawDataError(
                f"{path}, line {line}: intensity {value_text} is outside 0..{MAX_INTENSITY:g}{code}"
            )
        lines[frame] = int(line)
        frames.append(frame)
        intensities.append(value)
    labels = pd.Series(intensities, index=pd.Index(frames, name="frame"), dtype="float64").sort_index()
    return IntensityFile(labels, lines)


def iter_video(path: str | Path) -> Iterator[tuple[int, np.ndarray]]:
    """Decode a video: yields (frame number from 1, [H, W, 3] uint8 RGB image).

    Raises:
        RawDataError: the file is missing, OpenCV cannot open it, or not one frame decodes.
    """
    path = Path(path)
    if not path.is_file():
        raise RawDataError(f"{path}: video not found")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise RawDataError(f"{path}: not a readable video (OpenCV cannot open it; is it corrupt?)")
        number = 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            number += 1
            yield number, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if number == 0:
            raise RawDataError(f"{path}: not a readable video (no frame could be decoded; is it corrupt?)")
    finally:
        capture.release()


def frame_number(path: Path) -> int:
    """The frame number in an image file name: its last run of digits."""
    match = _DIGITS.search(path.stem)
    if match is None:
        raise RawDataError(f"{path}: no frame number (digits) in the file name")
    return int(match.group(1))


def list_frame_images(folder: str | Path) -> list[tuple[int, Path]]:
    """(frame number, path) of every image of a frame folder, by frame number.

    Raises:
        RawDataError: two images with the same frame number.
    """
    found: dict[int, Path] = {}
    for path in sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        number = frame_number(path)
        if number in found:
            raise RawDataError(f"{path}: frame {number} is also {found[number].name}")
        found[number] = path
    return sorted(found.items())


def read_image(path: Path) -> np.ndarray:
    """[H, W, 3] uint8 RGB, decoded whole or not at all.

    Pillow, not OpenCV: OpenCV decodes a truncated JPEG with its missing part filled grey and only
    prints libjpeg's warning, where Pillow raises. A JPEG must also end with its end-of-image
    marker (a file cut at a marker boundary decodes without complaint).

    Raises:
        DamagedImageError: the file is missing, truncated or not an image; the message names it.
    """
    try:
        with Image.open(path) as image:
            image.load()
            pixels = np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DamagedImageError(f"{path}: damaged or not an image ({error})") from None
    if path.suffix.lower() in (".jpg", ".jpeg"):
        with open(path, "rb") as f:
            f.seek(-2, os.SEEK_END)
            if f.read(2) != b"\xff\xd9":
                raise DamagedImageError(f"{path}: damaged JPEG (no end-of-image marker: truncated?)")
    return pixels


def read_landmark_file(path: str | Path, frames: list[int] | None = None) -> dict[int, np.ndarray | None]:
    """Landmarks the user already has for one session (format in the module docstring).

    Args:
        frames: the session's frame numbers in order, which a ``.npy`` file's rows follow; None
            for a video, whose rows are frames 1, 2, ...

    Returns:
        Every frame the file describes -> [68, 2] float64 image pixels, or None (no face).
    """
    path = Path(path)
    if path.is_dir():
        return read_mat_landmarks(path)
    if path.suffix == ".npy":
        points = np.load(path, allow_pickle=False)
        rows = len(frames) if frames is not None else len(points)
        if points.ndim != 3 or points.shape[1:] != (NUM_LANDMARKS, 2) or len(points) != rows:
            raise RawDataError(
                f"{path}: shape {list(points.shape)}, expected [{rows}, {NUM_LANDMARKS}, 2] "
                "(one row per frame of the session, NaN where there is no face)"
            )
        numbers = frames if frames is not None else range(1, rows + 1)
    elif path.suffix == ".csv":
        table = pd.read_csv(path)
        missing = [c for c in ["frame", *LANDMARK_COLUMNS] if c not in table.columns]
        if missing:
            raise RawDataError(f"{path}: missing columns {missing[:4]}{' ...' if len(missing) > 4 else ''}")
        duplicated = table["frame"].duplicated().to_numpy()
        if duplicated.any():
            row = int(np.flatnonzero(duplicated)[0])
            raise RawDataError(f"{path}, line {row + 2}: frame {table['frame'].iloc[row]} appears twice")
        points = table[LANDMARK_COLUMNS].to_numpy(np.float64).reshape(-1, NUM_LANDMARKS, 2)
        numbers = table["frame"].astype(int).tolist()
    else:
        raise RawDataError(f"{path}: landmarks must be a .npy or .csv file")
    return {
        int(n): p.astype(np.float64) if np.isfinite(p).all() else None
        for n, p in zip(numbers, points, strict=True)
    }


# iBUG 68-point order from the 66-point one (CMU / Multi-PIE, DISFA's): the 66-point scheme has no
# inner mouth corners (68-point 60 and 64); everything else keeps its order. The inner corners are
# placed at the outer ones (48, 54), a few pixels away on a real face. Alignment (8, 36, 45) does
# not use them; of the AU centres, only AU25's and AU26's (the midpoint of 61 and 64) read one, and
# move by half that distance towards the right lip corner.
_FROM_66 = [*range(60), 48, 60, 61, 62, 54, 63, 64, 65]


def points_66_to_68(points: np.ndarray) -> np.ndarray:
    """[66, 2] points (CMU / Multi-PIE order) -> [68, 2] in iBUG order (see ``_FROM_66``)."""
    points = np.asarray(points, np.float64)
    if points.shape != (66, 2):
        raise ValueError(f"expected [66, 2] points, got {list(points.shape)}")
    return points[_FROM_66]


def read_mat_landmarks(folder: str | Path) -> dict[int, np.ndarray | None]:
    """A folder of per-frame ``.mat`` landmark files (DISFA's, module docstring) -> frame -> [68, 2]."""
    from scipy.io import loadmat  # scipy comes with face-alignment and scikit-image

    folder = Path(folder)
    files = sorted(folder.rglob("*.mat"))
    if not files:
        raise RawDataError(f"{folder}: no .mat landmark file")
    found: dict[int, np.ndarray | None] = {}
    for path in files:
        number = frame_number(path) + 1  # DISFA counts these files from 0, its videos' frames from 1
        if number in found:
            raise RawDataError(f"{path}: frame {number - 1} has another file too")
        try:
            content = loadmat(path)
        except (OSError, ValueError, NotImplementedError) as error:
            raise RawDataError(f"{path}: not a readable .mat file ({error})") from None
        arrays = [
            np.asarray(v, np.float64)
            for k, v in content.items()
            if not k.startswith("__") and isinstance(v, np.ndarray) and v.dtype.kind in "fiu"
        ]
        shaped = [a.T if a.shape in ((2, 66), (2, 68)) else a for a in arrays]
        points = [a for a in shaped if a.shape in ((66, 2), (68, 2))]
        if len(points) != 1:
            shapes = [list(a.shape) for a in arrays]
            raise RawDataError(f"{path}: expected one array of 66 or 68 (x, y) points, found shapes {shapes}")
        face = points_66_to_68(points[0]) if len(points[0]) == 66 else points[0]
        found[number] = face if np.isfinite(face).all() else None
    return found
