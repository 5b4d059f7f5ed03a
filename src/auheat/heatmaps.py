"""Heatmap targets for AU intensity: the encoder that draws them and the decoder that reads them.

Every AU gets one channel. A Gaussian is drawn at each of the AU's centres (both sides of a
bilateral AU share the channel); its amplitude, and for the ``"variable"`` design its width,
follow the labelled intensity (0..5). The decoder reads the intensity back as the channel's
maximum, as the authors' inference code does.

The designs are readings of Sanchez et al. (2018), Eq. 1, whose standard deviation is not
published (see :func:`target_geometry` for their lengths):

- ``"fixed"``: amplitude I and FAN's width at every intensity, drawn within 3 sigma; the control.
- ``"windowed"``: Eq. 1 read literally with FAN's sigma, amplitude I within |i|, |j| <= 6 I. For
  I >= 2 that window lies where the Gaussian has faded to about 1e-3 of its peak, so the target
  differs from ``"fixed"`` only at I = 1 (and below), where the window cuts the Gaussian short;
  above, only by the tail between 3 and 4 sigma that the fixed window leaves out (at most 1.1%
  of the peak).
- ``"variable"``: amplitude I and a width that grows with I, face_alignment's own size rule driven
  by the intensity; the project's reading of "amplitude and size varying with the intensity".
  Version 1 of this design (:data:`DESIGN_VERSIONS`) was what ``"windowed"`` is now.
- ``"binary"``: amplitude 1 where the AU occurs, FAN's width: detection only.

Both functions are batched and device-agnostic: no Python loop over samples or AUs, the
input dtype is kept, and gradients flow through the encoder when the inputs require them. The
encoder's drawing window has a fixed size per design, so the only host-device synchronisation
is the check that intensities lie in [0, 5].
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple, TypeVar

import torch

from auheat.aus import ACTION_UNITS, MAX_INTENSITY, au_centres, rescale_points, resolve_aus

Design = Literal["fixed", "windowed", "variable", "binary"]
#: The heatmap target designs, by name (Chapter 1 draws each; :func:`encode_heatmaps`).
DESIGNS: tuple[str, ...] = ("fixed", "windowed", "variable", "binary")
# Versions of the designs whose meaning changed (others are 1): tells cached runs of the old meaning apart.
DESIGN_VERSIONS: dict[str, int] = {"variable": 2}
Length = TypeVar("Length", float, torch.Tensor)  # a length in pixels, one or a tensor of them


def labelled_mask(intensities: torch.Tensor) -> torch.Tensor:
    """[B, K] bool, True where an intensity is labelled (not NaN): the mask for loss and metrics."""
    return ~torch.isnan(intensities)


def fan_size_rule(s: Length) -> tuple[Length, Length]:
    """Standard deviation and window half-width (pixels) of face_alignment's Gaussian of size ``s``.

    face_alignment's ``utils.draw_gaussian(image, point, sigma)`` draws from
    ``floor(x - 3 sigma)`` to ``floor(x + 3 sigma)``, a window ``6 sigma + 1`` pixels wide, with
    the kernel ``_gaussian(size=6 sigma + 1)``, whose standard deviation is a quarter of its size
    (release 1.5 precomputes it for sigma = 2: the 13x13 kernel of std 3.25 that FAN's landmark
    targets use). ``s`` is that ``sigma``: a size parameter, not the standard deviation.

    Returns:
        ``((6 s + 1) / 4, 3 s)``, floats or tensors like ``s``.
    """
    return (6 * s + 1) / 4, 3 * s


# The paper's geometry, in pixels of its 64x64 heatmap; other map sides scale these lengths by
# side / 64, so a target covers the same share of the face at every size (a 16x16 map of a CPU
# run draws the same face region as the paper's 64x64 map, with a quarter of the pixels).
REFERENCE_SIZE = 64
# FAN's landmark Gaussian, face_alignment's size 2: a 13x13 kernel of std 3.25 px.
FAN_SIGMA = fan_size_rule(2.0)[0]
# Sanchez et al. (2018), Eq. 1: the Gaussian of intensity I is drawn for |i|, |j| <= 6 I.
WINDOW_PER_INTENSITY = 6.0
# Beyond 4 standard deviations a Gaussian is below exp(-8), about 3e-4 of its peak: the windowed
# design draws no farther, whatever 6 I allows, so its window stays small at high intensities.
NEGLIGIBLE_SIGMAS = 4.0


def target_geometry(
    intensities: torch.Tensor,
    design: Design = "variable",
    size: int = REFERENCE_SIZE,
    sigma: float = FAN_SIGMA,
    window_per_intensity: float = WINDOW_PER_INTENSITY,
    truncate: float = 3.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Standard deviation and drawn window half-width (map pixels) of the Gaussian of each intensity.

    Lengths are given in pixels of the paper's 64x64 map and scaled by ``size / 64``; for a
    label I (NaN counts as 0):

    - ``"fixed"`` and ``"binary"``: ``sigma`` (FAN's 3.25), window ``truncate * sigma``.
    - ``"windowed"``: ``sigma``, window ``min(window_per_intensity * I, 4 sigma)``: Eq. 1's
      |i|, |j| <= 6 I, bounded where the Gaussian is negligible (``NEGLIGIBLE_SIGMAS``), which
      changes no pixel by more than 1e-3 of the peak and keeps the window small.
    - ``"variable"``: :func:`fan_size_rule` of ``s = I``: std ``(6 I + 1) / 4``, window ``3 I``
      (I = 2 is FAN's landmark Gaussian; ``sigma``, ``window_per_intensity`` and ``truncate`` do
      not enter).

    The window grows with I or stays fixed in every design, so I = 5 gives each design's largest.

    Returns:
        ``(sigma, radius)``, each shaped like ``intensities``.
    """
    check_design(design)
    scale = size / REFERENCE_SIZE
    levels = intensities.nan_to_num(0.0)
    if design == "variable":
        sigmas, radius = fan_size_rule(levels)
        return sigmas * scale, radius * scale
    sigmas = torch.full_like(levels, sigma * scale)
    if design == "windowed":
        return sigmas, (levels * window_per_intensity).clamp(max=NEGLIGIBLE_SIGMAS * sigma) * scale
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
        design: one of :data:`DESIGNS`: ``"fixed"`` (amplitude I, FAN's width), ``"windowed"``
            (amplitude I, FAN's width within Eq. 1's 6 I window), ``"variable"`` (amplitude I,
            width growing with I: the recipes' default) or ``"binary"`` (amplitude 1 where the
            AU occurs, I >= ``occurrence_threshold``; width as ``"fixed"``).
        sigma, window_per_intensity: lengths in pixels of a 64x64 map, scaled to ``size``: the
            standard deviation of every design but ``"variable"``, and the windowed design's
            window per intensity unit; see :func:`target_geometry`.
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
    geometry = (design, size, sigma, window_per_intensity, truncate)
    sigmas, radius = target_geometry(intensities, *geometry)
    # The window at the highest intensity bounds every window, computed on the host from the
    # design alone, so the drawing never waits on the device.
    largest = float(target_geometry(torch.tensor(float(MAX_INTENSITY)), *geometry)[1])
    # Only the centres the AUs have: au_centres pads every AU to the same number of slots.
    channel, slot = _centre_slots(aus)
    return draw_gaussians(
        au_centres(landmarks, aus)[:, channel, slot],
        channel,
        len(aus),
        amplitude[:, channel],
        sigmas[:, channel],
        radius[:, channel],
        size,
        largest,
    )


def _centre_slots(aus: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel and slot of every centre of the AUs in :func:`auheat.aus.au_centres`, [N] long each."""
    pairs = [(k, c) for k, number in enumerate(aus) for c in range(len(ACTION_UNITS[number].centres))]
    return torch.tensor(pairs, dtype=torch.long).T.unbind()


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
    b, n = landmarks.shape[:2]
    ones = torch.ones(b, n, dtype=landmarks.dtype, device=landmarks.device)
    return draw_gaussians(
        landmarks, torch.arange(n), n, ones, ones * sigma, ones * (truncate * sigma), size, truncate * sigma
    )


def draw_gaussians(
    centres: torch.Tensor,
    channel: torch.Tensor,
    channels: int,
    amplitude: torch.Tensor,
    sigma: torch.Tensor,
    radius: torch.Tensor,
    size: int,
    largest_radius: float,
) -> torch.Tensor:
    """Draw windowed Gaussians into [B, channels, size, size], several centres per channel.

    Args:
        centres: [B, N, 2] (x, y) pixels; NaN centres are skipped.
        channel: [N] long, the output channel of each centre (a channel may hold several).
        channels: number of output channels.
        amplitude: [B, N] peak of each centre's Gaussian; 0 draws nothing.
        sigma: [B, N] standard deviation, pixels.
        radius: [B, N] half-width of the square window drawn around each centre, pixels
            (|dx|, |dy| <= radius).
        largest_radius: an upper bound of ``radius``, fixing the window size for the whole batch
            so the drawing never waits on the device to learn a data-dependent size.

    Each Gaussian's highest pixel equals the amplitude; a channel's centres are combined by a
    pixel-wise maximum; only the windows around the centres are written (a scatter with ``amax``
    into a zero-filled output), with no [B, N, size, size] intermediate.
    """
    dtype, device = centres.dtype, centres.device
    b, n = amplitude.shape
    # Each window is shifted to lie inside the map: it keeps the pixels it had there, and those it
    # gains lie beyond its radius and carry 0, so no two of its pixels share an address.
    span = min(2 * math.ceil(largest_radius) + 1, size)
    ok = ~torch.isnan(centres).any(-1) & (amplitude > 0)  # [B, N]
    safe = torch.where(ok[..., None], centres, torch.zeros((), dtype=dtype, device=device))
    nearest = safe.round()  # [B, N, 2]
    start = (nearest - span // 2).clamp(0, size - span)
    pixels = start[..., None] + torch.arange(span, device=device, dtype=dtype)  # [B, N, 2, span]
    d = pixels - safe[..., None]
    # Separable profiles along x and y, 1 at the nearest pixel, so the peak is the amplitude.
    profile = torch.exp(
        ((nearest - safe).square()[..., None] - d.square()) / (2 * sigma.square())[..., None, None]
    )
    # The nearest pixel is always drawn, so even a tiny window reaches the amplitude there.
    profile = profile * ((d.abs() <= radius[..., None, None]) | (pixels == nearest[..., None]))
    gx = profile[:, :, 0]
    gy = profile[:, :, 1] * (amplitude * ok)[..., None]
    patch = gy[..., :, None] * gx[..., None, :]  # [B, N, span, span]
    cell = pixels.long()
    rows = (channel.to(device) * size * size)[:, None] + cell[:, :, 1] * size  # [B, N, span]
    index = rows[..., :, None] + cell[:, :, 0, None, :]  # [B, N, span, span], within one sample

    out = torch.zeros(b, channels * size * size, dtype=dtype, device=device)
    out.scatter_reduce_(1, index.view(b, -1), patch.view(b, -1), "amax")
    return out.view(b, channels, size, size)


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


def landmarks_from_heatmaps(heatmaps: torch.Tensor, size: int) -> torch.Tensor:
    """[B, 68, 2] landmarks in the pixels of a ``size`` input, from [B, 68, h, h] landmark heatmaps.

    A landmark is read at its channel's arg-max whatever the sign of the values, as face_alignment
    does (the channel's minimum is subtracted first); only a constant channel has no arg-max, and
    gives NaN.
    """
    maps = heatmaps.float()
    maps = maps - maps.amin((-1, -2), keepdim=True)
    return rescale_points(decode_heatmaps(maps).locations, maps.shape[-1], size)
