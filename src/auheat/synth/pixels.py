"""Whole-image filters in numpy for small images: a 2x bilinear upscale and a Gaussian blur.

Pillow's resampling and blur filters walk the image pixel by pixel; these are a handful of
vectorised array operations each, several times cheaper on the skin's small float grids (at
256x256 RGB, fresh numpy arrays cost page faults and Pillow wins). All are deterministic (fixed
operation order), so the same input always gives the same bytes.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def _along(axis: int, part: slice) -> tuple[slice, ...]:
    """Index that takes ``part`` of ``axis`` (0 or 1) and all of the other axes."""
    return (part,) if axis == 0 else (slice(None), part)


def _double(x: np.ndarray, axis: int) -> np.ndarray:
    """Twice the rows (axis 0) or columns (axis 1) of ``x``, each new one 3 parts its source and
    1 part the nearer neighbour (edges repeat): bilinear weights scaled by 4. Slicing, rather
    than transposing, keeps the inner loops on contiguous memory."""
    padded = np.concatenate([x[_along(axis, slice(0, 1))], x, x[_along(axis, slice(-1, None))]], axis)
    three = 3 * x
    shape = list(x.shape)
    shape[axis] *= 2
    out = np.empty(shape, x.dtype)
    np.add(three, padded[_along(axis, slice(0, -2))], out=out[_along(axis, slice(0, None, 2))])
    np.add(three, padded[_along(axis, slice(2, None))], out=out[_along(axis, slice(1, None, 2))])
    return out


def upscale2(image: np.ndarray) -> np.ndarray:
    """[n, m] float -> [2n, 2m] bilinear, pixel centres aligned as in Pillow's BILINEAR."""
    return _double(_double(image, 0), 1) * (1 / 16)


@lru_cache(maxsize=32)
def _kernel(sigma: float) -> np.ndarray:
    """Normalised Gaussian taps 0..radius (one side; the kernel is symmetric)."""
    radius = max(1, int(np.ceil(3.0 * sigma)))
    taps = np.exp(-0.5 * (np.arange(radius + 1) / sigma) ** 2)
    return (taps / (2 * taps.sum() - taps[0])).astype(np.float32)


def _blur_axis(x: np.ndarray, taps: np.ndarray, axis: int) -> np.ndarray:
    """Convolve along ``axis`` with the symmetric kernel ``taps``, edges repeated."""
    r, n = len(taps) - 1, x.shape[axis]
    first, last = x[_along(axis, slice(0, 1))], x[_along(axis, slice(-1, None))]
    padded = np.concatenate([np.repeat(first, r, axis), x, np.repeat(last, r, axis)], axis)
    out = x * taps[0]
    for k in range(1, r + 1):
        pair = padded[_along(axis, slice(r - k, r - k + n))] + padded[_along(axis, slice(r + k, r + k + n))]
        pair *= taps[k]
        out += pair
    return out


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """[n, m, ...] float32 image blurred by a Gaussian of standard deviation ``sigma`` pixels
    (separable, truncated at 3 sigma, edges repeated)."""
    taps = _kernel(round(float(sigma), 3))
    return _blur_axis(_blur_axis(image, taps, 0), taps, 1)
