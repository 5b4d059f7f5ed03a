"""Heatmap targets for AU intensity: the encoder that draws them and the decoder that reads them.

Every AU gets one channel. A Gaussian is drawn at each of the AU's centres (both sides of a
bilateral AU share the channel); its amplitude, and for the ``"variable"`` design its size,
follow the labelled intensity (0..5). The decoder reads the intensity back as the channel's
maximum, as the authors' inference code does.

Both functions are batched and device-agnostic: no Python loop over samples or AUs, the
input dtype is kept, and gradients flow through the encoder when the inputs require them. The
encoder's drawing window has a fixed size per design, so the only host-device synchronisation
is the check that intensities lie in [0, 5].
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch

from auheat.aus import MAX_INTENSITY, au_centres, resolve_aus

Design = Literal["fixed", "variable", "binary"]
DESIGNS: tuple[str, ...] = ("fixed", "variable", "binary")


def labelled_mask(intensities: torch.Tensor) -> torch.Tensor:
    """[B, K] bool, True where an intensity is labelled (not NaN): the mask for loss and metrics."""
    return ~torch.isnan(intensities)


# The paper's geometry, in pixels of its 64x64 heatmap; other map sides scale these lengths by
# side / 64, so a target covers the same share of the face at every size (a 16x16 map of a CPU
# run draws the same face region as the paper's 64x64 map, with a quarter of the pixels).
REFERENCE_SIZE = 64
# FAN's landmark Gaussian: face_alignment's draw_gaussian uses a 13x13 kernel of std 0.25 * 13.
FAN_SIGMA = 3.25
# Sanchez et al. (2018), Eq. 1: the Gaussian of intensity I is drawn for |i|, |j| <= 6 I.
WINDOW_PER_INTENSITY = 6.0


def target_geometry(
    intensities: torch.Tensor,
    design: Design = "variable",
    size: int = REFERENCE_SIZE,
    sigma: float = FAN_SIGMA,
    window_per_intensity: float = WINDOW_PER_INTENSITY,
    truncate: float = 3.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Standard deviation and window half-width (map pixels) of the Gaussian of each intensity.

    Lengths are given in pixels of the paper's 64x64 map and scaled by ``size / 64``. Every design
    uses the fixed, FAN-like ``sigma``. ``"fixed"`` and ``"binary"`` draw it within
    ``truncate * sigma`` of the centre; ``"variable"`` within ``window_per_intensity * I``, the
    |i|, |j| <= 6 I of Sanchez et al. (2018), Eq. 1, so a weak AU is a small, low bump and a strong
    one a wide, high one. The paper's sigma is not published; FAN's is the project's choice.

    Returns:
        ``(sigma, radius)``, each shaped like ``intensities``.
    """
    check_design(design)
    scale = size / REFERENCE_SIZE
    sigmas = torch.full_like(intensities, sigma * scale)
    if design == "variable":
        return sigmas, intensities.nan_to_num(0.0) * (window_per_intensity * scale)
    return sigmas, sigmas * truncate


def encode_heatmaps(
    landmarks: torch.Tensor,
    intensities: torch.Tensor,
    aus: str | int | list[int] | tuple[int, ...],
    size: int = REFERENCE_SIZE,
    design: Design = "variable",
    sigma: float = FAN_SIGMA,
    window_per_intensity: float = WINDOW_PER_INTENSITY,
    truncate: float = 3.0,
    occurrence_threshold: float = 1.0,
) -> torch.Tensor:
    """Draw AU heatmap targets.

    Args:
        landmarks: [B, 68, 2] float, (x, y) in heatmap pixels (pixel centres at integers; use
            :func:`auheat.aus.rescale_points` from crop coordinates). NaN marks a missing point;
            a centre built from it is not drawn.
        intensities: [B, K] float in [0, 5]; NaN marks an unlabelled entry, whose channel stays
            zero (mask it out of the loss with :func:`labelled_mask`).
        aus: dataset name or the K AU numbers, in channel order.
        size: heatmap side, pixels.
        design: ``"fixed"`` (amplitude I, window of ``truncate * sigma``), ``"variable"``
            (amplitude I, window growing with I: the paper's default) or ``"binary"`` (amplitude 1
            where the AU occurs, I >= ``occurrence_threshold``; window as ``"fixed"``).
        sigma, window_per_intensity: lengths in pixels of a 64x64 map, scaled to ``size``; see
            :func:`target_geometry`.
        truncate: the fixed and binary window, in standard deviations.
        occurrence_threshold: intensity from which ``"binary"`` counts the AU as present.

    Returns:
        [B, K, size, size] in the dtype and on the device of ``landmarks``. Intensity 0 gives
        an all-zero channel. Each Gaussian is scaled so that its highest pixel equals the
        amplitude, wherever the centre falls between pixels: the decoder reads the maximum, and
        a target whose maximum fell short of the label would teach the network to under-predict.
        Centres of one AU are combined by a pixel-wise maximum, so overlapping supports never
        exceed the amplitude; parts of a Gaussian outside the map are cut off.
    """
    check_design(design)
    aus = resolve_aus(aus)
    if intensities.ndim != 2 or intensities.shape != (landmarks.shape[0], len(aus)):
        raise ValueError(
            f"intensities must have shape [B, K] = [{landmarks.shape[0]}, {len(aus)}] "
            f"(batch of landmarks, number of AUs), got {list(intensities.shape)}"
        )
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if truncate <= 0 or sigma <= 0 or window_per_intensity <= 0:
        raise ValueError("sigma, window_per_intensity and truncate must be positive")
    if bool(((intensities < 0) | (intensities > MAX_INTENSITY)).any()):
        raise ValueError(f"intensities must lie in [0, {MAX_INTENSITY:g}] or be NaN (unlabelled)")

    dtype, device = landmarks.dtype, landmarks.device
    intensities = intensities.to(device=device, dtype=dtype)
    if design == "binary":
        amplitude = (intensities >= occurrence_threshold).to(dtype)
    else:
        amplitude = intensities.nan_to_num(0.0)
    amplitude = torch.where(labelled_mask(intensities), amplitude, torch.zeros_like(amplitude))
    sigmas, radius = target_geometry(intensities, design, size, sigma, window_per_intensity, truncate)
    scale = size / REFERENCE_SIZE
    largest = (
        window_per_intensity * MAX_INTENSITY * scale if design == "variable" else truncate * sigma * scale
    )
    return draw_gaussians(au_centres(landmarks, aus), amplitude, sigmas, radius, size, largest)


