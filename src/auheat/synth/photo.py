"""What the camera adds around and over a face: the background behind it, and blur, exposure,
white balance, sensor noise and JPEG compression over the finished frame."""

from __future__ import annotations

import io
import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from auheat.synth.params import Capture


def background(capture: Capture, n: int) -> Image.Image:
    """[n, n] RGB backdrop: flat, a vertical gradient, or out-of-focus clutter (shapes drawn at
    a quarter of the size and upscaled, as a shallow depth of field would blur them)."""
    c0, c1 = (np.asarray(c, np.float32) for c in capture.background_colours)
    if capture.background == "flat":
        return Image.new("RGB", (n, n), tuple(int(v) for v in c0))
    t = np.linspace(0, 1, n, dtype=np.float32)[:, None, None]
    grad = Image.fromarray((c0 * (1 - t) + c1 * t).astype(np.uint8).repeat(n, axis=1), "RGB")
    if capture.background == "gradient":
        return grad
    if capture.background != "clutter":
        raise ValueError(f"unknown background {capture.background!r}; use flat, gradient or clutter")
    m = max(8, n // 6)
    small = grad.resize((m, m), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(small)
    rng = np.random.default_rng(capture.seed)
    for _ in range(int(rng.integers(4, 12))):
        # Muted colours: real backdrops are mostly walls, shelves and furniture.
        colour = tuple(int(v) for v in np.clip(0.6 * c0 + 0.4 * c1 + rng.normal(0, 35, 3), 0, 255))
        x0, y0 = rng.uniform(-0.2, 1.0, 2) * m
        w, h = rng.uniform(0.1, 0.6, 2) * m
        if rng.uniform() < 0.5:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=colour)
        else:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=colour)
    return small.resize((n, n), Image.Resampling.BILINEAR)


@lru_cache(maxsize=16)
def _noise(level: int, n: int) -> Image.Image:
    """A [n + 64, n + 64] RGB image of Gaussian noise of std ``level`` around 128 (fixed seed)."""
    z = np.random.default_rng(level).normal(128.0, level, (n + 64, n + 64, 3))
    return Image.fromarray(np.clip(z, 0, 255).astype(np.uint8), "RGB")


def _tone_curve(capture: Capture) -> bytes | None:
    """A 3 x 256 lookup table for exposure and white balance, or None when it is the identity."""
    gains = [capture.exposure * g for g in capture.white_balance]
    if all(abs(g - 1.0) <= 2e-3 for g in gains):
        return None
    return np.clip(np.outer(gains, _RAMP), 0, 255).astype(np.uint8).tobytes()


_RAMP = np.arange(256, dtype=np.float64)


def develop(image: Image.Image, capture: Capture) -> np.ndarray:
    """Blur, exposure and white balance, noise, then a JPEG round trip; [n, n, 3] uint8 (read-only).

    Noise is drawn from a cached bank at the capture's standard deviation (rounded to whole
    grey levels), cropped at an offset set by the capture's seed: deterministic and cheap.
    """
    if capture.blur_sigma >= 0.3:
        image = image.filter(ImageFilter.BoxBlur(_box_radius(capture.blur_sigma * image.width / 256)))
    lut = _tone_curve(capture)
    if lut is not None:
        image = image.point(lut)
    level = round(capture.noise_std)
    if level >= 1:
        n = image.width
        bank = _noise(level, n)
        ox, oy = capture.seed % 64, (capture.seed // 64) % 64
        image = ImageChops.add(image, bank.crop((ox, oy, ox + n, oy + n)), 1.0, -128)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=int(capture.jpeg_quality))
    buffer.seek(0)
    with Image.open(buffer, formats=("JPEG",)) as decoded:  # naming the format skips the probing
        # An RGB JPEG decodes as RGB: converting would only copy it.
        return np.asarray(decoded if decoded.mode == "RGB" else decoded.convert("RGB"))


def _box_radius(sigma: float) -> float:
    """Radius of the one-pass box blur whose spread (variance) matches a Gaussian of ``sigma``.

    A box of radius r spans 2r + 1 pixels with variance r (r + 1) / 3; Pillow blends fractional
    radii linearly. One box pass costs a third of Pillow's three-pass Gaussian, and at the small
    radii of camera softness it looks the same."""
    return (math.sqrt(1.0 + 12.0 * sigma * sigma) - 1.0) / 2.0
