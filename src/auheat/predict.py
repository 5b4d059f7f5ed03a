"""From photos and videos to AU intensities and heatmaps: what ``auheat predict`` does.

Every frame (an image, or each frame of a video) goes through the same steps: find its faces and
their 68 landmarks (:mod:`auheat.landmarkers`), align each face to the crop the model was trained on,
read the AU heatmaps, and write one CSV row per face per frame. Landmarks come, first found wins,
from:

1. a landmarks file given by the user (images only): ``.npy`` [N, 68, 2] in the order of the
   sorted images, or a CSV with an ``image`` column (file name) and ``x0, y0, ..., x67, y67``;
2. an iBUG ``.pts`` file beside the image (``face.jpg`` -> ``face.pts``, 1-based, as 300-W and
   menpo ship them);
3. a landmarker (:func:`auheat.landmarkers.make_landmarker`): every face it finds gets its rows.

Bad input does not stop the run: a frame with no face gets a row that says so, and a file that
cannot be read is named in an error line and skipped. The CSV, the overlay images and the overlay
videos are each written to a temporary file and renamed when complete.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm

from auheat.atomic import write_atomically
from auheat.aus import MAX_INTENSITY, get_au, rescale_points
from auheat.data.align import CROP_SIZE, alignment_matrix, apply_affine, warp_image
from auheat.data.inputs import resize_images
from auheat.data.photos import read_pts
from auheat.data.raw import iter_video, read_image
from auheat.experiment import load_au_model
from auheat.heatmaps import decode_heatmaps
from auheat.landmarkers import Face, Landmarker, landmark_residual, make_landmarker
from auheat.models.base import AUModel
from auheat.progress import progress_bar

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
BOX_COLUMNS = ["x0", "y0", "x1", "y1"]


def list_inputs(path: str | Path) -> list[Path]:
    """The file itself, or the sorted files of a folder (not recursive, hidden files left out)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise FileNotFoundError(f"{path} holds no file")
        return files
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return [path]


class Frame(NamedTuple):
    """One frame to read: its file, its index in the file (0 for an image), its time in seconds
    (NaN for an image) and its pixels [H, W, 3] uint8 RGB."""

    file: Path
    index: int
    time: float
    image: np.ndarray


def video_frames(path: Path, fps: float) -> Iterator[Frame]:
    """The frames of a video, in order (:func:`auheat.data.raw.iter_video`, which names a video
    it cannot read), indexed from 0 and timed at ``fps``."""
    for number, image in iter_video(path):
        yield Frame(path, number - 1, (number - 1) / fps, image)


def video_info(path: Path) -> tuple[int, float]:
    """A file's frame count (for the progress bar; 1 for an image) and frame rate (NaN for an image)."""
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        return 1, float("nan")
    import cv2

    capture = cv2.VideoCapture(str(path))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    fps = capture.get(cv2.CAP_PROP_FPS) if capture.isOpened() else 0.0
    capture.release()
    return max(count, 1), fps if fps > 0 else float("nan")


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


class Reading(NamedTuple):
    """What an AU model reads from a batch of aligned faces.

    ``intensities`` [B, K] on the labels' 0-5 scale (through the model's calibration);
    ``heatmaps`` [B, K, h, h] (None for a direct-regression model); ``peaks`` [B, K, 2], each
    heatmap's maximum in crop pixels (NaN without heatmaps or where a map is empty).
    """

    intensities: np.ndarray
    heatmaps: np.ndarray | None
    peaks: np.ndarray


class FaceReading(NamedTuple):
    """One face of a photo, aligned and read (:meth:`FaceReader.read_face`)."""

    crop: np.ndarray  # [256, 256, 3] uint8, the aligned face
    landmarks: np.ndarray  # [68, 2], its landmarks in crop pixels
    reading: Reading  # for a batch of one face


