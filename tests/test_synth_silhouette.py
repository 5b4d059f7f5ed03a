import dataclasses

import numpy as np
import pytest

from auheat.synth import Capture, Pose, render_face, sample_identity
from auheat.synth.shape import JAW_FRONT, on_silhouette, rotation

# Two image-left jaw points (x < 0), their image-right partners and the chin, in model space.
JAW = np.array([[-71.0, 92, -46], [-55, 175, -18], [71, 92, -46], [55, 175, -18], [0, 227.8, 9]])
FRONT = JAW_FRONT[[0, 4, 16, 12, 8]]


def test_a_face_seen_from_the_front_keeps_its_contour_bytes_and_all():
    assert np.array_equal(on_silhouette(JAW, FRONT, rotation(Pose()), 0.0), JAW)


@pytest.mark.parametrize("yaw", [10.0, 35.0, 60.0])
def test_the_far_side_slides_to_the_seen_outline_and_the_near_side_stays(yaw):
    rot = rotation(Pose(yaw=yaw))  # the nose turns to the image right: the image-right side turns away
    moved = on_silhouette(JAW, FRONT, rot, 0.0)
    assert np.array_equal(moved[[0, 1, 4]], JAW[[0, 1, 4]])
    for k in (2, 3):
        # The outline is the point of the point's half-ellipse (to the head's front) seen farthest right.
        a, depth = JAW[k, 0], FRONT[k] - JAW[k, 2]
        t = np.linspace(0, np.pi / 2, 20001)
        ellipse = np.stack([a * np.cos(t), np.full_like(t, JAW[k, 1]), JAW[k, 2] + depth * np.sin(t)], 1)
        seen_x = (ellipse @ rot.T)[:, 0]
        assert (moved[k] @ rot.T)[0] == pytest.approx(seen_x.max(), abs=1e-6)
        assert moved[k, 2] > JAW[k, 2] and 0 < moved[k, 0] < JAW[k, 0]


def test_a_turned_face_is_drawn_to_its_far_jaw_points_and_its_nose_is_skin():
    subject = dataclasses.replace(
        sample_identity(np.random.default_rng(5)), hair_style="short", skin=(200, 120, 90)
    )
    green = Capture(background="flat", background_colours=((0, 255, 0), (0, 255, 0)), jpeg_quality=95)
    image, lm = render_face(subject, {}, Pose(yaw=50), green)
    img = image.astype(int)

    def background(x, y):
        r, g, b = img[int(round(y)), int(round(x))]
        return g > r + 80 and g > b + 80

    for k in (13, 14, 15):  # the far cheek, between the mouth and the eyes: no hair, no neck
        x, y = lm[k]
        assert background(x + 3, y) and not background(x - 3, y), k
    assert not background(*lm[30])  # the nose tip stands out of the cheek, drawn as skin
    # The far eye and lip corners, and the nose tip, lie inside the outline the jaw points trace.
    assert lm[45, 0] < lm[16, 0] and lm[54, 0] < lm[13, 0] and lm[30, 0] < lm[14, 0]
