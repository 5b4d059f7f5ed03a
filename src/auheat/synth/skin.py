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
    rot: np.ndarray,
    centre: np.ndarray,
    radii: np.ndarray,
    capture: Capture,
    n: int,
    grid_to_projection: np.ndarray | None = None,
) -> np.ndarray:
    """[n, n] brightness (about 0.3..1.1) of a rotated head ellipsoid seen along the optical axis.

    ``centre`` is the ellipsoid centre in grid pixels (x, y) of the projection, ``radii`` its
    semi-axes in grid pixels. Each pixel's ray meets the ellipsoid; the normal there is lit
    with a wrapped Lambert term (soft terminator) plus ambient light, and a faint specular
    sheen. ``grid_to_projection`` (2x3, None: the identity) takes this grid's pixels to the
    projection's grid pixels, for a face drawn in another frame (an aligned crop).
    """
    g = np.arange(n, dtype=np.float32)
    warp = np.eye(2, 3) if grid_to_projection is None else np.asarray(grid_to_projection, np.float64)
    # Ray origin and direction (towards -z) in the head's own frame: each origin coordinate is
    # an affine function of the grid pixel, built from a row and a column (broadcast).
    inv = rot.T / radii[:, None]
    along = inv[:, :2] @ warp[:, :2]  # [3, 2] per grid column, per grid row
    at = inv[:, :2] @ (warp[:, 2] - np.asarray(centre, np.float64)[:2])
    ox, oy, oz = (
        (np.float32(along[i, 0]) * g)[None, :] + (np.float32(along[i, 1]) * g + np.float32(at[i]))[:, None]
        for i in range(3)
    )
    # Python floats keep the arithmetic in float32 (numpy scalars would promote it to float64).
    d0, d1, d2 = (-inv[:, 2]).tolist()
    a = d0 * d0 + d1 * d1 + d2 * d2
    b = ox * d0 + oy * d1 + oz * d2
    c = ox * ox + oy * oy + oz * oz - 1.0
    t = b * b - a * c
    np.maximum(t, 0.0, out=t)
    np.sqrt(t, out=t)
    t += b
    t *= -1.0 / a
    px, py, pz = ox + t * d0, oy + t * d1, oz + t * d2
    # The normal of the unit sphere at p, back through the scaling, into camera space.
    m = (rot / radii[None, :]).tolist()
    nx = m[0][0] * px + m[0][1] * py + m[0][2] * pz
    ny = m[1][0] * px + m[1][1] * py + m[1][2] * pz
    nz = m[2][0] * px + m[2][1] * py + m[2][2] * pz
    inv_norm = 1.0 / (np.sqrt(nx * nx + ny * ny + nz * nz) + 1e-6)
    lv = light_vector(capture)
    half = lv + np.array([0.0, 0.0, 1.0])
    half /= np.linalg.norm(half)
    l0, l1, l2 = lv.tolist()
    h0, h1, h2 = half.tolist()
    lam = (nx * l0 + ny * l1 + nz * l2) * inv_norm
    wrapped = np.clip((lam + 0.35) * (1 / 1.35), 0.0, 1.0)
    spec = np.clip((nx * h0 + ny * h1 + nz * h2) * inv_norm, 0, 1)
    spec *= spec  # spec ** 24 by squaring (a general power is several times slower)
    spec *= spec
    spec *= spec
    spec *= spec * spec
    k = capture.light_strength
    return (1.0 - k) * 0.85 + (k * 1.05) * wrapped + 0.06 * spec


