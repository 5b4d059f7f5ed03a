"""Prepare FERA2017 for auheat: multi-view videos and AU intensity labels -> a prepared dataset.

Obtain FERA2017 from its owners (the FERA2017 challenge organisers, a licence agreement). Its
training and validation partitions come as separate folders; give each as
``--partition NAME=FOLDER`` (``train=`` and ``test=``: the validation partition is what
``auheat train`` tests on). Each folder holds::

    <folder>/.../F001_T1_1.mp4       one video per subject, task and view, anywhere under the folder,
                                       named by --video-template (default "{subject}_{task}_{view}.mp4",
                                       matched against the path relative to <folder>, so
                                       "{view}/{subject}_{task}.mp4" works too)
    <labels>/.../F001_T1_AU01.csv    one file per subject, task and AU, shared by the task's views
                                       (--label-template), found anywhere under <labels> (default:
                                       the partition folder; --labels NAME=FOLDER); lines
                                       "frame,intensity", frames from 1, 0..5, 9 = unknown;
                                       AUs 1, 4, 6, 10, 12, 14, 17

The release's exact file names could not be checked when this script was written: compare them
with the two templates above and pass your own if they differ. Each video is session
``<task>-view<view>``; the view is kept as a ``view`` column of frames.csv.

Landmarks: face_alignment by default; ``--landmarks DIR`` reads ``DIR/F001/T1-view1.npy`` (float
[frames, 68, 2], image pixels, NaN rows where there is no face) or ``.csv`` (columns
``frame, x0, y0, ..., x67, y67``).

    python data_scripts/prepare_fera2017.py --partition train=FERA2017/Train \\
        --partition test=FERA2017/Validation --out data/fera2017 --workers 4 --device cuda
"""

from __future__ import annotations

import argparse

from auheat.data.layouts import FERA2017_LABEL, FERA2017_VIDEO, UNKNOWN_CODE, fera2017_layout
from auheat.data.scripts import (
    add_common_arguments,
    add_partition_arguments,
    named_folders,
    protocol_argument,
    run,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_partition_arguments(parser, "videos")
    parser.add_argument("--video-template", default=FERA2017_VIDEO, help=f"default {FERA2017_VIDEO!r}")
    parser.add_argument("--label-template", default=FERA2017_LABEL, help=f"default {FERA2017_LABEL!r}")
    parser.add_argument("--unknown-code", type=float, default=UNKNOWN_CODE, help="default 9")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    run(
        args,
        lambda: fera2017_layout(
            named_folders(args.partition),
            named_folders(args.labels),
            args.video_template,
            args.label_template,
            protocol_argument(args),
            args.unknown_code,
        ),
        "prepare_fera2017.py",
    )


if __name__ == "__main__":
    main()
