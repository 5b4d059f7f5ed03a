"""What may cover part of a face in a frame: glasses over the eyes, or a hand raised to the lower
face. Placement comes from the capture's seed, so a capture alone decides every pixel."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from auheat.synth.drawing import flat, rgb
from auheat.synth.params import Capture, Identity


def draw_occluder(
    image: Image.Image, identity: Identity, capture: Capture, lm: np.ndarray, size: int
) -> None:
    """Glasses over the eyes, or a hand raised to the lower face (placement from the capture's seed)."""
    rng = np.random.default_rng(capture.seed + 17)
    draw = ImageDraw.Draw(image, "RGBA")
    iod = float(np.linalg.norm(lm[45] - lm[36]))
    right = (lm[45] - lm[36]) / iod
    up = np.array([right[1], -right[0]])
    if capture.occluder == "glasses":
        frame = rgb(rng.uniform(0, 120, 3) if rng.uniform() < 0.7 else rng.uniform(100, 220, 3))
        w, h = iod * rng.uniform(0.2, 0.26), iod * rng.uniform(0.13, 0.18)
        ang = np.linspace(0, 2 * np.pi, 13)[:-1]
        lenses = []
        for ids in (range(36, 42), range(42, 48)):
            c = lm[list(ids)].mean(0) + up * iod * 0.02
            ring = (
                c
                + np.outer(np.sign(np.cos(ang)) * np.abs(np.cos(ang)) ** 0.6 * w, right)
                + np.outer(np.sign(np.sin(ang)) * np.abs(np.sin(ang)) ** 0.6 * h, up)
            )
            draw.polygon(flat(ring), fill=(200, 220, 230, int(rng.uniform(15, 60))))
            draw.line(flat(np.concatenate([ring, ring[:1]])), fill=frame, width=max(1, round(iod / 40)))
            lenses.append(ring)
        bridge = np.array([lenses[0][0], (lm[27] + up * iod * 0.04), lenses[1][6]])
        draw.line(flat(bridge), fill=frame, width=max(1, round(iod / 45)))
        for ring, ear in ((lenses[0], 0), (lenses[1], 16)):
            draw.line(
                flat(np.array([ring[6] if ear == 0 else ring[0], lm[ear] + up * iod * 0.08])),
                fill=frame,
                width=max(1, round(iod / 45)),
            )
        return
    anchor = lm[[62, 8, 48, 54, 57][int(rng.integers(0, 5))]]
    angle = rng.uniform(-0.6, 0.6)
    up_h = up * np.cos(angle) + right * np.sin(angle)
    right_h = np.array([-up_h[1], up_h[0]])
    palm = anchor - up_h * iod * rng.uniform(0.45, 0.7) + right_h * iod * rng.uniform(-0.2, 0.2)
    tone = np.asarray(identity.skin, np.float64) * rng.uniform(0.8, 1.0)
    ang = np.linspace(0, 2 * np.pi, 16)[:-1]
    pr, ph = iod * 0.42, iod * 0.5
    outline = palm + np.outer(np.cos(ang) * pr, right_h) + np.outer(np.sin(ang) * ph, up_h)
    draw.polygon(flat(outline), fill=rgb(tone * 0.92))
    fw = max(2, round(iod * 0.17))
    for k, length in enumerate((0.75, 0.9, 0.85, 0.65)):
        base = palm + up_h * ph * 0.7 + right_h * pr * (-0.75 + 0.5 * k)
        tip = base + up_h * iod * length * rng.uniform(0.8, 1.1)
        draw.line(flat(np.array([base, tip])), fill=rgb(tone * (0.95 - 0.04 * k)), width=fw)
        draw.ellipse(
            [tip[0] - fw / 2, tip[1] - fw / 2, tip[0] + fw / 2, tip[1] + fw / 2],
            fill=rgb(tone * (0.95 - 0.04 * k)),
        )
        draw.line(flat(np.array([base, tip])), fill=rgb(tone * 0.6, 80), width=1)
