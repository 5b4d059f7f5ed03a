"""The 68-point face that needs no dataset: each landmark's mirror partner, and a mean face built
from textbook facial proportions.

SynthFACS draws every face around it (:mod:`auheat.synth.shape`), and the landmark checks fit it
to landmarks that have no ground truth (:func:`auheat.landmarkers.landmark_residual`).
"""

from __future__ import annotations

import numpy as np

# Mirror partner of each landmark (iBUG order): jaw i <-> 16-i, brows, nostrils, eyes, lips.
MIRROR = np.array(
    [16 - i for i in range(17)]
    + [26 - i for i in range(10)]
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65]
)

# The image-left half and the midline of the mean face, built from textbook facial
# proportions rather than any dataset's mean shape: the outer eye corners 97.6 px apart (the
# alignment anchors), eye width ~ inner-corner gap ~ 1/5 face width, brows ~ 0.23 of the
# eye-chin height above the eyes, nose base ~ halfway between eyes and chin, mouth width ~
# the distance between the pupils, lower lip twice as full as the upper one. Depths follow a
# head ~ 150 px deep at the ears: the nose tip 37 px in front of the eye corners, the jaw
# contour (a silhouette) sweeping back to the ears.
_LEFT_HALF = {
    0: (-71, 92, -46),
    1: (-70, 113, -42),
    2: (-67, 134, -36),
    3: (-62, 155, -28),
    4: (-55, 175, -18),
    5: (-45, 193, -8),
    6: (-33, 208, 0),
    7: (-18, 221, 6),
    8: (0, 227.8, 9),
    17: (-63, 72, -6),
    18: (-53, 64.5, 2),
    19: (-41, 61, 8),
    20: (-28, 61.5, 12),
    21: (-15, 64.5, 14),
    27: (0, 86, 16),
    28: (0, 99, 22),
    29: (0, 112, 29),
    30: (0, 126, 37),
    31: (-14, 135, 16),
    32: (-7.5, 138, 22),
    33: (0, 140, 26),
    36: (-48.8, 87, -4),
    37: (-40, 81.5, 2),
    38: (-28.5, 81.5, 4),
    39: (-18, 88, 3),
    40: (-28.5, 92, 3),
    41: (-40, 92, 1),
    48: (-26, 166, 8),
    49: (-16, 160, 17),
    50: (-6.5, 157, 22),
    51: (0, 158.5, 23),
    57: (0, 178, 20),
    58: (-8, 177, 19),
    59: (-18, 173, 14),
    60: (-22, 166, 9),
    61: (-9, 164.8, 18),
    62: (0, 165.2, 20),
    66: (0, 165.4, 20),
    67: (-9, 165, 18),
}


def _mirrored(half: dict[int, tuple[float, float, float]], n: int, mirror: np.ndarray) -> np.ndarray:
    """[n, 3] points from one half: each missing point is its partner with x negated."""
    out = np.full((n, 3), np.nan)
    for i, p in half.items():
        out[i] = p
        out[mirror[i]] = (-p[0], p[1], p[2])
    return out


MEAN_FACE = _mirrored(_LEFT_HALF, 68, MIRROR)  # [68, 3]
