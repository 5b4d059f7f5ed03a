"""The prepared-dataset format: one layout on disk for real and synthetic faces, and its reader.

A prepared dataset is a folder::

    <root>/meta.json      name, AU list, crop size, landmark scheme, protocol, format version, generator,
                          content digest (:mod:`auheat.data.digest`)
    <root>/frames.csv     one row per frame: id, subject, session, frame, image, split or fold, AU columns
    <root>/landmarks.npy  float32 [N, 68, 2], (x, y) crop pixels, row i belongs to frames.csv row i
    <root>/images/...     aligned face crops (JPEG), paths relative to <root>

``frames.csv`` has one column per AU of ``meta.json``'s ``aus``, named like ``AU06``; an empty cell
is an unlabelled entry (read as NaN), a number is an intensity in 0..5. The protocol says how
subjects are divided for evaluation: ``{"kind": "split", "splits": {"train": [...], "test": [...]}}``
(a ``split`` column names each row's part) or ``{"kind": "folds", "folds": [[...], [...], [...]]}``
(a ``fold`` column holds each row's fold number, 0-based). Further columns (a camera view, a time
stamp) are allowed and kept.

:class:`auheat.data.writer.DatasetWriter` builds the folder beside its final place and renames it
at the end, so a killed preparation never leaves a half dataset that looks whole.
:class:`PreparedDataset` checks the folder when it is opened and yields samples for a
``torch.utils.data.DataLoader``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from PIL import Image

from auheat.atomic import write_atomically
from auheat.aus import MAX_INTENSITY, NUM_LANDMARKS, get_au
from auheat.data.protocols import PROTOCOL_COLUMNS, check_protocol, protocol_subjects

FORMAT_VERSION = 1
LANDMARK_SCHEME = "ibug68"
META_FILE = "meta.json"
FRAMES_FILE = "frames.csv"
LANDMARKS_FILE = "landmarks.npy"
IMAGES_DIR = "images"
BASE_COLUMNS = ("id", "subject", "session", "frame", "image")
# Fixed encoder settings: the same pixels always give the same bytes, which keeps generated
# datasets byte-identical. Quality 90 keeps the stored copy close to what was rendered or
# aligned; the faces' own compression artefacts, if any, are made before this step.
JPEG_OPTIONS: dict[str, Any] = {"format": "JPEG", "quality": 90, "subsampling": 2, "optimize": False}

_AU_COLUMN = re.compile(r"^AU\d+$")


def au_column(number: int) -> str:
    """The frames.csv column of an AU number, e.g. ``au_column(6) == "AU06"``."""
    return f"AU{number:02d}"


def save_image(path: str | Path, image: np.ndarray) -> None:
    """Write a [H, W, 3] uint8 RGB image as JPEG with the fixed :data:`JPEG_OPTIONS`, atomically."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"{path}: image must be [H, W, 3] uint8 RGB, got {image.shape} {image.dtype}")
    write_atomically(Path(path), lambda f: Image.fromarray(image).save(f, **JPEG_OPTIONS))


def frames_to_csv(frames: pd.DataFrame, meta: Mapping[str, Any]) -> str:
    """frames.csv text: format columns first, extras after; labels as ``%g``, empty when unlabelled."""
    key = PROTOCOL_COLUMNS[meta["protocol"]["kind"]]
    au_cols = [au_column(n) for n in meta["aus"]]
    columns = [*BASE_COLUMNS, key, *au_cols]
    columns += [c for c in frames.columns if c not in columns]
    return frames[columns].to_csv(index=False, float_format="%.6g", lineterminator="\n")


def check_image_path(relative: str, where: str) -> str:
    path = PurePosixPath(relative)
    if (
        path.is_absolute()
        or ".." in path.parts
        or not path.parts
        or path.parts[0] != IMAGES_DIR
        or len(path.parts) < 2
    ):
        raise ValueError(f"{where}: image path {relative!r} must be relative and under '{IMAGES_DIR}/'")
    return relative