def au_windows(
    landmarks: torch.Tensor,
    aus: str | int | list[int] | tuple[int, ...],
    size: int = REFERENCE_SIZE,
    radius: float = 3.0 * FAN_SIGMA,
) -> torch.Tensor:
    """[B, K, size, size] bool: the pixels within ``radius`` of one of each AU's centres.

    ``radius`` is in pixels of a 64x64 map, scaled to ``size`` (the default is the fixed design's
    window). These are the places where an AU shows, whatever its intensity: the foreground that
    :func:`auheat.tasks.masked_mse` can weight. A missing (NaN) centre marks no pixel.
    """
    aus = resolve_aus(aus)
    centres = au_centres(landmarks, aus)  # [B, K, C, 2]
    grid = torch.arange(size, device=landmarks.device, dtype=landmarks.dtype)
    reach = radius * size / REFERENCE_SIZE
    near_x = (grid - centres[..., 0, None]).abs() <= reach  # [B, K, C, size]; NaN compares False
    near_y = (grid - centres[..., 1, None]).abs() <= reach
    return (near_y[..., :, None] & near_x[..., None, :]).any(2)


def landmark_heatmaps(
    landmarks: torch.Tensor, size: int = 64, sigma: float = 1.0, truncate: float = 3.0
) -> torch.Tensor:
    """Landmark targets as FAN is trained on them: one Gaussian of peak 1 per landmark.

    Args:
        landmarks: [B, N, 2] float, (x, y) heatmap pixels; NaN marks a missing point (zero map).
        sigma: Gaussian std, heatmap pixels (drawn within ``truncate * sigma``).

    Returns:
        [B, N, size, size], drawn by the same :func:`draw_gaussians` as the AU targets.
    """
    if landmarks.ndim != 3 or landmarks.shape[-1] != 2:
        raise ValueError(f"landmarks must have shape [B, N, 2], got {list(landmarks.shape)}")
    ones = torch.ones(landmarks.shape[:2], dtype=landmarks.dtype, device=landmarks.device)
    return draw_gaussians(
        landmarks[:, :, None], ones, ones * sigma, ones * (truncate * sigma), size, truncate * sigma
    )


