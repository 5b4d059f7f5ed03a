"""Raw files written in a real dataset's layout: the tests' fixture trees and the book's stand-in.

The preparation code cannot be run on BP4D or DISFA without their licences, so the tests and
Chapter 10 write small trees in the exact formats (MJPG ``.avi`` videos written by OpenCV,
``frame,intensity`` label files, landmark ``.npy`` files) and run the real code path on them.
:func:`render_disfa_standin` fills DISFA's layout with SynthFACS faces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from auheat.aus import dataset_aus
from auheat.data.layouts import DISFA_LABEL, DISFA_VIDEO
from auheat.data.protocols import DISFA_FOLDS
from auheat.synth import SYNTH_AUS, Pose, render_face, sample_capture, sample_identity

# Two subjects of each JAA-Net fold, so the stand-in keeps DISFA's three folds.
STANDIN_SUBJECTS = tuple(name for fold in DISFA_FOLDS for name in fold[:2])


def write_video(path: str | Path, frames: np.ndarray, fps: float = 25.0) -> Path:
    """Write [F, H, W, 3] uint8 RGB frames as an MJPG ``.avi`` video with OpenCV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = np.asarray(frames)
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot write an MJPG video here")
    for frame in frames:
        writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def write_intensity_file(path: str | Path, intensities: Sequence[float], first_frame: int = 1) -> Path:
    """Write ``frame,intensity`` lines, frames numbered from ``first_frame`` (DISFA: 1)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{first_frame + i},{value:g}" for i, value in enumerate(intensities)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_disfa_tree(
    root: str | Path,
    videos: Mapping[str, np.ndarray],
    labels: Mapping[str, Mapping[int, Sequence[float]]],
    landmarks: Mapping[str, np.ndarray] | None = None,
    session: str = "left",
) -> dict[str, Path]:
    """Write a raw tree in DISFA's layout (``data_scripts/prepare_disfa.py``).

    Args:
        videos: subject -> frames [F, H, W, 3] uint8 RGB.
        labels: subject -> AU number -> F intensities.
        landmarks: subject -> [F, 68, 2] image pixels, written as ``<subject>/<session>.npy``.

    Returns:
        The folders: ``videos`` (``Videos_LeftCamera``), ``labels`` (``ActionUnit_Labels``) and
        ``landmarks`` (when given).
    """
    root = Path(root)
    folders = {"videos": root / "Videos_LeftCamera", "labels": root / "ActionUnit_Labels"}
    for subject, frames in videos.items():
        write_video(folders["videos"] / DISFA_VIDEO.format(subject=subject), frames)
        for au, values in labels[subject].items():
            write_intensity_file(folders["labels"] / DISFA_LABEL.format(subject=subject, au=au), values)
    if landmarks is not None:
        folders["landmarks"] = root / "landmarks"
        for subject, points in landmarks.items():
            (folders["landmarks"] / subject).mkdir(parents=True, exist_ok=True)
            np.save(folders["landmarks"] / subject / f"{session}.npy", np.asarray(points, np.float32))
    return folders


def render_disfa_standin(
    root: str | Path,
    subjects: Sequence[str] = STANDIN_SUBJECTS,
    frames: int = 8,
    size: int = 128,
    seed: int = 0,
) -> dict[str, Path]:
    """A DISFA-layout tree of SynthFACS faces: one video, 12 label files and landmarks per subject.

    Each frame shows its subject with random DISFA AUs (each present with probability 0.3, at an
    integer intensity 1..5), a small random head pose and a random capture; the labels are those
    intensities and the landmarks the renderer's, in video pixels (the ``size`` square frame).
    Returns :func:`write_disfa_tree`'s folders.
    """
    aus = dataset_aus("disfa")
    if not set(aus) <= set(SYNTH_AUS):
        raise ValueError(f"SynthFACS draws AUs {SYNTH_AUS}, not all of DISFA's {aus}")
    rng = np.random.default_rng(seed)
    videos, labels, landmarks = {}, {}, {}
    for subject in subjects:
        identity = sample_identity(rng)
        levels = rng.integers(1, 6, (frames, len(aus))) * (rng.random((frames, len(aus))) < 0.3)
        images, points = [], []
        for row in levels:
            pose = Pose(*rng.uniform(-10, 10, 3))  # yaw, pitch, roll, degrees
            capture = sample_capture(rng, occluders=False, strength=0.5)
            image, face = render_face(
                identity, dict(zip(aus, row.tolist(), strict=True)), pose, capture, size=size
            )
            images.append(image)
            points.append(face)
        videos[subject] = np.stack(images)
        labels[subject] = {au: levels[:, k].tolist() for k, au in enumerate(aus)}
        landmarks[subject] = np.stack(points)
    return write_disfa_tree(root, videos, labels, landmarks)
