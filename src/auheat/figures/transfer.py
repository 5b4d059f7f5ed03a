"""The figures of Chapters 4 to 7, on the transfer methods: an AU run's learning curves, and a
model's maps over dataset faces (its heatmaps beside their targets, an attention model's maps).

The functions that run a model take it with the dataset and the frames to show, and run it in
eval mode on its own device. Every function draws with matplotlib and returns the
:class:`~matplotlib.figure.Figure`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch.utils.data import default_collate

from auheat.aus import MAX_INTENSITY, au_centres, get_au, rescale_points
from auheat.data.dataset import PreparedDataset
from auheat.data.inputs import prepare_batch
from auheat.data.labels import known_aus
from auheat.figures._common import AUSelection, as_numpy, check_square_crop, draw_heatmap, show_face
from auheat.heatmaps import decode_heatmaps, encode_heatmaps


def plot_learning_curves(
    logs: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    per_au: bool = True,
    floors: Mapping[str, float] | None = None,
    figsize: tuple[float, float] = (9.0, 3.2),
) -> Figure:
    """An AU run's logged evaluations: training loss, and ICC(3,1) and MAE on the evaluation split.

    Args:
        logs: a run's metrics log (``metrics.jsonl`` read by :func:`auheat.train.read_log`, with
            columns ``epoch`` (and ``step``), ``train_loss``, ``ICC_mean``, ``MAE_mean`` and
            ``ICC_AUxx``, ``MAE_AUxx`` per AU), or name -> log to compare runs, one line each.
        per_au: with a single log, draw each AU's ICC and MAE as thin grey lines behind the mean.
        floors: run name (``""`` for a single log) -> the training loss of all-zero heatmaps
            under that run's loss (:func:`auheat.grid.zero_prediction`); the loss panel then
            shows each run's loss divided by its own floor, so runs with different losses compare,
            and a line at 1 marks a network that draws nothing.
        figsize: size of the figure, inches.

    Returns:
        The figure: the training loss, the ICC and the MAE against the step (or the epoch where
        a log has no ``step``).
    """
    runs = {"": logs} if isinstance(logs, pd.DataFrame) else dict(logs)
    if not runs:
        raise ValueError("logs is empty: give a metrics log or a mapping of them")
    for name, log in runs.items():
        missing = {"epoch", "train_loss", "ICC_mean", "MAE_mean"} - set(log.columns)
        if missing:
            raise ValueError(
                f"log {name!r} lacks columns {sorted(missing)}: is it an AU run's metrics.jsonl?"
            )
    if floors is not None and set(floors) != set(runs):
        raise ValueError(f"floors must name the runs {sorted(runs)}, got {sorted(floors)}")
    single = len(runs) == 1
    by_step = all("step" in log for log in runs.values())
    x_name = "step" if by_step else "epoch"
    fig, axes = plt.subplots(1, 3, figsize=figsize, layout="constrained")
    loss_label = "loss / all-zero heatmaps' loss" if floors else "masked heatmap MSE"
    panels = (
        ("train_loss", loss_label, "training loss"),
        ("ICC", "ICC(3,1)", "ICC on the held-out subjects"),
        ("MAE", "MAE (intensity levels)", "MAE on the held-out subjects"),
    )
    for ax, (key, ylabel, title) in zip(axes, panels, strict=True):
        for name, log in runs.items():
            x = log[x_name]
            if key == "train_loss":
                loss = log[key] / floors[name] if floors else log[key]
                ax.plot(x, loss, "o-", label=name or "training loss")
                continue
            if single and per_au:
                columns = sorted(c for c in log.columns if re.fullmatch(f"{key}_AU\\d+", c))
                for k, column in enumerate(columns):
                    ax.plot(
                        x, log[column], "-", c="0.7", lw=0.8, marker=".", label="one AU" if k == 0 else None
                    )
            ax.plot(x, log[f"{key}_mean"], "o-", lw=2, label=name or "mean over AUs")
        if key == "ICC":
            ax.axhline(0.0, c="0.3", lw=0.8, ls=":")
        if key == "train_loss" and floors:
            ax.axhline(1.0, c="0.3", lw=0.8, ls="--", label="all-zero heatmaps")
        ax.set(xlabel=f"{x_name} (logged evaluations)", ylabel=ylabel, title=title)
        if not by_step:
            last_epoch = max(int(log["epoch"].max()) for log in runs.values())
            ax.set_xlim(0.5, last_epoch + 0.5)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.grid(alpha=0.3)
    axes[1 if single else 0].legend(fontsize=8)
    return fig


def _model_inputs(
    model: torch.nn.Module, dataset: PreparedDataset, indices: Sequence[int], input_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[np.ndarray]]:
    """A batch of dataset frames as the trainer feeds them (images [N, 3, S, S] in [0, 1],
    landmarks [N, 68, 2] input pixels, intensities [N, K]), and the frames' crops [H, W, 3]."""
    if not len(indices):
        raise ValueError("indices is empty: give the positions of the frames to show")
    samples = [dataset[int(i)] for i in indices]
    batch = default_collate([{k: s[k] for k in ("image", "landmarks", "intensities")} for s in samples])
    device = next(model.parameters()).device
    images, landmarks, intensities = prepare_batch(batch, device, input_size)
    return images, landmarks, intensities, [s["image"].permute(1, 2, 0).numpy() for s in samples]


