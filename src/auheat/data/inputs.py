"""Network inputs: crops decoded once and resized to the input side (uint8), and their jitter.

Decoding a 256x256 JPEG and resizing it costs about as much as a small network's forward and
backward pass on a CPU, and a run reads every frame once per epoch. :class:`CachedInputs` decodes
and resizes the selected frames once per input size, keeps them in a memory-mapped ``.npy`` file
under the cache folder (so later runs and other processes reuse it), and yields samples that the
trainer uses exactly as it would use the dataset's own: the same pixels, because both paths go
through :func:`resize_images`.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from auheat.atomic import write_atomically
from auheat.aus import rescale_points
from auheat.cache import cache_dir
from auheat.data.dataset import FRAMES_FILE, LANDMARKS_FILE, PreparedDataset
from auheat.progress import progress_bar


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """[B, 3, H, W] uint8 crops resized to [B, 3, size, size] uint8 (antialiased bilinear).

    The network input is always an 8-bit image of the input side: resizing on the fly and reading
    the cache give the same pixels, so a cached run trains exactly as an uncached one.
    """
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    resized = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True)
    return resized.round_().clamp_(0, 255).to(torch.uint8)


class CachedInputs(Dataset):
    """The frames of a :class:`PreparedDataset`, decoded once and resized to ``input_size``.

    Samples are those of the dataset with ``image`` [3, S, S] uint8 at the input side and
    ``landmarks`` in input pixels. ``aus``, ``subjects``, ``intensities`` and ``meta`` are the
    dataset's, so the trainer and the samplers treat both alike.

    Args:
        dataset: the selection to cache (a split, a fold, some subjects).
        input_size: the network input side, pixels.
        folder: where the ``.npy`` files live (default ``<cache>/inputs``). A file's name is a
            digest of the dataset's folder, its frames.csv and landmarks.npy (size and time), the
            selected rows and the input size, so an edited dataset is decoded again.
    """

    def __init__(
        self,
        dataset: PreparedDataset,
        input_size: int,
        folder: str | Path | None = None,
    ) -> None:
        if dataset.transform is not None:
            raise ValueError(
                f"{dataset!r} has a transform, which a cache of its decoded frames would skip; "
                "cache the dataset without it"
            )
        self.dataset = dataset
        self.input_size = input_size
        self.aus, self.meta, self.subjects = dataset.aus, dataset.meta, dataset.subjects
        self.intensities = dataset.intensities
        points = rescale_points(torch.as_tensor(dataset.landmarks), dataset.crop_size, input_size)
        self._landmarks = points.float()  # input pixels
        self._intensities = torch.as_tensor(dataset.intensities)
        # Plain arrays: __getitem__ runs once per sample, where pandas indexing would cost more.
        self._rows = dataset.frames.index.to_numpy()
        self._subjects = dataset.frames["subject"].to_numpy(dtype=object)
        path = Path(folder or cache_dir() / "inputs") / f"{self.key()}.npy"
        if not path.is_file():
            images = self._decode()
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, lambda f: np.save(f, images))
        self.images = np.load(path, mmap_mode="r")
        self.path = path

    def key(self) -> str:
        """A digest of what the cached pixels depend on."""
        root = self.dataset.root.resolve()
        stats = [
            (p.stat().st_size, p.stat().st_mtime_ns) for p in (root / FRAMES_FILE, root / LANDMARKS_FILE)
        ]
        rows = hashlib.sha1(np.asarray(self._rows, dtype=np.int64).tobytes()).hexdigest()
        text = json.dumps({"root": str(root), "stats": stats, "rows": rows, "size": self.input_size})
        return (
            f"{self.dataset.meta['name']}-{self.input_size}px-{hashlib.sha1(text.encode()).hexdigest()[:16]}"
        )

    def _decode(self) -> np.ndarray:
        s = self.input_size
        images = np.empty((len(self.dataset), 3, s, s), np.uint8)
        # A generator of its own: iterating a DataLoader draws a seed, which must not move the
        # global random state (a cached run then trains exactly as an uncached one).
        loader = DataLoader(self.dataset, batch_size=64, shuffle=False, generator=torch.Generator())
        start = 0
        for batch in progress_bar(loader, desc=f"decoding {self.meta['name']} at {s} px"):
            resized = resize_images(batch["image"], s).numpy()
            images[start : start + len(resized)] = resized
            start += len(resized)
        return images

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict[str, Any]:
        """The sample :class:`PreparedDataset` gives, at the input side."""
        return {
            "image": torch.from_numpy(np.array(self.images[i])),
            "landmarks": self._landmarks[i],
            "intensities": self._intensities[i],
            "subject": self._subjects[i],
            "index": int(self._rows[i]),
        }

    def __repr__(self) -> str:
        return f"CachedInputs({self.dataset!r}, {self.input_size} px, {self.path})"


def jitter(
    images: torch.Tensor,
    landmarks: torch.Tensor,
    rotation: float = 10.0,
    scale: float = 0.05,
    shift: float = 0.05,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random similarity transform of each crop, applied to its image and landmarks together.

    Sanchez et al. (2018) augment by perturbing the alignment; this draws, per image, a rotation
    within +-``rotation`` degrees, a zoom within 1 +- ``scale`` and a shift within +-``shift`` of
    the side, about the crop's centre. Pixels that come from outside the crop repeat its border.

    Args:
        images: [B, 3, S, S] float; landmarks: [B, 68, 2] input pixels (pixel centres at integers).
    """
    b, _, side, _ = images.shape
    # Drawn on the CPU generator, whose state a checkpoint restores, so resumed runs repeat.
    angle = (torch.rand(b) * 2 - 1) * math.radians(rotation)
    zoom = 1 + (torch.rand(b) * 2 - 1) * scale
    offset = (torch.rand(b, 2) * 2 - 1) * (2 * shift)  # in grid units: the side spans 2
    cos, sin = angle.cos(), angle.sin()
    forward = (
        torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2) * zoom[:, None, None]
    )
    inverse = torch.linalg.inv(forward)
    # affine_grid asks, for each output point u, where to sample: inverse @ (u - offset).
    theta = torch.cat([inverse, -(inverse @ offset[..., None])], -1).to(images)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    moved = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # In pixels (align_corners=False), u = (2 p + 1) / S - 1: the centre is (S - 1) / 2.
    centre = (side - 1) / 2
    forward, offset = forward.to(landmarks), offset.to(landmarks)
    points = (landmarks - centre) @ forward.transpose(-1, -2) + centre + offset[:, None] * side / 2
    return moved, points


