"""What a synthetic face is made of: the subject (Identity), the head pose (Pose) and the
nuisances of one camera frame (Capture), with samplers that draw plausible values.

All three are frozen dataclasses of plain numbers, strings and tuples, so they hash (the
renderer caches per-identity geometry on them), pickle (worker processes) and print.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from auheat.aus import MAX_INTENSITY

#: The AUs SynthFACS draws: every AU of the catalogue (BP4D, DISFA and FERA2017 together).
SYNTH_AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 9, 10, 12, 14, 15, 17, 20, 25, 26)
HAIR_STYLES: tuple[str, ...] = ("short", "long", "fringe", "bald", "buzz")
BACKGROUNDS: tuple[str, ...] = ("flat", "gradient", "clutter")
OCCLUDERS: tuple[str, ...] = ("glasses", "hand")
FACIAL_HAIR: tuple[str, ...] = ("none", "stubble", "moustache", "beard")
NUM_SHAPE_MODES = 12


@dataclass(frozen=True)
class Identity:
    """One synthetic subject: what stays the same across all of their frames.

    Lengths are crop pixels of a 256x256 aligned face; colours are RGB 0..255.
    ``shape`` holds the coefficients (about N(0, 1)) of the hand-made shape modes of
    :mod:`auheat.synth.shape` (face width, face length, jaw width, eye spacing, ...).
    """

    shape: tuple[float, ...] = (0.0,) * NUM_SHAPE_MODES
    brow_height: float = 0.0  # px added to the neutral brow height; negative raises the brows
    mouth_width: float = 1.0  # scale of the neutral mouth width
    skin: tuple[int, int, int] = (226, 178, 148)  # lit skin tone (highlights reach it)
    lip: tuple[int, int, int] = (180, 100, 96)
    eye: tuple[int, int, int] = (80, 60, 40)  # iris colour
    hair_style: str = "short"
    hair: tuple[int, int, int] = (60, 42, 30)
    hair_volume: float = 6.0  # px of hair above the skull
    brow_thickness: float = 5.0  # px at the brow's inner end
    brow: tuple[int, int, int] = (55, 40, 30)
    wrinkles: float = 0.2  # baseline depth of permanent lines, 0 (smooth) .. 1 (deep)
    seed: int = 0  # fine per-subject details: landmark irregularities, skin texture
    facial_hair: str = "none"  # one of FACIAL_HAIR: none, stubble, a moustache, or a full beard


@dataclass(frozen=True)
class Pose:
    """Head rotation in degrees: yaw turns the nose to the image right, pitch lifts the chin,
    roll turns the face clockwise in the image."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0


@dataclass(frozen=True)
class Capture:
    """The nuisances of one frame.

    ``scale``, ``dx`` and ``dy`` jitter the crop like a face detector's box (zoom about the
    crop centre, shift in pixels of a 256 crop). Light comes from ``light_azimuth`` degrees
    (0 = from the camera, positive = from the image right) and ``light_elevation`` degrees
    above the horizon. ``saturation``, ``contrast`` and ``gamma`` are the camera's and the
    print's tone: real test photos include grey, high-contrast and dim ones. ``seed`` fixes
    the background clutter, the occluder's placement and the sensor noise pattern, so a
    capture alone decides every pixel.
    """

    scale: float = 1.0
    dx: float = 0.0
    dy: float = 0.0
    light_azimuth: float = 0.0
    light_elevation: float = 25.0
    light_strength: float = 0.55  # share of the brightness that follows the light direction
    exposure: float = 1.0  # gain on the final image
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per-channel gain
    background: str = "gradient"
    background_colours: tuple[tuple[int, int, int], tuple[int, int, int]] = ((200, 200, 205), (150, 150, 160))
    blur_sigma: float = 0.0  # px; optical/motion softness
    noise_std: float = 0.0  # grey levels of additive sensor noise
    jpeg_quality: int = 95
    occluder: str | None = None  # None, "glasses" or "hand"
    seed: int = 0
    saturation: float = 1.0  # colour saturation; 0 is a grey frame (archival photos, IR cameras)
    contrast: float = 1.0  # gain about mid-grey
    gamma: float = 1.0  # tone curve exponent (above 1 darkens the mid-tones)


def _colour(rng: np.random.Generator, base: np.ndarray, spread: float) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(base + rng.normal(0.0, spread, 3), 0, 255))