def plot_face_maps(
    crops: Sequence[np.ndarray],
    maps: np.ndarray | torch.Tensor,
    titles: Sequence[Sequence[str]] | None = None,
    *,
    centres: np.ndarray | torch.Tensor | None = None,
    row_labels: Sequence[str] | None = None,
    vmax: float = MAX_INTENSITY,
    colorbar_label: str = "heatmap value",
    panel_size: float = 1.9,
    own_scale: Sequence[int] = (),
) -> Figure:
    """Maps laid over faces: row n shows face n under each of its M maps.

    Args:
        crops: N square RGB crops [S, S, 3].
        maps: [N, M, h, h] float, each covering its crop's square (heatmap pixels).
        titles: N rows of M panel titles.
        centres: optional [N, M, C, 2] (x, y) crop pixels drawn as small circles (NaN skipped),
            e.g. each panel's AU centres.
        row_labels: N labels written left of the rows.
        vmax: value drawn with the top colour; one scale for every panel but those of
            ``own_scale``.
        colorbar_label: the label of the shared colorbar.
        panel_size: side of one panel, inches.
        own_scale: columns whose panels each get their own scale, from 0 to the panel's maximum,
            with a colorbar of their own: a faint map that the shared scale leaves dark shows its
            shape there.

    Returns:
        The figure: N x M panels and a shared colorbar.
    """
    maps = as_numpy(maps)
    if maps.ndim != 4 or maps.shape[-1] != maps.shape[-2]:
        raise ValueError(f"maps must be [N, M, h, h], got shape {list(maps.shape)}")
    n, m = maps.shape[:2]
    if len(crops) != n:
        raise ValueError(f"{len(crops)} crops for {n} rows of maps; give one crop per row")
    for name, values in (("titles", titles), ("row_labels", row_labels)):
        if values is not None and len(values) != n:
            raise ValueError(f"{name} has {len(values)} entries for {n} rows; give one per row")
    points = None if centres is None else as_numpy(centres).astype(np.float64)
    if points is not None and (points.shape[:2] != (n, m) or points.ndim != 4 or points.shape[-1] != 2):
        raise ValueError(f"centres must be [N, M, C, 2] = [{n}, {m}, C, 2], got {list(points.shape)}")
    outside = sorted(set(own_scale) - set(range(m)))
    if outside:
        raise ValueError(f"own_scale names columns {outside}; the maps have columns 0..{m - 1}")
    title_lines = max((t.count("\n") + 1 for row in titles for t in row), default=0) if titles else 0
    fig, axes = plt.subplots(
        n,
        m,
        figsize=(panel_size * m + 0.9, (panel_size + 0.17 * title_lines) * n),
        layout="constrained",
        squeeze=False,
    )
    artist = None  # a panel on the shared scale, for its colorbar
    for r in range(n):
        crop = check_square_crop(crops[r])
        for c in range(m):
            ax = axes[r, c]
            show_face(ax, crop)
            if c in own_scale and maps[r, c].max() > 0:  # from 0 to the panel's own top
                own = draw_heatmap(ax, maps[r, c], crop_size=crop.shape[0], vmax=float(maps[r, c].max()))
                fig.colorbar(own, ax=ax, shrink=0.8, pad=0.02).ax.tick_params(labelsize=8)
            elif c in own_scale:  # no scale to stretch: say so rather than draw a blank panel
                ax.text(
                    0.5,
                    0.06,
                    "nothing above 0",
                    transform=ax.transAxes,
                    ha="center",
                    fontsize=8,
                    color="white",
                    bbox={"facecolor": "black", "alpha": 0.6, "linewidth": 0},
                )
            else:
                artist = draw_heatmap(ax, maps[r, c], crop_size=crop.shape[0], vmax=vmax)
            if points is not None:
                xy = points[r, c][~np.isnan(points[r, c]).any(-1)]
                ax.scatter(*xy.T, s=22, facecolors="none", edgecolors="#4fc3f7", linewidths=0.9)
            ax.set_xlim(-0.5, crop.shape[0] - 0.5)
            ax.set_ylim(crop.shape[0] - 0.5, -0.5)
            if titles is not None:
                ax.set_title(titles[r][c], fontsize=8)
        if row_labels is not None:
            axes[r, 0].set_ylabel(row_labels[r], fontsize=8)
    if artist is None:  # every column on its own scale: no shared one to show
        return fig
    if n > m:  # a tall figure: the shared scale goes across its top, where every row can refer to it
        # fraction and pad are shares of the figure's height: their defaults (0.15 and 0.05) would
        # leave inches of empty space above a tall figure's first row.
        height = fig.get_figheight()
        fig.colorbar(
            artist,
            ax=axes,
            location="top",
            shrink=0.6,
            aspect=40,
            fraction=0.5 / height,
            pad=0.1 / height,
            label=colorbar_label,
        )
    else:
        fig.colorbar(artist, ax=axes, shrink=0.7, label=colorbar_label)
    return fig


