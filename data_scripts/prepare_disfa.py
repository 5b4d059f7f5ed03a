"""Prepare DISFA for auheat: left-camera videos and AU intensity labels -> a prepared dataset.

Obtain DISFA from its owners (https://mohammadmahoor.com/disfa/, a licence agreement). The
script expects the release's layout; every name below is an option::

    <videos>/LeftVideoSN001_comp.avi           one video per subject (--video-template)
    <videos>/LeftVideoSN002_comp.avi
    ...
    <labels>/SN001/SN001_au1.txt               one file per subject and AU (--label-template):
    <labels>/SN001/SN001_au2.txt                 lines "frame,intensity", frames from 1, 0..5
    ...                                          AUs 1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26

``<videos>`` is the release's ``Videos_LeftCamera`` folder and ``<labels>`` its
``ActionUnit_Labels`` folder. Subjects are the videos found; a labels folder without a video is
listed as skipped in the report. Each subject's video is session ``left`` (--session).

Landmarks: by default face_alignment detects the face and fits 68 landmarks (its weights must be
in the torch hub cache). With ``--landmarks DIR`` they come from ``DIR/SN001/left.npy`` (float
[frames, 68, 2], image pixels, NaN rows where there is no face) or ``DIR/SN001/left.csv``
(columns ``frame, x0, y0, ..., x67, y67``) and detection is skipped.

Protocol: the 3 subject-independent folds of JAA-Net (auheat.data.protocols.DISFA_FOLDS);
``--protocol folds.json`` replaces them. Train on fold k with ``auheat train --fold k``.

    python data_scripts/prepare_disfa.py --videos DISFA/Videos_LeftCamera \\
        --labels DISFA/ActionUnit_Labels --out data/disfa --workers 4 --device cuda

A rerun resumes: subjects already written to ``<out>.shards`` are not redone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from auheat.data.layouts import DISFA_LABEL, DISFA_VIDEO, disfa_layout
from auheat.data.scripts import add_common_arguments, protocol_argument, run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", required=True, type=Path, help="the folder of the left-camera videos")
    parser.add_argument("--labels", required=True, type=Path, help="the ActionUnit_Labels folder")
    parser.add_argument("--video-template", default=DISFA_VIDEO, help=f"default {DISFA_VIDEO!r}")
    parser.add_argument("--label-template", default=DISFA_LABEL, help=f"default {DISFA_LABEL!r}")
    parser.add_argument("--session", default="left", help="session name of the videos (default left)")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    run(
        args,
        lambda: disfa_layout(
            args.videos,
            args.labels,
            args.video_template,
            args.label_template,
            args.session,
            protocol_argument(args),
        ),
        "prepare_disfa.py",
    )


if __name__ == "__main__":
    main()
