"""Generate a SynthFACS dataset in the prepared-dataset format, in worker processes.

    auheat synth --preset disfa-like --frames-per-subject 100 --seed 0 --out data/disfa-like

The work is cut into chunks of consecutive frames of one session. Every random draw comes from
a generator seeded by ``SeedSequence(seed, spawn_key=(stream, subject, session, frame))``: a
subject's identity and style, a session's time course and a frame's nuisances depend only on
the seed and on where they sit, never on which process drew them or in what order. The writer
sorts the rows and JPEG is written with fixed settings, so the same seed and parameters give
byte-identical datasets whatever the number of workers.

Presets that imitate AU datasets align each face to the paper's crop, as real data is prepared
(:func:`auheat.data.align.alignment_matrix` from slightly noisy fitted landmarks): the renderer
draws the face directly in that aligned frame (its ``frame`` argument), which is exact and saves
a warp. The landmark preset keeps the renderer's detector-style crop.
"""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import PIL

from auheat import __version__
from auheat.cache import source_digest
from auheat.data.align import alignment_matrix
from auheat.data.dataset import au_column, save_image
from auheat.data.protocols import PROTOCOL_COLUMNS
from auheat.data.writer import DatasetWriter
from auheat.progress import progress_bar
from auheat.synth import SYNTH_AUS, Pose, render_face, sample_capture, sample_identity
from auheat.synth.presets import Preset, get_preset
from auheat.synth.sessions import SESSION_AUS, TimeCourse, sample_subject_style, simulate_session

if SESSION_AUS != SYNTH_AUS:  # sessions are simulated in the renderer's AU order
    raise ImportError(f"sessions' AUs {SESSION_AUS} differ from the renderer's {SYNTH_AUS}")

# Frames per task: large enough that process overhead is small, small enough that two workers
# share the last subjects and the progress bar moves.
CHUNK_FRAMES = 32
# Standard deviation (pixels) of the error added to the three anchor landmarks before aligning:
# real preparation aligns with fitted landmarks, which are never exact, so aligned crops keep
# a little residual jitter. The stored landmarks are the exact ones, mapped into the crop.
ALIGNMENT_NOISE_PX = 1.0
# One random stream per kind of draw, so that e.g. frame 3 of a session never reuses the
# numbers of subject 3's identity.
_IDENTITY, _STYLE, _SESSION, _FRAME = range(4)
# A chunk of frames to render: (subject index, session index, first sample, end sample).
RenderTask = tuple[int, int, int, int]


def renderer_digest() -> str:
    """8 hex digits naming what a dataset's bytes are made by beside its preset, size and seed:
    this module's code and the project's modules it imports (:func:`auheat.cache.source_digest`),
    and the versions of the libraries that draw, resample and encode its pixels. A cached dataset
    is named by it, so a changed renderer makes its datasets anew instead of serving old faces."""
    versions = f"numpy {np.__version__}, Pillow {PIL.__version__}, OpenCV {cv2.__version__}"
    record = f"{source_digest(__name__)}; {versions}"
    return hashlib.sha1(record.encode()).hexdigest()[:8]


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


@dataclasses.dataclass(frozen=True)
class _Job:
    """What every chunk needs to know; sent once to each worker process."""

    preset: Preset
    seed: int
    staging: str
    frames_per_session: tuple[int, ...]


def _tasks(job: _Job) -> list[RenderTask]:
    """(subject index, session index, first sample, end sample) of every chunk, in dataset order."""
    return [
        (i, k, start, min(start + CHUNK_FRAMES, count))
        for i in range(len(job.preset.subjects))
        for k, count in enumerate(job.frames_per_session)
        for start in range(0, count, CHUNK_FRAMES)
    ]


def _session(preset: Preset, seed: int, i: int, k: int, num_frames: int) -> TimeCourse:
    """Session ``k`` of subject ``i``: its time course, labels and pose at its ``num_frames`` frames."""
    style = sample_subject_style(_rng(seed, _STYLE, i), preset.behaviour)
    return simulate_session(_rng(seed, _SESSION, i, k), style, preset.behaviour, num_frames)


def _image_path(subject: str, session: str, frame: int) -> str:
    return f"images/{subject}/{session}/{frame:06d}.jpg"