def _frame_labels(dataset: PreparedDataset, indices: Sequence[int]) -> list[str]:
    rows = dataset.frames.iloc[[int(i) for i in indices]]
    return [f"{r['subject']} {r['session']}\nframe {r['frame']}" for _, r in rows.iterrows()]


@torch.no_grad()
def plot_predicted_vs_target(
    model: torch.nn.Module,
    dataset: PreparedDataset,
    indices: Sequence[int],
    aus: AUSelection,
    input_size: int,
    *,
    design: str = "variable",
    target_options: Mapping[str, float] | None = None,
    panel_size: float = 1.6,
) -> Figure:
    """A heatmap model's AU heatmaps beside their targets, on dataset frames.

    One row per frame and AU of ``aus`` (frame by frame), three panels per row: the target
    encoded from the frame's label, as the training loss encodes it (:class:`auheat.tasks.AUTask`);
    the model's heatmap on the same 0-5 scale; and the model's heatmap again on its own scale (0 to
    its maximum, with its own colorbar), which shows where a weak prediction puts its bump. Titles
    give the label and the decoded intensity (the heatmap's maximum, clamped to [0, 5], and the
    intensity the model answers through its calibration, where it has one); circles mark the AU's
    centres. Three panels a row keep the figure narrow enough to read at the width of a page.

    Args:
        model: an AU model with heatmap output (``model.aus`` those of ``dataset``), run in eval
            mode on its own device (its mode is restored afterwards).
        dataset: a prepared dataset, e.g. the held-out fold.
        indices: positions of the frames to show (e.g. :func:`auheat.data.labels.showcase_frames`).
        aus: the AUs to show, among the model's.
        input_size: side of the network input, the training run's (``TrainConfig.input_size``).
        design, target_options: the target design of the training run and its options.
        panel_size: side of one panel, inches.

    Returns:
        The figure of :func:`plot_face_maps`: a row per frame and AU, three panels a row, the
        shared colorbar and one per own-scale panel with something above 0.
    """
    if getattr(model, "output", "heatmaps") != "heatmaps":
        raise ValueError("the model outputs intensities, not heatmaps: there is no heatmap to draw")
    model_aus = tuple(model.aus)
    if tuple(dataset.aus) != model_aus:
        raise ValueError(f"the model predicts AUs {list(model_aus)}, the dataset labels {list(dataset.aus)}")
    numbers = known_aus(aus, model_aus, "the model")
    images, landmarks, intensities, crops = _model_inputs(model, dataset, indices, input_size)
    was_training = model.training
    model.eval()
    try:
        output = model(images).float()
    finally:
        model.train(was_training)
    side = output.shape[-1]
    targets = encode_heatmaps(
        rescale_points(landmarks, input_size, side),
        intensities,
        model_aus,
        size=side,
        design=design,
        **dict(target_options or {}),
    )
    decoded = decode_heatmaps(output).intensities
    # What the model answers: the maximum through the run's per-AU calibration, where it has one.
    answered = model.calibrated(decoded) if hasattr(model, "calibrated") else decoded
    calibrated = not torch.equal(answered, decoded)
    channels = [model_aus.index(n) for n in numbers]
    crop_points = torch.stack([s.float() for s in (dataset[int(i)]["landmarks"] for i in indices)])
    au_points = au_centres(crop_points, numbers)  # [N, M, C, 2] crop pixels
    frame_labels = _frame_labels(dataset, indices)
    rows = [
        (r, m, n, c)
        for r in range(len(crops))
        for m, (n, c) in enumerate(zip(numbers, channels, strict=True))
    ]
    maps = torch.stack([torch.stack([targets[r, c], output[r, c], output[r, c]]) for r, _, _, c in rows])
    titles = []
    for r, _, n, c in rows:
        label = float(intensities[r, c])
        shown = "unlabelled" if np.isnan(label) else f"I = {label:g}"
        read = f", read {float(answered[r, c]):.2f}" if calibrated else ""
        titles.append(
            [
                f"{get_au(n).label} target\n{shown}",
                f"{get_au(n).label} predicted\nmax {float(decoded[r, c]):.2f}{read}",
                f"{get_au(n).label} predicted\nits own scale",
            ]
        )
    return plot_face_maps(
        [crops[r] for r, _, _, _ in rows],
        maps.cpu(),
        titles,
        centres=torch.stack([au_points[r, m] for r, m, _, _ in rows])[:, None].expand(-1, 3, -1, -1),
        row_labels=[f"{frame_labels[r].replace(chr(10), ', ')}\n{get_au(n).label}" for r, _, n, _ in rows],
        vmax=1.0 if design == "binary" else MAX_INTENSITY,
        panel_size=panel_size,
        own_scale=[2],
    )