def draw_gaussians(
    centres: torch.Tensor,
    amplitude: torch.Tensor,
    sigma: torch.Tensor,
    radius: torch.Tensor,
    size: int,
    largest_radius: float,
) -> torch.Tensor:
    """Draw windowed Gaussians into [B, K, size, size] channels, several centres per channel.

    Args:
        centres: [B, K, C, 2] (x, y) pixels; NaN centres are skipped.
        amplitude: [B, K] peak of each channel's Gaussians; 0 draws nothing.
        sigma: [B, K] standard deviation, pixels.
        radius: [B, K] half-width of the square window drawn around each centre, pixels
            (|dx|, |dy| <= radius).
        largest_radius: an upper bound of ``radius``, fixing the window size for the whole batch
            so the drawing never waits on the device to learn a data-dependent size.

    Each Gaussian's highest pixel equals the amplitude; a channel's centres are combined by a
    pixel-wise maximum; only the windows around the centres are written (a scatter with ``amax``
    into a zero-filled output), with no [B, K, C, size, size] intermediate.
    """
    dtype, device = centres.dtype, centres.device
    half = math.ceil(largest_radius)
    offsets = torch.arange(-half, half + 1, device=device, dtype=dtype)

    centre_ok = ~torch.isnan(centres).any(-1) & (amplitude > 0)[..., None]  # [B, K, C]
    safe = torch.where(centre_ok[..., None], centres, torch.zeros((), dtype=dtype, device=device))
    nearest = safe.round()
    s = sigma.to(dtype)[..., None, None]  # [B, K, 1, 1]
    r = radius.to(dtype)[..., None, None]

    def axis_profile(axis: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Separable 1-D Gaussian [B, K, C, P] on the window's pixels along one axis, peak = 1."""
        pixels = nearest[..., axis, None] + offsets  # [B, K, C, P]
        d = pixels - safe[..., axis, None]
        d0 = nearest[..., axis, None] - safe[..., axis, None]
        profile = torch.exp((d0.square() - d.square()) / (2 * s.square()))
        # The nearest pixel is always drawn, so even a tiny window reaches the amplitude there.
        inside = ((d.abs() <= r) | (offsets == 0)) & (pixels >= 0) & (pixels <= size - 1)
        return profile * inside, pixels.clamp(0, size - 1).long()

    gx, px = axis_profile(0)
    gy, py = axis_profile(1)
    weight = (amplitude.to(dtype)[..., None] * centre_ok)[..., None, None]  # [B, K, C, 1, 1]
    patch = gy[..., :, None] * gx[..., None, :] * weight  # [B, K, C, P, P]
    flat_index = py[..., :, None] * size + px[..., None, :]

    b, k = amplitude.shape
    out = torch.zeros(b * k, size * size, dtype=dtype, device=device)
    # Only the windows are written; clipped pixels carry 0, which the max cannot raise.
    out.scatter_reduce_(1, flat_index.reshape(b * k, -1), patch.reshape(b * k, -1), "amax")
    return out.view(b, k, size, size)


class Decoded(NamedTuple):
    """What :func:`decode_heatmaps` reads from a batch of AU heatmaps."""

    intensities: torch.Tensor  # [B, K], channel maximum clamped to [0, 5]
    locations: torch.Tensor  # [B, K, 2], (x, y) of the maximum in heatmap pixels, NaN if none


def decode_heatmaps(heatmaps: torch.Tensor, max_intensity: float = MAX_INTENSITY) -> Decoded:
    """Read intensities and peak locations from AU heatmaps.

    Args:
        heatmaps: [B, K, H, W] float.
        max_intensity: upper clamp of the intensities.

    Returns:
        ``Decoded(intensities [B, K], locations [B, K, 2])``. The intensity is the channel's
        maximum clamped to [0, max_intensity]. The location is the arg-max refined to sub-pixel
        precision by fitting a parabola to the log of the peak and its two neighbours along each
        axis, which is exact for a Gaussian peak; channels with no positive value give NaN.

    face_alignment's ``get_preds_fromhm`` is not reused: it runs in NumPy on the host, moves
    the peak a fixed quarter pixel and maps to crop coordinates, where this decoder must stay
    on the device and be exact for the Gaussians the encoder draws.
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must have shape [B, K, H, W], got {list(heatmaps.shape)}")
    b, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, k, h * w)
    peak, index = flat.max(-1)
    y, x = index // w, index % w

    def refine(coord: torch.Tensor, step: int, limit: int) -> torch.Tensor:
        """Sub-pixel offset along one axis from the log-values at coord - 1, coord, coord + 1."""
        lo = flat.gather(-1, (index - step).clamp(0, h * w - 1)[..., None])[..., 0]
        hi = flat.gather(-1, (index + step).clamp(0, h * w - 1)[..., None])[..., 0]
        tiny = torch.finfo(heatmaps.dtype).tiny
        l_lo, l_0, l_hi = (v.clamp(min=tiny).log() for v in (lo, peak, hi))
        curvature = l_lo - 2 * l_0 + l_hi
        offset = 0.5 * (l_lo - l_hi) / curvature.where(curvature < 0, torch.ones_like(curvature))
        has_both = (coord > 0) & (coord < limit - 1) & (curvature < 0)
        return torch.where(has_both, offset.clamp(-0.5, 0.5), torch.zeros_like(offset))

    dx = refine(x, 1, w)
    dy = refine(y, w, h)
    locations = torch.stack([x.to(heatmaps.dtype) + dx, y.to(heatmaps.dtype) + dy], -1)
    locations = torch.where((peak > 0)[..., None], locations, torch.full_like(locations, float("nan")))
    return Decoded(peak.clamp(0, max_intensity), locations)


def check_design(design: str) -> None:
    """Raise a ValueError naming the valid designs unless ``design`` is one of them."""
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}; valid designs: {', '.join(DESIGNS)}")
