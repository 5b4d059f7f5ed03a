"""Subjects and sessions: what a synthetic face does over time.

A session is a stretch of video at :data:`VIDEO_FPS`. Facial actions arrive as *events*: an
expression (a smile, a frown, raised brows, speech, ...) that involves several AUs at once,
rises during an onset, holds at its apex and fades during an offset, as FACS describes the
time course of an action. Overlapping events combine per AU by their maximum. Events are
rare enough that most frames carry intensity 0 for most AUs, and expressions tie AUs together
the way faces do (AU6 with AU12, AU1 with AU2, AU25 with AU26, AU4 alone or with AU9). Each
subject has a style: how often and how strongly they express, and which expressions they
favour, so that subjects differ as real ones do. The head drifts smoothly through each session.

Everything here is NumPy and deterministic given the random generator; nothing renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from auheat.aus import ACTION_UNITS, MAX_INTENSITY

# The AUs a synthetic face can make: the whole catalogue, in catalogue order. Presets label a
# subset, but faces make all of them, as real subjects make AUs that a dataset does not code.
SESSION_AUS: tuple[int, ...] = tuple(ACTION_UNITS)
VIDEO_FPS = 25.0
# Events may start this long before a session, so a session can open mid-expression.
_LEAD_IN_S = 8.0


@dataclass(frozen=True)
class Expression:
    """A recurring combination of AUs.

    ``aus`` lists (AU, probability of taking part, lowest and highest level relative to the
    event's peak). The probabilities keep co-occurrences strong but never certain, so no AU is
    fully predictable from another.
    """

    name: str
    weight: float
    aus: tuple[tuple[int, float, float, float], ...]


# Relative frequencies and make-up are the project's reading of FACS and of the co-occurrence
# patterns reported for BP4D and DISFA; they are tunable, not measured.
EXPRESSIONS: tuple[Expression, ...] = (
    Expression(
        "smile", 3.0, ((12, 1.0, 0.8, 1.0), (6, 0.75, 0.5, 1.0), (25, 0.4, 0.3, 0.8), (10, 0.3, 0.3, 0.6))
    ),
    Expression(
        "laugh",
        0.7,
        (
            (12, 1.0, 0.9, 1.0),
            (6, 1.0, 0.8, 1.0),
            (25, 1.0, 0.6, 1.0),
            (26, 0.8, 0.5, 1.0),
            (10, 0.5, 0.4, 0.7),
        ),
    ),
    Expression(
        "brows up",
        1.5,
        (
            (1, 1.0, 0.8, 1.0),
            (2, 0.85, 0.7, 1.0),
            (5, 0.5, 0.4, 0.9),
            (25, 0.35, 0.3, 0.7),
            (26, 0.25, 0.3, 0.7),
        ),
    ),
    Expression("frown", 1.0, ((4, 1.0, 0.8, 1.0), (9, 0.3, 0.3, 0.6), (17, 0.3, 0.3, 0.7))),
    Expression(
        "disgust",
        0.6,
        (
            (9, 1.0, 0.7, 1.0),
            (10, 0.9, 0.6, 1.0),
            (4, 0.5, 0.3, 0.7),
            (17, 0.3, 0.3, 0.6),
            (25, 0.3, 0.3, 0.6),
        ),
    ),
    Expression(
        "sad", 0.7, ((1, 0.8, 0.5, 1.0), (4, 0.6, 0.4, 0.8), (15, 1.0, 0.6, 1.0), (17, 0.7, 0.5, 1.0))
    ),
    Expression(
        "fear",
        0.4,
        (
            (1, 1.0, 0.7, 1.0),
            (2, 0.8, 0.5, 0.9),
            (4, 0.7, 0.4, 0.8),
            (5, 0.8, 0.6, 1.0),
            (20, 0.9, 0.6, 1.0),
            (25, 0.7, 0.4, 0.8),
        ),
    ),
    Expression("speech", 2.0, ((25, 1.0, 0.5, 1.0), (26, 0.7, 0.4, 1.0), (10, 0.15, 0.2, 0.5))),
    Expression("dimple", 0.8, ((14, 1.0, 0.7, 1.0), (12, 0.4, 0.2, 0.5), (17, 0.3, 0.3, 0.6))),
    Expression(
        "chin up", 0.8, ((17, 1.0, 0.7, 1.0), (15, 0.4, 0.3, 0.7), (14, 0.3, 0.3, 0.6), (4, 0.2, 0.3, 0.6))
    ),
    Expression("lip stretch", 0.4, ((20, 1.0, 0.7, 1.0), (25, 0.4, 0.3, 0.7), (4, 0.3, 0.3, 0.6))),
)
EXPRESSION_NAMES: tuple[str, ...] = tuple(e.name for e in EXPRESSIONS)


@dataclass(frozen=True)
class Behaviour:
    """How faces behave in a dataset; a preset holds one.

    Args:
        session_seconds: length of a session's video. A session's frames are spread over it at
            a whole-frame stride, so few frames per subject sample the same behaviour sparsely
            (as FERA2015's subsampled BP4D release does) and many frames sample it densely.
        events_per_minute: mean rate of expression events for an average subject.
        expression_weights: overrides of :data:`EXPRESSIONS`' weights by name (e.g. a dataset
            whose tasks elicit more smiles).
        isolated_share: share of events that move one AU alone (any of :data:`SESSION_AUS`),
            the spontaneous single actions that keep co-occurrence below certainty.
        random_share: share of events that move a random set of AUs with no structure (for a
            landmark dataset that wants variety more than realism).
        level_scale: scale (intensity units) of the gamma distribution of event peaks; real
            AU intensities are mostly low (A, B), rarely extreme (E).
        pose_spread_deg: standard deviation of a subject's habitual head orientation and of a
            session's offset from it (yaw, pitch, roll), degrees.
        pose_drift_deg: amplitude of the slow head motion within a session, degrees.
        max_pose_deg: a soft bound on every angle (``max * tanh(angle / max)``), degrees.
    """

    session_seconds: float = 60.0
    events_per_minute: float = 10.0
    expression_weights: dict[str, float] = field(default_factory=dict)
    isolated_share: float = 0.15
    random_share: float = 0.0
    level_scale: float = 0.9
    pose_spread_deg: tuple[float, float, float] = (5.0, 4.0, 3.0)
    pose_drift_deg: tuple[float, float, float] = (6.0, 4.0, 3.0)
    max_pose_deg: float = 30.0

    def __post_init__(self) -> None:
        unknown = set(self.expression_weights) - set(EXPRESSION_NAMES)
        if unknown:
            raise ValueError(
                f"expression_weights names unknown expressions {sorted(unknown)}; known: {EXPRESSION_NAMES}"
            )
        if not 0 <= self.isolated_share + self.random_share <= 1:
            raise ValueError("isolated_share + random_share must lie in [0, 1]")
        if self.session_seconds <= 0 or self.events_per_minute < 0 or self.max_pose_deg <= 0:
            raise ValueError("session_seconds and max_pose_deg must be positive, events_per_minute >= 0")


@dataclass(frozen=True)
class SubjectStyle:
    """How one subject expresses, drawn once per subject.

    ``activity`` multiplies the event rate, ``expressiveness`` the event peaks; ``au_gain``
    [len(SESSION_AUS)] scales each AU (one person's smile is broad, another's faint);
    ``expression_weights`` [len(EXPRESSIONS)] are this subject's preferences; ``pose_bias``
    (yaw, pitch, roll) degrees is their habitual head orientation.
    """

    activity: float
    expressiveness: float
    au_gain: tuple[float, ...]
    expression_weights: tuple[float, ...]
    pose_bias: tuple[float, float, float]


@dataclass(frozen=True)
class TimeCourse:
    """One session's time course, sampled at its frames.

    Attributes:
        frames: [T] int, frame numbers in the session's video (0-based, at :data:`VIDEO_FPS`).
        times: [T] float, seconds from the session's start.
        intensities: [T, len(SESSION_AUS)] float in 0..5, the continuous intensity the face shows
            (what is rendered), columns in :data:`SESSION_AUS` order.
        labels: [T, len(SESSION_AUS)] int 0..5, the FACS-coded intensity (see :func:`code_intensities`).
        pose: [T, 3] float, (yaw, pitch, roll) degrees.
    """

    frames: np.ndarray
    times: np.ndarray
    intensities: np.ndarray
    labels: np.ndarray
    pose: np.ndarray


def sample_subject_style(rng: np.random.Generator, behaviour: Behaviour) -> SubjectStyle:
    """Draw one subject's style: some people are quiet, some animated (lognormal spreads)."""
    base = np.array([behaviour.expression_weights.get(e.name, e.weight) for e in EXPRESSIONS])
    return SubjectStyle(
        activity=float(rng.lognormal(0.0, 0.4)),
        expressiveness=float(np.clip(rng.lognormal(0.0, 0.25), 0.5, 1.8)),
        au_gain=tuple(float(g) for g in np.clip(rng.lognormal(0.0, 0.2, len(SESSION_AUS)), 0.6, 1.5)),
        expression_weights=tuple(float(w) for w in base * rng.lognormal(0.0, 0.5, len(EXPRESSIONS))),
        pose_bias=tuple(float(v) for v in rng.normal(0.0, behaviour.pose_spread_deg)),
    )


def code_intensities(intensities: np.ndarray) -> np.ndarray:
    """FACS-coded labels of continuous intensities: int64, rounded half up, in 0..5.

    The face is rendered with the continuous intensity and labelled with the rounded one,
    because coders quantise what they see into the levels 0 (absent) and A..E (1..5): a face
    at 2.4 shows a little more than a face at 1.6, yet both are coded B. The models thus meet
    the label noise of real coding.
    """
    return np.clip(np.floor(np.asarray(intensities) + 0.5), 0, MAX_INTENSITY).astype(np.int64)


def _ramp(x: np.ndarray) -> np.ndarray:
    """Smoothstep from 0 (x <= 0) to 1 (x >= 1) with zero slope at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _envelope(t: np.ndarray, start: float, onset: float, apex: float, offset: float) -> np.ndarray:
    """[T] in 0..1: rise over ``onset`` s from ``start``, hold ``apex`` s, fall over ``offset`` s."""
    rise = _ramp((t - start) / onset)
    fall = 1.0 - _ramp((t - start - onset - apex) / offset)
    return np.minimum(rise, fall)


def _event_levels(rng: np.random.Generator, style: SubjectStyle, behaviour: Behaviour) -> np.ndarray:
    """[len(SESSION_AUS)] level of each AU at one event's apex relative to its peak (0 = not involved)."""
    levels = np.zeros(len(SESSION_AUS))
    kind = rng.uniform()
    if kind < behaviour.isolated_share:
        levels[rng.integers(len(SESSION_AUS))] = 1.0
    elif kind < behaviour.isolated_share + behaviour.random_share:
        involved = rng.uniform(size=len(SESSION_AUS)) < 0.3
        levels[involved] = rng.uniform(0.2, 1.0, int(involved.sum()))
    else:
        weights = np.array(style.expression_weights)
        expression = EXPRESSIONS[rng.choice(len(EXPRESSIONS), p=weights / weights.sum())]
        for au, probability, low, high in expression.aus:
            if rng.uniform() < probability:
                levels[SESSION_AUS.index(au)] = rng.uniform(low, high)
    return levels


def _pose_curve(
    rng: np.random.Generator, times: np.ndarray, style: SubjectStyle, behaviour: Behaviour
) -> np.ndarray:
    """[T, 3] (yaw, pitch, roll) degrees: a session offset plus three slow sinusoids per angle."""
    offset = np.array(style.pose_bias) + rng.normal(0.0, behaviour.pose_spread_deg)
    freq = rng.uniform(0.02, 0.25, (3, 3))  # Hz: head motion is slow
    phase = rng.uniform(0.0, 2 * np.pi, (3, 3))
    # Three components of random share; the sum has standard deviation about pose_drift_deg.
    amplitude = rng.dirichlet(np.ones(3), 3) * np.array(behaviour.pose_drift_deg)[:, None] * np.sqrt(2)
    waves = amplitude[None] * np.sin(2 * np.pi * freq[None] * times[:, None, None] + phase[None])
    angles = offset + waves.sum(-1)
    limit = behaviour.max_pose_deg
    return limit * np.tanh(angles / limit)  # a smooth bound keeps the motion smooth


def simulate_session(
    rng: np.random.Generator, style: SubjectStyle, behaviour: Behaviour, num_frames: int
) -> TimeCourse:
    """Simulate one session and sample ``num_frames`` frames from it.

    The frames are every ``stride``-th frame of the video, ``stride = max(1, session frames //
    num_frames)``; asking for more frames than the video holds lengthens the session.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    stride = max(1, int(behaviour.session_seconds * VIDEO_FPS) // num_frames)
    frames = np.arange(num_frames, dtype=np.int64) * stride
    times = frames / VIDEO_FPS
    duration = times[-1] + 1.0 / VIDEO_FPS

    rate = behaviour.events_per_minute * style.activity / 60.0  # events per second
    count = rng.poisson(rate * (duration + _LEAD_IN_S))
    intensities = np.zeros((num_frames, len(SESSION_AUS)))
    gain = np.array(style.au_gain)
    for start in np.sort(rng.uniform(-_LEAD_IN_S, duration, count)):
        # Onset, apex and offset durations in seconds; apexes are mostly short, some held.
        onset, apex, offset = rng.uniform(0.4, 1.5), rng.lognormal(np.log(1.5), 0.6), rng.uniform(0.5, 2.5)
        peak = min(MAX_INTENSITY, 0.6 + rng.gamma(2.0, behaviour.level_scale) * style.expressiveness)
        levels = _event_levels(rng, style, behaviour)
        for a in np.flatnonzero(levels):
            # Muscles of one expression do not move in lockstep: a small lag per AU.
            lag = rng.normal(0.0, 0.15)
            curve = _envelope(times, start + lag, onset, apex, offset)
            np.maximum(intensities[:, a], peak * levels[a] * gain[a] * curve, out=intensities[:, a])
    intensities = np.clip(intensities, 0.0, MAX_INTENSITY)
    return TimeCourse(
        frames=frames,
        times=times,
        intensities=intensities,
        labels=code_intensities(intensities),
        pose=_pose_curve(rng, times, style, behaviour),
    )
