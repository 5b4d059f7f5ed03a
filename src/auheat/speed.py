"""Benchmarks that print what they measure, as ratios to baselines measured in the same run.

    auheat bench targets            # or: python -m auheat.speed targets
    auheat bench synth --faces 200

``targets`` times :func:`auheat.heatmaps.encode_heatmaps` on a batch, for every target design,
against (a) the per-sample, per-AU NumPy loop that is the usual way to draw targets in a
DataLoader, written below, and (b) the floor: allocating and zero-filling the output tensor.
``synth`` is :func:`bench_synth`: SynthFACS faces rendered per second per core, against a floor
measured in the same run (a canvas, one face polygon and the JPEG round trip every frame makes).
``train`` is :func:`bench_train`: training frames per second of every method, decoding every
frame at every step (the baseline) against the input cache (with NCHW tensors too, where the
trainer's default is NHWC, ``channels_last``) and, where the landmark network is frozen, the
cache of its features.
``predict`` is :func:`bench_predict`: the seconds ``auheat predict`` spends per frame on a real
photo, step by step, as ratios to the AU model's own forward pass.
"""

from __future__ import annotations

import argparse
import inspect
import io
import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw

from auheat.aus import ACTION_UNITS, dataset_aus
from auheat.heatmaps import (
    DESIGNS,
    FAN_SIGMA,
    NEGLIGIBLE_SIGMAS,
    WINDOW_PER_INTENSITY,
    check_design,
    encode_heatmaps,
    fan_size_rule,
)
from auheat.progress import progress_hidden
from auheat.timing import median_time, median_times


def numpy_reference_targets(
    landmarks: np.ndarray,
    intensities: np.ndarray,
    aus: tuple[int, ...],
    size: int = 64,
    design: str = "variable",
    sigma: float = FAN_SIGMA,
    window_per_intensity: float = WINDOW_PER_INTENSITY,
    truncate: float = 3.0,
    occurrence_threshold: float = 1.0,
) -> np.ndarray:
    """Targets of any design drawn one sample and one AU at a time over the full grid.

    Same definition as the library (lengths in pixels of a 64x64 map scaled to ``size``, peak
    scaled to the amplitude at the nearest pixel, square window, centres combined by maximum;
    the width and window of each design as :func:`auheat.heatmaps.target_geometry` gives them),
    written the plain way.

    Returns:
        [B, K, size, size] float32.
    """
    check_design(design)
    b, k = intensities.shape
    out = np.zeros((b, k, size, size), np.float32)
    grid = np.arange(size, dtype=np.float64)
    scale = size / 64
    for i in range(b):
        for j, number in enumerate(aus):
            level = float(intensities[i, j])
            if not level > 0:
                continue
            amplitude = float(level >= occurrence_threshold) if design == "binary" else level
            if design == "variable":
                s, radius = fan_size_rule(level)
            elif design == "windowed":
                s, radius = sigma, min(window_per_intensity * level, NEGLIGIBLE_SIGMAS * sigma)
            else:
                s, radius = sigma, truncate * sigma
            s, radius = s * scale, radius * scale
            for points in ACTION_UNITS[number].centres:
                cx, cy = landmarks[i, list(points)].mean(0)
                gx = np.exp((np.square(np.round(cx) - cx) - np.square(grid - cx)) / (2 * s * s))
                gy = np.exp((np.square(np.round(cy) - cy) - np.square(grid - cy)) / (2 * s * s))
                gx[(np.abs(grid - cx) > radius) & (grid != np.round(cx))] = 0
                gy[(np.abs(grid - cy) > radius) & (grid != np.round(cy))] = 0
                np.maximum(out[i, j], amplitude * np.outer(gy, gx), out=out[i, j])
    return out


def _median_ms(fn: Callable[[], object], repeats: int, sync: Callable[[], object]) -> float:
    return 1e3 * median_time(fn, repeats, sync=sync).wall


DEFAULT_DESIGN = inspect.signature(encode_heatmaps).parameters["design"].default


