"""From photos to AU intensities and heatmaps: what ``auheat predict`` does.

Each image needs its 68 landmarks, to align the face to the crop the model was trained on.
They come, first found wins, from:

1. a landmarks file given by the user: ``.npy`` [N, 68, 2] in the order of the sorted images,
   or a CSV with an ``image`` column (file name) and columns ``x0, y0, ..., x67, y67``;
2. an iBUG ``.pts`` file beside the image (``face.jpg`` -> ``face.pts``, 1-based, as 300-W and
   menpo ship them);
3. face_alignment: its S3FD detector (or boxes given in a CSV ``image, x0, y0, x1, y1``) and its
   2DFAN4, when their weights are in the torch hub cache; the largest face is kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from auheat.atomic import write_atomically
from auheat.aus import get_au
from auheat.data.align import align_face
from auheat.data.inputs import resize_images
from auheat.data.photos import read_pts
from auheat.experiment import load_au_model
from auheat.models.weights import hub_checkpoint_path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp")
S3FD_CHECKPOINT = "s3fd-619a316812.pth"  # the detector file face_alignment 1.5 downloads


def list_images(path: str | Path) -> list[Path]:
    """The image itself, or the sorted images of a folder (not recursive)."""
    path = Path(path)
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise FileNotFoundError(f"{path} holds no image ({', '.join(IMAGE_SUFFIXES)})")
        return images
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return [path]


def read_image(path: Path) -> np.ndarray:
    """[H, W, 3] uint8 RGB; an unreadable file is an error that names it."""
    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{path}: not a readable image ({error})") from None


def read_landmarks_file(path: str | Path, images: list[Path]) -> dict[str, np.ndarray]:
    """Landmarks [68, 2] per image file name, from a ``.npy`` or ``.csv`` file (module docstring)."""
    path = Path(path)
    if path.suffix == ".npy":
        points = np.load(path, allow_pickle=False)
        if points.shape != (len(images), 68, 2):
            raise ValueError(
                f"{path}: shape {list(points.shape)}, expected [{len(images)}, 68, 2] (one face per image, "
                "in the order of the sorted images)"
            )
        return {image.name: points[i].astype(np.float64) for i, image in enumerate(images)}
    if path.suffix == ".csv":
        table = pd.read_csv(path)
        columns = [f"{axis}{i}" for i in range(68) for axis in "xy"]
        missing = [c for c in ["image", *columns] if c not in table.columns]
        if missing:
            raise ValueError(f"{path}: missing columns {missing[:4]}{' ...' if len(missing) > 4 else ''}")
        return {
            Path(row["image"]).name: row[columns].to_numpy(np.float64).reshape(68, 2)
            for _, row in table.iterrows()
        }
    raise ValueError(f"{path}: landmarks must be a .npy or .csv file")


class FaceAlignmentLandmarks:
    """face_alignment's detector and 2DFAN4, refusing to start (instead of downloading) without weights."""

    def __init__(self, device: str = "cpu", boxes: str | Path | None = None) -> None:
        needed = [hub_checkpoint_path()]
        if boxes is None:
            needed.append(hub_checkpoint_path().parent / S3FD_CHECKPOINT)
        missing = [str(p) for p in needed if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                "no landmarks for the images: give --landmarks, put an iBUG .pts file beside each image, "
                f"or make face_alignment's weights available (missing: {', '.join(missing)}; face_alignment "
                "downloads them on first use where the internet can be reached, e.g. on Colab)"
            )
        import face_alignment  # imported here: it loads numba and OpenCV, which other paths never need

        self.net = face_alignment.FaceAlignment(
            face_alignment.LandmarksType.TWO_D, device=device, face_detector="sfd", compile=False
        )
        self.boxes = pd.read_csv(boxes).set_index("image") if boxes is not None else None

    def __call__(self, path: Path, image: np.ndarray) -> np.ndarray:
        detected = None
        if self.boxes is not None:
            if path.name not in self.boxes.index:
                raise ValueError(f"no box for {path.name} in the boxes file")
            detected = [self.boxes.loc[path.name, ["x0", "y0", "x1", "y1"]].to_numpy(np.float64)]
        faces = self.net.get_landmarks_from_image(image, detected_faces=detected)
        if not faces:
            raise ValueError(f"{path}: no face found")
        extent = [np.ptp(face[:, :2], axis=0).prod() for face in faces]
        return faces[int(np.argmax(extent))][:, :2].astype(np.float64)


def predict_images(
    source: str | Path,
    checkpoint: str | Path,
    landmarks: str | Path | None = None,
    boxes: str | Path | None = None,
    overlays: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> pd.DataFrame:
    """AU intensities of every image of ``source`` (an image or a folder), one row per image.

    Args:
        checkpoint: an AU model checkpoint (``auheat train``).
        landmarks, boxes: see the module docstring.
        overlays: a folder to write one PNG per image: the aligned face with the AU heatmaps.

    Returns:
        A DataFrame indexed by image file name with one column per AU (``AU06``, ...).
    """
    images = list_images(source)
    model, info = load_au_model(checkpoint)
    model.to(device)
    input_size = info["config"]["input_size"]
    given = read_landmarks_file(landmarks, images) if landmarks is not None else {}
    detector = None
    rows = {}
    if overlays is not None:
        Path(overlays).mkdir(parents=True, exist_ok=True)
    for path in tqdm(images, desc="predict", disable=not progress):
        image = read_image(path)
        if path.name in given:
            points = given[path.name]
        elif path.with_suffix(".pts").is_file():
            points = read_pts(path.with_suffix(".pts"))
        else:
            detector = detector or FaceAlignmentLandmarks(device, boxes)
            points = detector(path, image)
        if points.shape != (68, 2):
            raise ValueError(f"{path}: its landmarks have shape {list(points.shape)}, expected [68, 2]")
        crop, crop_points = align_face(image, points)
        # The network reads 8-bit crops of its input side, as in training.
        x = resize_images(torch.from_numpy(crop).permute(2, 0, 1)[None].to(device), input_size).float() / 255
        with torch.no_grad():
            output = model(x)
        heatmaps = output if model.output == "heatmaps" else None
        intensities = model.read_intensities(output)[0].cpu()
        rows[path.name] = intensities.numpy()
        if overlays is not None and heatmaps is not None:
            _write_overlay(
                Path(overlays) / f"{path.stem}.png",
                crop,
                crop_points,
                heatmaps[0].cpu(),
                intensities,
                info["aus"],
            )
    table = pd.DataFrame.from_dict(rows, orient="index", columns=[get_au(n).label for n in info["aus"]])
    table.index.name = "image"
    return table


def _write_overlay(
    path: Path, crop: np.ndarray, points: np.ndarray, heatmaps: torch.Tensor, levels: torch.Tensor, aus
) -> None:
    """The heatmaps' maximum over the crop, titled with the intensities the model answers."""
    import matplotlib.pyplot as plt

    from auheat.plots import plot_heatmap_overlay

    parts = [f"{get_au(n).label} {v:.1f}" for n, v in zip(aus, levels.tolist(), strict=True)]
    title = "\n".join(", ".join(parts[i : i + 6]) for i in range(0, len(parts), 6))
    figure = plot_heatmap_overlay(crop, heatmaps.amax(0), landmarks=points, title=title)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a CSV atomically, so a reader never sees half of it."""
    return write_atomically(path, lambda f: f.write(table.to_csv().encode()))