def sample_identity(rng: np.random.Generator) -> Identity:
    """Draw one subject. Skin tones span light to dark along one axis of (R, G, B)."""
    tone = rng.uniform(0.0, 1.0)
    # Lit skin from pale (240, 200, 175) to deep brown (120, 80, 60); a small hue wobble.
    skin = np.array([240, 200, 175]) * (1 - tone) + np.array([125, 82, 60]) * tone
    skin = skin + rng.normal(0, 6, 3) + np.array([0, 1, -1]) * rng.normal(0, 6)
    dark = rng.uniform(0, 1) ** 0.7 * 0.85 if tone < 0.5 else rng.uniform(0.75, 1.0)
    hair = np.array([215, 180, 120]) * (1 - dark) + np.array([22, 16, 12]) * dark
    if rng.uniform() < 0.08:  # grey hair
        hair = np.full(3, rng.uniform(120, 200))
    lip = skin * np.array([0.82, 0.55, 0.58]) + rng.normal(0, 6, 3)
    eye_base = [
        np.array([70, 45, 25]),
        np.array([40, 28, 20]),
        np.array([80, 110, 140]),
        np.array([90, 110, 70]),
    ]
    eye = eye_base[rng.choice(4, p=[0.45, 0.3, 0.15, 0.1] if tone < 0.5 else [0.3, 0.7, 0.0, 0.0])]
    return Identity(
        shape=tuple(float(v) for v in np.clip(rng.normal(0, 1, NUM_SHAPE_MODES), -2.5, 2.5)),
        brow_height=float(np.clip(rng.normal(0, 2.5), -6, 6)),
        mouth_width=float(np.clip(rng.normal(1.0, 0.07), 0.82, 1.18)),
        skin=_colour(rng, skin, 0),
        lip=_colour(rng, lip, 0),
        eye=_colour(rng, eye, 8),
        hair_style=str(rng.choice(HAIR_STYLES, p=[0.35, 0.25, 0.2, 0.08, 0.12])),
        hair=_colour(rng, hair, 5),
        hair_volume=float(rng.uniform(2, 14)),
        brow_thickness=float(rng.uniform(4.5, 10.0)),
        brow=_colour(rng, hair * 0.75 + skin * 0.15, 0),
        wrinkles=float(np.clip(rng.beta(1.5, 4.0), 0, 1)),
        seed=int(rng.integers(0, 2**31 - 1)),
        # Drawn last, so that every field above keeps the value it had before facial hair existed.
        facial_hair=str(rng.choice(FACIAL_HAIR, p=[0.7, 0.1, 0.1, 0.1])),
    )


def sample_capture(
    rng: np.random.Generator, occluders: bool = True, strength: float = 1.0, photo_variety: bool = False
) -> Capture:
    """Draw the nuisances of one frame.

    ``strength`` scales every variation: 0 gives a clean studio frame (centred crop, light
    from the front and above, plain background, no blur, no noise, JPEG quality 95, no
    occluder); 1 gives the default spread. ``occluders=False`` never adds glasses or a hand.
    ``photo_variety`` adds what photos from many cameras and prints show: grey frames (a fifth
    of them at ``strength`` 1), saturation, contrast and gamma, and harder side light.
    """
    if not 0.0 <= strength <= 2.0:
        raise ValueError(f"strength must lie in [0, 2], got {strength}")
    s = strength
    kind = BACKGROUNDS[int(rng.choice(3, p=[0.2, 0.3, 0.5]))] if s > 0 else "gradient"
    # Backdrops are mostly muted: a grey level plus a moderate tint.
    base = np.clip(rng.uniform(40, 220) + rng.normal(0, 25, 3), 0, 255)
    other = np.clip(base + rng.normal(0, 40) + rng.normal(0, 15, 3), 0, 255)
    occluder = None
    if occluders and rng.uniform() < 0.15 * s:
        occluder = OCCLUDERS[int(rng.integers(0, 2))]
    # How far the share of light from one side spreads, and its largest value.
    light_spread, hardest = (0.15, 0.95) if photo_variety else (0.12, 0.85)
    # Detector boxes wobble by a few per cent in size and position.
    capture = Capture(
        scale=float(np.exp(rng.normal(0, 0.05 * s))),
        dx=float(rng.normal(0, 4.0 * s)),
        dy=float(rng.normal(0, 4.0 * s)),
        light_azimuth=float(rng.normal(0, 35 * s)),
        light_elevation=float(25 + rng.normal(0, 15 * s)),
        light_strength=float(np.clip(0.55 + rng.normal(0, light_spread * s), 0.2, hardest)),
        exposure=float(np.exp(rng.normal(0, 0.12 * s))),
        white_balance=tuple(float(v) for v in np.exp(rng.normal(0, 0.04 * s, 3))),
        background=kind,
        background_colours=(_colour(rng, base, 0), _colour(rng, other, 0))
        if s > 0
        else ((200, 200, 205), (150, 150, 160)),
        blur_sigma=float(max(0.0, rng.normal(0.0, 0.8 * s))) if s > 0 else 0.0,
        noise_std=float(abs(rng.normal(0, 3.0 * s))),
        jpeg_quality=int(np.clip(95 - abs(rng.normal(0, 20 * s)), 30, 95)),
        occluder=occluder,
        seed=int(rng.integers(0, 2**31 - 1)),
    )
    if not photo_variety:
        return capture
    # Drawn after everything else, so that the fields above do not depend on photo_variety.
    grey = rng.uniform() < 0.2 * min(s, 1.0)
    return replace(
        capture,
        saturation=0.0 if grey else float(np.exp(rng.normal(0, 0.25 * s))),
        contrast=float(np.exp(rng.normal(0, 0.15 * s))),
        gamma=float(np.exp(rng.normal(0, 0.2 * s))),
    )


def check_intensities(intensities: Mapping[int, float]) -> np.ndarray:
    """[len(SYNTH_AUS)] float64 intensities in SYNTH_AUS order; a missing AU counts as 0.

    Raises ValueError naming an unknown AU number or an intensity outside [0, 5].
    """
    out = np.zeros(len(SYNTH_AUS))
    for number, value in intensities.items():
        if number not in SYNTH_AUS:
            raise ValueError(f"AU {number!r} cannot be rendered; renderable AUs: {SYNTH_AUS}")
        v = float(value)
        if not 0.0 <= v <= MAX_INTENSITY:
            raise ValueError(f"AU {number} intensity must lie in [0, 5], got {value!r}")
        out[SYNTH_AUS.index(number)] = v
    return out