class FaceReader:
    """A trained AU model, ready to read aligned faces (:meth:`load` reads an ``auheat train``
    checkpoint).

    Attributes:
        model: the AU model, in eval mode on ``device``.
        aus: its AU numbers, in output order.
        input_size: the side of the images it reads.
    """

    def __init__(self, model: AUModel, input_size: int, device: str = "cpu") -> None:
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.aus: tuple[int, ...] = tuple(model.aus)
        self.input_size = input_size

    @classmethod
    def load(cls, checkpoint: str | Path, device: str = "cpu") -> FaceReader:
        model, info = load_au_model(checkpoint)
        return cls(model, info["config"]["input_size"], device)

    def __call__(self, crops: np.ndarray) -> Reading:
        """Read [B, S, S, 3] uint8 aligned crops (S = 256)."""
        x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).to(self.device)
        # The network reads 8-bit crops of its input side, as in training.
        x = resize_images(x, self.input_size).float() / 255
        with torch.no_grad():
            output = self.model(x)
        intensities = self.model.read_intensities(output).cpu().numpy()
        if self.model.output != "heatmaps":
            return Reading(intensities, None, np.full((*intensities.shape, 2), np.nan))
        peaks = rescale_points(decode_heatmaps(output).locations, output.shape[-1], crops.shape[1])
        return Reading(intensities, output.cpu().numpy(), peaks.cpu().numpy())

    def read_face(self, image: np.ndarray, landmarks: np.ndarray) -> FaceReading:
        """One face of ``image``, found by its [68, 2] ``landmarks``: aligned, then read."""
        matrix = alignment_matrix(landmarks)
        crop = warp_image(image, matrix, CROP_SIZE)
        return FaceReading(crop, apply_affine(matrix, landmarks), self(crop[None]))


@dataclass
class Prediction:
    """What :func:`predict` returns: the table (one row per face per frame, as in the CSV) and
    one line per file that could not be read."""

    table: pd.DataFrame
    errors: list[str] = field(default_factory=list)


def table_columns(aus: tuple[int, ...]) -> list[str]:
    """The CSV's columns, in order (see :func:`predict`)."""
    labels = [get_au(n).label for n in aus]
    peaks = [f"{label}_{axis}" for label in labels for axis in "xy"]
    head = ["file", "frame", "time_s", "face", "status", *BOX_COLUMNS, "score", "landmark_residual"]
    return head + labels + peaks


