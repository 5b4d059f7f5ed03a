"""Preparing one subject of a raw dataset into its shard (:mod:`auheat.data.prepare` runs them all).

Each session's frames are decoded, given landmarks, aligned and written with their labels; the
shard is built in a hidden folder and renamed into place with its completion marker inside.
Also here: the options of a preparation (:class:`PrepareOptions`) and its errors.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auheat.atomic import write_atomically
from auheat.data.align import CROP_SIZE, align_face
from auheat.data.dataset import au_column, save_image
from auheat.data.layouts import Layout, Session, Subject
from auheat.data.raw import (
    DamagedImageError,
    RawDataError,
    iter_video,
    list_frame_images,
    read_image,
    read_intensity_file,
    read_landmark_file,
)

DONE = "done.json"
SUBJECT_REPORT = "subject.json"
SHARD_FRAMES = "frames.csv"
SHARD_LANDMARKS = "landmarks.npy"
LANDMARK_SUFFIXES = (".npy", ".csv")
_POLICIES = ("error", "unlabelled")


class PreparationError(RuntimeError):
    """Some subjects could not be prepared; the message lists each with its error."""


class PreparationInterrupted(PreparationError):
    """Ctrl-C: the message says how many subjects are done and how to resume."""


@dataclass(frozen=True)
class PrepareOptions:
    """How frames are turned into crops; a shard made with other options is rebuilt.

    Attributes:
        crop_size: side of the aligned crops, pixels (the paper's 256).
        landmarks: a folder of landmark files ``<subject>/<session>.npy`` or ``.csv`` (format in
            :mod:`auheat.data.raw`), which skips face detection; None runs face_alignment.
        device: where face_alignment runs (``cpu``, ``cuda``).
        frame_step: keep every n-th frame of each session (1 keeps all; labels are still checked
            against every frame).
        on_mismatch: ``error`` or ``unlabelled`` (module docstring).
        missing_labels: ``error`` or ``unlabelled`` (module docstring).
        on_damaged: ``drop`` (the frame) or ``error`` (the subject fails) for a damaged image.
    """

    crop_size: int = CROP_SIZE
    landmarks: str | None = None
    device: str = "cpu"
    frame_step: int = 1
    on_mismatch: str = "error"
    missing_labels: str = "error"
    on_damaged: str = "drop"

    def __post_init__(self) -> None:
        for name in ("on_mismatch", "missing_labels"):
            if getattr(self, name) not in _POLICIES:
                raise ValueError(f"{name} must be one of {_POLICIES}, got {getattr(self, name)!r}")
        if self.on_damaged not in ("drop", "error"):
            raise ValueError(f"on_damaged must be 'drop' or 'error', got {self.on_damaged!r}")
        if self.frame_step < 1 or self.crop_size < 1:
            raise ValueError("frame_step and crop_size must be positive")
        if self.landmarks is not None and not Path(self.landmarks).is_dir():
            raise FileNotFoundError(f"{self.landmarks}: landmarks folder not found")

    def marker(self, layout: Layout, subject: Subject) -> dict[str, Any]:
        """What a shard's completion marker records: a shard is reused only if this is equal."""
        return {
            "dataset": layout.name,
            "aus": list(layout.aus),
            "unknown": layout.unknown,
            "options": asdict(self),
            "inputs": _inputs(subject, self),
        }


def _stamp(path: Path) -> list | str:
    """What a rerun compares for one input: size and modification time (a frame folder: its images'
    count, total size and latest time), or ``missing``. Reading every byte of a dataset of a
    million frames to hash it would cost more than the preparation; an edit changes the time."""
    if path.is_file():
        stat = path.stat()
        return [stat.st_size, stat.st_mtime_ns]
    if path.is_dir():
        stats = [p.stat() for p in path.rglob("*") if p.is_file()]
        return [len(stats), sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=0)]
    return "missing"


def _inputs(subject: Subject, options: PrepareOptions) -> dict[str, Any]:
    """Every input file of a subject, by session: its source, its label files, its landmarks."""
    sessions = {}
    for session in subject.sessions:
        files = {"source": str(session.source), **{f"AU{au}": str(p) for au, p in session.labels.items()}}
        if options.landmarks is not None:
            try:
                files["landmarks"] = str(_landmark_file(options, subject.name, session.name))
            except RawDataError:
                files["landmarks"] = "missing"
        sessions[session.name] = {
            "files": {key: [path, _stamp(Path(path))] for key, path in files.items()},
            "extra": dict(session.extra),
        }
    return sessions


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """Why a shard's marker differs from the current one, in a few words."""
    if old.get("options") != new["options"] or old.get("aus") != new["aus"]:
        return "the options changed"
    old_sessions, new_sessions = old.get("inputs", {}), new["inputs"]
    if set(old_sessions) != set(new_sessions):
        return f"its sessions changed ({sorted(old_sessions)} -> {sorted(new_sessions)})"
    changed = [
        path
        for name, session in new_sessions.items()
        for key, (path, stamp) in session["files"].items()
        if old_sessions[name]["files"].get(key) != [path, stamp]
    ]
    return f"its inputs changed ({', '.join(changed[:3])}{' ...' if len(changed) > 3 else ''})"


