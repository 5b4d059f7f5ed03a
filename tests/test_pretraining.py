import numpy as np
import pytest

from auheat.config import TrainConfig
from auheat.data.align import apply_affine, box_matrix
from auheat.data.protocols import split_protocol
from auheat.data.writer import DatasetWriter
from auheat.landmarkers import Framing
from auheat.models.weights import resolve_landmark_weights
from auheat.pretraining import pretrain_landmarks


def test_box_matrix_maps_the_square_onto_the_crop_edges():
    matrix = box_matrix((50.0, 80.0), side=40.0, size=64)
    corners = apply_affine(matrix, np.array([[30.0, 60.0], [70.0, 100.0]]))
    # The square's left edge (x = 30) is the crop's left edge (x = -0.5); 40 px become 64.
    np.testing.assert_allclose(corners, [[-0.5, -0.5], [63.5, 63.5]])


def test_framing_measured_on_crops_crops_them_again_in_place():
    """A face framed as the training crops frame it, moved and scaled in a photo, is cropped back
    to exactly where it sat in the crop."""
    face = np.random.default_rng(0).uniform(60, 200, (68, 2))  # crop pixels of a 256 crop
    framing = Framing.measure(np.stack([face] * 5), 256)
    in_photo = 2.7 * face + np.array([310.4, -45.2])  # the same face in a photo, larger and moved
    matrix = framing.matrix(in_photo, 256)
    assert matrix[0, 0] == pytest.approx(matrix[1, 1])  # a square crop, no shear
    np.testing.assert_allclose(apply_affine(matrix, in_photo), face, atol=1e-9)


@pytest.fixture
def landmark_set(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "landmarks"
    mean_face = rng.uniform(16, 48, (68, 2))
    with DatasetWriter(
        root,
        name="landmarks",
        aus=(),
        protocol=split_protocol({"train": ["A", "B"], "test": ["C"]}),
        crop_size=64,
    ) as writer:
        rows = []
        for i in range(9):
            image = writer.save_image(f"images/{i}.jpg", rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
            subject = "ABC"[i % 3]
            rows.append(
                {
                    "id": str(i),
                    "subject": subject,
                    "session": "T1",
                    "frame": i,
                    "image": image,
                    "split": "test" if subject == "C" else "train",
                }
            )
        writer.add_frames(rows, mean_face + rng.normal(0, 1, (9, 68, 2)))
    return root


def test_pretraining_caches_weights_the_resolution_finds_and_scores_real_photos(
    landmark_set, tmp_path, monkeypatch
):
    monkeypatch.setenv("AUHEAT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    config = TrainConfig(epochs=1, batch_size=3, input_size=64)
    weights, table = pretrain_landmarks(landmark_set, stacks=1, width=16, config=config)
    found = resolve_landmark_weights(stacks=1, width=16)
    assert found.source == "auheat" and found.path == weights
    assert list(table.index) == ["held-out synthetic subjects", "einstein", "takeo", "breakingbad"]
    assert table["NME"].notna().all() and (table["NME"] > 0).all()
    assert table.loc["held-out synthetic subjects", "faces"] == 3
    assert table.index.name not in table.columns  # a page would show one header twice


def test_mean_shape_errors_are_zero_for_identical_faces_and_grow_with_spread(tmp_path):
    from auheat.landmarkers import mean_shape_errors

    class Faces:  # what mean_shape_errors reads of a PreparedDataset
        def __init__(self, landmarks):
            self.landmarks = landmarks

    rng = np.random.default_rng(0)
    face = rng.uniform(50, 200, (68, 2)).astype(np.float32)
    same = Faces(np.repeat(face[None], 5, axis=0))
    assert np.allclose(mean_shape_errors(same, same), 0.0, atol=1e-6)
    jittered = Faces(face + rng.normal(0, 2.0, (40, 68, 2)).astype(np.float32))
    wider = Faces(face + rng.normal(0, 6.0, (40, 68, 2)).astype(np.float32))
    assert mean_shape_errors(same, wider).mean() > 2 * mean_shape_errors(same, jittered).mean() > 0


@pytest.mark.parametrize("scale", [0.25, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("degrees", [0.0, 17.0, -90.0])
@pytest.mark.parametrize("offset", [(0.0, 0.0), (0.3, -0.45)])
def test_warped_pixels_land_where_apply_affine_puts_their_points(scale, degrees, offset):
    """A smooth blob's centre, warped, lies where the affine map sends the centre's coordinates:
    at several scales, rotations and sub-pixel offsets of the blob."""
    from auheat.data.align import warp_image

    centre = np.array([160.0, 200.0]) + offset
    ys, xs = np.indices((400, 400))
    blob = 255 * np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * 16.0**2))
    image = np.repeat(blob.round().astype(np.uint8)[..., None], 3, axis=-1)
    angle = np.deg2rad(degrees)
    linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shift = np.array([128.3, 121.6]) - linear @ centre  # the blob near the crop's middle
    matrix = np.hstack([linear, shift[:, None]])
    crop = warp_image(image, matrix, 256)[..., 0].astype(np.float64)
    ys, xs = np.indices(crop.shape)
    centroid = np.array([(xs * crop).sum(), (ys * crop).sum()]) / crop.sum()
    expected = apply_affine(matrix, centre)
    # A half-pixel convention applied in the wrong order moves it by (scale - 1) crop pixels.
    np.testing.assert_allclose(centroid, expected, atol=0.05)


def test_pts_files_are_read_from_their_published_1_based_form(tmp_path):
    """An iBUG .pts file as 300-W and menpo publish it, written by hand: the first pixel's centre is
    (1, 1) there and (0, 0) here."""
    from auheat.data.photos import read_pts

    lines = ["version: 1", "n_points:  68", "{"] + [f"{i + 1}.5 {2 * i + 1}" for i in range(68)] + ["}"]
    (tmp_path / "face.pts").write_text("\n".join(lines) + "\n")
    points = read_pts(tmp_path / "face.pts")
    assert points.shape == (68, 2)
    assert points[0].tolist() == [0.5, 0.0] and points[67].tolist() == [67.5, 134.0]
    (tmp_path / "bad.pts").write_text("version: 1\n1 2\n")
    with pytest.raises(ValueError, match="bad.pts: not an iBUG .pts file"):
        read_pts(tmp_path / "bad.pts")
