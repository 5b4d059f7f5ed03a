import numpy as np
import pytest

from auheat.aus import dataset_aus
from auheat.synth.presets import PRESETS, get_preset
from auheat.synth.sessions import (
    SESSION_AUS,
    VIDEO_FPS,
    Behaviour,
    code_intensities,
    sample_subject_style,
    simulate_session,
)


def simulate(preset_name: str, subjects: int, frames: int, seed: int = 0):
    """Sessions of the first `subjects` subjects of a preset, `frames` frames per subject."""
    preset = get_preset(preset_name)
    sessions = []
    for i in range(subjects):
        rng = np.random.default_rng([seed, i])
        style = sample_subject_style(rng, preset.behaviour)
        sessions += [
            simulate_session(rng, style, preset.behaviour, n) for n in preset.frames_per_session(frames)
        ]
    return sessions


@pytest.fixture(scope="module")
def disfa_labels():
    return np.concatenate([s.labels for s in simulate("disfa-like", 27, 600)])


def column(au: int) -> int:
    return SESSION_AUS.index(au)


def test_labels_are_facs_integers_coded_from_the_rendered_intensity():
    assert code_intensities(np.array([0.0, 0.49, 0.5, 1.2, 2.5, 4.6, 5.0])).tolist() == [0, 0, 1, 1, 3, 5, 5]
    for session in simulate("bp4d-like", 3, 80):
        assert session.labels.dtype == np.int64
        assert session.labels.min() >= 0 and session.labels.max() <= 5
        assert np.array_equal(session.labels, code_intensities(session.intensities))
        assert session.intensities.min() >= 0 and session.intensities.max() <= 5


def test_most_frames_are_zero_for_every_au(disfa_labels):
    zero_share = (disfa_labels == 0).mean(0)
    assert zero_share.min() > 0.6, dict(zip(SESSION_AUS, zero_share.round(2), strict=True))
    bp4d = np.concatenate([s.labels for s in simulate("bp4d-like", 10, 240)])
    assert all((bp4d[:, column(au)] == 0).mean() > 0.5 for au in dataset_aus("bp4d"))
    # ...and every AU does occur, at every level
    assert (disfa_labels > 0).mean(0).min() > 0.02
    assert set(np.unique(disfa_labels)) == {0, 1, 2, 3, 4, 5}


@pytest.mark.parametrize(("a", "b"), [(6, 12), (1, 2), (25, 26), (4, 9)])
def test_aus_of_one_expression_co_occur_above_chance(disfa_labels, a, b):
    on_a, on_b = disfa_labels[:, column(a)] > 0, disfa_labels[:, column(b)] > 0
    lift = (on_a & on_b).mean() / (on_a.mean() * on_b.mean())
    assert lift > 2.0
    # ...but neither AU is a copy of the other
    assert (on_a & ~on_b).mean() > 0.005 and (on_b & ~on_a).mean() > 0.005


def test_unrelated_aus_are_near_independent(disfa_labels):
    on_4, on_12 = disfa_labels[:, column(4)] > 0, disfa_labels[:, column(12)] > 0
    assert (on_4 & on_12).mean() / (on_4.mean() * on_12.mean()) < 1.5


def test_intensity_and_pose_curves_are_smooth_at_video_rate():
    behaviour = get_preset("landmarks").behaviour
    rng = np.random.default_rng(3)
    style = sample_subject_style(rng, behaviour)
    session = simulate_session(rng, style, behaviour, int(behaviour.session_seconds * VIDEO_FPS))
    assert np.array_equal(np.diff(session.frames), np.ones(len(session.frames) - 1))  # every frame
    step = np.abs(np.diff(session.intensities, axis=0))
    assert step.max() < 0.8  # at most ~4/5 of a level between consecutive frames (40 ms)
    assert step.mean() < 0.05 * session.intensities.std(0).mean()
    assert np.abs(np.diff(session.pose, axis=0)).max() < 0.6  # degrees per frame
    assert np.abs(session.pose).max() <= behaviour.max_pose_deg


def test_few_frames_sample_the_session_sparsely():
    behaviour = Behaviour(session_seconds=60.0)
    rng = np.random.default_rng(0)
    session = simulate_session(rng, sample_subject_style(rng, behaviour), behaviour, 10)
    assert session.frames.tolist() == list(range(0, 1500, 150))
    assert np.allclose(session.times, session.frames / VIDEO_FPS)
    long = simulate_session(rng, sample_subject_style(rng, behaviour), behaviour, 2000)
    assert long.frames[-1] == 1999  # more frames than the video holds: a longer session


def test_subjects_differ_in_expressiveness():
    sessions = simulate("disfa-like", 20, 300)
    means = np.array([s.intensities.mean() for s in sessions])
    assert means.std() / means.mean() > 0.25


def test_sessions_are_deterministic_given_the_generator():
    a, b = simulate("bp4d-like", 2, 40, seed=5), simulate("bp4d-like", 2, 40, seed=5)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.intensities, y.intensities) and np.array_equal(x.pose, y.pose)
    assert not np.array_equal(a[0].pose, simulate("bp4d-like", 1, 40, seed=6)[0].pose)


def test_the_landmark_preset_covers_wide_poses():
    pose = np.concatenate([s.pose for s in simulate("landmarks", 60, 25)])
    assert np.abs(pose).max(0).min() > 18  # every angle reaches far out
    assert np.abs(pose).max() <= 30


def test_presets_subjects_and_protocols():
    bp4d, disfa, landmarks = (get_preset(n) for n in ("bp4d-like", "disfa-like", "landmarks"))
    assert len(bp4d.subjects) == 41 and bp4d.aus == (6, 10, 12, 14, 17)
    train, test = bp4d.protocol["splits"]["train"], bp4d.protocol["splits"]["test"]
    assert len(train) == 21 and len(test) == 20
    assert not set(train) & set(test) and sorted(train + test) == sorted(bp4d.subjects)
    assert len(disfa.subjects) == 27 and disfa.aus == dataset_aus("disfa")
    folds = disfa.protocol["folds"]
    assert [len(f) for f in folds] == [9, 9, 9]
    assert sorted(s for f in folds for s in f) == sorted(disfa.subjects)
    assert [disfa.part_of(s) for s in folds[1]] == [1] * 9 and bp4d.part_of(test[0]) == "test"
    assert landmarks.aus == () and len(landmarks.subjects) >= 300 and not landmarks.align
    assert set(PRESETS) == {"bp4d-like", "disfa-like", "landmarks"}


def test_frames_per_subject_divide_over_sessions():
    bp4d = get_preset("bp4d-like")
    assert bp4d.frames_per_session(20) == (3, 3, 3, 3, 2, 2, 2, 2)
    assert bp4d.frames_per_session(3) == (1, 1, 1, 0, 0, 0, 0, 0)
    with pytest.raises(ValueError, match="frames_per_subject must be at least 1"):
        bp4d.frames_per_session(0)


def test_bad_names_are_rejected():
    with pytest.raises(ValueError, match="unknown preset 'ck'; valid presets: bp4d-like"):
        get_preset("ck")
    with pytest.raises(ValueError, match=r"unknown expressions \['grin'\]"):
        Behaviour(expression_weights={"grin": 1.0})
