"""What the camera adds around and over a face: the background behind it, and blur, exposure,
white balance, saturation, tone, sensor noise and JPEG compression over the finished frame."""

from __future__ import annotations

import math
import threading
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw

from auheat.synth.params import Capture


def background(capture: Capture, n: int) -> Image.Image:
    """[n, n] RGB backdrop: flat, a vertical gradient, or out-of-focus clutter (shapes drawn at
    a quarter of the size and upscaled, as a shallow depth of field would blur them)."""
    c0, c1 = (np.asarray(c, np.float32) for c in capture.background_colours)
    if capture.background == "flat":
        return Image.new("RGB", (n, n), tuple(int(v) for v in c0))
    t = np.linspace(0, 1, n, dtype=np.float32)[:, None]
    # One column, repeated across by a nearest-neighbour resize (far cheaper than numpy's repeat).
    column = Image.fromarray((c0 * (1 - t) + c1 * t).astype(np.uint8)[:, None, :], "RGB")
    if capture.background == "gradient":
        return column.resize((n, n), Image.Resampling.NEAREST)
    if capture.background != "clutter":
        raise ValueError(f"unknown background {capture.background!r}; use flat, gradient or clutter")
    m = max(8, n // 6)
    small = column.resize((m, m), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(small)
    rng = np.random.default_rng(capture.seed)
    k = int(rng.integers(4, 12))
    # Muted colours: real backdrops are mostly walls, shelves and furniture. (All shapes are
    # drawn from the generator at once: a handful of calls instead of four per shape.)
    colours = np.clip(0.6 * c0 + 0.4 * c1 + rng.normal(0, 35, (k, 3)), 0, 255).astype(int).tolist()
    corners = (rng.uniform(-0.2, 1.0, (k, 2)) * m).tolist()
    extents = (rng.uniform(0.1, 0.6, (k, 2)) * m).tolist()
    boxes = rng.uniform(size=k) < 0.5
    for colour, (x0, y0), (w, h), box in zip(colours, corners, extents, boxes.tolist(), strict=True):
        shape = draw.rectangle if box else draw.ellipse
        shape([x0, y0, x0 + w, y0 + h], fill=tuple(colour))
    # OpenCV's bilinear upscale: same pixel-centre convention as Pillow's, several times cheaper.
    return Image.fromarray(cv2.resize(np.asarray(small), (n, n), interpolation=cv2.INTER_LINEAR), "RGB")


@lru_cache(maxsize=16)
def _noise(level: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """[n + 64, n + 64, 3] Gaussian noise of std ``level`` (fixed seed), as its positive and its
    negative part (uint8 each), so that adding it is two saturating uint8 passes."""
    z = np.clip(np.rint(np.random.default_rng(level).normal(0.0, level, (n + 64, n + 64, 3))), -255, 255)
    return np.maximum(z, 0).astype(np.uint8), np.maximum(-z, 0).astype(np.uint8)


@lru_cache(maxsize=64)
def _box_kernel(radius: float) -> np.ndarray:
    """The 1-D kernel of Pillow's one-pass BoxBlur of a fractional ``radius``: 2 floor(r) + 1 ones
    and the fraction at both ends, normalised."""
    whole = int(radius)
    taps = np.ones(2 * whole + 3, np.float32)
    taps[[0, -1]] = radius - whole
    return taps / taps.sum()


def develop(image: Image.Image, capture: Capture) -> np.ndarray:
    """Blur, exposure and white balance, saturation, tone (contrast and gamma), noise, then a JPEG
    round trip; [n, n, 3] uint8.

    Noise is drawn from a cached bank at the capture's standard deviation (rounded to whole
    grey levels), cropped at an offset set by the capture's seed: deterministic and cheap.

    OpenCV does the pixel work: its separable filter, per-pixel colour transform, saturating
    add and JPEG codec take a few hundred microseconds together, against about 2 ms for Pillow's
    box blur, point lookup, channel add and in-memory JPEG round trip on a 256x256 frame.
    """
    pixels = np.asarray(image)
    n = pixels.shape[0]
    work = _buffer(pixels.shape, 0)
    if capture.blur_sigma >= 0.3:
        taps = _box_kernel(round(_box_radius(capture.blur_sigma * n / 256), 4))
        pixels = cv2.sepFilter2D(pixels, -1, taps, taps, dst=work, borderType=cv2.BORDER_REPLICATE)
    gains = [capture.exposure * g for g in capture.white_balance]
    if any(abs(g - 1.0) > 2e-3 for g in gains):
        # RGB gains, rounded and saturated: one pass of a diagonal colour matrix.
        pixels = cv2.transform(pixels, np.diag(gains).astype(np.float32), dst=work)
    if abs(capture.saturation - 1.0) > 2e-3:
        # Each pixel moves towards (or, above 1, away from) its own grey level: one colour matrix.
        pixels = cv2.transform(pixels, _saturation_matrix(capture.saturation), dst=work)
    if abs(capture.contrast - 1.0) > 2e-3 or abs(capture.gamma - 1.0) > 2e-3:
        pixels = cv2.LUT(pixels, _tone_curve(round(capture.contrast, 3), round(capture.gamma, 3)), dst=work)
    level = round(capture.noise_std)
    if level >= 1:
        up, down = _noise(level, n)
        ox, oy = capture.seed % 64, (capture.seed // 64) % 64
        pixels = cv2.add(pixels, up[oy : oy + n, ox : ox + n], dst=work)
        pixels = cv2.subtract(pixels, down[oy : oy + n, ox : ox + n], dst=work)
    # OpenCV's codec expects BGR; decoding straight to RGB skips a conversion back.
    bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR, dst=_buffer(pixels.shape, 1))
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(capture.jpeg_quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR_RGB)


# ITU-R BT.601 luma weights, the grey level of OpenCV's and Pillow's RGB-to-grey conversions.
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@lru_cache(maxsize=256)
def _saturation_matrix(saturation: float) -> np.ndarray:
    """3x3 colour matrix mixing each pixel with its luma: 0 gives grey, 1 leaves it unchanged."""
    return (saturation * np.eye(3, dtype=np.float32) + (1.0 - saturation) * _LUMA[None, :]).astype(np.float32)


@lru_cache(maxsize=4096)
def _tone_curve(contrast: float, gamma: float) -> np.ndarray:
    """[256] uint8 lookup table: a power curve (``gamma``), then a gain about mid-grey (``contrast``)."""
    x = np.arange(256, dtype=np.float64) / 255.0
    y = 0.5 + contrast * (x**gamma - 0.5)
    return np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)


_LOCAL = threading.local()  # work arrays per thread: OpenCV releases the GIL while it fills them


def _buffer(shape: tuple[int, ...], slot: int) -> np.ndarray:
    """A reused uint8 work array (only ever an intermediate, never returned): fresh large arrays
    cost page faults on every frame."""
    buffers = _LOCAL.__dict__.setdefault("buffers", {})
    key = (*shape, slot)
    if key not in buffers:
        buffers[key] = np.empty(shape, np.uint8)
    return buffers[key]


def _box_radius(sigma: float) -> float:
    """Radius of the one-pass box blur whose spread (variance) matches a Gaussian of ``sigma``.

    A box of radius r spans 2r + 1 pixels with variance r (r + 1) / 3; fractional radii weigh
    the outermost taps by the fraction. One box pass is cheaper than a Gaussian, and at the
    small radii of camera softness it looks the same."""
    return (math.sqrt(1.0 + 12.0 * sigma * sigma) - 1.0) / 2.0