# --- one subject ------------------------------------------------------------------------------


_detector: Any = None  # face_alignment's landmarker, built once per process on first use


def _detect(options: PrepareOptions, image: np.ndarray) -> np.ndarray | None:
    """face_alignment's landmarks [68, 2] of the largest face, or None when it finds none."""
    global _detector
    if _detector is None:
        from auheat.landmarkers import FaceAlignmentLandmarker  # loads face_alignment only when needed

        _detector = FaceAlignmentLandmarker(options.device)
    faces = _detector.find(image)
    return faces[0].landmarks if faces else None


def _frames(
    session: Session, options: PrepareOptions
) -> tuple[Iterator[tuple[int, np.ndarray | None, str | None]], list[int] | None]:
    """The session's (frame number, RGB image or None, why it is None) in order, and its frame
    numbers if known in advance. A damaged image is None, or an error with ``on_damaged="error"``."""
    if session.source.is_dir():
        images = list_frame_images(session.source)
        return (_checked_image(n, p, options) for n, p in images), [n for n, _ in images]
    return ((n, image, None) for n, image in iter_video(session.source)), None


def _checked_image(
    number: int, path: Path, options: PrepareOptions
) -> tuple[int, np.ndarray | None, str | None]:
    try:
        return number, read_image(path), None
    except DamagedImageError as error:
        if options.on_damaged == "error":
            raise RawDataError(
                f"{error} (on_damaged='drop', --on-damaged drop, leaves the frame out)"
            ) from None
        return number, None, str(error)


def _landmark_file(options: PrepareOptions, subject: str, session: str) -> Path:
    """``<subject>/<session>.npy`` or ``.csv``; or a folder of per-frame ``.mat`` files:
    ``<subject>/<session>/``, or ``<subject>/`` itself (DISFA's ``Landmark_Points/SN001``)."""
    folder = Path(options.landmarks) / subject  # type: ignore[arg-type]
    for suffix in LANDMARK_SUFFIXES:
        if (folder / f"{session}{suffix}").is_file():
            return folder / f"{session}{suffix}"
    for candidate in (folder / session, folder):
        if candidate.is_dir() and next(candidate.rglob("*.mat"), None) is not None:
            return candidate
    raise RawDataError(
        f"{folder / session}.npy (or .csv, or a folder of .mat files): landmark file not found"
    )


def _labels(
    session: Session, numbers: list[int], unknown: float | None, options: PrepareOptions, report: dict
) -> dict[str, np.ndarray]:
    """Each AU column's intensities at ``numbers`` (NaN = unlabelled), after checking the frames agree."""
    columns = {}
    present = set(numbers)
    for au, path in session.labels.items():
        if not path.is_file() and options.missing_labels == "unlabelled":
            report["missing_label_files"].append(str(path))
            columns[au_column(au)] = np.full(len(numbers), np.nan)
            continue
        labels, lines = read_intensity_file(path, unknown)
        beyond = [n for n in labels.index if n not in present]
        unlabelled = [n for n in numbers if n not in lines]
        if options.on_mismatch == "error" and beyond:
            raise RawDataError(
                _ended_early(session, numbers, beyond, f"{path}, line {lines[beyond[0]]}")
                or f"{path}, line {lines[beyond[0]]}: frame {beyond[0]} is not a frame of {session.source} "
                f"({len(numbers)} frames, {numbers[0]}..{numbers[-1]}); {len(beyond)} such labels "
                "(on_mismatch='unlabelled', --on-mismatch unlabelled, drops them)"
            )
        if options.on_mismatch == "error" and unlabelled:
            raise RawDataError(
                f"{path}: {len(unlabelled)} of the {len(numbers)} frames of {session.source} have no label "
                f"(the first is frame {unlabelled[0]}; the file labels {len(labels)} frames) "
                "(on_mismatch='unlabelled', --on-mismatch unlabelled, leaves them unlabelled)"
            )
        report["labels_dropped"] += len(beyond)
        columns[au_column(au)] = labels.reindex(numbers).to_numpy(np.float64)
    return columns


def _ended_early(session: Session, decoded: list[int], described: list[int], by: str) -> str | None:
    """The message for a video that stops before the frames a landmark or label file describes."""
    if session.source.is_dir() or not decoded or min(described) <= decoded[-1]:
        return None
    return (
        f"{session.source}: the video ends at frame {decoded[-1]}, but {by} describes frame "
        f"{min(described)}{f' (and frames up to {max(described)})' if len(described) > 1 else ''}: a "
        "truncated or re-encoded video, or a file of another video? on_mismatch='unlabelled' "
        "(--on-mismatch unlabelled) keeps the frames the video has"
    )


