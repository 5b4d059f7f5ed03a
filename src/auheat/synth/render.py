"""Render one synthetic face: the composition of geometry (shape.py), skin (skin.py), the
drawn features (brows, eyes, nose, lips, teeth, hair), occluders, and the camera (photo.py).

Order of work, chosen for speed: background, hair and skin are composed on a grid of half the
crop size and upscaled once (bilinear, which also anti-aliases the face outline); the small,
sharp features are then drawn at full size with Pillow's C drawing routines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from auheat.synth.params import Capture, Identity, Pose, check_intensities, sample_capture
from auheat.synth.photo import background, develop
from auheat.synth.shape import COLLAR, EARS, HAIRLINE, NECK, SKULL, Camera, expression_offsets, neutral_face
from auheat.synth.skin import base_shading, light_vector, skin_image

Colour = tuple[int, ...]
FRONTAL = Pose()  # the default pose (frozen, so one shared instance is safe)
# Head ellipsoid for the lighting, in mean-face model coordinates: centre and semi-axes.
_HEAD_CENTRE = np.array([0.0, 118.0, -70.0])
_HEAD_RADII = np.array([80.0, 120.0, 92.0])


def _rgb(c: np.ndarray | tuple, alpha: int | None = None) -> Colour:
    c = tuple(min(255, max(0, int(v))) for v in c)
    return c if alpha is None else (*c, int(alpha))


def _pts(a: np.ndarray) -> list[float]:
    """[K, 2] points -> the flat [x0, y0, x1, y1, ...] list Pillow draws from fastest."""
    return np.asarray(a, np.float64).ravel().tolist()


def render_face(
    identity: Identity,
    intensities: Mapping[int, float],
    pose: Pose = FRONTAL,
    capture: Capture | None = None,
    rng: np.random.Generator | None = None,
    size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one face and return its exact landmarks.

    Args:
        identity: the subject.
        intensities: AU number -> intensity in [0, 5]; a missing AU is 0.
        pose: head rotation (degrees).
        capture: the frame's nuisances; None draws one with ``sample_capture(rng)``.
        rng: used only to draw a capture; None means ``np.random.default_rng(0)``.
        size: side of the square image in pixels (the face fills it like an aligned crop).

    Returns:
        image [size, size, 3] uint8 RGB and landmarks [68, 2] float32 (x, y) image pixels
        (pixel centres at integer coordinates, iBUG 68-point order, 0-based): where the drawn
        features are after pose, crop jitter and everything else. The same inputs always give
        the same bytes.
    """
    if not isinstance(size, int | np.integer) or size < 32:
        raise ValueError(f"size must be an integer of at least 32 pixels, got {size!r}")
    levels = check_intensities(intensities)
    if capture is None:
        capture = sample_capture(rng if rng is not None else np.random.default_rng(0))
    cam = Camera(identity, pose, capture, size)
    look = _subject(identity)
    neutral3d = neutral_face(identity)[0]
    # One projection for everything: landmarks, the neutral face and the drawing geometry.
    points = cam(np.concatenate([neutral3d + expression_offsets(levels), neutral3d, look.points]))
    lm, neutral = points[:68], points[68:136]
    half = size // 2
    # The half grid keeps pixel centres at integer coordinates.
    small = (points + 0.5) * (half / size) - 0.5
    part = {name: small[136 + a : 136 + b] for name, (a, b) in look.parts.items()}
    face = np.concatenate([small[:17], part["hairline"][::-1]])
    light2d = light_vector(capture)[:2]
    canvas = background(capture, half)
    if identity.hair_style == "long":  # long hair falls behind the neck and shoulders
        ImageDraw.Draw(canvas).polygon(_pts(part["long"]), fill=look.long_hair)
    # The base shading is smooth: a grid four times coarser than the image is enough.
    centre = (part["centre"][0] + 0.5) / 2 - 0.5
    radii = _HEAD_RADII * cam.head_scale * cam.zoom * (half / size) / 2
    shading = base_shading(cam.rot, centre, radii, capture, half // 2)
    skin = skin_image(identity, levels, small[:68], small[68:136], shading, half, face, part["neck"], light2d)
    mask = Image.new("L", (half, half), 0)
    md = ImageDraw.Draw(mask)
    for outline in (part["neck"], part["ear0"], part["ear1"], face):
        md.polygon(_pts(outline), fill=255)
    if identity.hair_style == "bald":
        md.polygon(_pts(part["skull"]), fill=255)
    canvas.paste(skin, (0, 0), mask)
    ImageDraw.Draw(canvas).polygon(_pts(part["collar"]), fill=look.clothes)
    _hair_front(canvas, identity, look, part, light2d)
    image = canvas.resize((size, size), Image.Resampling.BILINEAR)
    _features(image, identity, lm, neutral, levels, size)
    if capture.occluder is not None:
        _occluder(image, identity, capture, lm, size)
    return develop(image, capture), lm.astype(np.float32)


@dataclass(frozen=True)
class _Look:
    """What a subject's drawing needs that no frame changes: drawing geometry in aligned model
    space ([K, 3], split into named parts by row ranges) and fill colours."""

    points: np.ndarray
    parts: dict[str, tuple[int, int]]
    clothes: Colour
    long_hair: Colour
    hair: np.ndarray  # [3] cap colour (buzz cuts let the skin show through)


@lru_cache(maxsize=4096)
def _subject(identity: Identity) -> _Look:
    """The per-subject drawing geometry and colours (cached: a dataset renders many frames of one
    subject in a row; everything here depends on the identity alone)."""
    skull = _skull(identity)
    cap = skull if identity.hair_style != "buzz" else SKULL
    sides = np.array([[skull[-1, 0] + 12, 300, -70], [skull[0, 0] - 12, 300, -70]])
    named = {
        "hairline": HAIRLINE,
        "ear0": EARS[0],
        "ear1": EARS[1],
        "neck": NECK,
        "skull": SKULL,
        "collar": COLLAR,
        "centre": _HEAD_CENTRE[None],
        "long": np.concatenate([skull, sides]),
        "cap": np.concatenate([cap, _hair_lower(identity)]),
        "strand_tops": cap[1:-1:2][: len(HAIRLINE[1:-1:2])],  # one per strand end on the hairline
    }
    sizes = np.cumsum([0] + [len(v) for v in named.values()])
    _, head_scale, head_shift = neutral_face(identity)
    points = np.concatenate(list(named.values())) * head_scale
    points[:, :2] += head_shift
    hair = np.asarray(identity.hair, np.float64)
    if identity.hair_style == "buzz":
        hair = 0.55 * hair + 0.45 * np.asarray(identity.skin)
    return _Look(
        points=points,
        parts={name: (int(a), int(b)) for name, a, b in zip(named, sizes[:-1], sizes[1:], strict=True)},
        clothes=_rgb(np.random.default_rng(identity.seed + 1).uniform(20, 230, 3)),
        long_hair=_rgb(np.array(identity.hair) * 0.8),
        hair=hair,
    )


def _skull(identity: Identity) -> np.ndarray:
    """[15, 3] cranium outline puffed out by the subject's hair volume (model space)."""
    v = identity.hair_volume
    out = SKULL.copy()
    out[:, 0] *= (82 + 0.6 * v) / 82
    out[:, 1] = 100 - (100 - out[:, 1]) * (100 + v) / 100
    return out


def _hair_lower(identity: Identity) -> np.ndarray:
    """The hair cap's lower border, right to left: the hairline, or a jagged fringe."""
    if identity.hair_style != "fringe":
        return HAIRLINE[::-1]
    x = np.linspace(HAIRLINE[-1, 0] * 0.9, HAIRLINE[0, 0] * 0.9, 11)
    jag = np.random.default_rng(identity.seed).uniform(-3, 3, 11)
    fringe = np.stack([x, 40 + np.abs(x) * 0.25 + jag + identity.brow_height, np.full(11, 10.0)], 1)
    return np.concatenate([HAIRLINE[-1:], fringe, HAIRLINE[:1]])


def _hair_front(
    canvas: Image.Image, identity: Identity, look: _Look, part: dict[str, np.ndarray], light2d: np.ndarray
) -> None:
    """The hair cap between the skull outline and the hairline, a fringe, and a few strands."""
    if identity.hair_style == "bald":
        return
    draw = ImageDraw.Draw(canvas)
    draw.polygon(_pts(part["cap"]), fill=_rgb(look.hair))
    # Strands across the cap, from its outer edge to the hairline, lighter on the lit side.
    top, edge = part["strand_tops"], part["hairline"][1:-1:2]
    ends = top + (edge - top) * 0.9
    lit = (edge - top) @ light2d < 0
    for k, (a, b) in enumerate(zip(top.tolist(), ends.tolist(), strict=True)):
        shine = (1.2 if lit[k] else 0.8) if k % 2 else 1.0
        draw.line([tuple(a), tuple(b)], fill=_rgb(look.hair * shine), width=1)


def _local_light(image: Image.Image, point: np.ndarray, skin: Colour) -> float:
    """How lit the skin is at ``point`` (about 0.4..1.1), read from the composed image."""
    x, y = (min(max(int(v), 0), image.width - 1) for v in point.tolist())
    return min(max(sum(image.getpixel((x, y))) / (sum(skin) + 1e-6), 0.4), 1.15)


def _features(
    image: Image.Image, identity: Identity, lm: np.ndarray, neutral: np.ndarray, levels: np.ndarray, size: int
) -> None:
    """Brows, eyes, nose details and lips at full size, on top of the skin."""
    opaque = ImageDraw.Draw(image)
    blend = ImageDraw.Draw(image, "RGBA")
    iod = float(np.linalg.norm(neutral[45] - neutral[36]))
    s = iod / 97.6
    right = (neutral[45] - neutral[36]) / iod
    down = np.array([-right[1], right[0]])
    f5, f4 = levels[3] / 5.0, levels[2] / 5.0
    skin = identity.skin

    # Brows: the landmarks trace the brow's upper edge; it thins towards the temple.
    taper = identity.brow_thickness * s * np.array([0.5, 0.8, 0.95, 1.0, 1.0])
    for idx, t in ((slice(17, 22), taper), (slice(22, 27), taper[::-1])):
        top = lm[idx]
        poly = np.concatenate([top, (top + down * t[:, None])[::-1]])
        blend.polygon(_pts(poly), fill=_rgb(identity.brow, 215))

    # Eyes.
    for ids, outer, inner in ((list(range(36, 42)), 36, 39), (list(range(42, 48)), 45, 42)):
        eye = lm[ids]
        lit = _local_light(image, eye.mean(0) + down * 8 * s, skin)
        opaque.polygon(_pts(eye), fill=_rgb(np.array([236, 230, 224]) * min(lit, 1.0) * 0.92))
        _iris(image, eye, identity, lit, s)
        blend.line(
            _pts(lm[[outer, ids[1], ids[2], inner] if outer == 36 else [inner, ids[1], ids[2], outer]]),
            fill=(25, 18, 16, 230),
            width=max(1, round(2 * s)),
        )
        blend.line(
            _pts(lm[[inner, ids[4], ids[5], outer] if outer == 36 else [outer, ids[4], ids[5], inner]]),
            fill=_rgb(np.array(skin) * 0.45 * lit, 150),
            width=1,
        )
        upper = lm[[ids[0], ids[1], ids[2], ids[3]]]
        lift = (4.5 - 2.5 * f5 + 1.5 * f4) * s
        crease = upper - down * lift * np.array([0.3, 1.0, 1.0, 0.4])[:, None]
        blend.line(_pts(crease), fill=_rgb(np.array(skin) * 0.5 * lit, 110), width=1)

    # Nose: nostrils, the alar grooves and the soft line under the tip.
    lit = _local_light(image, lm[33] - down * 6 * s, skin)
    nostril = _rgb(np.array(skin) * 0.3 * lit)
    for a, b in ((31, 32), (35, 34)):
        c = lm[a] + (lm[b] - lm[a]) * 0.45 - down * 1.2 * s
        rx, ry = 3.2 * s, 1.6 * s
        opaque.ellipse([c[0] - rx, c[1] - ry, c[0] + rx, c[1] + ry], fill=nostril)
        side = np.sign((lm[a] - lm[33]) @ right)
        groove = np.array(
            [
                lm[a],
                lm[a] - down * 4 * s + right * side * 1.5 * s,
                lm[a] - down * 8 * s - right * side * 0.5 * s,
            ]
        )
        blend.line(_pts(groove), fill=_rgb(np.array(skin) * 0.45 * lit, 110), width=1)
    blend.line(_pts(lm[31:36]), fill=_rgb(np.array(skin) * 0.45 * lit, 70), width=1)

    _mouth(image, opaque, blend, identity, lm, s, down)


def _iris(image: Image.Image, eye: np.ndarray, identity: Identity, lit: float, s: float) -> None:
    """Iris, pupil and catch-light, clipped by the eyelids: drawn into a small patch pasted
    through the eye-opening mask."""
    width = float(np.linalg.norm(eye[3] - eye[0]))
    r = 0.21 * max(width, 18 * s)
    c = eye[[1, 2, 4, 5]].mean(0) + np.array([0, 0.15 * r])
    x0, y0 = np.floor(np.minimum(eye.min(0), c - r)).astype(int) - 1
    x1, y1 = np.ceil(np.maximum(eye.max(0), c + r)).astype(int) + 2
    patch = image.crop((x0, y0, x1, y1))
    d = ImageDraw.Draw(patch)
    cx, cy = c[0] - x0, c[1] - y0
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=_rgb(np.array(identity.eye) * lit))
    rp = 0.42 * r
    d.ellipse([cx - rp, cy - rp, cx + rp, cy + rp], fill=(12, 10, 10))
    rh = max(0.8, 0.2 * r)
    d.ellipse(
        [cx + 0.3 * r - rh, cy - 0.35 * r - rh, cx + 0.3 * r + rh, cy - 0.35 * r + rh], fill=(245, 245, 245)
    )
    mask = Image.new("L", patch.size, 0)
    ImageDraw.Draw(mask).polygon(_pts(eye - np.array([x0, y0])), fill=255)
    image.paste(patch, (int(x0), int(y0)), mask)