class _Layer:
    """An L image around NEUTRAL: values below darken the skin, above lighten it.

    Points are complex numbers x + iy on the half-resolution grid (Python complex arithmetic
    costs a few tens of nanoseconds per operation, numpy's on 2-vectors about a microsecond,
    and a face needs hundreds); a layer ``k`` times coarser (for blurred relief) converts them
    itself, so callers use one frame throughout.
    """

    def __init__(self, n: int, scale: float, k: int = 1) -> None:
        self.image = Image.new("L", (n // k, n // k), NEUTRAL)
        # Pillow's C drawing object, called directly: ImageDraw's wrappers only resolve the ink,
        # which for an L image is the grey level itself.
        self.core = ImageDraw.Draw(self.image).draw
        self.s = scale  # grid pixels per crop pixel of a 256 face
        self.k = k

    def _xy(self, pts: list[complex]) -> list[float]:
        if self.k != 1:
            k, shift = self.k, 0.5 / self.k - 0.5
            pts = [z / k + complex(shift, shift) for z in pts]
        return [v for z in pts for v in (z.real, z.imag)]

    def line(
        self, pts: list[complex], depth: float, width: float = 1.0, light: complex | None = None
    ) -> None:
        """A crease of relative ``depth`` (0..1) along ``pts``; ``light`` offsets a brighter
        ridge on the lit side, as a fold's upper lip catches the light."""
        if abs(depth) <= 0.01:
            return
        w = max(1, round(width * self.s / self.k))
        depth = min(depth, 1.5)
        if light is not None:
            self.core.draw_lines(self._xy([z + light for z in pts]), int(NEUTRAL + 40 * depth), w)
        self.core.draw_lines(self._xy(pts), int(NEUTRAL - 70 * depth), w)

    def blob(self, centre: complex, rx: float, ry: float, value: float) -> None:
        k = self.k
        cx, cy = (centre.real + 0.5) / k - 0.5, (centre.imag + 0.5) / k - 0.5
        rx, ry = rx / k, ry / k
        self.core.draw_ellipse([cx - rx, cy - ry, cx + rx, cy + ry], min(255, max(0, int(value))), 1)

    def poly(self, pts: list[complex], value: float) -> None:
        self.core.draw_polygon(self._xy(pts), min(255, max(0, int(value))), 1)


def _curve(a: complex, b: complex, bend: complex, n: int = 5) -> list[complex]:
    """n points of the quadratic curve from a to b whose middle is pushed by ``bend``."""
    return [a + (b - a) * t + arch * bend for t, arch in _curve_weights(n)]


@lru_cache(maxsize=8)
def _curve_weights(n: int) -> tuple[tuple[float, float], ...]:
    """(t, 4 t (1 - t)): positions along a curve and the bulge profile."""
    return tuple((t, 4 * t * (1 - t)) for t in np.linspace(0, 1, n).tolist())


def _complex(points: np.ndarray) -> list[complex]:
    """[K, 2] (x, y) -> K Python complex numbers x + iy."""
    return (points[:, 0] + 1j * points[:, 1]).tolist()


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
    f = dict(zip(SYNTH_AUS, (levels / 5.0).tolist(), strict=True))
    z, zn = _complex(lm), _complex(neutral)
    iod = abs(zn[45] - zn[36])
    s = iod / 97.6  # grid pixels per crop pixel of an aligned face
    right = (zn[45] - zn[36]) / iod
    up = -1j * right  # (right.y, -right.x)
    lx, ly = float(light2d[0]), float(light2d[1])
    lit = complex(lx, ly) * 0.9 * s
    base = identity.wrinkles

    soft = _Layer(n, s, 2)  # broad relief, heavily blurred: drawn on a coarser grid
    # Eye sockets under the brow ridge, deeper when the brows come down (AU4).
    for eye, brow in ((range(36, 42), range(17, 22)), (range(42, 48), range(22, 27))):
        c = sum(z[i] for i in eye) / 6 * 0.6 + sum(z[i] for i in brow) / 5 * 0.4
        soft.blob(c, 19 * s, 11 * s, 100 - 35 * f[4])
    # Nose: the side away from the light is shaded, the ridge catches it, the base casts a shadow.
    side = 35 if lx < 0 else 31
    away = -(1.0 if (lx or 1.0) > 0 else -1.0) * right * 5 * s
    soft.poly([z[27], z[29], z[side], z[side] + away * 0.8, z[28] + away * 1.2, z[27] + away], 85)
    soft.poly([z[31], z[33], z[35], z[35] + up * -4 * s, z[33] - up * 6 * s, z[31] - up * 4 * s], 70)
    soft.line([z[27], z[30]], -0.5, 4)
    soft.blob(z[30], 4.5 * s, 4 * s, 185)
    # Temples and the hollows under the cheekbones sit back; the forehead bulges forward.
    for a, b in ((0, 17), (16, 26)):
        soft.blob(z[a] * 0.6 + z[b] * 0.4, 8 * s, 14 * s, 95)
    for a, b in ((4, 48), (12, 54)):
        soft.blob(z[a] * 0.6 + z[b] * 0.4 - up * 4 * s, 9 * s, 10 * s, 100)
    soft.blob((z[19] + z[24]) / 2 + up * 28 * s, 30 * s, 14 * s, 150)
    # Cheeks: raised and rounded by AU6 (most) and AU12.
    lift = (5 * f[6] + 2.5 * f[12]) * s
    for a, b, c in ((1, 41, 31), (15, 46, 35)):
        centre = (zn[a] + zn[b] + zn[c]) / 3 + up * lift
        soft.blob(centre, 14 * s, (10 + 2 * f[6]) * s, 142 + 28 * f[6] + 10 * f[12])
    # Under the lower lip, the mentolabial sulcus, deeper when the chin boss pushes up (AU17);
    # the chin boss itself catches light.
    soft.blob(z[57] - up * 5 * s, 12 * s, (3.5 + 1.5 * f[17]) * s, 100 - 30 * f[17])
    soft.blob((z[57] + z[8]) / 2 - up * 3 * s, 13 * s, 7 * s, 145 + 12 * f[17])
    # Between the brows: the bunched skin of AU4 and AU9 darkens the glabella.
    soft.blob((z[21] + z[22]) / 2 - up * 2 * s, 8 * s, 6 * s, 128 - 30 * f[4] - 15 * f[9])

    sharp = _Layer(n, s)  # creases and the jaw's edge, lightly blurred
    sharp.poly(_complex(neck), 88)
    outline = _complex(face)
    sharp.poly(outline, NEUTRAL)
    sharp.line(outline[:17], 0.33, 3)
    _forehead_lines(sharp, z, up, s, f[1], f[2], base, lit)
    # Glabellar furrows (AU4): two vertical lines between the converging brows.
    for t in (0.36, 0.64) if f[4] > 0 else ():
        top = z[21] + (z[22] - z[21]) * t + up * 3 * s
        sharp.line([top, top + (z[27] - top) * 0.9 + right * (t - 0.5) * 3 * s], 1.1 * f[4], 1.6, lit)
    # Nose root wrinkles (AU9): short bars across the bridge.
    for k, t in enumerate((0.15, 0.45, 0.75) if f[9] > 0 else ()):
        c = z[27] + (z[28] - z[27]) * t
        w = (6 + 2 * k) * s
        sharp.line(_curve(c - right * w, c + right * w, up * 1.5 * s, 4), 1.2 * f[9] - 0.2 * k, 1.3, lit)
    _nasolabial(sharp, z, right, up, s, f, base, lit)
    _eye_creases(sharp, z, right, up, s, f, base, lit)
    _mouth_creases(sharp, z, right, up, s, f, lit)
    # Broad terms on the coarse grid, upscaled; creases and texture at the grid's resolution.
    # The relief is heavily blurred (small arrays, vectorised filters).
    relief = gaussian_blur(np.asarray(soft.image, np.float32), 2 * s)
    relief *= np.float32(0.85 / NEUTRAL)
    relief += np.float32(1.0 - 0.85)
    relief *= shading
    shade = upscale2(relief)
    # Creases map 0..255 to 0.2..1.8 (1 at NEUTRAL); the palette code folds in as one scale.
    creases = np.asarray(sharp.image, np.float32)
    creases *= np.float32(0.8 / NEUTRAL * _SHADE_CODE)
    creases += np.float32(0.2 * _SHADE_CODE)
    shade *= creases
    tex = _texture(n)
    oy, ox = identity.seed % n, (identity.seed // n) % n
    shade *= tex[oy : oy + n, ox : ox + n]
    # Coded shade -> colour through a palette: one C pass instead of float RGB arithmetic.
    coded = Image.fromarray(np.clip(shade, 0, 255, out=shade).astype(np.uint8), "P")
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
    z: list[complex],
    up: complex,
    s: float,
    f1: float,
    f2: float,
    base: float,
    lit: complex,
) -> None:
    """Horizontal lines that follow the brows: central ones from AU1, lateral ones from AU2,
    faint full-width ones from the subject's age. Each line is drawn piece by piece so its
    depth can change across the forehead."""
    brow = z[17:27]
    # Lines sit lower towards the temples, where the forehead turns away.
    arch = [a * 2.5 * s for a in _FOREHEAD_ARCH]
    # Three pieces per line (outer left, centre, outer right) so AU1 and AU2 deepen their own parts.
    pieces = ((slice(0, 4), 0.0, 1.0), (slice(3, 7), 1.0, 0.0), (slice(6, 10), 0.0, 1.0))
    for k in range(4):
        line = [b + up * ((9 + 6.5 * k) * s - a) for b, a in zip(brow, arch, strict=True)]
        fade = 1 - 0.2 * k
        for part, central, lateral in pieces:
            depth = (1.3 * (f1 * central + f2 * lateral) + 0.35 * base) * fade - 0.12 * k
            layer.line(line[part], depth, 1.4, lit)


_FOREHEAD_ARCH = np.abs(np.linspace(-1, 1, 10)).tolist()


def _nasolabial(
    layer: _Layer,
    z: list[complex],
    right: complex,
    up: complex,
    s: float,
    f: dict,
    base: float,
    lit: complex,
) -> None:
    """The fold from the nose wing to beyond the lip corner: deepened by AU10 (most), AU12, AU9, AU6."""
    depth = 0.3 * base + 1.0 * f[10] + 0.55 * f[12] + 0.35 * f[9] + 0.2 * f[6]
    for wing, corner, sgn in ((31, 48, -1), (35, 54, 1)):
        start = z[wing] + right * sgn * 2 * s + up * 3 * s
        end = z[corner] + right * sgn * 6 * s - up * 5 * s
        layer.line(_curve(start, end, right * sgn * 4 * s, 6), depth, 1.6 + 0.8 * f[10], lit)


def _eye_creases(
    layer: _Layer,
    z: list[complex],
    right: complex,
    up: complex,
    s: float,
    f: dict,
    base: float,
    lit: complex,
) -> None:
    """Crow's feet fanning from the outer eye corners and the furrow under the lower lid (AU6)."""
    for outer, (l0, l1), sgn in ((36, (41, 40), -1), (45, (46, 47), 1)):
        inner = 39 if sgn < 0 else 42
        start = z[outer] + right * sgn * 4 * s
        for k, (cos, sin) in enumerate(_CROW_ANGLES):
            direction = right * sgn * cos + up * sin
            length = (6 + 6 * f[6]) * s * (0.8 if k != 1 else 1.0)
            depth = 1.2 * f[6] + 0.3 * base - 0.1 * abs(k - 1)
            layer.line([start, start + direction * length], depth, 1.2, lit)
        a, b = z[outer] - up * 4 * s + right * sgn * -1 * s, z[inner] - up * 6 * s
        shift = ((z[l0] + z[l1]) / 2 - (z[outer] + z[inner]) / 2) * 0.5
        pts = [p + shift for p in _curve(a - up * (2 - 2 * f[6]) * s, b, -up * 3 * s, 5)]
        layer.line(pts, 0.9 * f[6] + 0.25 * base, 1.4, lit)


_CROW_ANGLES = tuple((float(np.cos(a)), float(np.sin(a))) for a in (-0.45, 0.0, 0.45))
_CHIN_DIMPLES = ((-9, -3), (-4, -5), (2, -4), (8, -2), (-7, 3), (-1, 0), (5, 2), (-3, 6), (3, 7), (10, 4))


def _mouth_creases(
    layer: _Layer, z: list[complex], right: complex, up: complex, s: float, f: dict, lit: complex
) -> None:
    """Dimples (AU14), the depressor fold (AU15), lateral bunching (AU20), chin dimpling (AU17)."""
    for corner, sgn in ((48, -1), (54, 1)) if f[14] + f[15] + f[20] > 0 else ():
        c = z[corner] + right * sgn * 4.5 * s
        layer.line(_curve(c + up * 4 * s, c - up * 4 * s, right * sgn * 1.5 * s, 4), 1.4 * f[14], 1.8, lit)
        layer.blob(z[corner] + right * sgn * 1.2 * s, 1.8 * s, 1.5 * s, NEUTRAL - 60 * f[14])
        layer.blob(c + right * sgn * 3 * s, 2.5 * s, 4 * s, NEUTRAL + 25 * f[14])
        down = z[corner] - up * 2 * s + right * sgn * 1.5 * s
        layer.line([down, down - up * 10 * s + right * sgn * 3 * s], 1.1 * f[15], 1.6, lit)
        side = z[corner] + right * sgn * 6 * s
        layer.line([side + up * 3 * s, side - up * 4 * s], 0.8 * f[20], 1.2, lit)
    # Chin boss "orange peel": dimples in a fixed pattern over the boss.
    boss = (z[57] + z[8]) / 2
    for dx, dy in () if f[17] == 0 else _CHIN_DIMPLES:
        p = boss + right * dx * s - up * dy * s
        layer.blob(p, 0.9 * s, 0.8 * s, NEUTRAL - 45 * f[17])
        layer.blob(p + up * 1.2 * s, 0.9 * s, 0.6 * s, NEUTRAL + 20 * f[17])
