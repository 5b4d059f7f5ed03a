"""The ``auheat`` command line: one subcommand per task."""

from __future__ import annotations

import argparse
import sys

from auheat import bench
from auheat.aus import ACTION_UNITS, DATASET_AUS


def _list_aus(args: argparse.Namespace) -> None:
    numbers = DATASET_AUS[args.dataset] if args.dataset else tuple(ACTION_UNITS)
    for n in numbers:
        au = ACTION_UNITS[n]
        centres = "; ".join(
            "mean(" + ", ".join(map(str, c)) + ")" if len(c) > 1 else str(c[0]) for c in au.centres
        )
        print(f"{au.label}  {au.name:<22} landmarks: {centres}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auheat", description="Heatmap regression for AU intensity.")
    sub = parser.add_subparsers(dest="command", required=True)

    aus = sub.add_parser("aus", help="list the AU catalogue and where each AU shows")
    aus.add_argument("--dataset", choices=sorted(DATASET_AUS), help="only this dataset's AUs")
    aus.set_defaults(func=_list_aus)

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
