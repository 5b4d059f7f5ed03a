"""Where the files of each raw dataset sit: discovery of subjects, sessions, videos and label files.

A layout function walks a dataset as its owners distribute it and returns a :class:`Layout`:
the subjects, each with its sessions (a video or a folder of frames, plus one label file per AU)
and the protocol. It reads no video and no label; :mod:`auheat.data.prepare` does.

File names are **templates** with ``{field}`` placeholders, so that a release whose names differ
from the defaults needs an option, not a code change. Fields: ``subject``, ``task``, ``view``
(matched as one name without ``/`` or ``_``), and ``au`` (the AU number, with a format spec such
as ``{au:02d}``) in label templates. A label template with a ``/`` is a path under the labels
folder; one without is a file name looked up anywhere under it (so ``AU06/F001_T1_AU06.csv``
and a flat folder both work). A label file that is not found keeps its expected path
(``<labels>/**/<name>`` for a name looked up anywhere), and preparation reports it by that name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auheat.aus import dataset_aus
from auheat.data.protocols import disfa_protocol, partition_protocol
from auheat.data.raw import IMAGE_SUFFIXES

DISFA_VIDEO = "LeftVideo{subject}_comp.avi"
DISFA_LABEL = "{subject}/{subject}_au{au}.txt"
BP4D_LABEL = "{subject}_{task}_AU{au:02d}.csv"
BP4D_SUBJECT = r"[FM]\d{3}"
FERA2017_VIDEO = "{subject}_{task}_{view}.mp4"
FERA2017_LABEL = "{subject}_{task}_AU{au:02d}.csv"
# The code BP4D and FERA2017 label files use for an uncoded frame; DISFA has none.
UNKNOWN_CODE = 9


@dataclass(frozen=True)
class Session:
    """One recording of a subject.

    ``source`` is a video file or a folder of frame images; ``labels`` maps each AU number to its
    intensity file (its expected path when absent); ``extra`` holds more frames.csv columns.
    """

    name: str
    source: Path
    labels: Mapping[int, Path]
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Subject:
    """A subject and its sessions."""

    name: str
    sessions: tuple[Session, ...]


@dataclass
class Layout:
    """A discovered raw dataset: what to prepare, and what was passed over and why."""

    name: str
    aus: tuple[int, ...]
    subjects: list[Subject]
    protocol: dict[str, Any]
    unknown: float | None
    skipped: dict[str, str]  # a subject or session ("F001/T3") -> why it is not prepared


def template_regex(template: str) -> re.Pattern[str]:
    """A regular expression matching file names made from ``template``, with its fields as groups."""
    parts = re.split(r"\{(\w+)\}", template)
    pattern = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/_]+)" for i, part in enumerate(parts)
    )
    return re.compile(pattern + r"\Z")


class LabelFiles:
    """Finds label files under one folder by a template (module docstring)."""

    def __init__(self, root: str | Path, template: str) -> None:
        self.root, self.template = Path(root), template
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: labels folder not found")
        self._by_name: dict[str, list[Path]] | None = None

    def find(self, **fields: Any) -> Path:
        relative = self.template.format(**fields)
        if "/" in relative:
            return self.root / relative
        if self._by_name is None:  # one walk of the folder for all look-ups
            self._by_name = {}
            for path in sorted(self.root.rglob("*")):
                if path.is_file():
                    self._by_name.setdefault(path.name, []).append(path)
        found = self._by_name.get(relative, [])
        if len(found) > 1:
            raise ValueError(f"{relative} is found twice under {self.root}: {found[0]} and {found[1]}")
        # Not found: named as searched, anywhere under the folder, so that the error does not point
        # at one folder of a tree that keeps its files in others (BP4D's AU06/, AU14/, ...).
        return found[0] if found else self.root / "**" / relative


def disfa_layout(
    videos: str | Path,
    labels: str | Path,
    video_template: str = DISFA_VIDEO,
    label_template: str = DISFA_LABEL,
    session: str = "left",
    protocol: Mapping[str, Any] | None = None,
) -> Layout:
    """DISFA: one video per subject, one label file per AU (``data_scripts/prepare_disfa.py``).

    Args:
        videos: the folder of the (left camera) videos, named by ``video_template``.
        labels: ``ActionUnit_Labels``, with files named by ``label_template``.
        session: the session name of each subject's video in frames.csv.
        protocol: replaces the JAA-Net 3 folds (:data:`auheat.data.protocols.DISFA_FOLDS`).
    """
    videos = Path(videos)
    if not videos.is_dir():
        raise FileNotFoundError(f"{videos}: videos folder not found")
    pattern = template_regex(video_template)
    files = LabelFiles(labels, label_template)
    aus = dataset_aus("disfa")
    subjects = []
    for path in sorted(videos.iterdir()):
        match = pattern.match(path.name)
        if match is None:
            continue
        name = match["subject"]
        found = {au: files.find(subject=name, au=au) for au in aus}
        subjects.append(Subject(name, (Session(session, path, found),)))
    if not subjects:
        raise FileNotFoundError(f"{videos}: no video named like {video_template!r}")
    with_video = {s.name for s in subjects}
    skipped = {
        p.name: f"a labels folder ({p}) but no video {video_template.format(subject=p.name)}"
        for p in sorted(Path(labels).iterdir())
        if p.is_dir() and p.name not in with_video
    }
    return Layout("disfa", aus, subjects, dict(protocol or disfa_protocol()), None, skipped)


def _partition_folders(partitions: Mapping[str, str | Path]) -> dict[str, Path]:
    if not partitions:
        raise ValueError("give at least one partition, e.g. train=/data/train test=/data/devel")
    folders = {name: Path(root) for name, root in partitions.items()}
    for name, root in folders.items():
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: folder of partition {name!r} not found")
    return folders


def bp4d_layout(
    partitions: Mapping[str, str | Path],
    labels: Mapping[str, str | Path] | None = None,
    label_template: str = BP4D_LABEL,
    subject_pattern: str = BP4D_SUBJECT,
    protocol: Mapping[str, Any] | None = None,
    unknown: float | None = UNKNOWN_CODE,
) -> Layout:
    """BP4D as the FERA2015 release ships it: frames ``<partition>/F001/T1/*.jpg`` (prepare_bp4d.py).

    Args:
        partitions: protocol part -> its folder of subject folders, e.g. ``{"train": ...,
            "test": ...}`` (FERA2015's training and development folders).
        labels: part -> the folder its label files are found under; default the part's folder.
        subject_pattern: a regular expression that names subject folders (other folders, such
            as one holding labels, are not subjects).
        protocol: replaces the partition protocol (each part's subjects).
        unknown: the intensity code of an uncoded frame.

    A subject folder without any frame folder, or a task folder without images, is skipped and
    listed in the report.
    """
    folders = _partition_folders(partitions)
    is_subject = re.compile(subject_pattern + r"\Z")
    aus = dataset_aus("bp4d")
    subjects, skipped, parts = [], {}, {}
    for part, root in folders.items():
        files = LabelFiles((labels or {}).get(part, root), label_template)
        parts[part] = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and is_subject.match(p.name)):
            sessions = []
            for task in sorted(p for p in folder.iterdir() if p.is_dir()):
                if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in task.iterdir()):
                    skipped[f"{folder.name}/{task.name}"] = f"{task}: no image ({', '.join(IMAGE_SUFFIXES)})"
                    continue
                found = {au: files.find(subject=folder.name, task=task.name, au=au) for au in aus}
                sessions.append(Session(task.name, task, found))
            if not sessions:
                skipped.setdefault(folder.name, f"{folder}: no task folder with frames")
                continue
            subjects.append(Subject(folder.name, tuple(sessions)))
            parts[part].append(folder.name)
    return Layout("bp4d", aus, subjects, _protocol(protocol, parts), unknown, skipped)


def fera2017_layout(
    partitions: Mapping[str, str | Path],
    labels: Mapping[str, str | Path] | None = None,
    video_template: str = FERA2017_VIDEO,
    label_template: str = FERA2017_LABEL,
    protocol: Mapping[str, Any] | None = None,
    unknown: float | None = UNKNOWN_CODE,
) -> Layout:
    """FERA2017: one video per subject, task and view, found anywhere under each partition folder.

    ``video_template`` is matched against each file's path relative to its partition folder
    (``{view}/{subject}_{task}.mp4`` works too) and must hold ``{subject}``, ``{task}`` and
    ``{view}``. All views of a task share its label files. A session is ``<task>-view<view>``,
    and the view is kept as a ``view`` column of frames.csv. Other arguments as :func:`bp4d_layout`.
    """
    folders = _partition_folders(partitions)
    pattern = template_regex(video_template)
    missing = {"subject", "task", "view"} - set(pattern.groupindex)
    if missing:
        raise ValueError(f"video template {video_template!r} lacks {sorted(missing)}")
    aus = dataset_aus("fera2017")
    subjects, parts = [], {}
    for part, root in folders.items():
        files = LabelFiles((labels or {}).get(part, root), label_template)
        sessions: dict[str, list[Session]] = {}
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            match = pattern.match(path.relative_to(root).as_posix())
            if match is None:
                continue
            found = {au: files.find(subject=match["subject"], task=match["task"], au=au) for au in aus}
            name = f"{match['task']}-view{match['view']}"
            sessions.setdefault(match["subject"], []).append(
                Session(name, path, found, {"view": match["view"]})
            )
        if not sessions:
            raise FileNotFoundError(f"{root}: no video named like {video_template!r}")
        subjects += [Subject(name, tuple(found)) for name, found in sorted(sessions.items())]
        parts[part] = sorted(sessions)
    return Layout("fera2017", aus, subjects, _protocol(protocol, parts), unknown, {})


def _protocol(protocol: Mapping[str, Any] | None, parts: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    if protocol is not None:
        return dict(protocol)
    empty = [name for name, members in parts.items() if not members]
    if empty:
        raise FileNotFoundError(f"partition(s) {empty} hold no subject with frames")
    return partition_protocol(parts)
