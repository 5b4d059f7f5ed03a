"""Real faces edited as an AU moves them, and the label-free check that reads the edits."""

import numpy as np
import pytest

from auheat.edit_check import RISE, edit_check, pool_edit_checks, verdicts
from auheat.predict import FaceReading, Reading
from auheat.synth import SYNTH_AUS, render_face, sample_identity
from auheat.synth.edits import MODEL_EYE_DISTANCE, au_movement, edit_face, moved_landmarks


@pytest.fixture(scope="module")
def face():
    """A SynthFACS face at rest and its landmarks, standing in for an aligned photo."""
    image, landmarks = render_face(sample_identity(np.random.default_rng(3)), {}, size=256)
    return image, landmarks.astype(np.float64)


@pytest.mark.parametrize("au", SYNTH_AUS)
def test_an_edit_moves_the_landmarks_its_au_names_and_no_others(face, au):
    image, landmarks = face
    edit = edit_face(image, landmarks, au, 5.0)
    shift = np.linalg.norm(edit.landmarks - landmarks, axis=1)
    assert edit.moved.any(), f"AU{au} moves no landmark"
    assert (shift[edit.moved] > 0).all() and (shift[~edit.moved] == 0).all()
    np.testing.assert_array_equal(edit.moved, moved_landmarks(au))


def test_an_edit_warps_the_pixels_with_the_landmarks_and_leaves_the_rest(face):
    image, landmarks = face
    edit = edit_face(image, landmarks, 26, 5.0)  # the jaw drops: the chin's pixels move down
    assert (edit.landmarks[8, 1] - landmarks[8, 1]) > 5
    changed = np.abs(edit.image.astype(int) - image.astype(int)).sum(-1) > 0
    assert changed[int(landmarks[8, 1]) - 5 : int(edit.landmarks[8, 1]) + 3, 118:138].any()
    # Far from the face (the crop's corners and the forehead above the brows) nothing changes.
    assert not changed[:20, :20].any() and not changed[:20, -20:].any()
    assert not changed[: int(landmarks[17:27, 1].min()) - 10].any()
    # The mouth's inside is painted where the lips part (AU25; AU26 alone drops the jaw closed).
    parted = edit_face(image, landmarks, 25, 5.0)
    inner = np.rint(parted.landmarks[[62, 66]].mean(0)).astype(int)
    assert tuple(parted.image[inner[1], inner[0]]) == (70, 28, 30)


def test_the_warp_is_scikit_images_piecewise_affine_warp(face):
    from skimage.transform import PiecewiseAffineTransform, warp

    from auheat.synth.edits import _warp, fixed_points

    image, landmarks = face
    target = landmarks + au_movement(12, 5.0, landmarks)
    ours = _warp(image, landmarks, target).astype(int)
    # The reference, with the same control points: the landmarks and the points _warp holds still.
    fixed = fixed_points(landmarks, image.shape[0])
    transform = PiecewiseAffineTransform.from_estimate(
        np.concatenate([target, fixed]), np.concatenate([landmarks, fixed])
    )
    reference = warp(image, transform, output_shape=image.shape, order=1, preserve_range=True).astype(int)
    difference = np.abs(ours - reference).max(axis=-1)
    assert np.percentile(difference, 99) <= 2 and difference.mean() < 0.5  # bilinear rounding


def test_an_edit_at_intensity_0_gives_the_face_back(face):
    image, landmarks = face
    edit = edit_face(image, landmarks, 12, 0.0)
    np.testing.assert_array_equal(edit.image, image)
    np.testing.assert_array_equal(edit.landmarks, landmarks)


def test_a_movement_scales_with_the_eye_distance_and_turns_with_the_roll(face):
    _, landmarks = face
    base = au_movement(12, 3.0, landmarks)
    # Twice the face, twice the movement.
    np.testing.assert_allclose(au_movement(12, 3.0, 2 * landmarks), 2 * base)
    # The face turned by 30 degrees: the movement turns with it.
    angle = np.deg2rad(30)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    np.testing.assert_allclose(au_movement(12, 3.0, landmarks @ turn.T), base @ turn.T, atol=1e-9)
    eyes = np.hypot(*(landmarks[45] - landmarks[36]))
    # SynthFACS drops the chin 15 px of its model face at AU26 = 5: here, in this face's eye distances.
    chin = np.linalg.norm(au_movement(26, 5.0, landmarks)[8])
    assert np.isclose(chin, 15 * eyes / MODEL_EYE_DISTANCE)