def prepare_batch(
    batch: dict[str, Any], device: torch.device | str, input_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images [B, 3, S, S] float in [0, 1], landmarks [B, 68, 2] in input pixels, intensities [B, K].

    Crops of another side are resized as the input cache resizes them (:func:`resize_images`),
    to 8-bit pixels first, so cached and uncached runs see the same input. A batch of cached
    features (:class:`FeatureCache`) gives the tuple of feature tensors in place of the images.
    """
    device = torch.device(device)
    landmarks = batch["landmarks"].to(device, non_blocking=True)
    intensities = batch["intensities"].to(device, non_blocking=True)
    if "features" in batch:
        return tuple(f.to(device, non_blocking=True) for f in batch["features"]), landmarks, intensities
    images = batch["image"].to(device, non_blocking=True)
    crop = images.shape[-1]
    if crop != input_size:
        images = resize_images(images, input_size)
        landmarks = rescale_points(landmarks, crop, input_size)
    return images.float().div_(255.0), landmarks, intensities


class FeatureCache(Dataset):
    """A model's frozen features of every frame of a dataset, computed once, as samples.

    Each sample holds ``features`` (the tuple :meth:`auheat.models.AUModel.frozen_features` gives
    for that frame), ``landmarks`` in input pixels and ``intensities``; training then runs only the
    new layers (:meth:`auheat.models.AUModel.from_features`). Valid while the landmark network
    takes no gradient and the input is not augmented, which the :class:`auheat.train.Trainer` checks.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        dataset: Dataset,
        device: torch.device,
        input_size: int,
        batch_size: int = 64,
    ) -> None:
        self.aus = getattr(dataset, "aus", None)
        self.intensities = getattr(dataset, "intensities", None)
        # Its own generator, so building the cache leaves the global random state as it was.
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, generator=torch.Generator())
        features, landmarks, intensities = [], [], []
        with torch.no_grad():
            for batch in progress_bar(loader, desc="frozen features", leave=False):
                images, points, labels = prepare_batch(batch, device, input_size)
                features.append([f.cpu() for f in model.frozen_features(images)])
                landmarks.append(points.cpu())
                intensities.append(labels.cpu())
        self.features = [torch.cat(parts) for parts in zip(*features, strict=True)]
        self.landmarks = torch.cat(landmarks)
        self._intensities = torch.cat(intensities)

    def __len__(self) -> int:
        return len(self.landmarks)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {
            "features": tuple(f[i] for f in self.features),
            "landmarks": self.landmarks[i],
            "intensities": self._intensities[i],
        }
