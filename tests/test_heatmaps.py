import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from auheat.aus import au_centres
from auheat.heatmaps import (
    DESIGNS,
    FAN_SIGMA,
    au_windows,
    decode_heatmaps,
    encode_heatmaps,
    labelled_mask,
    landmark_heatmaps,
    target_geometry,
)
from auheat.speed import numpy_reference_targets

NAN = float("nan")


def face(batch: int = 1, low: float = 12.0, high: float = 52.0, seed: int = 0, dtype=torch.float32):
    """Landmarks spread over the middle of a 64x64 heatmap."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, 68, 2, generator=g, dtype=torch.float64) * (high - low) + low).to(dtype)


def landmarks_at(point: tuple[float, float], batch: int = 1) -> torch.Tensor:
    """Every landmark at one point, so every AU centre sits there."""
    return torch.tensor(point, dtype=torch.float32).expand(batch, 68, 2).clone()


@pytest.mark.parametrize("design", DESIGNS)
def test_intensity_zero_gives_an_all_zero_map(design):
    heat = encode_heatmaps(face(2), torch.zeros(2, 5), "bp4d", design=design)
    assert heat.shape == (2, 5, 64, 64)
    assert torch.count_nonzero(heat) == 0


def test_unlabelled_entries_give_zero_maps_and_a_false_mask():
    intensities = torch.tensor([[3.0, NAN, 1.0, NAN, 5.0]])
    heat = encode_heatmaps(face(), intensities, "bp4d")
    assert torch.count_nonzero(heat[0, 1]) == 0 and torch.count_nonzero(heat[0, 3]) == 0
    assert labelled_mask(intensities).tolist() == [[True, False, True, False, True]]


def test_bilateral_centres_share_one_channel_with_equal_peaks():
    landmarks = face()
    landmarks[0, 48] = torch.tensor([20.0, 40.0])
    landmarks[0, 54] = torch.tensor([44.0, 40.0])
    heat = encode_heatmaps(landmarks, torch.tensor([[4.0]]), [12], design="fixed")[0, 0]
    assert heat[40, 20] == pytest.approx(4.0) and heat[40, 44] == pytest.approx(4.0)
    assert heat[40, 32] == 0  # between the lip corners, outside both supports


def test_overlapping_centres_combine_by_maximum_not_sum():
    heat = encode_heatmaps(landmarks_at((30.0, 30.0)), torch.tensor([[2.5]]), [1], design="variable")
    assert heat.max() == pytest.approx(2.5)  # AU1's three centres coincide here


def test_peak_equals_intensity_between_pixels():
    heat = encode_heatmaps(landmarks_at((30.4, 21.7)), torch.tensor([[3.5]]), [17])
    assert heat.max() == pytest.approx(3.5)
    assert heat[0, 0, 22, 30] == pytest.approx(3.5)  # the nearest pixel (row y=22, column x=30)


def test_variable_support_grows_with_intensity_and_fixed_does_not():
    levels = torch.arange(1.0, 6.0)[:, None]
    for design, grows in (("variable", True), ("fixed", False)):
        heat = encode_heatmaps(landmarks_at((32.0, 32.0), 5), levels, [25], design=design)
        support = (heat[:, 0] > 0).sum((-1, -2))
        assert (support.diff() > 0).all() == grows, design
    # Sanchez et al. 2018, Eq. 1 on the paper's 64x64 map: drawn for |i|, |j| <= 6 I pixels.
    heat = encode_heatmaps(landmarks_at((32.0, 32.0)), torch.tensor([[2.0]]), [25])[0, 0]
    columns = torch.nonzero(heat[32] > 0)[:, 0]
    assert (columns.min().item(), columns.max().item()) == (20, 44)
    # Every design has FAN's width: one pixel off the centre the map keeps exp(-1 / (2 * 3.25^2)).
    assert heat[32, 33] / heat[32, 32] == pytest.approx(np.exp(-1 / (2 * FAN_SIGMA**2)), rel=1e-5)


@pytest.mark.parametrize("design", ["fixed", "variable"])
def test_targets_cover_the_same_share_of_the_face_at_every_map_size(design):
    """The same label drawn on 64, 32 and 16 pixel maps: widths and windows scale with the side."""
    centre = torch.tensor([0.5, 0.5])
    spreads, windows = [], []
    for size in (64, 32, 16):
        point = tuple((centre * size).round().tolist())  # a pixel centre, so the Gaussian is symmetric
        heat = encode_heatmaps(landmarks_at(point), torch.tensor([[2.0]]), [25], size=size, design=design)[
            0, 0
        ]
        grid = torch.arange(size, dtype=torch.float32)
        profile = heat[int(point[1])]
        spreads.append(
            float(((grid - point[0]).square() * profile).sum() / profile.sum()).__pow__(0.5) / size
        )
        windows.append(int((profile > 0).sum()) / size)
        assert heat.max() == pytest.approx(2.0)
    # The drawn spread, as a share of the side, agrees within what pixel sampling of a narrow
    # Gaussian allows; the window's share within one pixel of the smallest map.
    assert max(spreads) - min(spreads) < 0.1 * max(spreads), spreads
    assert max(windows) - min(windows) <= 2 / 16, windows
    # A weak AU on the smallest map is still more than one pixel (the law the old targets broke).
    weak = encode_heatmaps(landmarks_at((8.0, 8.0)), torch.tensor([[1.0]]), [25], size=16, design=design)
    assert int((weak[0, 0] > 0.1).sum()) > 1


def test_target_geometry_scales_lengths_from_the_64_pixel_map():
    levels = torch.tensor([0.0, 1.0, 2.5, 5.0, NAN])
    sigma, radius = target_geometry(levels, "variable", size=16)
    assert sigma.tolist() == [FAN_SIGMA / 4] * 5
    assert radius.tolist() == pytest.approx([0.0, 1.5, 3.75, 7.5, 0.0])
    sigma, radius = target_geometry(levels, "fixed", size=32, sigma=2.0, truncate=3.0)
    assert sigma.tolist() == [1.0] * 5 and radius.tolist() == [3.0] * 5


def test_au_windows_mark_every_centre_whatever_the_intensity():
    landmarks = face(2, seed=4) / 4  # a 16x16 map
    windows = au_windows(landmarks, [12, 17], size=16)
    assert windows.shape == (2, 2, 16, 16) and windows.dtype == torch.bool
    centres = au_centres(landmarks, [12, 17]).round().long()
    for b in range(2):
        for k, count in ((0, 2), (1, 1)):
            for c in range(count):
                x, y = centres[b, k, c].tolist()
                assert windows[b, k, y, x]
    # The default reach is the fixed design's window: 3 sigma of a 64 map, a quarter on 16.
    single = au_windows(landmarks_at((8.0, 8.0)), [17], size=16)[0, 0]
    assert int(single[8].sum()) == 2 * int(3 * FAN_SIGMA / 4) + 1
    missing = landmarks.clone()
    missing[:, [57, 8]] = NAN
    assert not au_windows(missing, [17], size=16).any()


def test_binary_design_marks_occurrence_only():
    intensities = torch.tensor([[0.5, 1.0, 4.5]])
    heat = encode_heatmaps(face(), intensities, [6, 12, 17], design="binary", occurrence_threshold=1.0)
    assert heat.amax((-1, -2)).tolist() == [[0.0, 1.0, 1.0]]


def test_centres_outside_the_map_are_cut_off_without_wrapping():
    outside = encode_heatmaps(landmarks_at((-40.0, 30.0)), torch.tensor([[5.0]]), [17])
    assert torch.count_nonzero(outside) == 0
    # Just past the left edge (nearest pixel -1): only the left columns light up, nothing wraps to the right.
    edge = encode_heatmaps(landmarks_at((-0.8, 30.0)), torch.tensor([[5.0]]), [17], design="fixed")[0, 0]
    # The fixed window is 3 sigma = 9.75 pixels: columns 0..8 and rows 21..39 at most.
    assert edge[:, :5].sum() > 0 and edge[:, 9:].sum() == 0 and edge[:21].sum() == 0 and edge[40:].sum() == 0
    assert edge.max() < 5.0


def test_nan_landmarks_skip_only_their_centres():
    landmarks = face()
    landmarks[0, 48] = NAN
    heat = encode_heatmaps(landmarks, torch.tensor([[3.0, 3.0]]), [12, 25])
    assert torch.isfinite(heat).all()
    right = au_centres(landmarks, [12])[0, 0, 1].round().long()
    assert heat[0, 0, right[1], right[0]] == pytest.approx(3.0)
    assert heat[0, 1].max() == pytest.approx(3.0)


def test_shape_mismatches_name_the_argument():
    with pytest.raises(ValueError, match=r"intensities must have shape \[B, K\] = \[2, 5\]"):
        encode_heatmaps(face(2), torch.zeros(2, 4), "bp4d")
    with pytest.raises(ValueError, match="landmarks must have shape"):
        encode_heatmaps(torch.zeros(2, 66, 2), torch.zeros(2, 5), "bp4d")
    with pytest.raises(ValueError, match="unknown design 'gaussian'"):
        encode_heatmaps(face(), torch.zeros(1, 5), "bp4d", design="gaussian")
    with pytest.raises(ValueError, match=r"intensities must lie in \[0, 5\]"):
        encode_heatmaps(face(), torch.full((1, 5), 9.0), "bp4d")  # BP4D's "unknown" code
    with pytest.raises(ValueError, match=r"heatmaps must have shape \[B, K, H, W\]"):
        decode_heatmaps(torch.zeros(5, 64, 64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype_is_preserved(dtype):
    heat = encode_heatmaps(face(dtype=dtype), torch.full((1, 5), 2.0), "bp4d")
    assert heat.dtype == dtype
    assert decode_heatmaps(heat).intensities.dtype == dtype


@pytest.mark.parametrize("size", [64, 16])
@pytest.mark.parametrize("design", DESIGNS)
def test_library_matches_the_plain_numpy_reference(design, size):
    landmarks = face(8, seed=3) * size / 64
    intensities = torch.rand(8, 12, generator=torch.Generator().manual_seed(1)) * 5
    intensities[intensities < 0.7] = 0
    heat = encode_heatmaps(landmarks, intensities, "disfa", size=size, design=design)
    reference = numpy_reference_targets(
        landmarks.numpy(), intensities.numpy(), (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26), size, design
    )
    np.testing.assert_allclose(heat.numpy(), reference, atol=1e-5)


def test_gradients_flow_to_landmarks_and_intensities_in_a_training_step():
    landmarks = face().requires_grad_()
    intensities = torch.full((1, 5), 2.0, requires_grad=True)
    heat = encode_heatmaps(landmarks, intensities, "bp4d", design="fixed")
    heat.square().sum().backward()
    assert intensities.grad.abs().sum() > 0 and landmarks.grad.abs().sum() > 0


def test_inference_mode_works():
    with torch.inference_mode():
        heat = encode_heatmaps(face(), torch.full((1, 5), 2.0), "bp4d")
        assert decode_heatmaps(heat).intensities.allclose(torch.full((1, 5), 2.0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_cpu_numbers():
    landmarks, intensities = face(4), torch.rand(4, 12) * 5
    cpu = encode_heatmaps(landmarks, intensities, "disfa")
    cuda = encode_heatmaps(landmarks.cuda(), intensities.cuda(), "disfa")
    torch.testing.assert_close(cuda.cpu(), cpu, atol=1e-5, rtol=1e-5)
    decoded = decode_heatmaps(cuda)
    torch.testing.assert_close(decoded.intensities.cpu(), decode_heatmaps(cpu).intensities)


def test_decoder_clamps_and_marks_empty_channels():
    heat = torch.zeros(1, 2, 8, 8)
    heat[0, 1, 3, 4] = 7.0
    decoded = decode_heatmaps(heat)
    assert decoded.intensities.tolist() == [[0.0, 5.0]]
    assert torch.isnan(decoded.locations[0, 0]).all()
    assert decoded.locations[0, 1].tolist() == [4.0, 3.0]


single_centre_au = st.sampled_from([17, 25, 26])
# From 0.25 the variable window (6 I pixels of a 64 map) holds the peak's neighbours, which the
# decoder's sub-pixel fit needs.
intensity = st.one_of(st.integers(1, 5).map(float), st.floats(0.25, 5.0))
coordinate = st.floats(6.0, 57.0)


@settings(max_examples=60, deadline=None)
@given(
    au=single_centre_au,
    level=intensity,
    x=coordinate,
    y=coordinate,
    design=st.sampled_from(["fixed", "variable"]),
)
def test_round_trip_returns_intensity_and_centre(au, level, x, y, design):
    heat = encode_heatmaps(landmarks_at((x, y)), torch.tensor([[level]]), [au], design=design)
    decoded = decode_heatmaps(heat)
    assert decoded.intensities.item() == pytest.approx(level, rel=1e-5)
    # Both neighbours of the peak lie inside the window (at least 1.5 px), so the
    # decoder's log-parabola fit recovers the sub-pixel centre of the Gaussian.
    px, py = decoded.locations[0, 0].tolist()
    assert abs(px - x) <= 0.02 and abs(py - y) <= 0.02


@settings(max_examples=40, deadline=None)
@given(levels=st.lists(intensity, min_size=5, max_size=5), seed=st.integers(0, 1000))
def test_round_trip_on_real_au_layouts(levels, seed):
    heat = encode_heatmaps(face(seed=seed), torch.tensor([levels]), "bp4d", design="variable")
    decoded = decode_heatmaps(heat)
    np.testing.assert_allclose(decoded.intensities[0].numpy(), levels, rtol=1e-5)


def test_landmark_heatmaps_put_a_unit_peak_on_every_landmark():
    landmarks = face(2, seed=5)
    landmarks[1, 30] = NAN
    heat = landmark_heatmaps(landmarks, size=64, sigma=1.0)
    assert heat.shape == (2, 68, 64, 64)
    decoded = decode_heatmaps(heat)
    assert torch.count_nonzero(heat[1, 30]) == 0
    keep = ~torch.isnan(landmarks).any(-1)
    torch.testing.assert_close(decoded.intensities[keep], torch.ones(int(keep.sum())))
    torch.testing.assert_close(decoded.locations[keep], landmarks[keep], atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match=r"landmarks must have shape \[B, N, 2\]"):
        landmark_heatmaps(torch.zeros(68, 2))
