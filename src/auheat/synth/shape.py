"""The geometry of a synthetic face: a 3-D mean face in iBUG 68-point order, per-subject
shape modes, Action Unit displacements, and the head pose + camera projection.

Model space is measured in pixels of a 256x256 aligned crop: x to the image right from the
facial midline, y down (absolute crop rows), z towards the camera.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from auheat.mean_face import MEAN_FACE, MIRROR
from auheat.synth.params import SYNTH_AUS, Capture, Identity, Pose


def _arc(rx: float, top: float, y0: float, z0: float, z1: float, n: int) -> np.ndarray:
    """[n, 3] half-ellipse from the image left over the top to the right, at height y0 on the
    sides and ``top`` at the apex; depth goes from z0 (sides) to z1 (apex)."""
    t = np.linspace(0.0, np.pi, n)
    return np.stack([-rx * np.cos(t), y0 - (y0 - top) * np.sin(t), z0 + (z1 - z0) * np.sin(t)], 1)


# Extra geometry that is drawn but not annotated: each is a polygon or polyline in model space
# that rotates and projects with the landmarks.
HAIRLINE = _arc(70, 28, 88, -46, 4, 13)  # the face's upper border, jaw point 0 -> 16
SKULL = _arc(82, 0, 100, -60, -20, 15)  # outline of the cranium, before hair volume
_EAR = np.array(
    [(-70, 90, -50), (-79, 86, -56), (-85, 98, -60), (-83, 118, -60), (-77, 137, -56), (-68, 140, -50)]
)
EARS = (_EAR, _EAR * np.array([-1, 1, 1]))
NECK = np.array([(-40, 175, -45), (-44, 300, -60), (44, 300, -60), (40, 175, -45)])
COLLAR = np.array(
    [
        (-190, 360, -60),
        (-170, 268, -60),
        (-75, 250, -50),
        (-40, 258, -40),
        (0, 275, -10),
        (40, 258, -40),
        (75, 250, -50),
        (170, 268, -60),
        (190, 360, -60),
    ]
)
HEAD_PIVOT = np.array([0.0, 120.0, -75.0])  # the neck joint the head turns about
CAMERA_DISTANCE = 1000.0  # px; close enough for a visible perspective on the nose
ANCHORS = (8, 36, 45)
ANCHOR_TARGETS = np.array([[0.0, 227.8], [-48.8, 87.0], [48.8, 87.0]])  # alignment targets, x from midline


def _scale_about(points: np.ndarray, idx: list[int], centre: np.ndarray, factor: np.ndarray) -> None:
    points[idx] = centre + (points[idx] - centre) * factor


def _neutral_unaligned(identity: Identity) -> np.ndarray:
    """[68, 3] the subject's neutral face before it is scaled to the crop."""
    c = np.asarray(identity.shape, dtype=np.float64)
    p = MEAN_FACE.copy()
    jaw, lower_jaw = list(range(17)), list(range(4, 13))
    p[jaw, 0] *= 1 + 0.05 * c[0]  # face width
    below = p[:, 1] > 90  # lower-face length: nose, mouth and jaw move with it
    p[below, 1] = 90 + (p[below, 1] - 90) * (1 + 0.04 * c[1])
    p[lower_jaw, 0] *= 1 + 0.06 * c[2] * np.sin(np.linspace(0.3, np.pi - 0.3, 9))  # square vs pointed jaw
    eyes_l, eyes_r = list(range(36, 42)), list(range(42, 48))
    p[eyes_l, 0] -= 1.5 * c[3]  # eye spacing
    p[eyes_r, 0] += 1.5 * c[3]
    for eye in (eyes_l, eyes_r):  # eye size, more in height than width
        _scale_about(p, eye, p[eye].mean(0), np.array([1 + 0.04 * c[4], 1 + 0.1 * c[4], 1]))
    p[30:36, 1] += 2.5 * c[5]  # nose length
    p[29, 1] += 1.2 * c[5]
    _scale_about(p, list(range(31, 36)), p[33], np.array([1 + 0.09 * c[6], 1, 1]))  # nose width
    p[49:54, 1] -= 1.0 * c[7]  # lip fullness
    p[55:60, 1] += 1.6 * c[7]
    p[5:12, 1] += 3.0 * c[8] * np.array([0.3, 0.6, 0.9, 1, 0.9, 0.6, 0.3])  # chin length
    p[[28, 29, 30, 32, 33, 34], 2] *= 1 + 0.12 * c[9]  # nose projection
    p[[36, 45], 1] -= 1.2 * c[10]  # canthal tilt
    p[[19, 20, 23, 24], 1] -= 1.5 * c[11]  # brow arch
    p[17:27, 1] += identity.brow_height
    mouth = list(range(48, 68))
    p[mouth, 0] *= identity.mouth_width
    # Small irregularities so that no two faces are exactly symmetric or exactly modal.
    p += np.random.default_rng(identity.seed).normal(0, 0.6, p.shape) * np.array([1, 1, 0.5])
    p[[62, 66]] = p[[62, 66]].mean(0)  # closed lips touch
    p[[61, 67]] = p[[61, 67]].mean(0)
    p[[63, 65]] = p[[63, 65]].mean(0)
    return p


