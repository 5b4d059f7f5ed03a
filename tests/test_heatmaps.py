import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from auheat.aus import au_centres
from auheat.heatmaps import (
    DESIGN_VERSIONS,
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


def test_design_widths_follow_their_reading_of_the_paper():
    """Standard deviation and drawn half-window (64x64 map pixels) of each design at I = 1..5."""
    levels = torch.arange(1.0, 6.0)
    expected = {
        # FAN's width, window 3 sigma, at every intensity.
        "fixed": ([FAN_SIGMA] * 5, [3 * FAN_SIGMA] * 5),
        "binary": ([FAN_SIGMA] * 5, [3 * FAN_SIGMA] * 5),
        # Eq. 1's 6 I with FAN's width, drawn no farther than 4 sigma (13 px), where it is negligible.
        "windowed": ([FAN_SIGMA] * 5, [6.0, 12.0, 13.0, 13.0, 13.0]),
        # face_alignment's size rule with s = I: a 6 I + 1 pixel window, std a quarter of it.
        "variable": ([1.75, 3.25, 4.75, 6.25, 7.75], [3.0, 6.0, 9.0, 12.0, 15.0]),
    }
    assert set(expected) == set(DESIGNS)
    for design, (sigmas, windows) in expected.items():
        sigma, window = target_geometry(levels, design)
        assert sigma.tolist() == pytest.approx(sigmas), design
        assert window.tolist() == pytest.approx(windows), design
    # I = 2 is FAN's own landmark Gaussian: a 13x13 kernel of standard deviation 3.25.
    sigma, window = target_geometry(torch.tensor(2.0), "variable")
    assert (float(sigma), 2 * float(window) + 1) == (FAN_SIGMA, 13.0)
    assert DESIGN_VERSIONS == {"variable": 2}


def row_through_peak(design: str, levels: torch.Tensor) -> torch.Tensor:
    """[len(levels), 64]: the row through a single centre placed on pixel (32, 32) of a 64 map."""
    heat = encode_heatmaps(landmarks_at((32.0, 32.0), len(levels)), levels[:, None], [25], design=design)
    return heat[:, 0, 32]


def test_drawn_widths_grow_with_intensity_only_in_the_variable_design():
    levels = torch.arange(1.0, 6.0)
    # Full width at half maximum, pixels, measured on the drawn maps.
    fwhm = {design: (row_through_peak(design, levels) >= levels[:, None] / 2).sum(-1) for design in DESIGNS}
    assert (fwhm["variable"].diff() > 0).all(), fwhm["variable"]
    for design in ("fixed", "windowed"):
        assert (fwhm[design][1:] == fwhm[design][1]).all(), (design, fwhm[design])
    # The drawn support: the variable window grows by 3 px per unit, the windowed one stops at
    # 4 sigma, the fixed one is 3 sigma at every intensity.
    reach = {
        design: [int(torch.nonzero(row).flatten().max()) - 32 for row in row_through_peak(design, levels)]
        for design in DESIGNS
    }
    assert reach["variable"] == [3, 6, 9, 12, 15]
    assert reach["windowed"] == [6, 12, 13, 13, 13]
    assert reach["fixed"] == reach["binary"] == [9] * 5
    # Every design but the variable one has FAN's width: one pixel off the centre the map keeps
    # exp(-1 / (2 * 3.25^2)) of its peak; the variable design has it at I = 2 only.
    fan_step = np.exp(-1 / (2 * FAN_SIGMA**2))
    for design in ("fixed", "windowed", "binary"):
        rows = row_through_peak(design, levels)
        assert (rows[:, 33] / rows[:, 32]).tolist() == pytest.approx([fan_step] * 5, rel=1e-5), design
    rows = row_through_peak("variable", levels)
    assert float(rows[1, 33] / rows[1, 32]) == pytest.approx(fan_step, rel=1e-5)


def eq1_targets(landmarks: torch.Tensor, intensities: torch.Tensor, aus: str, size: int) -> torch.Tensor:
    """Eq. 1 read literally, over the full map: I exp(-d^2 / (2 sigma^2)) with FAN's sigma for
    |i|, |j| <= 6 I (the nearest pixel always), peak I at the nearest pixel, centres by maximum."""
    scale = size / 64
    centres = au_centres(landmarks, aus)[..., None]  # [B, K, C, 2, 1]
    grid = torch.arange(size, dtype=landmarks.dtype)
    d = grid - centres  # [B, K, C, 2, size]: grid pixel minus centre, along x and y
    sigma, radius = FAN_SIGMA * scale, 6.0 * intensities[..., None, None, None] * scale
    profile = torch.exp(((centres.round() - centres).square() - d.square()) / (2 * sigma**2))
    profile = profile * ((d.abs() <= radius) | (grid == centres.round()))
    gauss = profile[..., 1, :, None] * profile[..., 0, None, :]  # [B, K, C, size, size]
    return (intensities[..., None, None, None] * gauss).nan_to_num(0.0).amax(2)


@pytest.mark.parametrize("size", [64, 16])
def test_windowed_design_is_eq1_with_fans_sigma_to_a_thousandth_of_the_peak(size):
    landmarks = face(16, seed=7) * size / 64
    intensities = torch.rand(16, 12, generator=torch.Generator().manual_seed(2)) * 5
    intensities[:, 0] = torch.arange(16) % 5 + 1.0  # every integer label too
    windowed = encode_heatmaps(landmarks, intensities, "disfa", size=size, design="windowed")
    literal = eq1_targets(landmarks, intensities, "disfa", size)
    relative = (windowed - literal).abs().amax((-1, -2)) / intensities
    assert float(relative.max()) < 1e-3


def test_windowed_design_differs_from_fixed_visibly_only_at_intensity_1():
    # At I = 1, 6 I cuts the Gaussian; above, only the faint tail between 3 and 4 sigma that the
    # fixed window leaves out differs (at most exp(-4.5), 1.1% of the peak).
    levels = torch.arange(1.0, 6.0)
    gap = (row_through_peak("windowed", levels) - row_through_peak("fixed", levels)).abs().amax(-1) / levels
    assert gap[0] > 0.05 and (gap[1:] < 0.012).all(), gap


def test_variable_design_differs_from_fixed_at_every_intensity():
    levels = torch.arange(1.0, 6.0)
    landmarks = landmarks_at((31.6, 30.3), len(levels))
    variable, fixed = (
        encode_heatmaps(landmarks, levels[:, None], [25], design=design)[:, 0]
        for design in ("variable", "fixed")
    )
    relative = (variable - fixed).abs().amax((-1, -2)) / levels
    assert (relative > 0.05).all(), relative


@pytest.mark.parametrize("design", ["fixed", "windowed", "variable"])
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
    # A weak AU on the smallest map is still more than one pixel (the law the old targets broke)
    # in the designs of FAN's width. The variable design's I = 1 target is 7 pixels of a 64 map
    # (FAN's size rule at s = 1), under 2 pixels of a 16 map: one pixel there by its definition.
    weak = encode_heatmaps(landmarks_at((8.0, 8.0)), torch.tensor([[1.0]]), [25], size=16, design=design)
    assert (int((weak[0, 0] > 0.1).sum()) > 1) == (design != "variable")


def test_target_geometry_scales_lengths_from_the_64_pixel_map():
    levels = torch.tensor([0.0, 1.0, 2.5, 5.0, NAN])
    sigma, radius = target_geometry(levels, "variable", size=16)
    assert sigma.tolist() == pytest.approx([0.0625, 0.4375, 1.0, 1.9375, 0.0625])
    assert radius.tolist() == pytest.approx([0.0, 0.75, 1.875, 3.75, 0.0])
    sigma, radius = target_geometry(levels, "windowed", size=16)
    assert sigma.tolist() == [FAN_SIGMA / 4] * 5
    assert radius.tolist() == pytest.approx([0.0, 1.5, 3.25, 3.25, 0.0])
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
# From 0.5 every design's window (3 I pixels of a 64 map in the variable design, 6 I in the
# windowed one) holds both neighbours of the peak, which the decoder's sub-pixel fit needs.
intensity = st.one_of(st.integers(1, 5).map(float), st.floats(0.5, 5.0))
coordinate = st.floats(6.0, 57.0)


@settings(max_examples=60, deadline=None)
@given(
    au=single_centre_au,
    level=intensity,
    x=coordinate,
    y=coordinate,
    design=st.sampled_from(["fixed", "windowed", "variable"]),
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