def _line(frames: pd.DataFrame, row: int) -> str:
    """How an error names a row: its line in frames.csv (line 1 is the header) and its id."""
    return f"line {row + 2} (id {frames['id'].iloc[row]!r})" if "id" in frames else f"line {row + 2}"


def _numbers(frames: pd.DataFrame, column: str, where: str, integer: bool) -> pd.Series:
    """Column as numbers: float64 with NaN for empty cells, or int64 when ``integer`` (no empties)."""
    raw = frames[column]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.astype("float64")
        blank = values.isna().to_numpy()
        bad = np.zeros(len(raw), bool)
    else:
        text = raw.map(
            lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()
        )
        blank = (text == "").to_numpy()
        values = pd.to_numeric(text.mask(blank), errors="coerce").astype("float64")
        bad = values.isna().to_numpy() & ~blank
    if integer:
        finite = np.isfinite(values.to_numpy())
        bad |= blank | (finite & (values.to_numpy() != np.round(values.to_numpy()))) | (~finite & ~blank)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        kind = "an integer" if integer else "a number or empty (unlabelled)"
        raise ValueError(f"{where}, {_line(frames, row)}, column {column}: {raw.iloc[row]!r} is not {kind}")
    return values.astype("int64") if integer else values


def typed_frames(frames: pd.DataFrame, meta: Mapping[str, Any], where: str) -> pd.DataFrame:
    """Check the columns and give each its type: strings, int64 frame/fold, float64 AU labels."""
    key = PROTOCOL_COLUMNS[meta["protocol"]["kind"]]
    expected_aus = [au_column(n) for n in meta["aus"]]
    missing = [c for c in (*BASE_COLUMNS, key) if c not in frames.columns]
    if missing:
        raise ValueError(
            f"{where}: missing column(s) {', '.join(missing)} (the protocol is {meta['protocol']['kind']!r})"
        )
    found_aus = [c for c in frames.columns if _AU_COLUMN.match(str(c))]
    if sorted(found_aus) != sorted(expected_aus):
        absent = sorted(set(expected_aus) - set(found_aus))
        extra = sorted(set(found_aus) - set(expected_aus))
        raise ValueError(
            f"{where}: AU columns do not match meta.json's aus {list(meta['aus'])}: "
            f"missing {absent or 'none'}, unexpected {extra or 'none'}"
        )
    typed = frames.copy()
    for column in ("id", "subject", "session", "image", *(("split",) if key == "split" else ())):
        typed[column] = frames[column].map(lambda v: "" if v is None else str(v)).astype(object)
        empty = (typed[column].str.strip() == "").to_numpy()
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            raise ValueError(f"{where}, {_line(typed, row)}, column {column}: empty")
    typed["frame"] = _numbers(typed, "frame", where, integer=True)
    if key == "fold":
        typed["fold"] = _numbers(typed, "fold", where, integer=True)
    for column in expected_aus:
        typed[column] = _numbers(typed, column, where, integer=False)
    return typed


def check_frames(frames: pd.DataFrame, meta: Mapping[str, Any], where: str) -> None:
    """Check the rows of a typed table: unique ids, image paths, label range, protocol membership."""
    duplicated = frames["id"].duplicated().to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise ValueError(f"{where}, {_line(frames, row)}: id {frames['id'].iloc[row]!r} appears twice")
    for row, image in enumerate(frames["image"]):
        check_image_path(image, f"{where}, {_line(frames, row)}, column image")
    for number in meta["aus"]:
        column = au_column(number)
        values = frames[column].to_numpy()
        bad = ~np.isnan(values) & ((values < 0) | (values > MAX_INTENSITY))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{where}, {_line(frames, row)}, column {column}: intensity {values[row]:g} is outside "
                f"0..{MAX_INTENSITY:g} (leave the cell empty for an unlabelled frame)"
            )
    protocol = meta["protocol"]
    column = PROTOCOL_COLUMNS[protocol["kind"]]
    wanted, actual = frames["subject"].map(protocol_subjects(protocol)), frames[column]
    described = f"meta.json's protocol {'splits' if column == 'split' else 'folds'}"
    wanted_values, actual_values = wanted.tolist(), actual.tolist()
    for row, (want, have) in enumerate(zip(wanted_values, actual_values, strict=True)):
        if pd.isna(want) or want != have:
            subject = frames["subject"].iloc[row]
            expected = "nothing (the subject is not listed)" if pd.isna(want) else repr(want)
            raise ValueError(
                f"{where}, {_line(frames, row)}, column {column}: subject {subject!r} has {have!r} "
                f"but {described} give {expected}"
            )