def _mouth(
    image: Image.Image, opaque, blend, identity: Identity, lm: np.ndarray, s: float, down: np.ndarray
) -> None:
    """Lips, and when they part the dark mouth cavity with upper (and lower) teeth."""
    lit = _local_light(image, lm[57] + down * 4 * s, identity.skin)
    lip = np.asarray(identity.lip, np.float64) * lit
    opaque.polygon(_pts(lm[48:60]), fill=_rgb(lip))
    upper_lip = np.concatenate([lm[48:55], lm[[64, 63, 62, 61, 60]]])
    opaque.polygon(_pts(upper_lip), fill=_rgb(lip * 0.86))
    hl = lm[66] * 0.45 + lm[57] * 0.55
    rx, ry = 9 * s, 2.2 * s
    blend.ellipse([hl[0] - rx, hl[1] - ry, hl[0] + rx, hl[1] + ry], fill=(255, 235, 230, 22))
    upper, lower = lm[[60, 61, 62, 63, 64]], lm[[60, 67, 66, 65, 64]]
    gap = (lower - upper) @ down  # [5] local opening, 0 at the corners
    if gap.max() > 0.8:
        opaque.polygon(_pts(lm[60:68]), fill=_rgb(np.array([60, 25, 30]) * lit))
        tooth = 6.0 * s
        teeth_top = upper + down * (0.3 * s)
        teeth_bottom = upper + down[None] * np.minimum(tooth, 0.6 * np.maximum(gap, 0))[:, None]
        opaque.polygon(
            _pts(np.concatenate([teeth_top, teeth_bottom[::-1]])), fill=_rgb(np.array([232, 226, 210]) * lit)
        )
        if gap.max() > 9 * s:
            low = np.minimum(4.5 * s, 0.25 * np.maximum(gap - 6 * s, 0))[:, None]
            opaque.polygon(
                _pts(np.concatenate([lower, (lower - down[None] * low)[::-1]])),
                fill=_rgb(np.array([215, 208, 195]) * lit),
            )
        blend.line(_pts(upper), fill=_rgb(lip * 0.5, 160), width=1)
    else:
        blend.line(
            _pts(lm[[48, 60, 61, 62, 63, 64, 54]]), fill=_rgb(lip * 0.35, 200), width=max(1, round(1.4 * s))
        )
    # The commissures: a small shadowed pit where the lips meet, centred on the corner landmarks.
    r = 1.1 * s
    for x, y in lm[[48, 54]].tolist():
        opaque.ellipse([x - r, y - r, x + r, y + r], fill=_rgb(lip * 0.5))


