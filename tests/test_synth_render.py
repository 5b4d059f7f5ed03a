import dataclasses
import pickle

import numpy as np
import pytest
import torch

from auheat.aus import au_centres
from auheat.synth import (
    SYNTH_AUS,
    Capture,
    Identity,
    Pose,
    render_au_series,
    render_face,
    sample_capture,
    sample_identity,
)

STUDIO = Capture(jpeg_quality=95)  # centred, no blur, no noise, fixed light


@pytest.fixture(scope="module")
def subject() -> Identity:
    # Short hair leaves the forehead free; green lips and dark skin make features easy to segment.
    ident = sample_identity(np.random.default_rng(5))
    return dataclasses.replace(ident, hair_style="short", lip=(20, 200, 30), skin=(130, 90, 70), wrinkles=0.2)


def test_same_inputs_give_byte_identical_images(subject):
    pose, cap = Pose(12, -5, 3), sample_capture(np.random.default_rng(1))
    a, la = render_face(subject, {12: 3, 25: 1.5}, pose, cap)
    b, lb = render_face(subject, {12: 3, 25: 1.5}, pose, cap)
    assert a.tobytes() == b.tobytes() and np.array_equal(la, lb)
    c, _ = render_face(subject, {}, rng=np.random.default_rng(4))
    d, _ = render_face(subject, {}, rng=np.random.default_rng(4))
    assert c.tobytes() == d.tobytes()
    # The landmark faces' variety too: facial hair, and a capture with the photo variety.
    bearded = dataclasses.replace(subject, facial_hair="beard")
    varied = [sample_capture(np.random.default_rng(9), photo_variety=True) for _ in range(2)]
    e, f = (render_face(bearded, {1: 2, 12: 3}, pose, capture)[0] for capture in varied)
    assert e.tobytes() == f.tobytes()


def test_output_shapes_and_types_follow_the_size(subject):
    image, lm = render_face(subject, {}, capture=STUDIO, size=128)
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    _, lm256 = render_face(subject, {}, capture=STUDIO)
    np.testing.assert_allclose((lm256 + 0.5) / 2 - 0.5, lm, atol=1e-3)


def test_neutral_frontal_face_sits_like_an_aligned_crop(subject):
    _, lm = render_face(subject, {}, capture=STUDIO)
    np.testing.assert_allclose(lm[[8, 36, 45]], [[127.6, 227.8], [79.2, 87.0], [176.8, 87.0]], atol=6)


def _farthest(mask: np.ndarray, origin: np.ndarray, direction: np.ndarray, reach: float = 40) -> np.ndarray:
    """The mask pixel (x, y) within ``reach`` of origin that lies farthest along direction."""
    yy, xx = np.mgrid[: mask.shape[0], : mask.shape[1]]
    ys, xs = np.nonzero(mask & (np.hypot(xx - origin[0], yy - origin[1]) < reach))
    pts = np.stack([xs, ys], 1).astype(float)
    return pts[np.argmax((pts - origin) @ direction)]


@pytest.mark.parametrize(
    ("pose", "capture"),
    [
        (Pose(), STUDIO),
        (Pose(22, -12, 9), Capture(scale=1.12, dx=6, dy=-5, light_azimuth=30, jpeg_quality=95)),
    ],
)
def test_drawn_lip_corners_and_eye_corners_lie_at_their_landmarks(subject, pose, capture):
    image, lm = render_face(subject, {12: 2}, pose, capture)
    img = image.astype(int)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    lips = (g > r + 25) & (g > b + 25)  # lip colour, including the darker mouth line
    centre = lm[48:60].mean(0)
    for corner in (48, 54):
        direction = (lm[corner] - centre) / np.linalg.norm(lm[corner] - centre)
        assert np.linalg.norm(_farthest(lips, centre, direction) - lm[corner]) <= 2.0, corner
    top = _farthest(lips, centre, np.array([0.0, -1.0]))
    assert abs(top[1] - lm[48:55, 1].min()) <= 2.0
    # Eye opening: white sclera, and the dark lash line where it borders the sclera.
    white = img.min(-1) > 150
    grown = white.copy()
    for dy in range(-3, 4):
        for dx in range(-3, 4):
            grown |= np.roll(white, (dy, dx), (0, 1))
    eye_px = white | ((img.sum(-1) < 120) & grown)
    for outer, ids in ((36, slice(36, 42)), (45, slice(42, 48))):
        c = lm[ids].mean(0)
        direction = (lm[outer] - c) / np.linalg.norm(lm[outer] - c)
        reach = np.linalg.norm(lm[outer] - c) + 5
        assert np.linalg.norm(_farthest(eye_px, c, direction, reach) - lm[outer]) <= 2.0, outer


