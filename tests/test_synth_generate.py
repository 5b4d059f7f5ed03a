import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from auheat.cli import main
from auheat.data.align import ANCHOR_LANDMARKS, ANCHOR_POSITIONS_256
from auheat.data.dataset import PreparedDataset, read_meta
from auheat.data.protocols import folds_protocol, split_protocol
from auheat.synth import generate
from auheat.synth.generate import generate_dataset
from auheat.synth.presets import get_preset


def synth(out, preset="disfa-like", frames=2, seed=7, workers=1):
    return generate_dataset(preset, out, frames_per_subject=frames, seed=seed, workers=workers)


def files(root):
    """Every file of a dataset folder: relative path -> bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def cut(name, count):
    """A preset cut down to its first `count` subjects, with a protocol of the same kind."""
    preset = get_preset(name)
    subjects = preset.subjects[:count]
    if preset.protocol["kind"] == "folds":
        protocol = folds_protocol([subjects[k::3] for k in range(3)])
    else:
        protocol = split_protocol({"train": subjects[:-1], "test": subjects[-1:]})
    return dataclasses.replace(preset, subjects=subjects, protocol=protocol)


@pytest.fixture(scope="module")
def disfa_one_worker(tmp_path_factory):
    out = tmp_path_factory.mktemp("w1") / "disfa"
    return synth(out)


def test_same_seed_gives_byte_identical_datasets_whatever_the_workers(tmp_path):
    preset = cut("disfa-like", 6)
    reference = files(synth(tmp_path / "ref", preset))
    assert len(reference) == 3 + 12  # meta, frames, landmarks and 6 x 2 images
    assert files(synth(tmp_path / "again", preset)) == reference
    assert files(synth(tmp_path / "two", preset, workers=2)) == reference
    assert files(synth(tmp_path / "other", preset, seed=8))["landmarks.npy"] != reference["landmarks.npy"]


def test_the_reader_reads_what_the_generator_wrote(disfa_one_worker):
    meta = read_meta(disfa_one_worker)
    assert meta["generator"] == {
        "tool": "auheat synth",
        "auheat_version": meta["generator"]["auheat_version"],
        "preset": "disfa-like",
        "seed": 7,
        "frames_per_subject": 2,
    }
    preset = get_preset("disfa-like")
    test = PreparedDataset(disfa_one_worker, split="test", fold=2)
    assert test.subjects == tuple(preset.protocol["folds"][2]) and len(test) == 18
    assert len(PreparedDataset(disfa_one_worker, split="train", fold=2)) == 36
    sample = test[0]
    assert sample["image"].shape == (3, 256, 256) and sample["image"].dtype == torch.uint8
    assert sample["intensities"].shape == (12,)
    labels = PreparedDataset(disfa_one_worker).intensities
    assert not np.isnan(labels).any() and np.array_equal(labels, np.round(labels))
    assert labels.min() >= 0 and labels.max() <= 5
    assert list(test.frames["frame"][:2]) == [0, 3025]  # 2 frames spread over a 242 s video


def test_aligned_presets_put_the_anchor_landmarks_where_the_paper_does(disfa_one_worker):
    landmarks = PreparedDataset(disfa_one_worker).landmarks
    error = np.linalg.norm(landmarks[:, list(ANCHOR_LANDMARKS)] - ANCHOR_POSITIONS_256, axis=-1)
    assert np.median(error) < 2.0 and error.max() < 6.0  # only the simulated fitting error remains
    assert (landmarks >= 0).all() and (landmarks <= 255).all()


def test_cli_renders_a_preset_and_refuses_to_overwrite_by_default(tmp_path, capsys):
    out = tmp_path / "bp4d"
    args = ["synth", "--preset", "bp4d-like", "--frames-per-subject", "1", "--seed", "1", "--out", str(out)]
    assert main([*args, "--workers", "2"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    ds = PreparedDataset(out, split="train")
    assert ds.aus == (6, 10, 12, 14, 17) and len(ds) == 21 and set(ds.frames["session"]) == {"T1"}
    with pytest.raises(SystemExit, match="pass overwrite=True"):
        main(args)
    assert main([*args, "--overwrite", "--workers", "1"]) == 0


def test_the_landmarks_preset_labels_no_aus(tmp_path):
    root = synth(tmp_path / "lm", preset=cut("landmarks", 4))
    ds = PreparedDataset(root, split="train")
    assert ds.aus == () and not any(c.startswith("AU") for c in ds.frames.columns)
    assert ds[0]["intensities"].shape == (0,) and len(ds) == 6


def test_a_crash_mid_generation_leaves_nothing_behind(tmp_path, monkeypatch):
    calls = []

    def failing_render(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("renderer crashed")
        return real_render(*args, **kwargs)

    real_render = generate.render_face
    monkeypatch.setattr(generate, "render_face", failing_render)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        synth(tmp_path / "ds", preset="bp4d-like", frames=1)
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="frames_per_subject must be a positive int"):
        generate_dataset("disfa-like", tmp_path / "x", frames_per_subject=0)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        generate_dataset("disfa-like", tmp_path / "x", frames_per_subject=1, seed=-1)
    with pytest.raises(ValueError, match="unknown preset 'ck'"):
        generate_dataset("ck", tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def test_preset_labels_are_the_labels_of_the_generated_dataset(tmp_path):
    preset = cut("bp4d-like", 3)
    root = synth(tmp_path / "bp4d", preset, frames=40)  # 5 frames in each of 8 sessions
    written = PreparedDataset(root).frames.drop(columns="image").reset_index(drop=True)
    labels = generate.preset_labels(preset, frames_per_subject=40, seed=7)
    assert list(labels.columns) == [
        "id",
        "subject",
        "session",
        "frame",
        "split",
        "AU06",
        "AU10",
        "AU12",
        "AU14",
        "AU17",
    ]
    pd.testing.assert_frame_equal(labels, written, check_dtype=False)
    assert (labels.filter(like="AU") > 0).any().any()  # something happens in 120 frames
    other = generate.preset_labels(preset, frames_per_subject=40, seed=8)
    assert not other.filter(like="AU").equals(labels.filter(like="AU"))


def test_preset_labels_follow_the_protocol_and_need_no_rendering(monkeypatch):
    monkeypatch.setattr(generate, "render_face", None)  # any render would fail
    labels = generate.preset_labels("disfa-like", frames_per_subject=3)
    preset = get_preset("disfa-like")
    assert len(labels) == 27 * 3 and labels["subject"].nunique() == 27
    for fold, members in enumerate(preset.protocol["folds"]):
        assert set(labels.loc[labels["fold"] == fold, "subject"]) == set(members)
    with pytest.raises(ValueError, match="frames_per_subject must be a positive int"):
        generate.preset_labels("disfa-like", frames_per_subject=0)