def bench_targets(
    batch: int = 256,
    repeats: int = 7,
    device: str = "cpu",
    seed: int = 0,
    designs: Sequence[str] = DESIGNS,
) -> pd.DataFrame:
    """Time the three ways of producing a [batch, 12, 64, 64] target tensor, per design; print them.

    Every design's encoder is timed against the NumPy loop drawing the same design and against
    the floor (zero-filling the output, the same for every design), after checking that the
    encoder and the loop agree. The default design of :func:`encode_heatmaps` comes first.

    Returns:
        One row per design (index ``design``): ``library_ms``, ``numpy_loop_ms``,
        ``zero_fill_ms`` (medians, milliseconds), ``speedup_vs_numpy_loop`` (loop / library),
        ``ratio_to_zero_fill`` (library / floor) and ``max_difference`` (library vs loop).
    """
    for design in designs:
        check_design(design)
    aus = dataset_aus("disfa")
    size = 64
    rng = np.random.default_rng(seed)
    landmarks = rng.uniform(6, size - 6, (batch, 68, 2)).astype(np.float32)
    # Every AU active at a random intensity: the most drawing the encoder can be asked for.
    intensities = rng.uniform(0.5, 5.0, (batch, len(aus))).astype(np.float32)
    lm_t = torch.from_numpy(landmarks).to(device)
    in_t = torch.from_numpy(intensities).to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    loop_repeats = max(3, repeats // 2)

    floor_ms = _median_ms(lambda: torch.zeros(batch, len(aus), size, size, device=device), repeats, sync)
    rows = []
    for design in sorted(designs, key=lambda name: name != DEFAULT_DESIGN):
        library = encode_heatmaps(lm_t, in_t, aus, size=size, design=design).cpu().numpy()
        reference = numpy_reference_targets(landmarks, intensities, aus, size=size, design=design)
        error = float(np.abs(library - reference).max())
        if not math.isfinite(error) or error > 1e-4:
            raise AssertionError(f"design {design!r}: library and NumPy reference disagree by {error:g}")
        library_ms = _median_ms(
            lambda design=design: encode_heatmaps(lm_t, in_t, aus, size=size, design=design), repeats, sync
        )
        loop_ms = _median_ms(
            lambda design=design: numpy_reference_targets(
                landmarks, intensities, aus, size=size, design=design
            ),
            loop_repeats,
            sync,
        )
        rows.append(
            {
                "design": design,
                "library_ms": library_ms,
                "numpy_loop_ms": loop_ms,
                "zero_fill_ms": floor_ms,
                "speedup_vs_numpy_loop": loop_ms / library_ms,
                "ratio_to_zero_fill": library_ms / floor_ms,
                "max_difference": error,
            }
        )
    table = pd.DataFrame(rows).set_index("design")
    lines = [
        f"targets: batch {batch} x {len(aus)} AUs x {size}x{size}, device {device}, torch threads "
        f"{torch.get_num_threads()}, medians of {repeats} runs ({loop_repeats} of the NumPy loop)",
        f"  zero-filled output (the floor) {floor_ms:9.2f} ms",
        f"  {'design':<20}{'encode_heatmaps':>16}{'NumPy loop':>13}"
        "   library vs loop   vs the floor   agree to",
    ]
    for design, row in table.iterrows():
        name = f"{design} (default)" if design == DEFAULT_DESIGN else design
        lines.append(
            f"  {name:<20}{row.library_ms:13.2f} ms{row.numpy_loop_ms:10.2f} ms"
            f"{row.speedup_vs_numpy_loop:9.1f}x faster{row.ratio_to_zero_fill:9.2f}x the floor"
            f"{row.max_difference:9.1e}"
        )
    print("\n".join(lines))
    return table


def bench_train(
    steps: int = 20,
    batch: int = 32,
    input_size: int = 64,
    width: int = 32,
    frames_per_subject: int = 6,
    threads: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Training frames per second of each method, with and without the data-path caches.

    A small ``disfa-like`` SynthFACS dataset is rendered in a temporary folder and a FAN(1,
    ``width``) with random weights stands in for the landmark network (weights do not change
    the speed). Each setting times ``steps`` steps after one warm-up step (the median step: the
    loader and the step), not the one-off building of a cache, which is reported apart.

    Returns:
        One row per method and setting: frames/s, its ratio to decoding every step, build seconds.
    """
    import tempfile

    from auheat.data.dataset import PreparedDataset
    from auheat.models import FAN
    from auheat.synth.generate import generate_dataset

    if threads is not None:
        torch.set_num_threads(threads)
    # No bars: they would print inside the timed steps.
    with tempfile.TemporaryDirectory() as folder, progress_hidden():
        root = generate_dataset("disfa-like", f"{folder}/data", frames_per_subject, seed=seed)
        train = PreparedDataset(root, "train", 0)
        rows = _time_methods(train, FAN(1, width), steps, batch, input_size, seed, folder)
    table = pd.DataFrame(rows)
    base = table[table["setting"] == "decode every step"].set_index("method")["frames_per_s"]
    table["speedup"] = table["frames_per_s"] / table["method"].map(base)
    print(
        f"train: median of {steps} steps of batch {batch} at {input_size} px, FAN(1, {width}), torch "
        f"threads {torch.get_num_threads()}; speed-up = frames/s over decoding every frame at every step\n"
        + table.to_string(index=False, float_format="%.2f")
    )
    return table


TRAIN_SETTINGS = {
    "decode every step": {"cache_inputs": False, "cache_features": False},
    "input cache, NCHW": {"cache_inputs": True, "cache_features": False, "channels_last": False},
    "input cache": {"cache_inputs": True, "cache_features": False},
    "input + feature cache": {"cache_inputs": True, "cache_features": True},
}


def _time_methods(train, fan, steps: int, batch: int, input_size: int, seed: int, folder: str) -> list[dict]:
    """One row per method and setting of :func:`bench_train`."""
    from auheat.config import TrainConfig
    from auheat.data.inputs import FeatureCache
    from auheat.models import build_model
    from auheat.models.factory import METHODS
    from auheat.tasks import AUTask
    from auheat.train import Trainer

    rows = []
    for method in METHODS:
        for name, flags in TRAIN_SETTINGS.items():
            torch.manual_seed(seed)
            model = build_model(method, fan, train.aus)
            if name == "input + feature cache" and not model.caches_features:
                continue
            config = TrainConfig(steps=steps + 1, batch_size=batch, input_size=input_size, seed=seed, **flags)
            start = time.perf_counter()
            # The decoded inputs go with the temporary dataset, not into the user's cache.
            trainer = Trainer(
                model,
                AUTask(train.aus),
                train,
                None,
                f"{folder}/{method}",
                config,
                input_cache=f"{folder}/inputs",
            )
            built = time.perf_counter() - start
            if isinstance(trainer.train_set, FeatureCache) != (name == "input + feature cache"):
                raise AssertionError(f"{method}, {name}: the trainer did not set up the caches asked for")
            trainer.network.train()
            batches = _endless(trainer.loader)
            step = median_time(lambda t=trainer, b=batches: t.train_step(next(b)), repeats=steps, warmup=1)
            rows.append(
                {"method": method, "setting": name, "frames_per_s": batch / step.wall, "build_s": built}
            )
    return rows


def _endless(loader):
    """The loader's batches, epoch after epoch."""
    while True:
        yield from loader


def stage_times(image: np.ndarray, reader, landmarker, repeats: int = 5) -> pd.Series:
    """Median seconds of each step :func:`auheat.predict.predict` takes on one frame with one face.

    Steps: ``detect`` (the landmarker's detector), ``landmarks`` (its landmarks in the box),
    ``align`` (the warp to the model's crop), ``AU model`` (the network's forward pass and the
    reading of its heatmaps, a :class:`auheat.predict.FaceReader`), and ``frame`` (all of them,
    through the landmarker's ``find``).
    """
    from auheat.data.align import CROP_SIZE, alignment_matrix, warp_image

    (box, _), *_ = landmarker.detect(image)
    points = landmarker.landmarks_in(image, box)
    crop = warp_image(image, alignment_matrix(points), CROP_SIZE)

    def frame() -> None:
        face = landmarker.find(image)[0]
        reader(warp_image(image, alignment_matrix(face.landmarks), CROP_SIZE)[None])

    steps = {
        "detect": lambda: landmarker.detect(image),
        "landmarks": lambda: landmarker.landmarks_in(image, box),
        "align": lambda: warp_image(image, alignment_matrix(points), CROP_SIZE),
        "AU model": lambda: reader(crop[None]),
        "frame": frame,
    }
    times = median_times(steps, repeats, warmup=0)
    return pd.Series({name: timing.wall for name, timing in times.items()}, name="seconds")


def bench_predict(repeats: int = 7, device: str = "cpu", seed: int = 0) -> pd.DataFrame:
    """Time each step of ``auheat predict`` on skimage's astronaut (one face, 512x512) with dlib's
    landmarker and an AU model of the CPU recipe's size (the weights do not change the cost)."""
    import skimage.data

    from auheat.landmarkers import DlibLandmarker
    from auheat.models import FAN, build_model
    from auheat.predict import FaceReader
    from auheat.recipes import CPU

    torch.manual_seed(seed)
    model = build_model("finetune", FAN(CPU.stacks, CPU.width), dataset_aus("disfa"))
    reader = FaceReader(model, CPU.input_size, device)
    seconds = stage_times(skimage.data.astronaut(), reader, DlibLandmarker(), repeats)
    table = pd.DataFrame({"ms": seconds * 1000, "ratio to AU model": seconds / seconds["AU model"]})
    print(
        f"auheat predict, one 512x512 frame with one face, dlib landmarker, FAN({CPU.stacks}, {CPU.width}) "
        f"at {CPU.input_size} px, {torch.get_num_threads()} threads; median of {repeats}"
    )
    print(table.to_string(float_format="%.2f"))
    return table


def _floor_frame(points: np.ndarray) -> np.ndarray:
    """The part of a synthetic frame no renderer can skip: a 256x256 canvas with a flat background
    and one face polygon, through the same JPEG round trip."""
    canvas = Image.new("RGB", (256, 256), (180, 180, 185))
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in points.tolist()], fill=(210, 170, 140))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=85)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def bench_synth(faces: int = 200, seed: int = 0, runs: int = 5) -> dict:
    """Render ``faces`` varied faces ``runs`` times in this process and print faces per second.

    Inputs (identities, poses, captures, AU intensities) are drawn before timing, so only
    rendering is measured. Returns a dict with ``faces_per_s`` (wall clock) and ``faces_per_cpu_s``
    (this process's CPU time: the per-core rate, robust to other work on the machine), medians over
    runs; the same two for the floor; and ``ratio`` (floor CPU time / face CPU time, below 1:
    slower than the floor).
    """
    # Imported here so that the other benchmarks do not load the renderer.
    from auheat.synth.params import SYNTH_AUS, Pose, sample_capture, sample_identity
    from auheat.synth.render import render_face

    rng = np.random.default_rng(seed)
    identities = [sample_identity(rng) for _ in range(max(1, faces // 10))]
    jobs = []
    for i in range(faces):
        levels = {au: float(rng.integers(0, 6)) for au in SYNTH_AUS if rng.uniform() < 0.3}
        pose = Pose(*(rng.normal(0, 1, 3) * np.array([15, 10, 6])))
        jobs.append((identities[i % len(identities)], levels, pose, sample_capture(rng)))
    render_face(*jobs[0])  # warm-up: per-identity caches and module-level banks
    outlines = [render_face(*job)[1][:17] for job in jobs[:10]]

    # CPU time (this process only) is the honest per-core figure when other work shares the cores;
    # wall time shows what a user waits.
    times = median_times(
        {
            "faces": lambda: [render_face(*job) for job in jobs],
            "floor": lambda: [_floor_frame(outlines[i % len(outlines)]) for i in range(faces)],
        },
        runs,
        warmup=0,  # rendered once above
    )
    face, floor = times["faces"], times["floor"]
    result = {
        "faces": faces,
        "faces_per_s": faces / face.wall,
        "faces_per_cpu_s": faces / face.cpu,
        "floor_faces_per_s": faces / floor.wall,
        "floor_faces_per_cpu_s": faces / floor.cpu,
        "ratio": floor.cpu / face.cpu,
    }
    print(
        f"synth: {result['faces_per_cpu_s']:.0f} faces per CPU-second (one core) at 256x256, "
        f"{result['faces_per_s']:.0f} faces/s wall (floor: background + face polygon + JPEG, "
        f"{result['floor_faces_per_cpu_s']:.0f} per CPU-second; "
        f"a face costs {1 / result['ratio']:.1f} floors)"
    )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="auheat bench", description="Run a benchmark of auheat.")
    add_arguments(parser)
    run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=["targets", "synth", "train", "predict"], help="which benchmark")
    parser.add_argument("--batch", type=int, default=256, help="samples per batch (default 256)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs; the median is reported")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--faces", type=int, default=200, help="synth: faces to render (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the inputs (default 0)")
    parser.add_argument("--steps", type=int, default=20, help="train: timed steps per setting (default 20)")
    parser.add_argument("--threads", type=int, default=None, help="train: torch CPU threads")


def run(args: argparse.Namespace) -> None:
    if args.name == "targets":
        bench_targets(batch=args.batch, repeats=args.repeats, device=args.device, seed=args.seed)
    elif args.name == "synth":
        bench_synth(faces=args.faces, seed=args.seed, runs=args.repeats)
    elif args.name == "train":
        bench_train(steps=args.steps, threads=args.threads, seed=args.seed)
    elif args.name == "predict":
        bench_predict(repeats=args.repeats, device=args.device, seed=args.seed)


if __name__ == "__main__":
    main()