@torch.no_grad()
def plot_attention_maps(
    model: torch.nn.Module,
    dataset: PreparedDataset,
    indices: Sequence[int],
    aus: AUSelection,
    input_size: int,
    *,
    panel_size: float = 1.9,
) -> Figure:
    """An attention model's maps (:meth:`auheat.models.Attention.attention_maps`, in [0, 1]) over
    dataset frames: one row per frame, one column per AU of ``aus``, circles at the AU's centres.

    Args:
        model: a model with an ``attention_maps(images)`` method giving [N, K, h, h], and ``aus``.
        dataset, indices, aus, input_size, panel_size: as for :func:`plot_predicted_vs_target`.

    Returns:
        The figure of :func:`plot_face_maps`: a row per frame, a panel per AU, a colorbar.
    """
    if not hasattr(model, "attention_maps"):
        raise ValueError(f"{type(model).__name__} has no attention maps (an 'attention' model has)")
    model_aus = tuple(model.aus)
    numbers = known_aus(aus, model_aus, "the model")
    images, _, _, crops = _model_inputs(model, dataset, indices, input_size)
    was_training = model.training
    model.eval()
    try:
        attention = model.attention_maps(images).float()
    finally:
        model.train(was_training)
    maps = attention[:, [model_aus.index(n) for n in numbers]].cpu()
    crop_points = torch.stack([dataset[int(i)]["landmarks"].float() for i in indices])
    titles = [[f"{get_au(n).label}\n{get_au(n).name}" for n in numbers]] * len(crops)
    return plot_face_maps(
        crops,
        maps,
        titles,
        centres=au_centres(crop_points, numbers),
        row_labels=_frame_labels(dataset, indices),
        vmax=1.0,
        colorbar_label="attention",
        panel_size=panel_size,
    )
