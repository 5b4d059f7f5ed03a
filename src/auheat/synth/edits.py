"""Real faces edited as an AU would move them: SynthFACS's landmark movements, warped onto a photo.

A real photo comes with no AU labels, but it can be *edited*: move its 68 landmarks the way an AU
moves them, warp the pixels with them, and a model that has learnt the AU should read it higher
on the edited face than on the original. :func:`au_movement` takes each AU's movement from
SynthFACS (:func:`auheat.synth.shape.expression_offsets`, the same displacements its faces are
drawn with), scaled to the face's eye distance and turned with its roll; :func:`edit_face` warps
an aligned crop piecewise-affinely (over a Delaunay triangulation of the landmarks and the crop's
border, which stays put), and paints the mouth's inside dark where the lips part. Only geometry
changes: wrinkles, furrows and shading that an AU also brings are not drawn, so an edit is a test
of what a model reads from the landmarks' movement, and a lower bound on what a real AU shows.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from auheat.synth.params import SYNTH_AUS
from auheat.synth.shape import ANCHOR_TARGETS, expression_offsets

#: The eye distance (outer corners, landmarks 36 and 45) of SynthFACS's model face, in the pixels
#: its AU movements are written in.
MODEL_EYE_DISTANCE = float(ANCHOR_TARGETS[2, 0] - ANCHOR_TARGETS[1, 0])
#: The inner lip contour: where an edit that parts the lips paints the mouth's inside.
INNER_MOUTH = list(range(60, 68))
MOUTH_COLOUR = (70, 28, 30)  # RGB of a mouth's dark inside


class FaceEdit(NamedTuple):
    """One face edited as an AU moves it (:func:`edit_face`)."""

    image: np.ndarray  # [S, S, 3] uint8, the edited crop
    landmarks: np.ndarray  # [68, 2], the moved landmarks, crop pixels
    moved: np.ndarray  # [68] bool, the landmarks the AU moves


def moved_landmarks(au: int) -> np.ndarray:
    """[68] bool: the landmarks SynthFACS's ``au`` moves; an edit of ``au`` moves no others."""
    return np.linalg.norm(_model_movement(au, 5.0), axis=1) > 0


def au_movement(au: int, intensity: float, landmarks: np.ndarray) -> np.ndarray:
    """[68, 2] displacement of a face's landmarks when ``au`` rises from 0 to ``intensity``.

    SynthFACS's movement of the AU (:func:`auheat.synth.shape.expression_offsets`), scaled from
    its model face to this face's eye distance and turned with this face's roll (the line from
    landmark 36 to 45). Pixels of ``landmarks``' own frame.
    """
    points = _checked(landmarks)
    eyes = points[45] - points[36]
    scale = float(np.hypot(*eyes)) / MODEL_EYE_DISTANCE
    cos, sin = eyes / np.hypot(*eyes)
    turn = np.array([[cos, -sin], [sin, cos]])
    return scale * _model_movement(au, intensity) @ turn.T


def edit_face(crop: np.ndarray, landmarks: np.ndarray, au: int, intensity: float) -> FaceEdit:
    """The aligned face ``crop`` with its landmarks moved as ``au`` at ``intensity`` moves them.

    Args:
        crop: [S, S, 3] uint8 RGB, an aligned face (:meth:`auheat.predict.FaceReader.read_face`
            gives one with its landmarks).
        landmarks: [68, 2] the face's landmarks in crop pixels.
        au: a SynthFACS AU (:data:`auheat.synth.SYNTH_AUS`).
        intensity: 0 to 5; 0 gives the crop back unchanged.

    Returns:
        A :class:`FaceEdit`: the warped crop, the moved landmarks and which of them moved. Pixels
        away from the moved landmarks keep their values; where the edit parts the lips (AU25,
        AU26), the inner lip contour is painted with the dark of a mouth's inside.
    """
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8:
        raise ValueError(f"crop must be [S, S, 3] uint8 RGB, got {crop.shape} {crop.dtype}")
    points = _checked(landmarks)
    moved = moved_landmarks(au)
    target = points + au_movement(au, intensity, points)
    if intensity == 0:
        return FaceEdit(crop.copy(), target, moved)
    image = _warp(crop, points, target)
    if au in (25, 26):
        _paint_mouth(image, points, target)
    return FaceEdit(image, target, moved)