def test_bad_edits_are_refused_with_what_is_wrong(face):
    image, landmarks = face
    with pytest.raises(ValueError, match="AU 3 is not one SynthFACS moves"):
        edit_face(image, landmarks, 3, 2.0)
    with pytest.raises(ValueError, match=r"intensity must be in 0..5"):
        edit_face(image, landmarks, 12, 6.0)
    with pytest.raises(ValueError, match=r"landmarks must be \[68, 2\]"):
        edit_face(image, landmarks[:60], 12, 2.0)
    with pytest.raises(ValueError, match="uint8"):
        edit_face(image.astype(float), landmarks, 12, 2.0)


def movement(crops, rest):
    """[B] how far each crop moved from ``rest``: more with every intensity of an edit."""
    return np.abs(crops.astype(float) - rest).mean(axis=(1, 2, 3))


class Reader:
    """A stand-in model of two AUs: ``respond`` maps a batch of crops to [B, 2] map maxima, which
    sit at a fixed peak (the lip corner) of 16x16 maps."""

    aus = (12, 25)

    def __init__(self, respond, peak):
        self.respond, self.peak = respond, peak

    def __call__(self, crops):
        levels = self.respond(crops)
        maps = np.zeros((len(crops), 2, 16, 16))
        maps[:, :, 8, 8] = levels
        peaks = np.broadcast_to(self.peak, (len(crops), 2, 2)).copy()
        return Reading(levels, maps, peaks)


def test_the_check_never_sees_a_rise_in_a_model_that_ignores_its_input(face):
    image, landmarks = face
    faces = {"a": FaceReading(image, landmarks, None)}
    check = edit_check(Reader(lambda crops: np.full((len(crops), 2), 1.5), landmarks[54]), faces, (12, 25))
    assert (check.summary["rises"] == 0).all()
    assert len(check.readings) == 2 * 6  # two AUs: the original and five intensities each


def test_the_check_sees_every_rise_of_a_model_that_reads_the_change_where_it_happens(face):
    image, landmarks = face
    rest = image.astype(float)

    def change(crops):  # how much the face moved: more with every intensity, for both AUs
        return np.stack([movement(crops, rest)] * 2, axis=1)

    faces = {"a": FaceReading(image, landmarks, None), "b": FaceReading(image, landmarks, None)}
    check = edit_check(Reader(change, landmarks[54]), faces, (12, 25), intensities=(2.0, 4.0))
    assert (check.summary["rises"] == 1).all() and (check.summary["edits"] == 4).all()
    # Its peak sits on the lip corner: inside AU12's edit, which moves it.
    assert check.summary.loc[12, "peak in region"] == 1
    assert (check.summary["mean rise at 4"] > RISE).all()


def test_the_check_refuses_aus_the_model_does_not_read(face):
    image, landmarks = face
    reader = Reader(lambda crops: np.zeros((len(crops), 2)), landmarks[54])
    with pytest.raises(ValueError, match=r"AU\(s\) \[4\]"):
        edit_check(reader, {"a": FaceReading(image, landmarks, None)}, (4, 12))


def test_faces_that_already_show_an_au_are_counted_apart(face):
    image, landmarks = face
    rest = image.astype(float)

    def change(crops):  # AU12 reads the movement; AU25 ignores it
        return np.stack([movement(crops, rest), np.ones(len(crops))], axis=1)

    faces = {"a": FaceReading(image, landmarks, None), "smiling": FaceReading(image, landmarks, None)}
    reader = Reader(change, landmarks[54])
    check = edit_check(reader, faces, (12, 25), intensities=(2.0, 4.0), shown={"smiling": [12]})
    assert check.summary.loc[12, "edits"] == 2 and check.summary.loc[25, "edits"] == 4
    assert check.summary.loc[12, "rises where shown"] == 1 and np.isnan(
        check.summary.loc[25, "rises where shown"]
    )
    assert check.readings.groupby("face")["shown"].sum().to_dict() == {"a": 0, "smiling": 3}
    with pytest.raises(ValueError, match="stranger"):
        edit_check(reader, faces, (12,), shown={"stranger": [12]})