@lru_cache(maxsize=4096)
def neutral_face(identity: Identity) -> tuple[np.ndarray, float, np.ndarray]:
    """The subject's neutral face, scaled and shifted (in x, y) so that its anchors (chin,
    outer eye corners) fit the alignment targets in the least-squares sense.

    Returns ([68, 3] model points, scale applied, [2] shift applied); the scale and shift also
    apply to the drawing geometry (hairline, ears, ...), so the whole head moves as one.
    """
    p = _neutral_unaligned(identity)
    src, dst = p[list(ANCHORS), :2], ANCHOR_TARGETS
    sc, dc = src - src.mean(0), dst - dst.mean(0)
    scale = float((sc * dc).sum() / (sc * sc).sum())
    shift = dst.mean(0) - scale * src.mean(0)
    out = p * scale
    out[:, :2] += shift
    return out, scale, shift


def _au_basis() -> np.ndarray:
    """[len(SYNTH_AUS), 68, 3] landmark displacement (px) of each AU at intensity 5.

    Written for the image-left half and mirrored (x negated). Lips parting (AU25) and the jaw
    drop (AU26) interact and are added in :func:`expression_offsets` instead.
    """
    moves: dict[int, dict[int, tuple[float, float, float]]] = {
        # inner brows up, the inner ends slanting
        1: {21: (0.5, -9, 0), 20: (0, -7, 0), 19: (0, -4.5, 0), 18: (0, -2, 0), 17: (0, -0.5, 0)},
        # outer brows up, arching
        2: {
            17: (-0.5, -8, 0),
            18: (0, -8.5, 0),
            19: (0, -6, 0),
            20: (0, -3, 0),
            21: (0, -1, 0),
            37: (0, -0.6, 0),
        },
        # brows down and drawn together; the upper lids follow a little
        4: {
            21: (4.5, 6, 0),
            20: (3, 5, 0),
            19: (2, 4, 0),
            18: (1, 2.5, 0),
            17: (0.5, 1.5, 0),
            37: (0, 1, 0),
            38: (0, 1.2, 0),
        },
        # upper lids up
        5: {37: (0, -3.5, 0), 38: (0, -3.5, 0), 36: (0, -0.3, 0), 39: (0, -0.2, 0)},
        # cheeks push the lower lids up: a small move (the look comes from the skin)
        6: {40: (0, -1.6, 0), 41: (0, -1.8, 0), 36: (0, -0.4, 0), 48: (0, -0.6, 0)},
        # nostril wings up, the nose shortens, inner brows pulled down, upper lip up a little
        9: {
            31: (0, -3, 0),
            32: (0, -2.5, 0),
            33: (0, -1.5, 0),
            30: (0, -1, 0),
            29: (0, -1, 0),
            21: (1, 2.5, 0),
            20: (0.5, 1.5, 0),
            39: (0, -0.4, 0),
            40: (0, -0.6, 0),
            49: (0, -1.5, 0),
            50: (0, -1.5, 0),
            51: (0, -1.5, 0),
            61: (0, -1, 0),
            62: (0, -1, 0),
        },
        # upper lip raised (the centre most), nostril wings slightly
        10: {
            49: (0, -3.5, 0),
            50: (0, -4, 0),
            51: (0, -4, 0),
            61: (0, -2.5, 0),
            62: (0, -2.5, 0),
            48: (0, -1, 0),
            60: (0, -0.8, 0),
            31: (0, -1, 0),
            32: (0, -0.6, 0),
        },
        # lip corners up and out; the lips follow and thin
        12: {
            48: (-5, -6, 0),
            60: (-4.5, -5.5, 0),
            49: (-2, -2.5, 0),
            59: (-2.5, -3.5, 0),
            58: (-1, -1.5, 0),
            61: (-1.5, -1.8, 0),
            67: (-1.5, -2, 0),
            50: (-0.5, -0.5, 0),
            57: (0, -0.5, 0),
            41: (0, -0.4, 0),
            40: (0, -0.3, 0),
        },
        # corners tightened inward (tiny): the dimpler is read from the skin
        14: {48: (1.2, -0.3, -1), 60: (1.0, -0.2, -1)},
        # corners pulled down (and a touch out)
        15: {
            48: (-0.5, 5, 0),
            60: (-0.5, 4.5, 0),
            49: (0, 1.5, 0),
            59: (0, 2.5, 0),
            58: (0, 1, 0),
            61: (0, 1.2, 0),
            67: (0, 1.5, 0),
        },
        # chin boss up, the lower lip pushed up and out, the mouth curving down
        17: {
            57: (0, -3.5, 3),
            58: (0, -3, 3),
            59: (0, -2, 2),
            66: (0, -1.5, 2),
            67: (0, -1.2, 2),
            51: (0, -1.5, 1),
            50: (0, -1.3, 1),
            61: (0, -1.2, 1),
            62: (0, -1.5, 1),
            48: (0.3, 1, 0),
            60: (0.3, 1, 0),
            8: (0, -3, 0),
            7: (0, -2, 0),
            6: (0, -1, 0),
        },
        # lips stretched sideways and flattened
        20: {
            48: (-6, 1.5, 0),
            60: (-6, 1.5, 0),
            49: (-3, 0.5, 0),
            59: (-3, 0, 0),
            50: (-1, 1, 0),
            51: (0, 1, 0),
            58: (-1, -0.5, 0),
            57: (0, -1, 0),
            61: (-2.5, 0.8, 0),
            67: (-2.5, 0.5, 0),
        },
    }
    basis = np.zeros((len(SYNTH_AUS), 68, 3))
    for au, half in moves.items():
        k = SYNTH_AUS.index(au)
        for i, (dx, dy, dz) in half.items():
            basis[k, i] = (dx, dy, dz)
            if MIRROR[i] != i:
                basis[k, MIRROR[i]] = (-dx, dy, dz)
    return basis