def _warp(crop: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``crop`` warped so that the pixels at ``source`` land at ``target``, the border fixed.

    Piecewise affine: the target points are triangulated (Delaunay), and each output pixel is
    mapped back through the affine map that takes its target triangle onto the source triangle;
    OpenCV then samples the crop there. Written here rather than with scikit-image's
    PiecewiseAffineTransform, which gives the same map but took about a second and a half per
    256x256 crop (finding each pixel's triangle), against milliseconds.
    """
    try:
        from scipy.spatial import Delaunay
    except ModuleNotFoundError as error:  # pragma: no cover - depends on the environment
        raise ModuleNotFoundError(
            "face edits triangulate with SciPy, which comes with the faces extra: pip install 'auheat[faces]'"
        ) from error
    side = crop.shape[0]
    fixed = fixed_points(source, side)
    before, after = np.concatenate([source, fixed]), np.concatenate([target, fixed])
    simplices = Delaunay(after).simplices  # [T, 3] the target triangles, by point
    # Which triangle each pixel lies in, drawn by OpenCV (SciPy's find_simplex took 1.5 s for
    # the 65,536 pixels of a fresh triangulation); points in 1/16 pixel, as fillConvexPoly's shift.
    owner = np.full((side, side), -1, np.int32)
    for index, triangle in enumerate(simplices):
        cv2.fillConvexPoly(owner, np.rint(after[triangle] * 16).astype(np.int32), index, cv2.LINE_8, 4)
    if (owner < 0).any():  # the border's corners are control points: no pixel should be left out
        raise ValueError("the edited landmarks leave the crop: the warp cannot cover it")
    ys, xs = np.mgrid[0:side, 0:side]
    pixels = np.stack([xs.ravel(), ys.ravel(), np.ones(side * side)], axis=1)  # homogeneous
    # Each triangle's affine map from target to source pixels, [T, 3, 2], applied to its pixels.
    corners = np.concatenate([after[simplices], np.ones((len(simplices), 3, 1))], axis=2)
    affine = np.linalg.solve(corners, before[simplices])
    back = np.einsum("pk,pkj->pj", pixels, affine[owner.ravel()]).astype(np.float32)
    maps = back.reshape(side, side, 2)
    return cv2.remap(crop, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def fixed_points(landmarks: np.ndarray, side: int) -> np.ndarray:
    """[N, 2] the points an edit holds still: the crop's border, and a ring just outside the jaw
    line (pushed out a quarter from the landmarks' centre), so that only the face's inside
    deforms."""
    edge = np.linspace(0, side - 1, 9)
    border = np.array(
        [(x, y) for x in edge for y in (0, side - 1)] + [(x, y) for y in edge[1:-1] for x in (0, side - 1)]
    )
    centre = landmarks.mean(0)
    ring = centre + 1.25 * (landmarks[:17] - centre)
    ring = ring[(ring > 0).all(1) & (ring < side - 1).all(1)]
    return np.concatenate([border, ring])


def _paint_mouth(image: np.ndarray, source: np.ndarray, target: np.ndarray) -> None:
    """Paint the edited inner lip contour dark where it is open wider than the original's."""
    opened = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(opened, [np.rint(target[INNER_MOUTH]).astype(np.int32)], 1)
    before = np.zeros_like(opened)
    cv2.fillPoly(before, [np.rint(source[INNER_MOUTH]).astype(np.int32)], 1)
    image[(opened == 1) & (before == 0)] = MOUTH_COLOUR


def _model_movement(au: int, intensity: float) -> np.ndarray:
    if au not in SYNTH_AUS:
        raise ValueError(f"AU {au} is not one SynthFACS moves; its AUs: {SYNTH_AUS}")
    if not 0 <= intensity <= 5:
        raise ValueError(f"intensity must be in 0..5, got {intensity}")
    levels = np.zeros(len(SYNTH_AUS))
    levels[SYNTH_AUS.index(au)] = intensity
    return expression_offsets(levels)[:, :2]


def _checked(landmarks: np.ndarray) -> np.ndarray:
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (68, 2) or not np.isfinite(points).all():
        raise ValueError(f"landmarks must be [68, 2] finite points, got {points.shape}")
    if np.hypot(*(points[45] - points[36])) <= 0:
        raise ValueError("landmarks 36 and 45 (the outer eye corners) coincide")
    return points
