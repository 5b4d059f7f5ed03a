"""The ``auheat`` command line: one subcommand per task."""

from __future__ import annotations

import argparse
import sys

from auheat import bench
from auheat.aus import ACTION_UNITS, DATASET_AUS
from auheat.synth.presets import PRESETS


def _list_aus(args: argparse.Namespace) -> None:
    numbers = DATASET_AUS[args.dataset] if args.dataset else tuple(ACTION_UNITS)
    for n in numbers:
        au = ACTION_UNITS[n]
        centres = "; ".join(
            "mean(" + ", ".join(map(str, c)) + ")" if len(c) > 1 else str(c[0]) for c in au.centres
        )
        print(f"{au.label}  {au.name:<22} landmarks: {centres}")


def _synth(args: argparse.Namespace) -> None:
    # Imported here so that the other subcommands do not load the renderer.
    from auheat.synth.generate import generate_dataset

    try:
        root = generate_dataset(
            args.preset,
            args.out,
            frames_per_subject=args.frames_per_subject,
            seed=args.seed,
            workers=args.workers,
            overwrite=args.overwrite,
        )
    except (FileExistsError, ValueError) as error:  # a user's mistake: the message, not a traceback
        raise SystemExit(f"auheat synth: {error}") from None
    print(f"wrote {root}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auheat", description="Heatmap regression for AU intensity.")
    sub = parser.add_subparsers(dest="command", required=True)

    aus = sub.add_parser("aus", help="list the AU catalogue and where each AU shows")
    aus.add_argument("--dataset", choices=sorted(DATASET_AUS), help="only this dataset's AUs")
    aus.set_defaults(func=_list_aus)

    syn = sub.add_parser("synth", help="render a synthetic AU dataset (SynthFACS) in the prepared format")
    syn.add_argument("--preset", required=True, choices=list(PRESETS), help="which dataset to imitate")
    syn.add_argument("--out", required=True, help="dataset folder to create")
    syn.add_argument(
        "--frames-per-subject", type=int, default=None, help="frames per subject (default: the preset's)"
    )
    syn.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default 0)")
    syn.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    syn.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    syn.set_defaults(func=_synth)

    b = sub.add_parser("bench", help="run a benchmark and print its measured ratios")
    bench.add_arguments(b)
    b.set_defaults(func=bench.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
