"""Benchmarks that print what they measure, as ratios to baselines measured in the same run.

    auheat bench targets            # or: python -m auheat.bench targets
    auheat bench synth --faces 200

``targets`` times :func:`auheat.heatmaps.encode_heatmaps` on a batch against
(a) the per-sample, per-AU NumPy loop that is the usual way to draw targets in a DataLoader,
written below, and (b) the floor: allocating and zero-filling the output tensor.
``synth`` is :func:`auheat.synth.bench.bench_synth`: synthetic faces rendered per second per core.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from auheat.aus import ACTION_UNITS, dataset_aus
from auheat.heatmaps import encode_heatmaps


def numpy_reference_targets(
    landmarks: np.ndarray,
    intensities: np.ndarray,
    aus: tuple[int, ...],
    size: int = 64,
    sigma_per_intensity: float = 0.5,
    min_sigma: float = 0.5,
    truncate: float = 3.0,
) -> np.ndarray:
    """The "variable" targets drawn one sample and one AU at a time over the full grid.

    Same definition as the library (peak scaled to the intensity at the nearest pixel, square
    support of truncate * sigma, centres combined by maximum), written the plain way.
    """
    b, k = intensities.shape
    out = np.zeros((b, k, size, size), np.float32)
    grid = np.arange(size, dtype=np.float64)
    for i in range(b):
        for j, number in enumerate(aus):
            level = intensities[i, j]
            if not level > 0:
                continue
            s = max(min_sigma, sigma_per_intensity * level)
            for points in ACTION_UNITS[number].centres:
                cx, cy = landmarks[i, list(points)].mean(0)
                gx = np.exp((np.square(np.round(cx) - cx) - np.square(grid - cx)) / (2 * s * s))
                gy = np.exp((np.square(np.round(cy) - cy) - np.square(grid - cy)) / (2 * s * s))
                gx[np.abs(grid - cx) > truncate * s] = 0
                gy[np.abs(grid - cy) > truncate * s] = 0
                np.maximum(out[i, j], level * np.outer(gy, gx), out=out[i, j])
    return out


def _median_ms(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    fn()  # warm-up
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def bench_targets(batch: int = 256, repeats: int = 7, device: str = "cpu", seed: int = 0) -> dict[str, float]:
    """Time the three ways of producing a [batch, 12, 64, 64] target tensor; print and return them."""
    aus = dataset_aus("disfa")
    size = 64
    rng = np.random.default_rng(seed)
    landmarks = rng.uniform(6, size - 6, (batch, 68, 2)).astype(np.float32)
    # Every AU active at a random intensity: the most drawing the encoder can be asked for.
    intensities = rng.uniform(0.5, 5.0, (batch, len(aus))).astype(np.float32)
    lm_t = torch.from_numpy(landmarks).to(device)
    in_t = torch.from_numpy(intensities).to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    library = encode_heatmaps(lm_t, in_t, aus, size=size, design="variable").cpu().numpy()
    reference = numpy_reference_targets(landmarks, intensities, aus, size=size)
    error = float(np.abs(library - reference).max())
    if not math.isfinite(error) or error > 1e-4:
        raise AssertionError(f"library and NumPy reference disagree by {error:g}")

    results = {
        "library_ms": _median_ms(lambda: encode_heatmaps(lm_t, in_t, aus, size=size), repeats, sync),
        "numpy_loop_ms": _median_ms(
            lambda: numpy_reference_targets(landmarks, intensities, aus, size=size),
            max(3, repeats // 2),
            sync,
        ),
        "zero_fill_ms": _median_ms(
            lambda: torch.zeros(batch, len(aus), size, size, device=device), repeats, sync
        ),
    }
    results["speedup_vs_numpy_loop"] = results["numpy_loop_ms"] / results["library_ms"]
    results["ratio_to_zero_fill"] = results["library_ms"] / results["zero_fill_ms"]
    print(
        f"targets: batch {batch} x {len(aus)} AUs x {size}x{size}, design 'variable', device {device}, "
        f"torch threads {torch.get_num_threads()}, medians of {repeats} runs\n"
        f"  library encode_heatmaps   {results['library_ms']:9.2f} ms\n"
        f"  NumPy per-sample loop     {results['numpy_loop_ms']:9.2f} ms   "
        f"library is {results['speedup_vs_numpy_loop']:.1f}x faster\n"
        f"  zero-filled output (floor){results['zero_fill_ms']:9.2f} ms   "
        f"library takes {results['ratio_to_zero_fill']:.2f}x the floor\n"
        f"  library and NumPy reference agree to {error:.1e}"
    )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="auheat bench", description="Run a benchmark of auheat.")
    add_arguments(parser)
    run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=["targets", "synth"], help="which benchmark")
    parser.add_argument("--batch", type=int, default=256, help="samples per batch (default 256)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs; the median is reported")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--faces", type=int, default=200, help="synth: faces to render (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the inputs (default 0)")


def run(args: argparse.Namespace) -> None:
    if args.name == "targets":
        bench_targets(batch=args.batch, repeats=args.repeats, device=args.device, seed=args.seed)
    elif args.name == "synth":
        # Imported here so that the targets benchmark does not load the renderer.
        from auheat.synth.bench import bench_synth

        bench_synth(faces=args.faces, seed=args.seed, runs=args.repeats)


if __name__ == "__main__":
    main()
