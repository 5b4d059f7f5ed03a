"""Training and evaluation: one loop for one CPU, one GPU or many (torchrun).

Read top to bottom: :class:`TrainConfig` holds every choice; :class:`Trainer` runs epochs of
``train_step`` (the task's loss: for AUs a masked heatmap MSE on targets encoded on the device;
AdamW, clipping, mixed precision on CUDA), scores the validation split after every epoch
(ICC(3,1) and MAE per AU, or landmark NME; see :mod:`auheat.tasks`), keeps the last and the best
checkpoint, and logs one JSON line per epoch. A run killed after epoch k and started again with
``resume=True`` ends with the same weights as a run never stopped.

Several processes: launch with ``torchrun --nproc_per_node N``; each process then trains on its
share of every batch through DistributedDataParallel, and rank 0 alone writes files (the output
folder must be on a file system every process sees, for resuming).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, Subset
from tqdm.auto import tqdm

from auheat.aus import crop_to_heatmap
from auheat.checkpoint import load_checkpoint, save_checkpoint
from auheat.tasks import AUTask, LandmarkTask

LAST, BEST, LOG = "last.safetensors", "best.safetensors", "metrics.jsonl"
Task = AUTask | LandmarkTask


@dataclass
class TrainConfig:
    """Every choice of a training run; stored in its checkpoints."""

    epochs: int = 10
    batch_size: int = 16  # per process
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: Literal["adamw", "sgd"] = "adamw"
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = 0  # linear warm-up before the schedule
    grad_clip: float | None = 1.0  # max gradient norm; None switches clipping off
    amp: bool = True  # mixed precision (bfloat16, else float16 with loss scaling); CUDA only
    input_size: int = 256  # crops are resized to this side on the device (64 in the CPU recipe)
    seed: int = 0
    workers: int = 0  # DataLoader worker processes
    device: str = "auto"  # "auto": CUDA when available (the local rank's GPU), else CPU


def resize_input(images: torch.Tensor, size: int) -> torch.Tensor:
    """[B, 3, H, W] images in [0, 1] resized to [B, 3, size, size], staying in [0, 1].

    Antialiased bilinear filtering, which overshoots slightly at edges, hence the clamp.
    """
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True).clamp_(0, 1)


def prepare_batch(
    batch: dict[str, Any], device: torch.device, input_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images [B, 3, S, S] float in [0, 1], landmarks [B, 68, 2] in input pixels, intensities [B, K]."""
    images = batch["image"].to(device, non_blocking=True).float().div_(255.0)
    landmarks = batch["landmarks"].to(device, non_blocking=True)
    crop = images.shape[-1]
    if crop != input_size:
        images = resize_input(images, input_size)
        landmarks = crop_to_heatmap(landmarks, crop_size=crop, heatmap_size=input_size)
    return images, landmarks, batch["intensities"].to(device, non_blocking=True)


class _EpochSampler(Sampler[int]):
    """A shuffled order that depends only on (seed, epoch), so a resumed run sees the same batches."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


def _distributed() -> tuple[int, int]:
    """(rank, world size); joins the process group when torchrun started several processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