def _prepare_session(
    subject: str, session: Session, unknown: float | None, options: PrepareOptions, shard: Path, report: dict
) -> tuple[pd.DataFrame, np.ndarray]:
    """Crops into ``shard``; returns the session's rows and landmarks [n, 68, 2] crop pixels."""
    frames, known = _frames(session, options)
    source = None
    given: dict[int, np.ndarray | None] = {}
    if options.landmarks is not None:
        source = _landmark_file(options, subject, session.name)
        given = read_landmark_file(source, known)
    decoded, rows, points = [], [], []
    for position, (number, image, damage) in enumerate(frames):
        decoded.append(number)
        if position % options.frame_step:
            continue
        if image is None:
            report["damaged"].append(f"{session.name}/{number}: {damage}")
            continue
        if source is not None:
            landmarks = given.get(number)
        else:
            landmarks = _detect(options, image)
        where = f"{session.name}/{number}"
        if landmarks is None:
            report["no_face"].append(where)
            continue
        try:
            crop, crop_points = align_face(image, landmarks, options.crop_size)
        except ValueError as error:  # anchors collinear or not finite: a failed fit
            report["failed_fit"].append(f"{where}: {error}")
            continue
        relative = f"images/{subject}/{session.name}/{number:06d}.jpg"
        (shard / relative).parent.mkdir(parents=True, exist_ok=True)
        save_image(shard / relative, crop)
        rows.append(
            {
                "id": f"{subject}/{session.name}/{number:06d}",
                "subject": subject,
                "session": session.name,
                "frame": number,
                "image": relative,
                **session.extra,
            }
        )
        points.append(crop_points)
    report["frames_decoded"] += len(decoded)
    if source is not None:
        stray = sorted(set(given) - set(decoded))
        if stray and options.on_mismatch == "error":
            raise RawDataError(
                _ended_early(session, decoded, stray, str(source))
                or f"{source}: describes frame {stray[0]}, which {session.source} does not have "
                f"({len(decoded)} frames); {len(stray)} such frames (on_mismatch='unlabelled', "
                "--on-mismatch unlabelled, drops them)"
            )
        report["landmarks_dropped"] += len(stray)
    table = pd.DataFrame(rows, columns=["id", "subject", "session", "frame", "image", *session.extra])
    position_of = {n: i for i, n in enumerate(decoded)}
    kept = np.array([position_of[n] for n in table["frame"]], dtype=int)
    for column, values in _labels(session, decoded, unknown, options, report).items():
        table[column] = values[kept]
    return table, np.asarray(points, np.float32).reshape(-1, 68, 2)


def _shard_is_done(shard: Path, marker: Mapping[str, Any]) -> bool:
    """Whether ``shard`` is complete and made with the same options (never a half-written one)."""
    try:
        return json.loads((shard / DONE).read_text()) == json.loads(json.dumps(marker))
    except (OSError, json.JSONDecodeError):
        return False


def prepare_subject(subject: Subject, layout: Layout, options: PrepareOptions, work: Path) -> dict[str, Any]:
    """Prepare one subject into its shard ``work / subject.name`` (module docstring); return its report.

    A shard already done with the same options is kept and its report returned.
    """
    shard = work / subject.name
    marker = options.marker(layout, subject)
    if _shard_is_done(shard, marker):
        # The stored report is the one of the run that made the shard; this run rebuilt nothing.
        return json.loads((shard / SUBJECT_REPORT).read_text()) | {"rebuilt": None}
    rebuilt = None
    if (shard / DONE).is_file():
        try:
            rebuilt = _changes(json.loads((shard / DONE).read_text()), json.loads(json.dumps(marker)))
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
            rebuilt = "its marker is unreadable"
    report: dict[str, Any] = {
        "sessions": [s.name for s in subject.sessions],
        "frames_decoded": 0,
        "frames_kept": 0,
        "no_face": [],
        "failed_fit": [],
        "damaged": [],
        "labels_dropped": 0,
        "landmarks_dropped": 0,
        "missing_label_files": [],
        "rebuilt": rebuilt,
    }
    work.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{subject.name}.partial-", dir=work))
    try:
        tables, points = [], []
        for session in subject.sessions:
            table, landmarks = _prepare_session(
                subject.name, session, layout.unknown, options, partial, report
            )
            tables.append(table)
            points.append(landmarks)
        table = pd.concat(tables, ignore_index=True)
        report["frames_kept"] = len(table)
        text = table.to_csv(index=False, lineterminator="\n")
        write_atomically(partial / SHARD_FRAMES, lambda f: f.write(text.encode()))
        write_atomically(partial / SHARD_LANDMARKS, lambda f: np.save(f, np.concatenate(points)))
        for name, content in ((SUBJECT_REPORT, report), (DONE, marker)):
            data = json.dumps(content, indent=2).encode()
            write_atomically(partial / name, lambda f, data=data: f.write(data))
        if shard.exists():  # a shard made with other options
            shutil.rmtree(shard)
        os.rename(partial, shard)
    finally:
        if partial.exists():
            shutil.rmtree(partial)
    return report