def _occluder(image: Image.Image, identity: Identity, capture: Capture, lm: np.ndarray, size: int) -> None:
    """Glasses over the eyes, or a hand raised to the lower face (placement from the capture's seed)."""
    rng = np.random.default_rng(capture.seed + 17)
    draw = ImageDraw.Draw(image, "RGBA")
    iod = float(np.linalg.norm(lm[45] - lm[36]))
    right = (lm[45] - lm[36]) / iod
    up = np.array([right[1], -right[0]])
    if capture.occluder == "glasses":
        frame = _rgb(rng.uniform(0, 120, 3) if rng.uniform() < 0.7 else rng.uniform(100, 220, 3))
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
            draw.polygon(_pts(ring), fill=(200, 220, 230, int(rng.uniform(15, 60))))
            draw.line(_pts(np.concatenate([ring, ring[:1]])), fill=frame, width=max(1, round(iod / 40)))
            lenses.append(ring)
        bridge = np.array([lenses[0][0], (lm[27] + up * iod * 0.04), lenses[1][6]])
        draw.line(_pts(bridge), fill=frame, width=max(1, round(iod / 45)))
        for ring, ear in ((lenses[0], 0), (lenses[1], 16)):
            draw.line(
                _pts(np.array([ring[6] if ear == 0 else ring[0], lm[ear] + up * iod * 0.08])),
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
    draw.polygon(_pts(outline), fill=_rgb(tone * 0.92))
    fw = max(2, round(iod * 0.17))
    for k, length in enumerate((0.75, 0.9, 0.85, 0.65)):
        base = palm + up_h * ph * 0.7 + right_h * pr * (-0.75 + 0.5 * k)
        tip = base + up_h * iod * length * rng.uniform(0.8, 1.1)
        draw.line(_pts(np.array([base, tip])), fill=_rgb(tone * (0.95 - 0.04 * k)), width=fw)
        draw.ellipse(
            [tip[0] - fw / 2, tip[1] - fw / 2, tip[0] + fw / 2, tip[1] + fw / 2],
            fill=_rgb(tone * (0.95 - 0.04 * k)),
        )
        draw.line(_pts(np.array([base, tip])), fill=_rgb(tone * 0.6, 80), width=1)