AU_BASIS = _au_basis()
_JAW_DROP = np.zeros(68)  # share of the jaw drop each contour point follows
_JAW_DROP[2:15] = [0.05, 0.15, 0.32, 0.55, 0.78, 0.93, 1.0, 0.93, 0.78, 0.55, 0.32, 0.15, 0.05]
_LOWER_LIP = [55, 56, 57, 58, 59, 65, 66, 67]
_LOWER_LIP_SHARE = np.array([0.7, 0.95, 1.0, 0.95, 0.7, 0.9, 1.0, 0.9])


def expression_offsets(levels: np.ndarray) -> np.ndarray:
    """[68, 3] displacement (px) of every landmark for AU intensities in SYNTH_AUS order.

    Linear in intensity for most AUs; the mouth opening combines AU25 (lips part) and AU26
    (jaw drops): a dropped jaw opens the lips only as far as AU25 lets them part.
    """
    f = levels / 5.0
    d = np.tensordot(f, AU_BASIS, axes=1)
    f25, f26 = f[SYNTH_AUS.index(25)], f[SYNTH_AUS.index(26)]
    drop = 15.0 * f26
    opening = 7.0 * f25 + 0.85 * drop * min(1.0, 5.0 * f25)
    d[:, 1] += drop * _JAW_DROP
    d[_LOWER_LIP, 1] += opening * _LOWER_LIP_SHARE
    d[55:60, 1] += 0.25 * drop * (1 - min(1.0, 5.0 * f25))  # closed lips stretch over a dropped jaw
    d[[61, 62, 63], 1] -= 0.15 * opening
    corners = [48, 54, 60, 64]
    d[corners, 1] += 0.12 * opening
    d[corners, 0] += 0.06 * opening * np.array([1, -1, 1, -1])  # an open mouth rounds
    return d


