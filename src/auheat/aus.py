"""The Action Unit catalogue: FACS names, each dataset's AU set, and where each AU shows.

Landmarks follow the 68-point iBUG scheme (0-based), the scheme face_alignment predicts.
The anchor table is the one place where AU locations are defined; correct it here and
every target, figure and model follows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ActionUnit:
    """One FACS Action Unit.

    ``centres`` lists where the AU shows: each centre is the mean of the landmarks it names
    (one index for a landmark itself, two for a midpoint, three for a centroid).
    """

    number: int
    name: str
    centres: tuple[tuple[int, ...], ...]

    @property
    def label(self) -> str:
        """Short label used in tables and figures, e.g. ``"AU06"``."""
        return f"AU{self.number:02d}"


# Anchors as a public heatmap-based AU intensity pipeline places them (its source is not named in
# the project's records); the paper's own Table 1 could not be checked, so this table is a
# documented project choice, kept in this one place so that it can be corrected.
_CATALOGUE = (
    ActionUnit(1, "inner brow raiser", ((21,), (22,), (21, 22, 27))),
    ActionUnit(2, "outer brow raiser", ((18,), (25,))),
    ActionUnit(4, "brow lowerer", ((21,), (22,), (21, 22, 27))),
    ActionUnit(5, "upper lid raiser", ((37, 38), (43, 44))),
    ActionUnit(6, "cheek raiser", ((1, 41, 31), (15, 46, 35))),
    ActionUnit(9, "nose wrinkler", ((31,), (35,), (28,))),
    ActionUnit(10, "upper lip raiser", ((31,), (35,), (51,))),
    ActionUnit(12, "lip corner puller", ((48,), (54,))),
    ActionUnit(14, "dimpler", ((48,), (54,))),
    ActionUnit(15, "lip corner depressor", ((48,), (54,))),
    ActionUnit(17, "chin raiser", ((57, 8),)),
    ActionUnit(20, "lip stretcher", ((48,), (54,), (51,))),
    ActionUnit(25, "lips part", ((61, 64),)),
    ActionUnit(26, "jaw drop", ((61, 64),)),
)

#: The AU catalogue: AU number -> :class:`ActionUnit` (its FACS name and where it shows).
ACTION_UNITS: dict[int, ActionUnit] = {au.number: au for au in _CATALOGUE}

#: The AUs each dataset labels with intensities, by dataset name.
DATASET_AUS: dict[str, tuple[int, ...]] = {
    "bp4d": (6, 10, 12, 14, 17),
    "fera2015": (6, 10, 12, 14, 17),
    "disfa": (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26),
    "fera2017": (1, 4, 6, 10, 12, 14, 17),
}

#: Points of the 68-point (iBUG 300-W) markup every dataset here is given in.
NUM_LANDMARKS = 68
#: The highest intensity: FACS intensities A-E are 1-5, 0 is an absent AU.
MAX_INTENSITY = 5.0
MAX_CENTRES = max(len(au.centres) for au in _CATALOGUE)
_MAX_POINTS = max(len(c) for au in _CATALOGUE for c in au.centres)


def dataset_aus(name: str) -> tuple[int, ...]:
    """The AU numbers a dataset labels, e.g. ``dataset_aus("disfa")``; the name is case-blind."""
    key = name.lower().replace("-", "").replace("_", "")
    if key not in DATASET_AUS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASET_AUS)}")
    return DATASET_AUS[key]


def get_au(number: int) -> ActionUnit:
    """The catalogue entry of one AU number."""
    if number not in ACTION_UNITS:
        valid = ", ".join(str(n) for n in ACTION_UNITS)
        raise ValueError(f"AU {number!r} is not in the catalogue; valid AU numbers: {valid}")
    return ACTION_UNITS[number]


def resolve_aus(aus: str | int | list[int] | tuple[int, ...]) -> tuple[int, ...]:
    """Turn a dataset name, one AU number or a sequence of AU numbers into checked AU numbers."""
    if isinstance(aus, str):
        return dataset_aus(aus)
    numbers = (aus,) if isinstance(aus, int) else tuple(aus)
    if not numbers:
        raise ValueError("aus is empty; give a dataset name or at least one AU number")
    for n in numbers:
        get_au(n)
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"aus lists an AU twice: {numbers}")
    return numbers


def _anchor_tables(aus: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Index [K, C, M] and weight [K, C, M] tables, and a [K, C] mask of used centre slots.

    Centres are padded to C = MAX_CENTRES slots of M points so that every AU is handled by the
    same batched gather; padded points carry weight 0.
    """
    k = len(aus)
    index = torch.zeros(k, MAX_CENTRES, _MAX_POINTS, dtype=torch.long)
    weight = torch.zeros(k, MAX_CENTRES, _MAX_POINTS)
    used = torch.zeros(k, MAX_CENTRES, dtype=torch.bool)
    for i, number in enumerate(aus):
        for c, points in enumerate(ACTION_UNITS[number].centres):
            index[i, c, : len(points)] = torch.tensor(points)
            weight[i, c, : len(points)] = 1.0 / len(points)
            used[i, c] = True
    return index, weight, used


def au_centres(landmarks: torch.Tensor, aus: str | int | list[int] | tuple[int, ...]) -> torch.Tensor:
    """Where each AU shows, for a batch of faces.

    Args:
        landmarks: [B, 68, 2] float, (x, y) in any pixel frame; NaN marks a missing point.
        aus: dataset name or AU numbers (K of them).

    Returns:
        [B, K, MAX_CENTRES, 2] in the same frame and dtype. Unused centre slots (an AU with
        fewer centres) and centres built from a NaN landmark are NaN.
    """
    if landmarks.ndim != 3 or landmarks.shape[1:] != (NUM_LANDMARKS, 2):
        raise ValueError(f"landmarks must have shape [B, 68, 2], got {list(landmarks.shape)}")
    if not landmarks.is_floating_point():
        raise TypeError(f"landmarks must be a float tensor, got {landmarks.dtype}")
    index, weight, used = (t.to(landmarks.device) for t in _anchor_tables(resolve_aus(aus)))
    points = landmarks[:, index]  # [B, K, C, M, 2]
    w = weight.to(landmarks.dtype)[None, ..., None]
    # where() rather than a product: a NaN landmark must not leak through a zero weight.
    centres = torch.where(
        w > 0, points * w, torch.zeros((), dtype=landmarks.dtype, device=landmarks.device)
    ).sum(3)
    nan = torch.full((), float("nan"), dtype=landmarks.dtype, device=landmarks.device)
    return torch.where(used[None, ..., None], centres, nan)


def rescale_points(points: torch.Tensor, from_size: int, to_size: int) -> torch.Tensor:
    """Map pixel coordinates in a square of side ``from_size`` to those of a square of side
    ``to_size`` covering the same area: a crop to its heatmap (256 -> 64), a heatmap back to
    its crop (64 -> 256), a crop to the network's input (256 -> 64 in the CPU recipe).

    Pixel centres sit at integer coordinates in both frames, so the centre of the first pixel
    maps to ``(0 + 0.5) * to_size / from_size - 0.5``.
    """
    return (points + 0.5) * (to_size / from_size) - 0.5
