"""The skin of a synthetic face at half resolution: lighting on a head-shaped ellipsoid, the
soft shadows of the face's relief, and the creases (wrinkles, folds, dimples) through which
Action Units show in the skin rather than in the landmarks.

Everything here works on a grid of half the crop size: shading is smooth, so the half grid
costs a quarter of the work and its bilinear upscale doubles as anti-aliasing.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from auheat.synth.params import SYNTH_AUS, Capture, Identity
from auheat.synth.pixels import gaussian_blur, upscale2

NEUTRAL = 128  # layer value that neither darkens nor lightens


@lru_cache(maxsize=4)
def _texture(n: int) -> np.ndarray:
    """[2n, 2n] smooth skin mottling around 1.0 (fixed seed), cropped per subject."""
    coarse = np.random.default_rng(7).normal(0, 1, (n // 4, n // 4)).astype(np.float32)
    fine = np.random.default_rng(8).normal(0, 1, (n, n)).astype(np.float32)
    smooth = np.asarray(Image.fromarray(coarse, "F").resize((2 * n, 2 * n), Image.Resampling.BICUBIC))
    return 1.0 + 0.035 * smooth + 0.012 * np.tile(fine, (2, 2))


def light_vector(capture: Capture) -> np.ndarray:
    """[3] unit vector towards the light in camera space (x right, y down, z to the camera)."""
    az, el = np.radians([capture.light_azimuth, capture.light_elevation])
    return np.array([np.sin(az) * np.cos(el), -np.sin(el), np.cos(az) * np.cos(el)])


def base_shading(
    rot: np.ndarray, centre: np.ndarray, radii: np.ndarray, capture: Capture, n: int
) -> np.ndarray:
    """[n, n] brightness (about 0.3..1.1) of a rotated head ellipsoid seen along the optical axis.

    ``centre`` is the ellipsoid centre in grid pixels (x, y) plus depth, ``radii`` its semi-axes
    in grid pixels. Each pixel's ray meets the ellipsoid; the normal there is lit with a
    wrapped Lambert term (soft terminator) plus ambient light, and a faint specular sheen.
    """
    g = np.arange(n, dtype=np.float32)
    gx, gy = (g - np.float32(centre[0]))[None, :], (g - np.float32(centre[1]))[:, None]  # broadcast
    # Ray origin and direction (towards -z) in the head's own frame.
    inv = rot.T / radii[:, None]
    ox, oy = inv[0, 0] * gx + inv[0, 1] * gy, inv[1, 0] * gx + inv[1, 1] * gy
    oz = inv[2, 0] * gx + inv[2, 1] * gy
    d = -inv[:, 2]
    a = float(d @ d)
    b = ox * d[0] + oy * d[1] + oz * d[2]
    c = ox * ox + oy * oy + oz * oz - 1.0
    t = (-b - np.sqrt(np.maximum(b * b - a * c, 0.0))) / a
    px, py, pz = ox + t * d[0], oy + t * d[1], oz + t * d[2]
    # The normal of the unit sphere at p, back through the scaling, into camera space.
    m = rot / radii[None, :]
    nx = m[0, 0] * px + m[0, 1] * py + m[0, 2] * pz
    ny = m[1, 0] * px + m[1, 1] * py + m[1, 2] * pz
    nz = m[2, 0] * px + m[2, 1] * py + m[2, 2] * pz
    norm = np.sqrt(nx * nx + ny * ny + nz * nz) + 1e-6
    lv = light_vector(capture)
    lam = (nx * lv[0] + ny * lv[1] + nz * lv[2]) / norm
    wrapped = np.clip((lam + 0.35) / 1.35, 0.0, 1.0)
    half = lv + np.array([0.0, 0.0, 1.0])
    half /= np.linalg.norm(half)
    spec = np.clip((nx * half[0] + ny * half[1] + nz * half[2]) / norm, 0, 1) ** 24
    k = capture.light_strength
    return ((1.0 - k) * 0.85 + k * 1.05 * wrapped + 0.06 * spec).astype(np.float32)


class _Layer:
    """An L image around NEUTRAL: values below darken the skin, above lighten it.

    Points are given on the half-resolution grid; a layer ``k`` times coarser (for blurred
    relief) converts them itself, so callers use one frame throughout.
    """

    def __init__(self, n: int, scale: float, k: int = 1) -> None:
        self.image = Image.new("L", (n // k, n // k), NEUTRAL)
        self.draw = ImageDraw.Draw(self.image)
        self.s = scale  # grid pixels per crop pixel of a 256 face
        self.k = k

    def _xy(self, pts: np.ndarray) -> list[float]:
        return (pts if self.k == 1 else (pts + 0.5) / self.k - 0.5).ravel().tolist()

    def line(
        self, pts: np.ndarray, depth: float, width: float = 1.0, light: np.ndarray | None = None
    ) -> None:
        """A crease of relative ``depth`` (0..1) along ``pts`` [K, 2]; ``light`` [2] offsets a
        brighter ridge on the lit side, as a fold's upper lip catches the light."""
        if abs(depth) <= 0.01:
            return
        w = max(1, round(width * self.s / self.k))
        depth = min(depth, 1.5)
        if light is not None:
            self.draw.line(self._xy(pts + light), fill=int(NEUTRAL + 40 * depth), width=w)
        self.draw.line(self._xy(pts), fill=int(NEUTRAL - 70 * depth), width=w)

    def blob(self, centre: np.ndarray, rx: float, ry: float, value: float) -> None:
        cx, cy = (centre + 0.5) / self.k - 0.5
        rx, ry = rx / self.k, ry / self.k
        self.draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=min(255, max(0, int(value))))

    def poly(self, pts: np.ndarray, value: float) -> None:
        self.draw.polygon(self._xy(pts), fill=min(255, max(0, int(value))))