def test_a_frame_draws_the_face_straight_into_the_aligned_crop(subject):
    from auheat.data.align import ANCHOR_POSITIONS_256, alignment_matrix, apply_affine

    pose, capture = Pose(18, -8, 14), Capture(scale=1.1, dx=7, dy=-4, light_azimuth=40, jpeg_quality=95)
    _, plain = render_face(subject, {12: 2}, pose, capture)
    image, lm = render_face(subject, {12: 2}, pose, capture, frame=lambda p: alignment_matrix(p, 256))
    np.testing.assert_allclose(lm, apply_affine(alignment_matrix(plain, 256), plain), atol=1e-3)
    np.testing.assert_allclose(lm[[8, 36, 45]], ANCHOR_POSITIONS_256, atol=1e-3)
    again, lm_again = render_face(subject, {12: 2}, pose, capture, frame=alignment_matrix(plain, 256))
    assert np.abs(again.astype(int) - image.astype(int)).mean() < 0.5 and np.allclose(lm_again, lm, atol=1e-3)
    # The drawn lips end at the framed landmarks.
    img = image.astype(int)
    lips = (img[..., 1] > img[..., 0] + 25) & (img[..., 1] > img[..., 2] + 25)
    centre = lm[48:60].mean(0)
    for corner in (48, 54):
        direction = (lm[corner] - centre) / np.linalg.norm(lm[corner] - centre)
        assert np.linalg.norm(_farthest(lips, centre, direction) - lm[corner]) <= 2.0, corner
    with pytest.raises(ValueError, match="frame"):
        render_face(subject, {}, capture=STUDIO, frame=np.zeros((2, 3)))


def _au_change(subject: Identity, au: int) -> tuple[list[float], list[float], np.ndarray]:
    rest, lm = render_face(subject, {}, Pose(), STUDIO)
    centres = au_centres(torch.tensor(lm[None], dtype=torch.float64), [au])[0, 0].numpy()
    centres = centres[~np.isnan(centres[:, 0])]
    yy, xx = np.mgrid[:256, :256]
    dist = np.min([np.hypot(xx - cx, yy - cy) for cx, cy in centres], axis=0)
    upper_face = au in (1, 2, 4, 5, 6, 9)
    # Far: the chin for upper-face AUs, the forehead above the brows for lower-face AUs.
    far = yy > lm[57, 1] + 6 if upper_face else yy < lm[17:27, 1].min() - 14
    near, away = [], []
    for level in range(1, 6):
        image, _ = render_face(subject, {au: level}, Pose(), STUDIO)
        diff = np.abs(image.astype(int) - rest.astype(int)).sum(-1)
        near.append(float(diff[dist < 24].mean()))
        away.append(float(diff[far].mean()))
    return near, away, lm


@pytest.mark.parametrize("au", SYNTH_AUS)
def test_each_au_changes_the_image_at_its_location_more_with_intensity(subject, au):
    near, away, _ = _au_change(subject, au)
    assert near[0] > 0.3, near
    assert all(b >= 0.95 * a for a, b in zip(near, near[1:], strict=False)), near
    assert near[-1] > 2 * near[0], near
    assert max(away) < 0.05 * near[-1] + 0.05, (near, away)


def test_an_au_series_renders_each_au_alone_at_each_intensity(subject):
    faces, points = render_au_series(subject, (12, 26), (0, 2.5, 5), size=64)
    assert faces.shape == (2, 3, 64, 64, 3) and faces.dtype == np.uint8
    assert points.shape == (2, 3, 68, 2) and points.dtype == np.float32
    image, lm = render_face(subject, {26: 2.5}, capture=Capture(), size=64)
    assert faces[1, 1].tobytes() == image.tobytes() and np.array_equal(points[1, 1], lm)
    neutral, _ = render_face(subject, {}, capture=Capture(), size=64)
    assert faces[0, 0].tobytes() == neutral.tobytes() == faces[1, 0].tobytes()  # intensity 0: no AU


def test_bad_intensities_are_named_in_the_error(subject):
    with pytest.raises(ValueError, match="AU 3"):
        render_face(subject, {3: 1.0}, capture=STUDIO)
    with pytest.raises(ValueError, match="AU 12 intensity"):
        render_face(subject, {12: 5.5}, capture=STUDIO)
    with pytest.raises(ValueError, match="AU 6 intensity"):
        render_face(subject, {6: -0.1}, capture=STUDIO)
    with pytest.raises(ValueError, match="size"):
        render_face(subject, {}, capture=STUDIO, size=8)


def test_parameters_pickle_and_captures_vary_with_strength():
    rng = np.random.default_rng(0)
    ident, cap = sample_identity(rng), sample_capture(rng)
    assert pickle.loads(pickle.dumps((ident, cap))) == (ident, cap)
    clean = sample_capture(rng, strength=0.0)
    assert (clean.scale, clean.dx, clean.blur_sigma, clean.noise_std, clean.occluder) == (
        1.0,
        0.0,
        0.0,
        0.0,
        None,
    )
    with pytest.raises(ValueError, match="strength"):
        sample_capture(rng, strength=-1)


