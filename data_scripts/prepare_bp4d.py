"""Prepare BP4D (FERA2015 release) for auheat: frames and AU intensity labels -> a prepared dataset.

Obtain BP4D-Spontaneous and the FERA2015 intensity labels from their owners (Binghamton
University, a licence agreement). The FERA2015 release ships its training and development
partitions as separate folders; give each as ``--partition NAME=FOLDER``. Each folder holds::

    <folder>/F001/T1/0001.jpg ...     one folder of frames per subject and task; a frame's number is
    <folder>/F001/T2/...                the last digits of its file name (so 2440.jpg is frame 2440)
    <folder>/M001/T1/...              subject folders match --subject-pattern (default [FM]\\d{3})
    <labels>/.../F001_T1_AU06.csv     one file per subject, task and AU (--label-template), found
                                        anywhere under <labels> (default: the partition folder;
                                        --labels NAME=FOLDER); lines "frame,intensity", 0..5,
                                        9 = unknown (--unknown-code); AUs 6, 10, 12, 14, 17

The protocol is the partition: train on ``train``, test on ``test`` (FERA2015's development
subjects), as ``auheat train`` expects; ``--protocol split.json`` replaces it. A subject folder
without frames, or a task folder without images, is skipped and listed in the report.

Landmarks: face_alignment by default; ``--landmarks DIR`` reads ``DIR/F001/T1.npy`` (float
[frames, 68, 2], image pixels, rows in frame-number order, NaN rows where there is no face) or
``DIR/F001/T1.csv`` (columns ``frame, x0, y0, ..., x67, y67``).

    python data_scripts/prepare_bp4d.py --partition train=FERA2015/BP4D/train \\
        --partition test=FERA2015/BP4D/devel --out data/bp4d --workers 4 --device cuda
"""

from __future__ import annotations

import argparse

from auheat.data.layouts import BP4D_LABEL, BP4D_SUBJECT, UNKNOWN_CODE, bp4d_layout
from auheat.data.scripts import (
    add_common_arguments,
    add_partition_arguments,
    named_folders,
    protocol_argument,
    run,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_partition_arguments(parser, "subject folders")
    parser.add_argument("--label-template", default=BP4D_LABEL, help=f"default {BP4D_LABEL!r}")
    parser.add_argument("--subject-pattern", default=BP4D_SUBJECT, help=f"default {BP4D_SUBJECT!r}")
    parser.add_argument("--unknown-code", type=float, default=UNKNOWN_CODE, help="default 9")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    run(
        args,
        lambda: bp4d_layout(
            named_folders(args.partition),
            named_folders(args.labels),
            args.label_template,
            args.subject_pattern,
            protocol_argument(args),
            args.unknown_code,
        ),
        "prepare_bp4d.py",
    )


if __name__ == "__main__":
    main()