def _curve(a: np.ndarray, b: np.ndarray, bend: np.ndarray, n: int = 5) -> np.ndarray:
    """[n, 2] quadratic curve from a to b whose middle is pushed by ``bend``."""
    t, arch = _curve_weights(n)
    return a + (b - a) * t + arch * bend


@lru_cache(maxsize=8)
def _curve_weights(n: int) -> tuple[np.ndarray, np.ndarray]:
    """[n, 1] positions along a curve and [n, 1] the bulge profile 4 t (1 - t)."""
    t = np.linspace(0, 1, n)[:, None]
    return t, 4 * t * (1 - t)


def skin_image(
    identity: Identity,
    levels: np.ndarray,
    lm: np.ndarray,
    neutral: np.ndarray,
    shading: np.ndarray,
    n: int,
    face: np.ndarray,
    neck: np.ndarray,
    light2d: np.ndarray,
) -> Image.Image:
    """The lit skin colour of the whole half-resolution grid, as an RGB image.

    Args:
        identity: the subject (skin tone, baseline wrinkles, texture seed).
        levels: [len(SYNTH_AUS)] AU intensities 0..5.
        lm: [68, 2] landmarks in grid pixels (with the expression).
        neutral: [68, 2] the same face without expression, in grid pixels: the frame in which
            permanent features are laid out, so an AU never moves what it does not act on.
        shading: [n // 2, n // 2] base brightness from :func:`base_shading`, on a grid twice
            as coarse (it is smooth).
        n: side of the half-resolution grid.
        face: [K, 2] face outline; neck: [4, 2] neck polygon (grid pixels).
        light2d: [2] image-plane direction towards the light (unit or shorter).
    """
    f = dict(zip(SYNTH_AUS, levels / 5.0, strict=True))
    iod = float(np.linalg.norm(neutral[45] - neutral[36]))
    s = iod / 97.6  # grid pixels per crop pixel of an aligned face
    right = (neutral[45] - neutral[36]) / iod
    up = np.array([right[1], -right[0]])
    lit = light2d * 0.9 * s
    base = identity.wrinkles

    soft = _Layer(n, s, 2)  # broad relief, heavily blurred: drawn on a coarser grid
    # Eye sockets under the brow ridge, deeper when the brows come down (AU4).
    for eye, brow in ((range(36, 42), range(17, 22)), (range(42, 48), range(22, 27))):
        c = lm[list(eye)].mean(0) * 0.6 + lm[list(brow)].mean(0) * 0.4
        soft.blob(c, 19 * s, 11 * s, 100 - 35 * f[4])
    # Nose: the side away from the light is shaded, the ridge catches it, the base casts a shadow.
    side = 35 if light2d[0] < 0 else 31
    away = -np.sign(light2d[0] or 1.0) * right * 5 * s
    soft.poly(
        np.array([lm[27], lm[29], lm[side], lm[side] + away * 0.8, lm[28] + away * 1.2, lm[27] + away]), 85
    )
    soft.poly(
        np.array([lm[31], lm[33], lm[35], lm[35] + up * -4 * s, lm[33] - up * 6 * s, lm[31] - up * 4 * s]), 70
    )
    soft.line(np.array([lm[27], lm[30]]), -0.5, 4)
    soft.blob(lm[30], 4.5 * s, 4 * s, 185)
    # Temples and the hollows under the cheekbones sit back; the forehead bulges forward.
    for a, b in ((0, 17), (16, 26)):
        soft.blob(lm[a] * 0.6 + lm[b] * 0.4, 8 * s, 14 * s, 95)
    for a, b in ((4, 48), (12, 54)):
        soft.blob(lm[a] * 0.6 + lm[b] * 0.4 - up * 4 * s, 9 * s, 10 * s, 100)
    soft.blob((lm[19] + lm[24]) / 2 + up * 28 * s, 30 * s, 14 * s, 150)
    # Cheeks: raised and rounded by AU6 (most) and AU12.
    lift = (5 * f[6] + 2.5 * f[12]) * s
    for pts in ((1, 41, 31), (15, 46, 35)):
        c = neutral[list(pts)].mean(0) + up * lift
        soft.blob(c, 14 * s, (10 + 2 * f[6]) * s, 142 + 28 * f[6] + 10 * f[12])
    # Under the lower lip, the mentolabial sulcus, deeper when the chin boss pushes up (AU17);
    # the chin boss itself catches light.
    soft.blob(lm[57] - up * 5 * s, 12 * s, (3.5 + 1.5 * f[17]) * s, 100 - 30 * f[17])
    soft.blob((lm[57] + lm[8]) / 2 - up * 3 * s, 13 * s, 7 * s, 145 + 12 * f[17])
    # Between the brows: the bunched skin of AU4 and AU9 darkens the glabella.
    soft.blob((lm[21] + lm[22]) / 2 - up * 2 * s, 8 * s, 6 * s, 128 - 30 * f[4] - 15 * f[9])

    sharp = _Layer(n, s)  # creases and the jaw's edge, lightly blurred
    sharp.poly(neck, 88)
    sharp.poly(face, NEUTRAL)
    sharp.line(face[:17], 0.33, 3)
    _forehead_lines(sharp, lm, up, s, f[1], f[2], base, lit)
    # Glabellar furrows (AU4): two vertical lines between the converging brows.
    for t in (0.36, 0.64) if f[4] > 0 else ():
        top = lm[21] + (lm[22] - lm[21]) * t + up * 3 * s
        sharp.line(
            np.array([top, top + (lm[27] - top) * 0.9 + right * (t - 0.5) * 3 * s]), 1.1 * f[4], 1.6, lit
        )
    # Nose root wrinkles (AU9): short bars across the bridge.
    for k, t in enumerate((0.15, 0.45, 0.75) if f[9] > 0 else ()):
        c = lm[27] + (lm[28] - lm[27]) * t
        w = (6 + 2 * k) * s
        sharp.line(_curve(c - right * w, c + right * w, up * 1.5 * s, 4), 1.2 * f[9] - 0.2 * k, 1.3, lit)
    _nasolabial(sharp, lm, right, up, s, f, base, lit)
    _eye_creases(sharp, lm, right, up, s, f, base, lit)
    _mouth_creases(sharp, lm, right, up, s, f, lit)
    # Broad terms on the coarse grid, upscaled; creases and texture at the grid's resolution.
    # The relief is heavily blurred (small arrays: numpy beats Pillow's per-pixel filters here).
    relief = gaussian_blur(np.asarray(soft.image, np.float32) * (0.85 / NEUTRAL) + (1.0 - 0.85), 2 * s)
    broad = upscale2(shading * relief)
    # Creases map 0..255 to 0.2..1.8 (1 at NEUTRAL); the palette code folds in as one scale.
    creases = np.asarray(sharp.image, np.float32) * (0.8 / NEUTRAL * _SHADE_CODE) + 0.2 * _SHADE_CODE
    tex = _texture(n)
    oy, ox = identity.seed % n, (identity.seed // n) % n
    shade = broad * creases * tex[oy : oy + n, ox : ox + n]
    # Coded shade -> colour through a palette: one C pass instead of float RGB arithmetic.
    coded = Image.fromarray(np.clip(shade, 0, 255).astype(np.uint8), "P")
    coded.putpalette(_tone_palette(identity.skin))
    return coded.convert("RGB")


_SHADE_CODE = 180.0  # grey level that stands for shade 1.0 (room above for highlights)


@lru_cache(maxsize=1024)
def _tone_palette(tone: tuple[int, int, int]) -> bytes:
    """768-byte RGB palette from coded shade to skin colour. Shadows in skin are warmer (more
    red, less blue) than its lit parts."""
    shade = np.arange(256)[:, None] / _SHADE_CODE
    warm = np.array([0.08, -0.02, -0.1])
    return np.clip(np.asarray(tone) * shade * (1.0 + warm * (1.0 - shade)), 0, 255).astype(np.uint8).tobytes()


def _forehead_lines(
    layer: _Layer,
    lm: np.ndarray,
    up: np.ndarray,
    s: float,
    f1: float,
    f2: float,
    base: float,
    lit: np.ndarray,
) -> None:
    """Horizontal lines that follow the brows: central ones from AU1, lateral ones from AU2,
    faint full-width ones from the subject's age. Each line is drawn piece by piece so its
    depth can change across the forehead."""
    brow = lm[17:27]
    # Lines sit lower towards the temples, where the forehead turns away.
    arch = np.abs(np.linspace(-1, 1, 10))[:, None] * 2.5 * s
    # Three pieces per line (outer left, centre, outer right) so AU1 and AU2 deepen their own parts.
    pieces = ((slice(0, 4), 0.0, 1.0), (slice(3, 7), 1.0, 0.0), (slice(6, 10), 0.0, 1.0))
    for k in range(4):
        line = brow + up * ((9 + 6.5 * k) * s - arch)
        fade = 1 - 0.2 * k
        for part, central, lateral in pieces:
            depth = (1.3 * (f1 * central + f2 * lateral) + 0.35 * base) * fade - 0.12 * k
            layer.line(line[part], depth, 1.4, lit)


def _nasolabial(
    layer: _Layer,
    lm: np.ndarray,
    right: np.ndarray,
    up: np.ndarray,
    s: float,
    f: dict,
    base: float,
    lit: np.ndarray,
) -> None:
    """The fold from the nose wing to beyond the lip corner: deepened by AU10 (most), AU12, AU9, AU6."""
    depth = 0.3 * base + 1.0 * f[10] + 0.55 * f[12] + 0.35 * f[9] + 0.2 * f[6]
    for wing, corner, sgn in ((31, 48, -1), (35, 54, 1)):
        start = lm[wing] + right * sgn * 2 * s + up * 3 * s
        end = lm[corner] + right * sgn * 6 * s - up * 5 * s
        pts = _curve(start, end, right * sgn * 4 * s, 6)
        layer.line(pts, depth, 1.6 + 0.8 * f[10], lit)


def _eye_creases(
    layer: _Layer,
    lm: np.ndarray,
    right: np.ndarray,
    up: np.ndarray,
    s: float,
    f: dict,
    base: float,
    lit: np.ndarray,
) -> None:
    """Crow's feet fanning from the outer eye corners and the furrow under the lower lid (AU6)."""
    for outer, lower, sgn in ((36, (41, 40), -1), (45, (46, 47), 1)):
        start = lm[outer] + right * sgn * 4 * s
        for k, angle in enumerate((-0.45, 0.0, 0.45)):
            direction = right * sgn * np.cos(angle) + up * np.sin(angle)
            length = (6 + 6 * f[6]) * s * (0.8 if k != 1 else 1.0)
            depth = 1.2 * f[6] + 0.3 * base - 0.1 * abs(k - 1)
            layer.line(np.array([start, start + direction * length]), depth, 1.2, lit)
        a, b = lm[outer] - up * 4 * s + right * sgn * -1 * s, lm[39 if sgn < 0 else 42] - up * 6 * s
        pts = _curve(a - up * (2 - 2 * f[6]) * s, b, -up * 3 * s, 5)
        pts[:, :] = pts + (lm[list(lower)].mean(0) - (lm[outer] + lm[39 if sgn < 0 else 42]) / 2) * 0.5
        layer.line(pts, 0.9 * f[6] + 0.25 * base, 1.4, lit)


def _mouth_creases(
    layer: _Layer, lm: np.ndarray, right: np.ndarray, up: np.ndarray, s: float, f: dict, lit: np.ndarray
) -> None:
    """Dimples (AU14), the depressor fold (AU15), lateral bunching (AU20), chin dimpling (AU17)."""
    for corner, sgn in ((48, -1), (54, 1)) if f[14] + f[15] + f[20] > 0 else ():
        c = lm[corner] + right * sgn * 4.5 * s
        layer.line(_curve(c + up * 4 * s, c - up * 4 * s, right * sgn * 1.5 * s, 4), 1.4 * f[14], 1.8, lit)
        layer.blob(lm[corner] + right * sgn * 1.2 * s, 1.8 * s, 1.5 * s, NEUTRAL - 60 * f[14])
        layer.blob(c + right * sgn * 3 * s, 2.5 * s, 4 * s, NEUTRAL + 25 * f[14])
        down = lm[corner] - up * 2 * s + right * sgn * 1.5 * s
        layer.line(np.array([down, down - up * 10 * s + right * sgn * 3 * s]), 1.1 * f[15], 1.6, lit)
        side = lm[corner] + right * sgn * 6 * s
        layer.line(np.array([side + up * 3 * s, side - up * 4 * s]), 0.8 * f[20], 1.2, lit)
    # Chin boss "orange peel": dimples in a fixed pattern over the boss.
    boss = (lm[57] + lm[8]) / 2
    for dx, dy in (
        ()
        if f[17] == 0
        else ((-9, -3), (-4, -5), (2, -4), (8, -2), (-7, 3), (-1, 0), (5, 2), (-3, 6), (3, 7), (10, 4))
    ):
        p = boss + right * dx * s - up * dy * s
        layer.blob(p, 0.9 * s, 0.8 * s, NEUTRAL - 45 * f[17])
        layer.blob(p + up * 1.2 * s, 0.9 * s, 0.6 * s, NEUTRAL + 20 * f[17])