class Trainer:
    """Fit and evaluate one model on prepared datasets.

    Args:
        model: maps [B, 3, S, S] images in [0, 1] to what ``task`` scores ([B, K, S/4, S/4] AU
            heatmaps or [B, K] intensities; a list of per-stack landmark heatmaps). Only
            parameters with ``requires_grad`` are trained.
        task: :class:`auheat.tasks.AUTask` (its AUs must be the datasets') or
            :class:`auheat.tasks.LandmarkTask`.
        train_set, val_set: :class:`auheat.data.dataset.PreparedDataset` (or any dataset of the
            same samples); ``val_set`` may be None (no evaluation, the last checkpoint is the best).
        out: folder for ``last.safetensors``, ``best.safetensors`` and ``metrics.jsonl``.
        config: the run's choices.
        info: extra JSON-able facts stored in checkpoints (e.g. the method and its options, so
            ``auheat evaluate`` can rebuild the model).
        progress: show progress bars (rank 0 only).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        task: Task,
        train_set: Dataset,
        val_set: Dataset | None,
        out: str | Path,
        config: TrainConfig | None = None,
        info: dict[str, Any] | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config or TrainConfig()
        self.task = task
        for name, data in (("train_set", train_set), ("val_set", val_set)):
            data_aus = getattr(data, "aus", None)
            if isinstance(task, AUTask) and data_aus is not None and tuple(data_aus) != task.aus:
                raise ValueError(
                    f"{name} labels AUs {list(data_aus)}, but the model predicts {list(task.aus)}"
                )
        self.rank, self.world = _distributed()
        self.device = self._device()
        self.out = Path(out)
        self.progress = progress and self.rank == 0
        self.info = dict(info or {})
        self.model = model.to(self.device)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        if not trainable:
            raise ValueError("the model has no trainable parameter")
        self.optimizer = self._optimizer(trainable)
        self.train_set, self.val_set = train_set, val_set
        self.sampler: Sampler[int] = (
            DistributedSampler(train_set, self.world, self.rank, shuffle=True, seed=self.config.seed)
            if self.world > 1
            else _EpochSampler(len(train_set), self.config.seed)
        )
        self.loader = DataLoader(
            train_set,
            batch_size=self.config.batch_size,
            sampler=self.sampler,
            num_workers=self.config.workers,
            drop_last=len(train_set) >= self.config.batch_size * self.world,
            pin_memory=self.device.type == "cuda",
            persistent_workers=self.config.workers > 0,
        )
        total = self.config.epochs * len(self.loader)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor(total))
        self.network = (
            DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
            if self.world > 1
            else self.model
        )
        self.amp_dtype = self._amp_dtype()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.epoch = 0
        self.best_score = -math.inf

    # -- set-up ---------------------------------------------------------------------------------
    def _device(self) -> torch.device:
        if self.config.device != "auto":
            return torch.device(self.config.device)
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")

    def _optimizer(self, parameters: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        c = self.config
        if c.optimizer == "adamw":
            return torch.optim.AdamW(parameters, lr=c.lr, weight_decay=c.weight_decay)
        if c.optimizer == "sgd":
            return torch.optim.SGD(parameters, lr=c.lr, momentum=0.9, weight_decay=c.weight_decay)
        raise ValueError(f"unknown optimizer {c.optimizer!r}; valid: adamw, sgd")

    def _lr_factor(self, total_steps: int):
        warmup, schedule = self.config.warmup_steps, self.config.schedule
        if schedule not in ("cosine", "constant"):
            raise ValueError(f"unknown schedule {schedule!r}; valid: cosine, constant")

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            if schedule == "constant":
                return 1.0
            progress = (step - warmup) / max(1, total_steps - warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

        return factor

    def _amp_dtype(self) -> torch.dtype | None:
        if not (self.config.amp and self.device.type == "cuda"):
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    # -- one step -------------------------------------------------------------------------------
    def train_step(self, batch: dict[str, Any]) -> float:
        """One optimisation step on a batch; returns the loss."""
        images, landmarks, intensities = prepare_batch(batch, self.device, self.config.input_size)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            output = self.network(images)
        loss = self.task.loss(output, landmarks, intensities, images.shape[-1])
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return float(loss.detach())

    # -- the loop -------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> pd.DataFrame:
        """Train for ``config.epochs`` epochs; returns the metrics log as a DataFrame.

        With ``resume=True`` the run continues from ``out/last.safetensors`` (weights, optimizer,
        schedule, random state, epoch); without it, an existing log in ``out`` is an error, so a
        finished run is never overwritten by accident.
        """
        log = self.out / LOG
        if resume:
            self._resume()
        elif log.exists():
            raise FileExistsError(f"{log} exists: pass resume=True (CLI: --resume) or choose another --out")
        self.out.mkdir(parents=True, exist_ok=True)
        while self.epoch < self.config.epochs:
            start = time.perf_counter()
            self.sampler.set_epoch(self.epoch)
            self.network.train()
            losses = [
                self.train_step(batch)
                for batch in tqdm(
                    self.loader,
                    desc=f"epoch {self.epoch + 1}/{self.config.epochs}",
                    disable=not self.progress,
                )
            ]
            self.epoch += 1
            record: dict[str, Any] = {
                "epoch": self.epoch,
                "train_loss": float(np.mean(losses)) if losses else float("nan"),
                "lr": self.scheduler.get_last_lr()[0],
            }
            if self.val_set is not None:
                record.update(self.evaluate(self.val_set).record)
            record["seconds"] = time.perf_counter() - start
            self._end_epoch(record)
        return read_log(log)

    def _end_epoch(self, record: dict[str, Any]) -> None:
        score = record.get(self.task.score_name, float("nan"))
        improved = self.val_set is None or (math.isfinite(score) and score > self.best_score)
        if improved and math.isfinite(score):
            self.best_score = score
        if self.rank != 0:
            return
        info = self._info(record)
        # The log line is written after the checkpoint: a log never lists an epoch that a
        # resume could not start from.
        if improved:
            save_checkpoint(self.out / BEST, self.model, info)
        save_checkpoint(self.out / LAST, self.model, info, self.optimizer, self.scheduler)
        with (self.out / LOG).open("a") as f:
            f.write(json.dumps(record) + "\n")

    def _info(self, record: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.info,
            **self.task.describe(),
            "epoch": self.epoch,
            "best_score": self.best_score,
            "record": record,
            "config": asdict(self.config),
        }

    def _resume(self) -> None:
        path = self.out / LAST
        info = load_checkpoint(path, self.model, self.optimizer, self.scheduler, restore_rng=True)
        if {k: info.get(k) for k in ("task", "aus")} != {
            k: self.task.describe().get(k) for k in ("task", "aus")
        }:
            raise ValueError(f"{path} was trained for another task: {info.get('task')} {info.get('aus', '')}")
        self.epoch, self.best_score = info["epoch"], info["best_score"]
        # Epochs logged after the checkpoint (a kill between the two writes) are dropped.
        log = self.out / LOG
        if log.exists():
            kept = [line for line in log.read_text().splitlines() if json.loads(line)["epoch"] <= self.epoch]
            if self.rank == 0:
                log.write_text("".join(line + "\n" for line in kept))

    # -- evaluation -----------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, dataset: Dataset) -> Evaluation:
        """Score the model on a dataset; every process predicts a share of the frames."""
        return evaluate_model(
            self.model,
            dataset,
            self.task,
            self.device,
            self.config.input_size,
            self.config.batch_size,
            rank=self.rank,
            world=self.world,
            progress=self.progress,
            amp_dtype=self.amp_dtype,
        )


class Evaluation(NamedTuple):
    """Scores of a model on one dataset."""

    table: pd.DataFrame  # per AU (ICC, MAE, PCC, frames, and a mean row), or the landmark NME
    record: dict[str, float]  # the table's entries flattened, as logged
    predictions: np.ndarray  # [N, K] intensities or [N, 68, 2] landmarks, in the dataset's order


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    dataset: Dataset,
    task: Task,
    device: torch.device | str = "cpu",
    input_size: int = 256,
    batch_size: int = 32,
    rank: int = 0,
    world: int = 1,
    progress: bool = False,
    amp_dtype: torch.dtype | None = None,
) -> Evaluation:
    """Predict every frame of ``dataset`` and score the predictions with ``task``.

    With several processes each predicts the frames ``rank, rank + world, ...``; the shares are
    gathered, so every process computes the same scores on all frames.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    share = list(range(rank, len(dataset), world))
    loader = DataLoader(Subset(dataset, share), batch_size=batch_size, shuffle=False)
    predicted, truth = [], []
    for batch in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
        images, landmarks, intensities = prepare_batch(batch, device, input_size)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            output = model(images)
        predicted.append(task.predict(output, images.shape[-1]).float().cpu().numpy())
        truth.append(task.truth(landmarks, intensities).float().cpu().numpy())
    model.train(was_training)
    shares: list[Any] = [(share, predicted, truth)]
    if world > 1:
        shares = [None] * world
        dist.all_gather_object(shares, (share, predicted, truth))
    order = np.argsort(np.concatenate([np.asarray(s[0], dtype=int) for s in shares]), kind="stable")
    predictions = np.concatenate([p for s in shares for p in s[1]])[order]
    labels = np.concatenate([t for s in shares for t in s[2]])[order]
    table, record = task.score(labels, predictions)
    return Evaluation(table, record, predictions)


def read_log(path: str | Path) -> pd.DataFrame:
    """A run's ``metrics.jsonl`` as a DataFrame, one row per epoch."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no metrics log at {path}")
    return pd.DataFrame([json.loads(line) for line in path.read_text().splitlines() if line.strip()])