def check_landmarks(landmarks: np.ndarray, rows: int, where: str) -> None:
    if landmarks.dtype != np.float32 or landmarks.shape != (rows, NUM_LANDMARKS, 2):
        raise ValueError(
            f"{where}: landmarks must be float32 [{rows}, {NUM_LANDMARKS}, 2] (one per frames.csv row), "
            f"got {landmarks.dtype} {list(landmarks.shape)}"
        )
    if np.isinf(landmarks).any():
        raise ValueError(f"{where}: landmarks contain infinite values (use NaN for a missing point)")


def _check_meta(meta: Any, path: Path) -> None:
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        hint = (
            "written by a newer auheat; upgrade auheat"
            if isinstance(version, int) and version > FORMAT_VERSION
            else "prepare the dataset again with this auheat"
        )
        raise ValueError(
            f"{path}: format_version {version!r} is not supported "
            f"(this auheat reads {FORMAT_VERSION}); {hint}"
        )
    for key, kind in (
        ("name", str),
        ("aus", list),
        ("crop_size", int),
        ("landmark_scheme", str),
        ("num_frames", int),
    ):
        if not isinstance(meta.get(key), kind):
            raise ValueError(f"{path}: key {key!r} must be a {kind.__name__}, got {meta.get(key)!r}")
    if meta["landmark_scheme"] != LANDMARK_SCHEME:
        raise ValueError(f"{path}: landmark_scheme {meta['landmark_scheme']!r} is not {LANDMARK_SCHEME!r}")
    try:
        for number in meta["aus"]:
            get_au(number)
        check_protocol(meta.get("protocol"))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    if len(set(meta["aus"])) != len(meta["aus"]):
        raise ValueError(f"{path}: aus lists an AU twice: {meta['aus']}")


def read_meta(root: str | Path) -> dict[str, Any]:
    """Read and check ``<root>/meta.json``."""
    path = Path(root) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: {root} is not a prepared dataset (or its preparation did not finish); "
            "prepare it with a data_scripts/ script or `auheat synth`"
        )
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    _check_meta(meta, path)
    return meta