def predict(
    source: str | Path,
    checkpoint: str | Path,
    landmarker: str | Landmarker = "auto",
    landmarks: str | Path | None = None,
    overlays: str | Path | None = None,
    batch_size: int = 16,
    device: str = "cpu",
    upsample: int = 0,
) -> Prediction:
    """AU intensities of every face of ``source``: an image, a video or a folder of both.

    Args:
        checkpoint: an AU model checkpoint (``auheat train``).
        landmarker: ``auto``, ``dlib``, ``face_alignment`` (:func:`auheat.landmarkers.make_landmarker`) or
            a :class:`auheat.landmarkers.Landmarker`; made only if a frame needs one.
        landmarks: a landmarks file for the images (module docstring).
        overlays: a folder for one PNG per image and one MP4 per video: each face's AU heatmaps
            (their maximum over the AUs) drawn over the frame, with its box and strongest AUs.
        batch_size: faces the AU model reads at once.
        device: where the AU model (and face_alignment's networks) run.
        upsample: times dlib's detector doubles the image (finds faces half as large, 4x slower).

    Returns:
        A :class:`Prediction`. Its table has one row per face per frame: ``file``, ``frame``,
        ``time_s`` (videos), ``face`` (0 = the largest), ``status`` (``ok`` or ``no face``), the
        face box ``x0, y0, x1, y1`` and detector ``score``, ``landmark_residual``
        (:func:`auheat.landmarkers.landmark_residual`), one intensity column per AU (``AU12``) and the
        heatmap peak of each AU in image pixels (``AU12_x``, ``AU12_y``).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    files = list_inputs(source)
    reader = FaceReader.load(checkpoint, device)
    images = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
    given = read_landmarks_file(landmarks, images) if landmarks is not None else {}
    if overlays is not None:
        _check_overlay_names(files)
        Path(overlays).mkdir(parents=True, exist_ok=True)
    state = _Run(reader, landmarker, device, upsample, given, overlays, batch_size)
    total = sum(video_info(f)[0] for f in files)
    with progress_bar(total=total, desc="predict", unit="frame") as bar:
        for path in files:
            state.read_file(path, bar)
    table = pd.DataFrame(state.rows, columns=table_columns(reader.aus))
    table["face"] = table["face"].astype("Int64")
    return Prediction(table, state.errors)


class _Run:
    """The state of one :func:`predict` call: the landmarker (made on first need), the faces
    waiting for the AU model, the rows written so far and the files that failed."""

    def __init__(self, reader, landmarker, device, upsample, given, overlays, batch_size) -> None:
        self.reader, self.given, self.batch_size = reader, given, batch_size
        self.overlays = Path(overlays) if overlays is not None else None
        self._landmarker = landmarker
        self._landmarker_options = (device, upsample)
        self.rows: list[list] = []
        self.errors: list[str] = []

    @property
    def landmarker(self) -> Landmarker:
        if isinstance(self._landmarker, str):
            self._landmarker = make_landmarker(self._landmarker, *self._landmarker_options)
        return self._landmarker

    def faces(self, frame: Frame) -> list[Face]:
        if frame.file.name in self.given:
            return [Face.from_landmarks(self.given[frame.file.name])]
        pts = frame.file.with_suffix(".pts")
        if frame.index == 0 and np.isnan(frame.time) and pts.is_file():
            return [Face.from_landmarks(read_pts(pts))]
        return self.landmarker.find(frame.image)

    def read_file(self, path: Path, bar: tqdm) -> None:
        suffix = path.suffix.lower()
        if suffix not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
            self._fail(f"{path}: not an image or a video (by its suffix), skipped")
            return
        video = suffix in VIDEO_SUFFIXES
        fps = video_info(path)[1] if video else float("nan")
        writer = None
        if video and self.overlays is not None:
            writer = _VideoOverlay(self.overlays / f"{path.stem}.mp4", fps)
        keep = False
        try:
            frames = (
                video_frames(path, fps) if video else iter([Frame(path, 0, float("nan"), read_image(path))])
            )
            batch: list[tuple[Frame, list[Face]]] = []
            for frame in frames:
                batch.append((frame, self.faces(frame)))
                if sum(max(len(f), 1) for _, f in batch) >= self.batch_size:
                    self._read_batch(batch, writer)
                    bar.update(len(batch))
                    batch = []
            self._read_batch(batch, writer)
            bar.update(len(batch))
            keep = True
        except ValueError as error:  # an unreadable file; what was read of a video is kept
            self._fail(f"{error}, skipped")
            keep = True
        finally:
            if writer is not None:
                writer.close(keep)

    def _fail(self, message: str) -> None:
        self.errors.append(message)
        tqdm.write(f"error: {message}")

    def _read_batch(self, batch: list[tuple[Frame, list[Face]]], writer: _VideoOverlay | None) -> None:
        aligned = [
            (frame, face, alignment_matrix(face.landmarks)) for frame, faces in batch for face in faces
        ]
        if aligned:
            crops = np.stack([warp_image(frame.image, m, CROP_SIZE) for frame, _, m in aligned])
            reading = self.reader(crops)
        position = 0
        for frame, faces in batch:
            head = [frame.file.name, frame.index, frame.time]
            if not faces:
                self.rows.append(head + [None, "no face"] + [np.nan] * (6 + 3 * len(self.reader.aus)))
            drawn = []
            for i, face in enumerate(faces):
                _, _, matrix = aligned[position]
                inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
                peaks = apply_affine(inverse, reading.peaks[position])  # crop -> image pixels
                quality = landmark_residual(face.landmarks)
                self.rows.append(
                    head
                    + [i, "ok", *face.box, face.score, quality]
                    + reading.intensities[position].tolist()
                    + peaks.ravel().tolist()
                )
                heatmaps = None if reading.heatmaps is None else reading.heatmaps[position]
                drawn.append((face, matrix, heatmaps, reading.intensities[position]))
                position += 1
            if self.overlays is not None:
                picture = draw_overlay(frame.image, drawn, self.reader.aus)
                if writer is not None:
                    writer.write(picture)
                else:
                    path = self.overlays / f"{frame.file.stem}.png"
                    write_atomically(path, lambda f, p=picture: Image.fromarray(p).save(f, format="PNG"))


def _check_overlay_names(files: list[Path]) -> None:
    """Two inputs of one stem and kind would write the same overlay file: refuse before any work."""
    seen: dict[str, Path] = {}
    for path in files:
        kind = "mp4" if path.suffix.lower() in VIDEO_SUFFIXES else "png"
        name = f"{path.stem}.{kind}"
        if name in seen:
            raise ValueError(f"{seen[name].name} and {path.name} would both write the overlay {name}")
        seen[name] = path


class _VideoOverlay:
    """An MP4 written frame by frame to a temporary file, renamed into place when closed (or
    removed, when the run was interrupted)."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps if np.isfinite(fps) else 25.0
        self.writer = None
        self.partial = None

    def write(self, picture: np.ndarray) -> None:
        import cv2

        if self.writer is None:
            handle, self.partial = tempfile.mkstemp(suffix=".mp4", prefix=".partial-", dir=self.path.parent)
            os.close(handle)
            h, w = picture.shape[:2]
            self.writer = cv2.VideoWriter(self.partial, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
        self.writer.write(np.ascontiguousarray(picture[..., ::-1]))

    def close(self, keep: bool) -> None:
        if self.writer is not None:
            self.writer.release()
            if keep:
                os.replace(self.partial, self.path)
            else:
                os.unlink(self.partial)
            self.writer = None


def draw_overlay(
    image: np.ndarray,
    faces: list[tuple[Face, np.ndarray, np.ndarray | None, np.ndarray]],
    aus: tuple[int, ...],
    opacity: float = 0.6,
    strongest: int = 3,
) -> np.ndarray:
    """The frame with each face's AU heatmaps (their maximum over the AUs) warped back onto it.

    Args:
        image: [H, W, 3] uint8 RGB.
        faces: per face: the :class:`Face`, its alignment matrix (image -> crop pixels), its
            heatmaps [K, h, h] (or None) and its intensities [K].
        opacity: the heatmap's opacity where it reaches intensity 1 and above.
        strongest: how many AUs, the strongest first, are written above each box.

    Drawn with OpenCV, not matplotlib: a video overlay draws every frame.
    """
    import cv2
    from matplotlib import colormaps

    out = image.astype(np.float32)
    h, w = image.shape[:2]
    palette = colormaps["inferno"](np.linspace(0.35, 1, 256))[:, :3] * 255  # no near-black end
    for _, matrix, heatmaps, _ in faces:
        if heatmaps is None:
            continue
        # Both frames put pixel centres at integer coordinates, as OpenCV does; resize maps the
        # heatmap's square onto the crop's, as rescale_points does.
        heat = cv2.resize(heatmaps.max(0).astype(np.float32), (CROP_SIZE, CROP_SIZE))
        heat = cv2.warpAffine(heat, matrix, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        level = np.clip(heat / MAX_INTENSITY, 0, 1)
        # Colour on the labels' fixed 0-5 scale; opaque from intensity 1 up, so weak AUs show too.
        alpha = (opacity * np.clip(heat, 0, 1))[..., None]
        out = out * (1 - alpha) + palette[(level * 255).astype(np.int64)] * alpha
    out = out.round().astype(np.uint8)
    thickness = max(1, round(min(h, w) / 300))
    for face, _, _, levels in faces:
        x0, y0, x1, y1 = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), (0, 230, 118), thickness)
        for x, y in face.landmarks:
            cv2.circle(out, (int(round(x)), int(round(y))), thickness, (79, 195, 247), -1)
        order = np.argsort(-levels)[:strongest]
        text = "  ".join(f"{get_au(aus[k]).label} {levels[k]:.1f}" for k in order)
        scale = max(0.4, (x1 - x0) / 250)
        cv2.putText(
            out, text, (x0, max(y0 - 6, 12)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness
        )
    return out


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a CSV atomically, so a reader never sees half of it."""
    return write_atomically(path, lambda f: f.write(table.to_csv(index=False).encode()))