def test_occluders_and_poses_render(subject):
    for occluder in ("glasses", "hand"):
        image, lm = render_face(subject, {}, Pose(25, 15, -10), Capture(occluder=occluder, seed=3))
        assert image.shape == (256, 256, 3) and np.isfinite(lm).all()


def test_per_subject_caches_never_change_pixels(subject):
    from auheat.synth import render, shape

    job = (subject, {6: 2, 12: 3}, Pose(-10, 4, 2), sample_capture(np.random.default_rng(2)))
    first, lm_first = render_face(*job)
    for seed in range(3):  # other subjects in between, then cold caches
        render_face(sample_identity(np.random.default_rng(seed)), {4: 1}, capture=STUDIO)
    for cached in (render._subject, shape.neutral_face, shape._frontal_centre):
        cached.cache_clear()
    again, lm_again = render_face(*job)
    assert first.tobytes() == again.tobytes() and np.array_equal(lm_first, lm_again)


def test_numpy_filters_match_their_pillow_counterparts():
    from PIL import Image

    from auheat.synth.pixels import gaussian_blur, upscale2

    grid = np.random.default_rng(0).random((16, 24)).astype(np.float32)
    pillow = np.asarray(Image.fromarray(grid, "F").resize((48, 32), Image.Resampling.BILINEAR))
    np.testing.assert_allclose(upscale2(grid), pillow, atol=1e-5)
    blurred = gaussian_blur(grid, 1.5)
    assert abs(blurred.mean() - grid.mean()) < 0.02 and blurred.std() < 0.6 * grid.std()
    np.testing.assert_allclose(gaussian_blur(np.full((9, 9), 3.0, np.float32), 2.0), 3.0, rtol=1e-5)


def test_a_grey_capture_gives_a_grey_frame_and_tone_keeps_the_order_of_grey_levels(subject):
    grey, _ = render_face(subject, {}, capture=dataclasses.replace(STUDIO, saturation=0.0))
    colour, _ = render_face(subject, {}, capture=STUDIO)
    # JPEG's chroma rounding leaves a grey level or two between the channels of a grey frame.
    assert np.abs(grey[..., 0].astype(int) - grey[..., 2]).max() <= 3
    assert np.abs(colour[..., 0].astype(int) - colour[..., 2]).mean() > 20
    from auheat.synth.photo import _tone_curve

    for contrast, gamma in ((1.3, 0.8), (0.7, 1.4)):
        curve = _tone_curve(contrast, gamma).astype(int)
        assert (np.diff(curve) >= 0).all() and curve[0] <= 5 + 128 * abs(1 - contrast)
    assert np.array_equal(_tone_curve(1.0, 1.0), np.arange(256))


@pytest.mark.parametrize("facial_hair", ["stubble", "moustache", "beard"])
def test_facial_hair_is_drawn_below_the_nose_and_moves_no_landmark(subject, facial_hair):
    bare, lm = render_face(subject, {}, capture=STUDIO)
    hairy, lm_hairy = render_face(dataclasses.replace(subject, facial_hair=facial_hair), {}, capture=STUDIO)
    assert np.array_equal(lm, lm_hairy)
    changed = np.abs(bare.astype(int) - hairy).sum(-1) > 12
    rows = np.nonzero(changed.any(1))[0]
    # Nothing above the nose's base changes (the JPEG's 8x8 blocks may spread a change by a block).
    assert changed.sum() > 100 and rows.min() >= lm[31:36, 1].min() - 8
    chin = lm[8, 1] - 12
    if facial_hair == "moustache":  # the upper lip only: the chin stays bare
        assert rows.max() < chin
    else:  # the chin is covered (or shadowed), down to the jaw
        assert rows.max() >= chin


def test_sampled_identities_and_captures_show_the_variety():
    rng = np.random.default_rng(0)
    identities = [sample_identity(rng) for _ in range(400)]
    shares = {kind: np.mean([i.facial_hair == kind for i in identities]) for kind in ("none", "beard")}
    assert 0.6 < shares["none"] < 0.8 and 0.05 < shares["beard"] < 0.15
    varied = [sample_capture(np.random.default_rng(k), photo_variety=True) for k in range(400)]
    assert 0.12 < np.mean([c.saturation == 0 for c in varied]) < 0.28
    assert np.std([c.gamma for c in varied]) > 0.1 and np.std([c.contrast for c in varied]) > 0.05
    # Without photo variety (the AU presets), and in a studio frame, the tone is left alone; the
    # other fields are drawn as they are with it.
    for k in range(20):
        plain = sample_capture(np.random.default_rng(k))
        assert (plain.saturation, plain.contrast, plain.gamma) == (1.0, 1.0, 1.0)
        assert plain.seed == varied[k].seed and plain.light_azimuth == varied[k].light_azimuth
    studio = sample_capture(rng, strength=0, photo_variety=True)
    assert (studio.saturation, studio.contrast, studio.gamma) == (1.0, 1.0, 1.0)
