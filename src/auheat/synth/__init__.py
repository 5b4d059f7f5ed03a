"""SynthFACS: procedural faces with exact 68-point landmarks and Action Unit intensities.

from auheat.synth import sample_identity, sample_capture, render_face
image, landmarks = render_face(sample_identity(rng), {12: 3.0, 6: 2.0})
"""

from auheat.synth.params import SYNTH_AUS, Capture, Identity, Pose, sample_capture, sample_identity
from auheat.synth.render import render_au_series, render_face

__all__ = [
    "SYNTH_AUS",
    "Capture",
    "Identity",
    "Pose",
    "render_au_series",
    "render_face",
    "sample_capture",
    "sample_identity",
]