def test_pooled_checks_count_every_models_edits_and_show_how_far_one_model_strays(face):
    image, landmarks = face
    rest = image.astype(float)

    def change(crops):  # reads the movement, for both AUs
        return np.stack([movement(crops, rest)] * 2, axis=1)

    faces = {"a": FaceReading(image, landmarks, None)}
    checks = {
        "reads": edit_check(Reader(change, landmarks[54]), faces, (12, 25), intensities=(2.0, 4.0)),
        "ignores": edit_check(
            Reader(lambda crops: np.ones((len(crops), 2)), landmarks[54]),
            faces,
            (12, 25),
            intensities=(2.0, 4.0),
        ),
    }
    pooled = pool_edit_checks(checks)
    assert (pooled.summary["edits"] == 4).all() and (pooled.summary["rises"] == 0.5).all()
    assert (pooled.summary["rises, lowest model"] == 0).all() and (
        pooled.summary["rises, highest model"] == 1
    ).all()
    assert sorted(pooled.readings["model"].unique()) == ["ignores", "reads"]
    # the mean rise pairs each model's edit with its own original: half of the one model's rise
    expected = checks["reads"].summary["mean rise at 4"] / 2
    assert np.allclose(pooled.summary["mean rise at 4"], expected)
    with pytest.raises(ValueError, match="no edit check"):
        pool_edit_checks({})


def test_the_pooled_interval_resamples_models_and_faces(face):
    image, landmarks = face
    rest = image.astype(float)

    def change(crops):  # reads the movement, for both AUs
        return np.stack([movement(crops, rest)] * 2, axis=1)

    def ignores(crops):
        return np.ones((len(crops), 2))

    faces = {name: FaceReading(image, landmarks, None) for name in "abc"}
    reads = edit_check(Reader(change, landmarks[54]), faces, (12, 25), intensities=(2.0, 4.0))
    pooled = pool_edit_checks({"r1": reads, "r2": reads})
    # Every model and face rises on every edit: every resample gives 1.
    assert (pooled.summary[["rises, low", "rises, high"]] == 1).all().all()
    # Models that disagree: the interval spans the share, and a resample can draw one model alone.
    mixed = pool_edit_checks(
        {"r": reads, "i": edit_check(Reader(ignores, landmarks[54]), faces, (12, 25), intensities=(2.0, 4.0))}
    )
    low, high = mixed.summary.loc[12, ["rises, low", "rises, high"]]
    assert low == 0 and high == 1 and mixed.summary.loc[12, "rises"] == 0.5
    assert verdicts(pooled.summary).eq("reads the movement").all()
    assert verdicts(mixed.summary).eq("undecided at 90%").all()
    below = mixed.summary.assign(**{"rises, high": 0.8})
    assert verdicts(below).eq("does not reliably read the movement").all()
    # A face shown the AU is left out, as from the share: only faces a and b count for AU12.
    shown = edit_check(Reader(ignores, landmarks[54]), faces, (12, 25), (2.0, 4.0), shown={"c": [12]})
    one = pool_edit_checks({"r": reads, "s": shown})
    assert one.summary.loc[12, "edits"] == 2 * 2 + 3 * 2
    with pytest.raises(ValueError, match="level"):
        pool_edit_checks({"r": reads}, level=1.0)
    with pytest.raises(ValueError, match="no faces"):
        edit_check(Reader(ignores, landmarks[54]), {}, (12,))


def test_neutral_faces_take_each_subjects_first_frame_at_rest(tmp_path):
    from auheat.data.dataset import PreparedDataset, au_column
    from auheat.edit_check import neutral_faces
    from auheat.models import FAN, build_model
    from auheat.predict import FaceReader
    from auheat.synth.generate import generate_dataset

    data = PreparedDataset(generate_dataset("disfa-like", tmp_path / "d", 4, seed=0, workers=1))
    reader = FaceReader(build_model("finetune", FAN(1, 16), data.aus), 64)
    faces = neutral_faces(data, reader)
    at_rest = data.frames[[au_column(n) for n in data.aus]].eq(0).all(axis=1)
    expected = data.frames[at_rest.to_numpy()].groupby("subject").head(1)
    assert list(faces) == list(expected["subject"]) and len(faces) > 2
    rows = np.flatnonzero(at_rest.to_numpy())
    first = {subject: int(rows[data.frames["subject"].to_numpy()[rows] == subject][0]) for subject in faces}
    for subject, face in faces.items():  # that frame, aligned as a photo's face is (barely moved)
        assert face.crop.shape == (256, 256, 3)
        assert np.abs(face.landmarks - data[first[subject]]["landmarks"].numpy()).max() < 6
    assert list(neutral_faces(data, reader, limit=2)) == list(faces)[:2]
