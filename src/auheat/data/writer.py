"""The writer of prepared datasets (format: :mod:`auheat.data.dataset`): checked, written in full
beside the final folder, then renamed into place."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auheat.atomic import write_atomically
from auheat.aus import NUM_LANDMARKS, get_au
from auheat.data.dataset import (
    BASE_COLUMNS,
    FORMAT_VERSION,
    FRAMES_FILE,
    IMAGES_DIR,
    LANDMARK_SCHEME,
    LANDMARKS_FILE,
    META_FILE,
    check_frames,
    check_image_path,
    check_landmarks,
    frames_to_csv,
    save_image,
    typed_frames,
)
from auheat.data.digest import DIGEST_KEY, compute_digest
from auheat.data.protocols import PROTOCOL_COLUMNS, check_protocol

_USE_WITH = "DatasetWriter is used as a context manager: with DatasetWriter(...) as writer: ..."


def _is_replaceable(root: Path) -> bool:
    """Whether ``overwrite`` may replace ``root``: a prepared dataset or an empty folder, nothing else.

    This keeps a mistyped ``--out`` from deleting an unrelated folder.
    """
    return (
        root.is_dir() and not root.is_symlink() and ((root / META_FILE).is_file() or not any(root.iterdir()))
    )


class DatasetWriter:
    """Build a prepared dataset in a hidden sibling folder and move it into place when complete.

    Use it as a context manager. Inside the block, write images with :meth:`save_image` (or,
    from worker processes, :func:`save_image` on paths under :attr:`staging`) and add their rows
    with :meth:`add_frames`. On a normal exit the table is sorted by (subject, session, frame, id),
    checked, written (landmarks, frames.csv, then meta.json last, each through a temporary name)
    and the folder is renamed to ``root``; an existing dataset at ``root`` is replaced only with
    ``overwrite=True`` and only then. If the block raises, the staging folder is deleted and
    ``root`` is left as it was. A run killed outright leaves only a hidden
    ``.<name>.partial-*`` folder beside ``root``, without meta.json; it may be deleted.

    Args:
        root: the dataset folder to create.
        name: dataset name stored in meta.json, e.g. ``"disfa-like"``.
        aus: the labelled AU numbers, in column order; may be empty (a landmark-only dataset).
        protocol: from :func:`split_protocol` or :func:`folds_protocol`.
        crop_size: side of the square crops, pixels.
        generator: how the data was made (a script and its parameters), stored in meta.json.
            Leave time stamps out of it if the dataset must be reproducible byte for byte.
        overwrite: replace an existing prepared dataset (or empty folder) at ``root``.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        name: str,
        aus: Sequence[int],
        protocol: Mapping[str, Any],
        crop_size: int = 256,
        generator: Mapping[str, Any] | None = None,
        overwrite: bool = False,
    ) -> None:
        self.root = Path(root).absolute()
        aus = tuple(int(n) for n in aus)
        for number in aus:
            get_au(number)
        if len(set(aus)) != len(aus):
            raise ValueError(f"aus lists an AU twice: {aus}")
        check_protocol(protocol)
        if not isinstance(crop_size, int) or crop_size < 1:
            raise ValueError(f"crop_size must be a positive int, got {crop_size!r}")
        self._check_target(overwrite)
        self.overwrite = overwrite
        self.meta: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "name": str(name),
            "aus": list(aus),
            "crop_size": crop_size,
            "landmark_scheme": LANDMARK_SCHEME,
            "protocol": json.loads(json.dumps(protocol)),
            "generator": dict(generator) if generator is not None else None,
        }
        self._rows: list[pd.DataFrame] = []
        self._landmarks: list[np.ndarray] = []
        self._staging: Path | None = None

    def _check_target(self, overwrite: bool) -> None:
        if self.root.exists() or self.root.is_symlink():
            if not overwrite:
                raise FileExistsError(
                    f"{self.root} exists; pass overwrite=True (CLI: --overwrite) to replace it"
                )
            if not _is_replaceable(self.root):
                raise FileExistsError(
                    f"refusing to replace {self.root}: it is neither a prepared dataset (no {META_FILE}) "
                    "nor an empty folder; choose another output folder"
                )

    @property
    def staging(self) -> Path:
        """The folder being built; images go under ``staging / "images"``."""
        if self._staging is None:
            raise RuntimeError(_USE_WITH)
        return self._staging

    def __enter__(self) -> DatasetWriter:
        self.root.parent.mkdir(parents=True, exist_ok=True)
        # A sibling of root, so the final rename stays on one file system and is atomic.
        self._staging = Path(tempfile.mkdtemp(prefix=f".{self.root.name}.partial-", dir=self.root.parent))
        (self._staging / IMAGES_DIR).mkdir()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            if exc_type is None:
                self._commit()
        finally:
            if self._staging is not None and self._staging.exists():
                shutil.rmtree(self._staging)
            self._staging = None

    def save_image(self, relative: str, image: np.ndarray) -> str:
        """Write a [H, W, 3] uint8 RGB crop as ``<root>/<relative>`` (under ``images/``); return it."""
        path = self.staging / check_image_path(relative, "save_image")
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(path, image)
        return relative

    def add_frames(self, rows: pd.DataFrame | Sequence[Mapping[str, Any]], landmarks: np.ndarray) -> None:
        """Add frames: their table rows and landmarks.

        Args:
            rows: one mapping (or DataFrame row) per frame with the columns of the format:
                ``id, subject, session, frame, image``, ``split`` or ``fold``, one ``AUxx`` per AU
                (NaN or None = unlabelled), and optionally more columns.
            landmarks: [n, 68, 2] float, (x, y) crop pixels, one per row.
        """
        frame = rows.reset_index(drop=True) if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
        landmarks = np.asarray(landmarks, dtype=np.float32)
        if landmarks.shape != (len(frame), NUM_LANDMARKS, 2):
            raise ValueError(
                f"landmarks must have shape [{len(frame)}, {NUM_LANDMARKS}, 2] (one per row), "
                f"got {list(landmarks.shape)}"
            )
        if self._staging is None:
            raise RuntimeError(_USE_WITH)
        self._rows.append(frame)
        self._landmarks.append(landmarks)

    def _commit(self) -> None:
        staging = self.staging
        where = f"frames written to {self.root}"
        if self._rows:
            frames = pd.concat(self._rows, ignore_index=True)
            landmarks = np.concatenate(self._landmarks)
        else:
            frames = pd.DataFrame(columns=[*BASE_COLUMNS, PROTOCOL_COLUMNS[self.meta["protocol"]["kind"]]])
            landmarks = np.zeros((0, NUM_LANDMARKS, 2), np.float32)
        frames = typed_frames(frames, self.meta, where)
        # A canonical order, so the files do not depend on the order frames were added in
        # (worker processes finish in any order).
        frames = frames.sort_values(["subject", "session", "frame", "id"], kind="stable")
        order = frames.index.to_numpy()
        frames = frames.reset_index(drop=True)
        landmarks = landmarks[order]
        check_frames(frames, self.meta, where)
        check_landmarks(landmarks, len(frames), where)
        missing = [p for p in frames["image"] if not (staging / p).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{where}: {len(missing)} rows name images never saved, e.g. {missing[0]}"
            )
        self.meta["num_frames"] = len(frames)

        write_atomically(staging / LANDMARKS_FILE, lambda f: np.save(f, landmarks))
        text = frames_to_csv(frames, self.meta)
        write_atomically(staging / FRAMES_FILE, lambda f: f.write(text.encode()))
        self.meta[DIGEST_KEY] = compute_digest(staging, self.meta)  # what runs on it are named by
        # meta.json last: a folder without it is never mistaken for a complete dataset.
        meta_text = json.dumps(self.meta, indent=2) + "\n"
        write_atomically(staging / META_FILE, lambda f: f.write(meta_text.encode()))
        self._move_into_place(staging)

    def _move_into_place(self, staging: Path) -> None:
        if self.root.exists() or self.root.is_symlink():
            # Checked again: the folder may have appeared while the dataset was being built.
            self._check_target(self.overwrite)
            old = self.root.with_name(f".{self.root.name}.old-{uuid.uuid4().hex[:8]}")
            os.rename(self.root, old)
            os.rename(staging, self.root)
            shutil.rmtree(old)
        else:
            os.rename(staging, self.root)
