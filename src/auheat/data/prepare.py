"""Turn a raw AU dataset into a prepared dataset: resumable, in worker processes, with a report.

:func:`prepare_dataset` takes a :class:`~auheat.data.layouts.Layout` and works one subject at a
time. A subject's frames are decoded, given landmarks (from the user's files, or face_alignment's
detector and 2DFAN4), aligned to the crop of :func:`auheat.data.align.align_face`, and written
with their labels to the subject's own **shard** folder::

    <work>/<subject>/images/<subject>/<session>/<frame>.jpg
    <work>/<subject>/frames.csv     the subject's rows (no protocol column yet)
    <work>/<subject>/landmarks.npy  float32 [n, 68, 2], crop pixels
    <work>/<subject>/subject.json   the subject's report (frames decoded, kept, lost and why)
    <work>/<subject>/done.json      the completion marker: the options and the inputs it was made from

A shard is built in a hidden folder and renamed into place with its marker already inside, so it
is whole or absent. The marker records the options and every input file the subject was read
from (its path, size and modification time; for a frame folder, its images' count, total size and
latest time). A rerun skips every subject whose marker matches, and rebuilds, saying why, any
other: a job killed after days loses at most the subjects in progress, and an edited label file,
another ``--labels`` folder or another session name is never mixed with older work. A rerun also
removes the hidden folders a killed run left behind.
When every subject is done the shards are assembled by :class:`~auheat.data.dataset.DatasetWriter`
(atomic too), with ``report.json`` and ``report.md`` (:mod:`auheat.data.report`) inside.

What happens to imperfect inputs (each error names the file and, where it applies, the line):

* a frame without a face (no landmarks in the user's file, or none detected) or whose landmarks
  cannot align it: left out, counted and listed in the report;
* a damaged frame image (truncated, corrupt): left out, counted and listed with its reason in the
  report; ``on_damaged="error"`` fails the subject instead;
* a video that ends before the frames its landmark or label files describe (truncated, re-encoded):
  an error naming the video and the frame where it ended; ``on_mismatch="unlabelled"`` keeps the
  frames it has, and counts the landmarks and labels of the missing ones as dropped;
* a missing label file: an error; ``missing_labels="unlabelled"`` makes that AU unlabelled for
  the session instead, and lists the file in the report;
* labels whose frames differ from the video's or folder's: an error; ``on_mismatch="unlabelled"``
  drops labels of frames that do not exist (counted) and leaves frames without a label unlabelled;
* an unreadable video, a malformed label line, a duplicate frame number, an intensity outside 0..5
  other than the unknown code: an error;
* a subject whose processing fails does not stop the others; the run ends with an error listing
  each failed subject, before assembly, unless ``skip_failed=True`` (then they are left out and
  listed in the report). Fix the files and rerun: finished subjects are not redone.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from auheat import __version__
from auheat.data.layouts import Layout, Subject
from auheat.data.protocols import PROTOCOL_COLUMNS, protocol_subjects, restrict_protocol
from auheat.data.report import summarise, write_report
from auheat.data.subject import (
    SHARD_FRAMES,
    SHARD_LANDMARKS,
    PreparationError,
    PreparationInterrupted,
    PrepareOptions,
    prepare_subject,
)
from auheat.data.writer import DatasetWriter
from auheat.progress import progress_bar


def _init_worker() -> None:
    import signal

    import cv2

    cv2.setNumThreads(1)  # one process per core already; OpenCV's own threads would oversubscribe
    # Ctrl-C reaches every process of the terminal; only the parent answers it (one message, then
    # it terminates the pool), instead of each worker printing its own traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_subject(job: tuple[Subject, Layout, PrepareOptions, Path]) -> tuple[str, dict | None, str | None]:
    """(subject, its report or None, its error or None): a bad subject must not stop the others."""
    subject = job[0]
    try:
        return subject.name, prepare_subject(*job), None
    except (ValueError, OSError) as error:  # a raw file at fault: RawDataError, FileNotFoundError, ...
        return subject.name, None, str(error)


def _check_detector(options: PrepareOptions) -> None:
    """Fail before the work starts, not in every worker, when face_alignment's weights are missing."""
    if options.landmarks is not None:
        return
    from auheat.landmarkers import require_face_alignment_weights

    try:
        require_face_alignment_weights()
    except FileNotFoundError as error:
        raise FileNotFoundError(
            "no landmarks: give a landmarks folder (--landmarks; <subject>/<session>.npy or .csv), "
            f"or make them available: {error}"
        ) from None


def default_work_folder(out: str | Path) -> Path:
    """Where shards go by default: ``<out>.shards`` beside the dataset."""
    out = Path(out).absolute()
    return out.with_name(f"{out.name}.shards")


