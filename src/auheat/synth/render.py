"""Render one synthetic face: the composition of geometry (shape.py), skin (skin.py), the
drawn features (brows, eyes, nose, lips, teeth, hair), occluders, and the camera (photo.py).

Order of work, chosen for speed: background, hair and skin are composed on a grid of half the
crop size and upscaled once (bilinear, which also anti-aliases the face outline); the small,
sharp features are then drawn at full size with Pillow's C drawing routines.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw

from auheat.synth.drawing import Colour, flat, flat_complex, rgb, scaled
from auheat.synth.occluders import draw_occluder
from auheat.synth.params import Capture, Identity, Pose, check_intensities, sample_capture
from auheat.synth.photo import background, develop
from auheat.synth.shape import COLLAR, EARS, HAIRLINE, NECK, SKULL, Camera, expression_offsets, neutral_face
from auheat.synth.skin import base_shading, light_vector, skin_image

FRONTAL = Pose()  # the default pose (frozen, so one shared instance is safe)
# Head ellipsoid for the lighting, in mean-face model coordinates: centre and semi-axes.
_HEAD_CENTRE = np.array([0.0, 118.0, -70.0])
_HEAD_RADII = np.array([80.0, 120.0, 92.0])


def render_face(
    identity: Identity,
    intensities: Mapping[int, float],
    pose: Pose = FRONTAL,
    capture: Capture | None = None,
    rng: np.random.Generator | None = None,
    size: int = 256,
    frame: np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one face and return its exact landmarks.

    Args:
        identity: the subject.
        intensities: AU number -> intensity in [0, 5]; a missing AU is 0.
        pose: head rotation (degrees).
        capture: the frame's nuisances; None draws one with ``sample_capture(rng)``.
        rng: used only to draw a capture; None means ``np.random.default_rng(0)``.
        size: side of the square image in pixels (the face fills it like an aligned crop).
        frame: None, or a 2x3 affine matrix taking the projected image pixels to the pixels of
            the returned image, or a function of the projected [68, 2] landmarks (float64)
            that returns one. Everything the renderer draws is 2-D geometry after the
            projection, so the face is drawn directly in that frame: e.g.
            ``frame=lambda lm: alignment_matrix(lm, size)`` renders the aligned crop itself,
            with no warp and no resampling. Shading and light directions follow the frame.

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
    half = size // 2
    # The base shading is smooth: a grid four times coarser than the image is enough. It is
    # computed in the projection's own pixels, reached from the output grid through the
    # inverse of the frame (if any).
    k = half / size / 2  # quarter-grid pixels per image pixel
    to_grid = np.array([[k, 0.0, 0.5 * k - 0.5], [0.0, k, 0.5 * k - 0.5], [0.0, 0.0, 1.0]])
    centre = (points[136 + look.parts["centre"][0]] + 0.5) * k - 0.5
    radii = _HEAD_RADII * cam.head_scale * cam.zoom * k
    light2d = light_vector(capture)[:2]
    grid_to_projection = None
    if frame is not None:
        matrix = np.asarray(frame(points[:68].copy()) if callable(frame) else frame, dtype=np.float64)
        if matrix.shape != (2, 3) or not np.isfinite(matrix).all():
            raise ValueError(f"frame must be a finite 2x3 affine matrix, got {matrix!r}")
        det = float(np.linalg.det(matrix[:, :2]))
        if abs(det) < 1e-9:
            raise ValueError("frame must be an invertible affine matrix")
        points = points @ matrix[:, :2].T + matrix[:, 2]
        # Output grid -> output pixels -> projected pixels -> the projection's grid.
        inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))
        grid_to_projection = (to_grid @ inverse @ np.linalg.inv(to_grid))[:2]
        # Light offsets (crease ridges, hair shine) turn with the frame, as a warp would turn them.
        light2d = matrix[:, :2] @ light2d / np.sqrt(abs(det))
    lm, neutral = points[:68], points[68:136]
    # The half grid keeps pixel centres at integer coordinates.
    small = (points + 0.5) * (half / size) - 0.5
    part = {name: small[136 + a : 136 + b] for name, (a, b) in look.parts.items()}
    face = np.concatenate([small[:17], part["hairline"][::-1]])
    canvas = background(capture, half)
    if identity.hair_style == "long":  # long hair falls behind the neck and shoulders
        ImageDraw.Draw(canvas).polygon(flat(part["long"]), fill=look.long_hair)
    shading = base_shading(cam.rot, centre, radii, capture, half // 2, grid_to_projection)
    skin = skin_image(identity, levels, small[:68], small[68:136], shading, half, face, part["neck"], light2d)
    mask = Image.new("L", (half, half), 0)
    md = ImageDraw.Draw(mask)
    for outline in (part["neck"], part["ear0"], part["ear1"], face):
        md.polygon(flat(outline), fill=255)
    if identity.hair_style == "bald":
        md.polygon(flat(part["skull"]), fill=255)
    canvas.paste(skin, (0, 0), mask)
    ImageDraw.Draw(canvas).polygon(flat(part["collar"]), fill=look.clothes)
    _hair_front(canvas, identity, look, part, light2d)
    # OpenCV's bilinear resize (same pixel-centre convention as Pillow's BILINEAR) is about six
    # times cheaper than Pillow's general resampler at this size.
    image = Image.fromarray(cv2.resize(np.asarray(canvas), (size, size), interpolation=cv2.INTER_LINEAR))
    _features(image, identity, lm, neutral, levels, size)
    if capture.occluder is not None:
        draw_occluder(image, identity, capture, lm, size)
    return develop(image, capture), lm.astype(np.float32)


def render_au_series(
    identity: Identity,
    aus: Sequence[int],
    intensities: Sequence[float],
    pose: Pose = FRONTAL,
    capture: Capture | None = None,
    size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """One subject showing each AU alone at each intensity: the faces behind Chapter 2's gallery.

    Args:
        identity: the subject.
        aus: the A AU numbers, each rendered alone (every other AU at 0).
        intensities: the n intensities of each AU, in [0, 5].
        pose: head rotation (degrees), the same for every face.
        capture: the frame's nuisances, the same for every face; None: a clean studio frame,
            ``Capture()``.
        size: side of the square images, pixels.

    Returns:
        faces [A, n, size, size, 3] uint8 RGB and their landmarks [A, n, 68, 2] float32 (image
        pixels): entry [a, i] is :func:`render_face` of ``{aus[a]: intensities[i]}``.
    """
    capture = Capture() if capture is None else capture
    rendered = [
        [render_face(identity, {au: float(level)}, pose, capture, size=size) for level in intensities]
        for au in aus
    ]
    faces = np.stack([np.stack([face for face, _ in row]) for row in rendered])
    return faces, np.stack([np.stack([points for _, points in row]) for row in rendered])


@dataclass(frozen=True)
class _Look:
    """What a subject's drawing needs that no frame changes: drawing geometry in aligned model
    space ([K, 3], split into named parts by row ranges) and fill colours."""

    points: np.ndarray
    parts: dict[str, tuple[int, int]]
    clothes: Colour
    long_hair: Colour
    hair: np.ndarray  # [3] cap colour (buzz cuts let the skin show through)
    strands: tuple[Colour, Colour, Colour]  # the cap colour, lit and shaded (strand shine)


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
        clothes=rgb(np.random.default_rng(identity.seed + 1).uniform(20, 230, 3)),
        long_hair=rgb(np.array(identity.hair) * 0.8),
        hair=hair,
        strands=(rgb(hair * 1.0), rgb(hair * 1.2), rgb(hair * 0.8)),
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
    plain, lit_colour, shaded = look.strands
    draw.polygon(flat(part["cap"]), fill=plain)
    # Strands across the cap, from its outer edge to the hairline, lighter on the lit side.
    top, edge = part["strand_tops"], part["hairline"][1:-1:2]
    ends = top + (edge - top) * 0.9
    lit = ((edge - top) @ light2d < 0).tolist()
    for k, (a, b) in enumerate(zip(top.tolist(), ends.tolist(), strict=True)):
        colour = (lit_colour if lit[k] else shaded) if k % 2 else plain
        draw.line([tuple(a), tuple(b)], fill=colour, width=1)


def _local_light(image: Image.Image, point: complex, skin: Colour) -> float:
    """How lit the skin is at ``point`` (about 0.4..1.1), read from the composed image."""
    x, y = (min(max(int(v), 0), image.width - 1) for v in (point.real, point.imag))
    return min(max(sum(image.getpixel((x, y))) / (sum(skin) + 1e-6), 0.4), 1.15)


_SCLERA = (236, 230, 224)
_CAVITY = (60, 25, 30)
_UPPER_TEETH = (232, 226, 210)
_LOWER_TEETH = (215, 208, 195)
_BROW_TAPER = (0.5, 0.8, 0.95, 1.0, 1.0)
_CREASE_LIFT = (0.3, 1.0, 1.0, 0.4)


def _features(
    image: Image.Image, identity: Identity, lm: np.ndarray, neutral: np.ndarray, levels: np.ndarray, size: int
) -> None:
    """Brows, eyes, nose details and lips at full size, on top of the skin.

    Geometry is Python complex arithmetic (x + iy): a few hundred operations on single points,
    each far cheaper than the same operation on a numpy 2-vector."""
    opaque = ImageDraw.Draw(image)
    blend = ImageDraw.Draw(image, "RGBA")
    z = (lm[:, 0] + 1j * lm[:, 1]).tolist()
    zn45, zn36 = complex(*neutral[45]), complex(*neutral[36])
    iod = abs(zn45 - zn36)
    s = iod / 97.6
    right = (zn45 - zn36) / iod
    down = 1j * right  # (-right.y, right.x)
    f5, f4 = float(levels[3]) / 5.0, float(levels[2]) / 5.0
    skin = identity.skin

    _brows(blend, identity, z, s, down)

    # Eyes.
    for ids, outer, inner in ((list(range(36, 42)), 36, 39), (list(range(42, 48)), 45, 42)):
        eye = [z[i] for i in ids]
        lit = _local_light(image, sum(eye) / 6 + down * 8 * s, skin)
        opaque.polygon(flat_complex(eye), fill=rgb(scaled(_SCLERA, min(lit, 1.0), 0.92)))
        _iris(image, eye, identity, lit, s)
        lash = [outer, ids[1], ids[2], inner] if outer == 36 else [inner, ids[1], ids[2], outer]
        blend.line(flat_complex([z[i] for i in lash]), fill=(25, 18, 16, 230), width=max(1, round(2 * s)))
        lid = [inner, ids[4], ids[5], outer] if outer == 36 else [outer, ids[4], ids[5], inner]
        blend.line(flat_complex([z[i] for i in lid]), fill=rgb(scaled(skin, 0.45, lit), 150), width=1)
        lift = (4.5 - 2.5 * f5 + 1.5 * f4) * s
        crease = [z[i] - down * lift * k for i, k in zip(ids[:4], _CREASE_LIFT, strict=True)]
        blend.line(flat_complex(crease), fill=rgb(scaled(skin, 0.5, lit), 110), width=1)

    # Nose: nostrils, the alar grooves and the soft line under the tip.
    lit = _local_light(image, z[33] - down * 6 * s, skin)
    nostril = rgb(scaled(skin, 0.3, lit))
    for a, b in ((31, 32), (35, 34)):
        c = z[a] + (z[b] - z[a]) * 0.45 - down * 1.2 * s
        rx, ry = 3.2 * s, 1.6 * s
        opaque.ellipse([c.real - rx, c.imag - ry, c.real + rx, c.imag + ry], fill=nostril)
        offset = z[a] - z[33]
        along = offset.real * right.real + offset.imag * right.imag
        side = (along > 0) - (along < 0)  # the sign, as a plain int
        groove = [
            z[a],
            z[a] - down * 4 * s + right * side * 1.5 * s,
            z[a] - down * 8 * s - right * side * 0.5 * s,
        ]
        blend.line(flat_complex(groove), fill=rgb(scaled(skin, 0.45, lit), 110), width=1)
    blend.line(flat_complex(z[31:36]), fill=rgb(scaled(skin, 0.45, lit), 70), width=1)

    _mouth(image, opaque, blend, identity, z, s, down)
    if identity.facial_hair != "none":
        _facial_hair(blend, identity, z, s, down)


def _brows(blend, identity: Identity, z: list[complex], s: float, down: complex) -> None:
    """Brows: the landmarks trace each brow's upper edge; it thins towards the temple. A soft
    fringe below and a few hairs from the lower edge, slanting up towards the temple, give it a
    hairy edge, the way a real brow reads against the skin rather than as a painted band."""
    taper = [identity.brow_thickness * s * t for t in _BROW_TAPER]
    hairs, dark = max(1, round(s)), rgb(scaled(identity.brow, 0.7), 170)
    # The left brow's landmarks run from the temple inwards, the right one's outwards.
    for top, t, out in ((z[17:22], taper, -1.0), (z[22:27], taper[::-1], 1.0)):
        lower = [p + down * w for p, w in zip(top, t, strict=True)]
        fringe = [p + down * 1.25 * w for p, w in zip(top, t, strict=True)]
        blend.polygon(flat_complex(top + fringe[::-1]), fill=rgb(identity.brow, 90))
        blend.polygon(flat_complex(top + lower[::-1]), fill=rgb(identity.brow, 215))
        # Hairs from the brow's lower edge, up and towards the temple, darker than its fill.
        for k in range(4):
            a, b = lower[k], lower[k + 1]
            for u in (0.25, 0.75):
                root = a + (b - a) * u
                tip = root - down * (0.45 * (t[k] + t[k + 1])) + (b - a) * 0.6 * out
                blend.line(flat_complex([root, tip]), fill=dark, width=hairs)


def _facial_hair(blend, identity: Identity, z: list[complex], s: float, down: complex) -> None:
    """Stubble, a moustache, or a full beard in the subject's brow colour.

    A moustache covers the skin between the nose and the upper lip and overhangs the lip a
    little, as it does on real faces; a beard adds the chin and the jaw below the lower lip.
    Stubble is a faint shadow over both regions. Only the drawing changes: the landmarks (and any
    AU label) stay where the face puts them."""
    colour = identity.brow
    right = -1j * down
    # From the nose's base out to the lip corners, over the top of the upper lip, with drooping ends.
    lip_top = [z[i] for i in range(54, 47, -1)]  # right corner to left corner, along the top
    ends = [z[54] + right * 3 * s + down * 3 * s, z[48] - right * 3 * s + down * 3 * s]
    upper = [(z[35] + z[54]) / 2 + right * 1.5 * s, z[35], z[34], z[33], z[32], z[31]]
    upper += [(z[31] + z[48]) / 2 - right * 1.5 * s]
    moustache = [ends[0], *(p + down * 1.5 * s for p in lip_top), ends[1]]
    moustache += [p + down * 1.5 * s for p in upper[::-1]]
    # The chin and the jaw, up to just below the lower lip.
    lip_bottom = [z[i] + down * 2 * s for i in (48, 59, 58, 57, 56, 55, 54)]
    beard = [z[i] for i in range(3, 14)] + lip_bottom[::-1]
    if identity.facial_hair == "stubble":
        for region in (moustache, beard):
            blend.polygon(flat_complex(region), fill=rgb(colour, 55))
        return
    blend.polygon(flat_complex(moustache), fill=rgb(colour, 200))
    if identity.facial_hair == "beard":
        blend.polygon(flat_complex(beard), fill=rgb(colour, 185))
    # Strands slanting down and out from the middle, darker than the fill.
    hairs, dark = max(1, round(s)), rgb(scaled(colour, 0.65), 160)
    for k in range(2, 5):
        a = upper[k]
        for u in (-0.6, 0.0, 0.6):
            root = a + right * u * 2 * s
            out = 1.0 if (root - z[33]).real * right.real + (root - z[33]).imag * right.imag >= 0 else -1.0
            blend.line(
                flat_complex([root, root + down * 6 * s + right * out * 2.5 * s]), fill=dark, width=hairs
            )


def _iris(image: Image.Image, eye: list[complex], identity: Identity, lit: float, s: float) -> None:
    """Iris, pupil and catch-light, clipped by the eyelids: drawn into a small patch pasted
    through the eye-opening mask."""
    width = abs(eye[3] - eye[0])
    r = 0.21 * max(width, 18 * s)
    c = (eye[1] + eye[2] + eye[4] + eye[5]) / 4 + 0.15j * r
    xs, ys = [p.real for p in eye], [p.imag for p in eye]
    x0, y0 = math.floor(min(*xs, c.real - r)) - 1, math.floor(min(*ys, c.imag - r)) - 1
    x1, y1 = math.ceil(max(*xs, c.real + r)) + 2, math.ceil(max(*ys, c.imag + r)) + 2
    patch = image.crop((x0, y0, x1, y1))
    d = ImageDraw.Draw(patch)
    cx, cy = c.real - x0, c.imag - y0
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=rgb(scaled(identity.eye, lit)))
    rp = 0.42 * r
    d.ellipse([cx - rp, cy - rp, cx + rp, cy + rp], fill=(12, 10, 10))
    rh = max(0.8, 0.2 * r)
    d.ellipse(
        [cx + 0.3 * r - rh, cy - 0.35 * r - rh, cx + 0.3 * r + rh, cy - 0.35 * r + rh], fill=(245, 245, 245)
    )
    mask = Image.new("L", patch.size, 0)
    ImageDraw.Draw(mask).polygon(flat_complex([p - complex(x0, y0) for p in eye]), fill=255)
    image.paste(patch, (x0, y0), mask)


def _mouth(
    image: Image.Image, opaque, blend, identity: Identity, z: list[complex], s: float, down: complex
) -> None:
    """Lips, and when they part the dark mouth cavity with upper (and lower) teeth."""
    lit = _local_light(image, z[57] + down * 4 * s, identity.skin)
    lip = scaled(identity.lip, lit)
    opaque.polygon(flat_complex(z[48:60]), fill=rgb(lip))
    upper_lip = z[48:55] + [z[i] for i in (64, 63, 62, 61, 60)]
    opaque.polygon(flat_complex(upper_lip), fill=rgb(scaled(lip, 0.86)))
    hl = z[66] * 0.45 + z[57] * 0.55
    rx, ry = 9 * s, 2.2 * s
    blend.ellipse([hl.real - rx, hl.imag - ry, hl.real + rx, hl.imag + ry], fill=(255, 235, 230, 22))
    upper, lower = [z[i] for i in (60, 61, 62, 63, 64)], [z[i] for i in (60, 67, 66, 65, 64)]
    # Local opening along ``down``, 0 at the corners.
    gap = [(b - a).real * down.real + (b - a).imag * down.imag for a, b in zip(upper, lower, strict=True)]
    if max(gap) > 0.8:
        opaque.polygon(flat_complex(z[60:68]), fill=rgb(scaled(_CAVITY, lit)))
        tooth = 6.0 * s
        teeth_top = [p + down * (0.3 * s) for p in upper]
        teeth_bottom = [p + down * min(tooth, 0.6 * max(g, 0.0)) for p, g in zip(upper, gap, strict=True)]
        opaque.polygon(flat_complex(teeth_top + teeth_bottom[::-1]), fill=rgb(scaled(_UPPER_TEETH, lit)))
        if max(gap) > 9 * s:
            low = [min(4.5 * s, 0.25 * max(g - 6 * s, 0.0)) for g in gap]
            bottom = [p - down * h for p, h in zip(lower, low, strict=True)]
            opaque.polygon(flat_complex(lower + bottom[::-1]), fill=rgb(scaled(_LOWER_TEETH, lit)))
        blend.line(flat_complex(upper), fill=rgb(scaled(lip, 0.5), 160), width=1)
    else:
        line = [z[i] for i in (48, 60, 61, 62, 63, 64, 54)]
        blend.line(flat_complex(line), fill=rgb(scaled(lip, 0.35), 200), width=max(1, round(1.4 * s)))
    # The commissures: a small shadowed pit where the lips meet, centred on the corner landmarks.
    r = 1.1 * s
    for p in (z[48], z[54]):
        opaque.ellipse([p.real - r, p.imag - r, p.real + r, p.imag + r], fill=rgb(scaled(lip, 0.5)))
