import numpy as np
import pytest

from auheat.data.align import apply_affine, box_matrix
from auheat.data.dataset import DatasetWriter, split_protocol
from auheat.landmarks import Framing, pretrain_landmarks
from auheat.models.weights import resolve_landmark_weights
from auheat.train import TrainConfig


def test_box_matrix_maps_the_square_onto_the_crop_edges():
    matrix = box_matrix((50.0, 80.0), side=40.0, size=64)
    corners = apply_affine(matrix, np.array([[30.0, 60.0], [70.0, 100.0]]))
    # The square's left edge (x = 30) is the crop's left edge (x = -0.5); 40 px become 64.
    np.testing.assert_allclose(corners, [[-0.5, -0.5], [63.5, 63.5]])


def test_framing_measured_on_crops_crops_them_again_in_place():
    rng = np.random.default_rng(0)
    faces = rng.uniform(60, 200, (20, 68, 2))
    framing = Framing.measure(faces, 256)
    median = faces[np.argsort([f.max() for f in faces])[10]]
    matrix = framing.matrix(median, 256)
    assert matrix[0, 0] == pytest.approx(matrix[1, 1])  # a square crop, no shear
    # A face framed like the median of the set is cropped about where it already is.
    assert np.abs(apply_affine(matrix, median) - median).max() < 40


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
    weights, table = pretrain_landmarks(landmark_set, stacks=1, width=16, config=config, progress=False)
    found = resolve_landmark_weights(stacks=1, width=16)
    assert found.source == "auheat" and found.path == weights
    assert list(table.index) == ["held-out synthetic subjects", "einstein", "takeo", "breakingbad"]
    assert table["NME"].notna().all() and (table["NME"] > 0).all()
    assert table.loc["held-out synthetic subjects", "faces"] == 3


def test_mean_shape_errors_are_zero_for_identical_faces_and_grow_with_spread(tmp_path):
    from auheat.landmarks import mean_shape_errors

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
def test_warped_pixels_land_where_apply_affine_puts_their_points(scale):
    """A smooth blob's centre, warped, lies where the affine map sends the centre's coordinates."""
    from auheat.data.align import warp_image

    ys, xs = np.indices((400, 400))
    blob = 255 * np.exp(-((xs - 160.0) ** 2 + (ys - 200.0) ** 2) / (2 * 16.0**2))
    image = np.repeat(blob.round().astype(np.uint8)[..., None], 3, axis=-1)
    shift = np.array([128.3, 121.6]) - scale * np.array([160.0, 200.0])  # near the crop's middle
    matrix = np.array([[scale, 0.0, shift[0]], [0.0, scale, shift[1]]])
    crop = warp_image(image, matrix, 256)[..., 0].astype(np.float64)
    ys, xs = np.indices(crop.shape)
    centroid = np.array([(xs * crop).sum(), (ys * crop).sum()]) / crop.sum()
    expected = apply_affine(matrix, np.array([160.0, 200.0]))
    # A half-pixel convention applied in the wrong order moves it by (scale - 1) crop pixels.
    np.testing.assert_allclose(centroid, expected, atol=0.05)