def prepare_dataset(
    layout: Layout,
    out: str | Path,
    options: PrepareOptions | None = None,
    workers: int = 1,
    work: str | Path | None = None,
    overwrite: bool = False,
    skip_failed: bool = False,
    keep_shards: bool = False,
    generator: Mapping[str, Any] | None = None,
) -> Path:
    """Prepare every subject of ``layout`` and assemble the prepared dataset at ``out``.

    Args:
        options: how frames become crops (:class:`PrepareOptions`).
        workers: worker processes, one subject each at a time; 1 works in this process.
        work: the shard folder (default :func:`default_work_folder`); a rerun with the same one
            resumes. It is deleted after assembly unless ``keep_shards``.
        overwrite: replace an existing prepared dataset at ``out``.
        skip_failed: assemble without the subjects that failed (listed in the report) instead of
            raising :class:`PreparationError`.
        generator: what made the dataset (script, arguments), stored in meta.json.

    Returns:
        ``out``, a prepared dataset with ``report.json`` and ``report.md`` inside.
    """
    options = options or PrepareOptions()
    out = Path(out).absolute()
    work = Path(work) if work is not None else default_work_folder(out)
    if (out.exists() or out.is_symlink()) and not overwrite:  # checked now, not after days of work
        raise FileExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    restrict_protocol(layout.protocol, [s.name for s in layout.subjects])  # every subject has a part
    _check_detector(options)
    _remove_leftovers(work, out)
    jobs = [(subject, layout, options, work) for subject in layout.subjects]
    reports, failed = {}, {}
    bar = progress_bar(total=len(jobs), desc=f"prepare {layout.name}", unit="subject")
    if workers == 1:
        results: Iterator = map(_run_subject, jobs)
        pool = None
    else:
        # Workers start afresh ("spawn"), a second or two each: a forked copy of a parent whose
        # threads held a lock (CUDA, torch's or OpenCV's thread pools: drawing a video overlay
        # before preparing was enough) can hang for ever.
        pool = multiprocessing.get_context("spawn").Pool(min(workers, len(jobs)), initializer=_init_worker)
        results = pool.imap_unordered(_run_subject, jobs)
    try:
        for name, report, error in results:
            if error is None:
                reports[name] = report
                if report.get("rebuilt"):
                    tqdm.write(f"{name}: rebuilt, {report['rebuilt']}", file=sys.stderr)
            else:
                failed[name] = error
            bar.update()
    except KeyboardInterrupt:
        raise PreparationInterrupted(
            f"interrupted: {len(reports)} of {len(jobs)} subjects are done in {work}; run the same command "
            "again to go on (finished subjects are kept, unless their inputs change)"
        ) from None
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
    if failed and not skip_failed:
        listed = "\n".join(f"  {name}: {error}" for name, error in sorted(failed.items()))
        raise PreparationError(
            f"{len(failed)} of {len(jobs)} subjects failed (the others are done in {work} and will not be "
            f"redone; fix the files and run again, or skip them with --skip-failed):\n{listed}"
        )
    _assemble(layout, out, options, work, reports, failed, overwrite, generator)
    if not keep_shards:
        shutil.rmtree(work)
    return out


def _assemble(
    layout: Layout,
    out: Path,
    options: PrepareOptions,
    work: Path,
    reports: Mapping[str, dict],
    failed: Mapping[str, str],
    overwrite: bool,
    generator: Mapping[str, Any] | None,
) -> None:
    """Shards -> one prepared dataset, with the protocol of the subjects prepared and the report."""
    names = sorted(reports)
    listed = "".join(f"\n  {name}: {error}" for name, error in sorted(failed.items()))
    if not names:
        raise PreparationError(f"no subject of {layout.name} could be prepared{listed}")
    try:
        protocol = restrict_protocol(layout.protocol, names)
    except ValueError as error:
        because = f"; left out because they failed:{listed}" if failed else ""
        raise PreparationError(f"{error}{because}") from None
    part_of = protocol_subjects(protocol)
    made_by = {"auheat": __version__, "dataset": layout.name, **asdict(options), **(generator or {})}
    with DatasetWriter(
        out,
        name=layout.name,
        aus=layout.aus,
        protocol=protocol,
        crop_size=options.crop_size,
        generator=made_by,
        overwrite=overwrite,
    ) as writer:
        tables = []
        for name in names:
            shard = work / name
            rows = pd.read_csv(
                shard / SHARD_FRAMES, dtype={"id": str, "subject": str, "session": str, "image": str}
            )
            rows[PROTOCOL_COLUMNS[protocol["kind"]]] = part_of[name]
            for image in rows["image"]:
                _link(shard / image, writer.staging / image)
            writer.add_frames(rows, np.load(shard / SHARD_LANDMARKS))
            tables.append(rows)
        report = summarise(pd.concat(tables, ignore_index=True), layout.aus, reports, layout.skipped, failed)
        write_report(writer.staging, report, f"Preparation of {layout.name}")


def _remove_leftovers(work: Path, out: Path) -> None:
    """Remove the hidden folders of a killed run: half-built shards in ``work``, a half-assembled
    dataset beside ``out``. (Two runs on one shard folder at once are not supported.)"""
    stale = [*work.glob(".*.partial-*"), *out.parent.glob(f".{out.name}.partial-*")]
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _link(source: Path, target: Path) -> None:
    """A hard link (no copy of a large dataset) where the file system allows it, else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
