"""How fast SynthFACS draws faces, per core, against a floor measured in the same run.

The floor is the part of every frame that no renderer can skip: a 256x256 RGB canvas with a
flat background and one face polygon, through the same JPEG round trip. The ratio says how many
floors one full face costs.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from auheat.synth.params import SYNTH_AUS, Pose, sample_capture, sample_identity
from auheat.synth.render import render_face
from auheat.timing import median_times


def _floor_frame(points: np.ndarray) -> np.ndarray:
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