def _checked(preset: str | Preset, frames_per_subject: int | None, seed: int) -> tuple[Preset, int]:
    """The preset named and the frames per subject to make (its default for None), checked with the seed."""
    preset = get_preset(preset) if isinstance(preset, str) else preset
    frames_per_subject = (
        preset.default_frames_per_subject if frames_per_subject is None else frames_per_subject
    )
    if not isinstance(frames_per_subject, int) or frames_per_subject < 1:
        raise ValueError(f"frames_per_subject must be a positive int, got {frames_per_subject!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return preset, frames_per_subject


def preset_labels(preset: str | Preset, frames_per_subject: int | None = None, seed: int = 0) -> pd.DataFrame:
    """The label table of the dataset that :func:`generate_dataset` makes, without rendering a face.

    Sessions are simulated exactly as the generator simulates them (same seed, same streams), so
    the table equals the generated dataset's frames.csv without its image column. A preset at its
    default size (about 10,000 frames) takes seconds, against minutes to render: use it for
    label statistics.

    Args:
        preset: a preset name or a :class:`Preset`.
        frames_per_subject: as for :func:`generate_dataset`; None: the preset's default.
        seed: as for :func:`generate_dataset`.

    Returns:
        One row per frame, in dataset order (subject, session, frame): columns ``id``,
        ``subject``, ``session``, ``frame`` (int, the frame number in the session's video at
        :data:`auheat.synth.sessions.VIDEO_FPS`), ``split`` or ``fold`` (the preset's protocol),
        then one int64 column per labelled AU (``AU06``, ...) with the coded intensity 0..5.
    """
    preset, frames_per_subject = _checked(preset, frames_per_subject, seed)
    key = PROTOCOL_COLUMNS[preset.protocol["kind"]]
    columns = ["id", "subject", "session", "frame", key, *(au_column(au) for au in preset.aus)]
    labelled = [SESSION_AUS.index(au) for au in preset.aus]
    parts: dict[str, list] = {c: [] for c in columns}  # one array or list per session and column
    for i, subject in enumerate(preset.subjects):
        for k, count in enumerate(preset.frames_per_session(frames_per_subject)):
            if count == 0:  # fewer frames than sessions: the last sessions are left out
                continue
            session, name = _session(preset, seed, i, k, count), preset.sessions[k]
            parts["id"].append([f"{subject}_{name}_{f:06d}" for f in session.frames.tolist()])
            parts["subject"].append([subject] * count)
            parts["session"].append([name] * count)
            parts["frame"].append(session.frames)
            parts[key].append([preset.part_of(subject)] * count)
            for column, c in zip(columns[5:], labelled, strict=True):
                parts[column].append(session.labels[:, c])
    return pd.DataFrame({c: np.concatenate(parts[c]) for c in columns})


def _aligned_frame(error: np.ndarray, size: int) -> Callable[[np.ndarray], np.ndarray]:
    """The frame of an aligned crop, for :func:`render_face`: the alignment that a preparation
    pipeline computes from fitted landmarks (the exact ones plus ``error`` [68, 2] pixels). The
    face is drawn straight into that crop, and its landmarks stay exact there."""
    return lambda projected: alignment_matrix(projected + error, size)


def _render_chunk(job: _Job, task: RenderTask) -> tuple[RenderTask, np.ndarray]:
    """Render one chunk: write its JPEGs into the staging folder; return it with its [n, 68, 2] landmarks."""
    i, k, start, stop = task
    preset, seed = job.preset, job.seed
    subject, session_name = preset.subjects[i], preset.sessions[k]
    # Identity and session are cheap to draw again, so each chunk redraws them instead of
    # workers sharing state.
    identity = sample_identity(_rng(seed, _IDENTITY, i))
    if not preset.facial_hair:
        identity = dataclasses.replace(identity, facial_hair="none")
    session = _session(preset, seed, i, k, job.frames_per_session[k])
    folder = Path(job.staging) / "images" / subject / session_name
    folder.mkdir(parents=True, exist_ok=True)
    size = preset.crop_size
    points = []
    for j in range(start, stop):
        frame = int(session.frames[j])
        rng = _rng(seed, _FRAME, i, k, frame)
        capture = sample_capture(
            rng,
            occluders=preset.occluders,
            strength=preset.capture_strength,
            photo_variety=preset.photo_variety,
        )
        intensities = dict(zip(SESSION_AUS, session.intensities[j].tolist(), strict=True))
        yaw, pitch, roll = session.pose[j].tolist()
        pose = Pose(yaw=yaw, pitch=pitch, roll=roll)
        crop = _aligned_frame(rng.normal(0.0, ALIGNMENT_NOISE_PX, (68, 2)), size) if preset.align else None
        image, landmarks = render_face(identity, intensities, pose, capture, rng=rng, size=size, frame=crop)
        save_image(Path(job.staging) / _image_path(subject, session_name, frame), image)
        points.append(np.asarray(landmarks, dtype=np.float32))
    return task, np.stack(points)


_WORKER_JOB: _Job | None = None


def _init_worker(job: _Job) -> None:
    global _WORKER_JOB
    _WORKER_JOB = job


def _render_in_worker(task: RenderTask) -> tuple[RenderTask, np.ndarray]:
    assert _WORKER_JOB is not None, "worker started without _init_worker"
    return _render_chunk(_WORKER_JOB, task)


@contextmanager
def _rendered_chunks(
    job: _Job, tasks: list[RenderTask], workers: int
) -> Iterator[Iterator[tuple[RenderTask, np.ndarray]]]:
    """Chunks' (task, landmarks) as they finish; leaving the block stops the worker processes."""
    if workers == 1:
        yield (_render_chunk(job, task) for task in tasks)
        return
    with multiprocessing.Pool(workers, initializer=_init_worker, initargs=(job,)) as pool:
        yield pool.imap_unordered(_render_in_worker, tasks)


def _default_workers() -> int:
    """The CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def generate_dataset(
    preset: str | Preset,
    out: str | Path,
    frames_per_subject: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Render a synthetic dataset into ``out`` in the prepared-dataset format.

    Args:
        preset: a preset name (``"bp4d-like"``, ``"disfa-like"``, ``"landmarks"``) or a :class:`Preset`.
        out: the dataset folder to create; it appears only once complete.
        frames_per_subject: frames per subject, spread over the preset's sessions; None: the
            preset's default (about 10,000 images in all).
        seed: non-negative int; the same seed and parameters give a byte-identical dataset.
        workers: worker processes; None: every available core. 1 renders in this process.
        overwrite: replace an existing dataset at ``out``.

    Returns:
        the dataset folder, ready for :class:`auheat.data.dataset.PreparedDataset`.
    """
    preset, frames_per_subject = _checked(preset, frames_per_subject, seed)
    workers = _default_workers() if workers is None else workers
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    generator = {
        "tool": "auheat synth",
        "auheat_version": __version__,
        "preset": preset.name,
        "seed": seed,
        "frames_per_subject": frames_per_subject,
    }
    with DatasetWriter(
        out,
        name=preset.name,
        aus=preset.aus,
        protocol=preset.protocol,
        crop_size=preset.crop_size,
        generator=generator,
        overwrite=overwrite,
    ) as writer:
        job = _Job(preset, seed, str(writer.staging), preset.frames_per_session(frames_per_subject))
        tasks = _tasks(job)
        # The labels come from preset_labels, so label statistics computed there are exactly
        # this dataset's; its rows are in task order, chunk after chunk.
        rows = preset_labels(preset, frames_per_subject, seed)
        rows.insert(
            4, "image", [_image_path(*r) for r in rows[["subject", "session", "frame"]].itertuples(False)]
        )
        sizes = [stop - start for _, _, start, stop in tasks]
        first_row = dict(zip(tasks, np.cumsum([0, *sizes[:-1]]).tolist(), strict=True))
        with (
            _rendered_chunks(job, tasks, min(workers, len(tasks))) as chunks,
            progress_bar(total=len(rows), unit="face", desc=f"synth {preset.name}") as bar,
        ):
            for task, landmarks in chunks:
                start = first_row[task]
                writer.add_frames(rows.iloc[start : start + len(landmarks)], landmarks)
                bar.update(len(landmarks))
    return writer.root