def read_frames(root: str | Path, meta: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Read and check ``<root>/frames.csv``, typed: int frame/fold, float AU labels (NaN = unlabelled)."""
    root = Path(root)
    meta = read_meta(root) if meta is None else meta
    path = root / FRAMES_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the dataset at {root} is incomplete; prepare it again")
    # Everything as text first, so that subject "007" stays "007" and errors can quote the cell.
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ValueError(f"{path}: not a readable CSV table ({error})") from None
    frames = typed_frames(raw, meta, str(path))
    check_frames(frames, meta, str(path))
    if len(frames) != meta["num_frames"]:
        raise ValueError(
            f"{path}: {len(frames)} rows, but {root / META_FILE} says num_frames {meta['num_frames']}"
        )
    return frames


class PreparedDataset(torch.utils.data.Dataset):
    """A prepared dataset on disk, checked when opened, as a ``torch.utils.data.Dataset``.

    Args:
        root: the dataset folder.
        split: a part of a ``split`` protocol (e.g. ``"train"``, ``"test"``); with a ``folds``
            protocol, ``"test"`` (fold ``fold``'s subjects) or ``"train"`` (all other subjects).
            None: every frame.
        fold: the fold number (0-based) of a ``folds`` protocol; needs ``split``.
        subjects: keep only these subjects of the selection (e.g. to train on fewer subjects);
            a name the selection does not hold is an error.
        transform: applied to each sample dict before it is returned (augmentation).
        check_images: also check on opening that every image file exists (one stat per frame);
            otherwise a missing image is reported, by name, when it is read.

    Each sample is a dict:
        ``image``: uint8 tensor [3, H, W], RGB;
        ``landmarks``: float32 tensor [68, 2], (x, y) crop pixels;
        ``intensities``: float32 tensor [K] in 0..5, NaN where unlabelled, K = ``len(aus)``;
        ``subject``: str; ``index``: int, the frame's row in frames.csv and landmarks.npy.

    Attributes:
        aus: the K AU numbers, in label order. meta: meta.json as a dict. frames: the selected
        rows of frames.csv as a DataFrame, indexed by their row number. subjects: the selected
        subjects, sorted. landmarks [n, 68, 2] and intensities [n, K]: the selected frames' arrays.
    """

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        fold: int | None = None,
        subjects: Sequence[str] | None = None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        check_images: bool = False,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root} is not a folder; expected a prepared dataset there")
        self.meta = read_meta(self.root)
        all_frames = read_frames(self.root, self.meta)
        landmarks_path = self.root / LANDMARKS_FILE
        if not landmarks_path.is_file():
            raise FileNotFoundError(
                f"{landmarks_path} is missing: the dataset is incomplete; prepare it again"
            )
        try:
            landmarks = np.load(landmarks_path, mmap_mode="r", allow_pickle=False)
        except ValueError as error:
            raise ValueError(f"{landmarks_path}: not a .npy array ({error})") from None
        check_landmarks(landmarks, len(all_frames), str(landmarks_path))

        self.aus: tuple[int, ...] = tuple(self.meta["aus"])
        self.crop_size: int = self.meta["crop_size"]
        self.split, self.fold = split, fold
        self.transform = transform
        selected = self._select(all_frames, split, fold)
        if subjects is not None:
            unknown = sorted(set(subjects) - set(all_frames["subject"][selected]))
            if unknown:
                raise ValueError(f"{self.root}: subjects {unknown} are not in the selected frames")
            selected = selected & all_frames["subject"].isin(list(subjects)).to_numpy()
        self.frames: pd.DataFrame = all_frames[selected]
        self._rows = np.flatnonzero(selected)
        self._all_frames = all_frames
        # Plain arrays: __getitem__ runs once per sample, where pandas indexing would cost more.
        self._images = all_frames["image"].to_numpy(dtype=object)
        self._subject_of = all_frames["subject"].to_numpy(dtype=object)
        self._landmarks = landmarks
        columns = [au_column(n) for n in self.aus]
        self._intensities = all_frames[columns].to_numpy(np.float32).reshape(len(all_frames), len(columns))
        self.subjects: tuple[str, ...] = tuple(sorted(self.frames["subject"].unique()))
        if check_images:
            for row, image in zip(self._rows, self.frames["image"], strict=True):
                if not (self.root / image).is_file():
                    raise FileNotFoundError(self._missing_image(int(row)))

    def _select(self, frames: pd.DataFrame, split: str | None, fold: int | None) -> np.ndarray:
        """Boolean [N] mask of the rows that ``split`` and ``fold`` select."""
        protocol = self.meta["protocol"]
        if protocol["kind"] == "split":
            if fold is not None:
                raise ValueError(
                    f"{self.root}: fold={fold} given, but the protocol has named splits, not folds"
                )
            if split is None:
                return np.ones(len(frames), bool)
            if split not in protocol["splits"]:
                raise ValueError(
                    f"{self.root}: no split {split!r}; the protocol's splits are {list(protocol['splits'])}"
                )
            return (frames["split"] == split).to_numpy()
        folds = len(protocol["folds"])
        if fold is None:
            if split is not None:
                raise ValueError(
                    f"{self.root}: the protocol has {folds} folds; pass fold=0..{folds - 1} with split"
                )
            return np.ones(len(frames), bool)
        if not isinstance(fold, (int, np.integer)) or not 0 <= fold < folds:
            raise ValueError(f"{self.root}: fold must be an int in 0..{folds - 1}, got {fold!r}")
        if split == "test":
            return (frames["fold"] == fold).to_numpy()
        if split == "train":
            return (frames["fold"] != fold).to_numpy()
        raise ValueError(f"{self.root}: with fold={fold}, split must be 'train' or 'test', got {split!r}")

    @property
    def landmarks(self) -> np.ndarray:
        """[n, 68, 2] float32 landmarks of the selected frames, crop pixels."""
        return np.asarray(self._landmarks[self._rows])

    @property
    def intensities(self) -> np.ndarray:
        """[n, K] float32 labels of the selected frames, NaN where unlabelled."""
        return self._intensities[self._rows]

    def _missing_image(self, row: int) -> str:
        image = self._images[row]
        return (
            f"{self.root / image} is missing (named by {self.root / FRAMES_FILE}, "
            f"{_line(self._all_frames, row)}); the dataset is incomplete, prepare it again"
        )

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = int(self._rows[i])
        path = self.root / self._images[row]
        try:
            with Image.open(path) as img:
                image = np.array(img.convert("RGB"))  # writable, as torch.from_numpy wants
        except FileNotFoundError:
            raise FileNotFoundError(self._missing_image(row)) from None
        if image.shape[:2] != (self.crop_size, self.crop_size):
            raise ValueError(
                f"{path}: image is {image.shape[1]}x{image.shape[0]}, "
                f"meta.json says crop_size {self.crop_size}"
            )
        sample = {
            "image": torch.from_numpy(image).permute(2, 0, 1).contiguous(),
            "landmarks": torch.from_numpy(np.array(self._landmarks[row], dtype=np.float32)),
            "intensities": torch.from_numpy(self._intensities[row].copy()),
            "subject": self._subject_of[row],
            "index": row,
        }
        return self.transform(sample) if self.transform is not None else sample

    def __repr__(self) -> str:
        where = "".join(
            f", {k}={v!r}" for k, v in (("split", self.split), ("fold", self.fold)) if v is not None
        )
        return (
            f"PreparedDataset({self.meta['name']!r}, {len(self)} frames, {len(self.subjects)} subjects, "
            f"AUs {list(self.aus)}{where})"
        )


class Split(NamedTuple):
    """The two sides of a protocol: the frames a run trains on and those it is tested on."""

    train: PreparedDataset
    test: PreparedDataset


def protocol_datasets(data: str | Path, fold: int | None = None, test_split: str = "test") -> Split:
    """The (train, test) pair of a prepared dataset's protocol.

    A ``split`` protocol trains on ``train`` and tests on ``test_split``; a ``folds`` protocol
    needs ``fold`` (k) and tests on fold k's subjects, training on the others.
    """
    probe = PreparedDataset(data)
    if probe.meta["protocol"]["kind"] == "folds":
        if fold is None:
            folds = len(probe.meta["protocol"]["folds"])
            raise ValueError(
                f"{data} has {folds} subject-independent folds: choose one with --fold 0..{folds - 1}"
            )
        return Split(PreparedDataset(data, "train", fold), PreparedDataset(data, "test", fold))
    if fold is not None:
        raise ValueError(f"{data} has a train/test split, not folds: leave --fold out")
    return Split(PreparedDataset(data, "train"), PreparedDataset(data, test_split))