def rotation(pose: Pose) -> np.ndarray:
    """[3, 3] rotation: yaw about the vertical axis, then pitch, then roll (in the image)."""
    # Scalar math on Python floats: a dozen numpy calls on single numbers cost more than the product.
    cy, sy = math.cos(math.radians(pose.yaw)), math.sin(math.radians(pose.yaw))
    cp, sp = math.cos(math.radians(pose.pitch)), math.sin(math.radians(pose.pitch))
    cr, sr = math.cos(math.radians(pose.roll)), math.sin(math.radians(pose.roll))
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx @ ry


def _perspective(points: np.ndarray, rot: np.ndarray, pivot: np.ndarray) -> np.ndarray:
    """[N, 3] model points turned by ``rot`` about ``pivot`` and seen in perspective -> [N, 2]
    pixels of a 256 crop, before any centring."""
    q = (points - pivot) @ rot.T + pivot
    persp = CAMERA_DISTANCE / (CAMERA_DISTANCE - q[:, 2:3])
    return np.stack([q[:, 0], q[:, 1] - 128.0], 1) * persp + 128.0


def _pivot(head_scale: float) -> np.ndarray:
    return HEAD_PIVOT * np.array([1, 1, head_scale])


@lru_cache(maxsize=4096)
def _frontal_centre(identity: Identity) -> np.ndarray:
    """[2] mean of the subject's neutral face seen without head rotation (cached per subject)."""
    neutral, head_scale, _ = neutral_face(identity)
    return _perspective(neutral, np.eye(3), _pivot(head_scale)).mean(0)


class Camera:
    """Takes model points to image pixels of a ``size`` crop: head rotation about the neck,
    perspective, a shift that keeps the face centred as a face detector would, then the
    capture's crop jitter. Pixel centres sit at integer coordinates."""

    def __init__(self, identity: Identity, pose: Pose, capture: Capture, size: int) -> None:
        neutral, self.head_scale, self.head_shift = neutral_face(identity)
        self.rot = rotation(pose)
        self.pivot = _pivot(self.head_scale)
        # Centring uses the neutral face, so an expression never moves the whole frame.
        self.centre_shift = _frontal_centre(identity) - _perspective(neutral, self.rot, self.pivot).mean(0)
        self.zoom = capture.scale * size / 256.0
        self.offset = np.array([capture.dx, capture.dy]) * size / 256.0
        self.size = size

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """[N, 3] model points (already scaled to the crop) -> [N, 2] image pixels."""
        xy = _perspective(points, self.rot, self.pivot) + self.centre_shift
        return (
            (xy - 128.0) * self.zoom + 128.0 * self.size / 256.0 + self.offset + 0.5 * (self.size / 256.0 - 1)
        )

    def place(self, points: np.ndarray) -> np.ndarray:
        """Drawing geometry given before alignment (mean-face coordinates) -> image pixels."""
        q = points * self.head_scale
        q[:, :2] += self.head_shift
        return self(q)

    def normal(self, vector: np.ndarray) -> np.ndarray:
        """A model-space direction expressed in camera space."""
        return self.rot @ vector
