"""Whole-image filters for the skin's small float grids: a 2x bilinear upscale and a Gaussian blur.

Pillow's resampling and blur filters walk the image pixel by pixel; OpenCV's vectorised routines
are several times cheaper at these sizes (and an order of magnitude cheaper than Pillow at
256x256). Both are deterministic, so the same input always gives the same bytes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def upscale2(image: np.ndarray) -> np.ndarray:
    """[n, m] float32 -> [2n, 2m] bilinear, pixel centres aligned as in Pillow's BILINEAR (each new
    pixel is 3 parts its source and 1 part the nearer neighbour; edges repeat)."""
    n, m = image.shape[:2]
    return cv2.resize(image, (2 * m, 2 * n), interpolation=cv2.INTER_LINEAR)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """[n, m] float32 image blurred by a Gaussian of standard deviation ``sigma`` pixels
    (separable, truncated at 3 sigma, edges repeated)."""
    sigma = round(float(sigma), 3)
    radius = max(1, math.ceil(3.0 * sigma))
    return cv2.GaussianBlur(image, (2 * radius + 1, 2 * radius + 1), sigma, borderType=cv2.BORDER_REPLICATE)
