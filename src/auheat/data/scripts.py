"""The command-line options every ``data_scripts/prepare_*.py`` shares, and how they run.

Each script adds its own layout options (where the videos and labels are), builds a
:class:`~auheat.data.layouts.Layout`, and calls :func:`run`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auheat.data.layouts import Layout
from auheat.data.prepare import PreparationError, PreparationInterrupted, PrepareOptions, prepare_dataset
from auheat.data.protocols import load_protocol
from auheat.data.report import REPORT_JSON, REPORT_MD, frames_lost
from auheat.progress import progress_hidden


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Output, landmarks, robustness and protocol options."""
    parser.add_argument("--out", required=True, type=Path, help="the prepared dataset folder to create")
    parser.add_argument(
        "--landmarks",
        type=Path,
        help="folder of landmark files <subject>/<session>.npy or .csv (image pixels; see "
        "auheat.data.raw); skips face detection. Default: face_alignment's S3FD and 2DFAN4",
    )
    parser.add_argument("--device", default="cpu", help="where face_alignment runs: cpu, cuda (default cpu)")
    parser.add_argument("--crop-size", type=int, default=256, help="side of the aligned crops (default 256)")
    parser.add_argument("--frame-step", type=int, default=1, help="keep every n-th frame (default 1: all)")
    parser.add_argument(
        "--on-mismatch",
        choices=["error", "unlabelled"],
        default="error",
        help="labels whose frames differ from the video's: stop with an error (default), or drop labels "
        "of frames that do not exist and leave unlabelled frames empty",
    )
    parser.add_argument(
        "--missing-labels",
        choices=["error", "unlabelled"],
        default="error",
        help="a missing AU label file: stop with an error (default), or leave that AU unlabelled",
    )
    parser.add_argument(
        "--on-damaged",
        choices=["drop", "error"],
        default="drop",
        help="a damaged frame image (truncated, corrupt): leave the frame out and list it in the report "
        "(default), or fail the subject",
    )
    parser.add_argument(
        "--protocol",
        type=Path,
        help='a JSON protocol replacing the default: {"kind": "folds", "folds": [[subjects], ...]} or '
        '{"kind": "split", "splits": {"train": [...], "test": [...]}}',
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--work", type=Path, help="shard folder for resuming (default <out>.shards)")
    parser.add_argument("--keep-shards", action="store_true", help="keep the shard folder after assembly")
    parser.add_argument("--skip-failed", action="store_true", help="assemble without subjects that failed")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing prepared dataset")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_partition_arguments(parser: argparse.ArgumentParser, holds: str) -> None:
    """``--partition NAME=FOLDER`` (repeated) and ``--labels NAME=FOLDER``, for releases split in folders.

    ``holds`` says what a partition folder holds, for the help text.
    """
    parser.add_argument(
        "--partition",
        action="append",
        required=True,
        metavar="NAME=FOLDER",
        help=f"a protocol part and its folder of {holds}; give train= and test=",
    )
    parser.add_argument(
        "--labels", action="append", default=[], metavar="NAME=FOLDER", help="where a part's label files are"
    )


def named_folders(pairs: list[str]) -> dict[str, Path]:
    """``["train=/data/a", "test=/data/b"]`` -> ``{"train": Path("/data/a"), "test": Path("/data/b")}``."""
    folders = {}
    for pair in pairs:
        name, sep, folder = pair.partition("=")
        if not sep or not name or not folder:
            raise SystemExit(f"{pair!r} must be NAME=FOLDER, e.g. train=/data/train")
        if name in folders:
            raise SystemExit(f"part {name!r} is given twice")
        folders[name] = Path(folder)
    return folders


def protocol_argument(args: argparse.Namespace) -> dict[str, Any] | None:
    """The protocol of ``--protocol``, or None for the layout's default."""
    return load_protocol(args.protocol) if args.protocol is not None else None


def run(args: argparse.Namespace, make_layout: Callable[[], Layout], script: str) -> None:
    """Build the layout, prepare it, print where the dataset and its report are; errors as messages."""
    try:
        layout = make_layout()
        options = PrepareOptions(
            crop_size=args.crop_size,
            landmarks=str(args.landmarks) if args.landmarks is not None else None,
            device=args.device,
            frame_step=args.frame_step,
            on_mismatch=args.on_mismatch,
            missing_labels=args.missing_labels,
            on_damaged=args.on_damaged,
        )
        with progress_hidden() if args.no_progress else contextlib.nullcontext():
            out = prepare_dataset(
                layout,
                args.out,
                options,
                workers=args.workers,
                work=args.work,
                overwrite=args.overwrite,
                skip_failed=args.skip_failed,
                keep_shards=args.keep_shards,
                generator={"script": script, "argv": sys.argv[1:]},
            )
    except PreparationInterrupted as error:
        print(f"{script}: {error}", file=sys.stderr)
        raise SystemExit(130) from None
    except KeyboardInterrupt:  # before any subject started
        print(f"{script}: interrupted before any subject was prepared", file=sys.stderr)
        raise SystemExit(130) from None
    except (PreparationError, ValueError, OSError) as error:  # the user's files: a message, no traceback
        raise SystemExit(f"{script}: {error}") from None
    report = json.loads((out / REPORT_JSON).read_text())
    subjects = report["subjects"].values()
    damaged = [entry for info in subjects for entry in info.get("damaged", [])]
    print(
        f"wrote {out}: {report['frames']} frames of {len(report['frames_per_subject'])} subjects; "
        f"{sum(frames_lost(info) for info in subjects)} frames left out, {len(damaged)} of them damaged "
        f"images; {len(report['failed'])} subjects failed (summary: {out / REPORT_MD})"
    )
    for entry in damaged[:5]:
        print(f"  damaged: {entry}")
    if len(damaged) > 5:
        print(f"  ... and {len(damaged) - 5} more, listed in {out / REPORT_JSON}")
