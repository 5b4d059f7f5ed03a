"""Small helpers shared by the parts of the renderer that draw with Pillow: colours clipped to
bytes, and points flattened into the [x0, y0, x1, y1, ...] lists Pillow draws from fastest."""

from __future__ import annotations

import numpy as np

Colour = tuple[int, ...]


def rgb(c: np.ndarray | tuple, alpha: int | None = None) -> Colour:
    """A colour as ints in 0..255, with ``alpha`` appended if given."""
    c = tuple(min(255, max(0, int(v))) for v in c)
    return c if alpha is None else (*c, int(alpha))


def flat(a: np.ndarray) -> list[float]:
    """[K, 2] points -> the flat [x0, y0, x1, y1, ...] list Pillow draws from fastest."""
    return np.asarray(a, np.float64).ravel().tolist()


def flat_complex(points: list[complex]) -> list[float]:
    """Complex points x + iy -> the flat [x0, y0, x1, y1, ...] list Pillow draws from fastest."""
    return [v for z in points for v in (z.real, z.imag)]


def scaled(colour: tuple, *factors: float) -> list[float]:
    """``colour`` times each factor in turn (left to right, as numpy would)."""
    out = [float(c) for c in colour]
    for k in factors:
        out = [c * k for c in out]
    return out
