"""Training and evaluation: one loop for one CPU, one GPU or many (torchrun).

Read top to bottom: :class:`TrainConfig` holds every choice, the budget included (a number of
optimisation steps, from which the epochs follow); :class:`Trainer` runs epochs of ``train_step``
(the task's loss: for AUs a masked heatmap MSE on targets encoded on the device; AdamW, warm-up
and a cosine schedule over the whole budget, clipping, mixed precision on CUDA). At a few evenly
spread epochs it scores the held-out test set (ICC(3,1) and MAE per AU, or landmark NME; see
:mod:`auheat.tasks`), and a validation set if one is given, writes the last checkpoint (and the
best one, chosen on the validation set only, never on the test set) and logs one JSON line. A
run killed after a logged epoch and started again with ``resume=True`` ends with the same
weights as a run never stopped.

The data path stays out of the network's way: a prepared dataset's crops are decoded and resized
to the input side once (:class:`auheat.data.inputs.CachedInputs`), and for models whose landmark
network takes no gradient the frozen features are computed once per frame and the new layers
train on them (:class:`FeatureCache`).

Several processes: launch with ``torchrun --nproc_per_node N``; each process then trains on its
share of every batch through DistributedDataParallel, and rank 0 alone writes files (the output
folder must be on a file system every process sees, for resuming).
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from auheat.atomic import write_atomically
from auheat.checkpoint import load_checkpoint, save_checkpoint
from auheat.config import TrainConfig
from auheat.data.dataset import PreparedDataset
from auheat.data.inputs import CachedInputs, FeatureCache, jitter, prepare_batch
from auheat.evaluation import (
    PREDICTIONS,
    Evaluation,
    HeldOutFrames,
    Task,
    evaluate_model,
    run_model,
    save_predictions,
)
from auheat.metrics import UNDEFINED_SCORE
from auheat.models.base import AUModel
from auheat.progress import progress_bar
from auheat.tasks import AUTask, fit_calibration

#: File names in a run folder: the last checkpoint, the best one, the metrics log.
LAST, BEST, LOG = "last.safetensors", "best.safetensors", "metrics.jsonl"


class _EpochSampler(Sampler[int]):
    """A shuffled order that depends only on (seed, epoch), so a resumed run sees the same batches.

    With ``weights`` ([N], one per frame) an epoch draws N frames with replacement, each with
    probability proportional to its weight (oversampling); without, a permutation.
    """

    def __init__(self, size: int, seed: int, weights: torch.Tensor | None = None) -> None:
        self.size, self.seed, self.epoch, self.weights = size, seed, 0, weights

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        if self.weights is not None:
            return iter(torch.multinomial(self.weights, self.size, True, generator=generator).tolist())
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


def oversampling_weights(dataset: Dataset, oversample: float) -> torch.Tensor | None:
    """[N] frame weights: 1 + ``oversample`` for frames with a label >= 1 (an AU shows), else 1."""
    if oversample <= 0:
        return None
    labels = getattr(dataset, "intensities", None)
    if labels is None:
        raise ValueError("oversample needs a dataset with AU labels (an `intensities` array)")
    shows = torch.as_tensor(np.nan_to_num(np.asarray(labels), nan=0.0) >= 1.0).any(-1)
    return 1.0 + oversample * shows.double()


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
        train_set, test_set: :class:`auheat.data.dataset.PreparedDataset` (or any dataset of the
            same samples); ``test_set`` is scored at every evaluation and logged as is (``ICC_mean``
            ...), or None.
        out: folder for ``last.safetensors``, ``best.safetensors`` and ``metrics.jsonl``.
        config: the run's choices.
        info: extra JSON-able facts stored in checkpoints (e.g. the method and its options, so
            ``auheat evaluate`` can rebuild the model).
        val_set: a validation set (subjects held out of the training set); scored at every
            evaluation, logged with the prefix ``val_``, and the only set that picks
            ``best.safetensors``. Without it no best checkpoint is written: choosing an epoch on
            the test set would make its scores optimistic.
        input_cache: the folder of the decoded-input cache (:class:`CachedInputs`; default
            ``<cache>/inputs``).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        task: Task,
        train_set: Dataset,
        test_set: Dataset | None,
        out: str | Path,
        config: TrainConfig | None = None,
        info: dict[str, Any] | None = None,
        val_set: Dataset | None = None,
        input_cache: str | Path | None = None,
    ) -> None:
        self.config = config or TrainConfig()
        self.task = task
        for name, data in (("train_set", train_set), ("test_set", test_set), ("val_set", val_set)):
            data_aus = getattr(data, "aus", None)
            if isinstance(task, AUTask) and data_aus is not None and tuple(data_aus) != task.aus:
                raise ValueError(
                    f"{name} labels AUs {list(data_aus)}, but the model predicts {list(task.aus)}"
                )
        if self.config.threads is not None:
            torch.set_num_threads(self.config.threads)
        self.rank, self.world = _distributed()
        self.device = self._device()
        self.out = Path(out)
        self.input_cache = input_cache
        self.info = dict(info or {})
        self.model = model.to(self.device)
        if self.config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        if not trainable:
            raise ValueError("the model has no trainable parameter")
        self.optimizer = self._optimizer(trainable)
        # Who and what each held-out frame is, for the per-frame predictions a run keeps.
        self._test_frames = HeldOutFrames.of(test_set)
        self.train_set, self.test_set, self.val_set = (
            self._inputs(d) for d in (train_set, test_set, val_set)
        )
        weights = oversampling_weights(self.train_set, self.config.oversample)
        if self.world > 1 and weights is not None:
            raise ValueError("oversample is not available with several processes (DistributedSampler)")
        self.sampler: Sampler[int] = (
            DistributedSampler(self.train_set, self.world, self.rank, shuffle=True, seed=self.config.seed)
            if self.world > 1
            else _EpochSampler(len(self.train_set), self.config.seed, weights)
        )
        self.loader = DataLoader(
            self.train_set,
            batch_size=self.config.batch_size,
            sampler=self.sampler,
            num_workers=self.config.workers,
            drop_last=len(self.train_set) >= self.config.batch_size * self.world,
            pin_memory=self.device.type == "cuda",
            persistent_workers=self.config.workers > 0,
        )
        steps = self.config.steps
        self.epochs = math.ceil(steps / len(self.loader)) if steps else self.config.epochs
        self.logged_epochs = self._logged_epochs()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, self._lr_factor(self.epochs * len(self.loader))
        )
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

    def _inputs(self, dataset: Dataset | None) -> Dataset | None:
        """The dataset as the network reads it: decoded once, and as frozen features where valid."""
        c = self.config
        if dataset is None:
            return None
        if c.cache_inputs and isinstance(dataset, PreparedDataset) and dataset.transform is None:
            dataset = CachedInputs(dataset, c.input_size, self.input_cache)
        if self.caches_features:
            dataset = FeatureCache(self.model, dataset, self.device, c.input_size)
        return dataset

    @property
    def caches_features(self) -> bool:
        """Whether the frozen features are cached: the model allows it, and nothing varies the input."""
        c = self.config
        return (
            c.cache_features
            and not c.augment
            and self.world == 1
            and getattr(self.model, "caches_features", False)
        )

    def _logged_epochs(self) -> set[int]:
        """The epochs after which the run evaluates, checkpoints and logs; the last always."""
        n = self.config.evaluations
        if n is None or n >= self.epochs:
            return set(range(1, self.epochs + 1))
        return {math.ceil(k * self.epochs / n) for k in range(1, n + 1)}

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
        size = self.config.input_size
        inputs, landmarks, intensities = prepare_batch(batch, self.device, size)
        if self.config.augment:
            inputs, landmarks = jitter(inputs, landmarks)
        if self.config.channels_last:
            inputs = _channels_last(inputs)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            output = run_model(self.network, inputs)
        loss = self.task.loss(output, landmarks, intensities, size)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.grad_clip:  # 0 (or None in an older checkpoint): no clipping
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return float(loss.detach())

    # -- the loop -------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> pd.DataFrame:
        """Train for the configured budget; returns the metrics log as a DataFrame.

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
        losses: list[float] = []
        start = time.perf_counter()
        while self.epoch < self.epochs:
            self.sampler.set_epoch(self.epoch)
            self.network.train()
            epoch = f"epoch {self.epoch + 1}/{self.epochs}"
            for batch in progress_bar(self.loader, desc=epoch, shown=self.rank == 0):
                losses.append(self.train_step(batch))
            self.epoch += 1
            if self.epoch not in self.logged_epochs:
                continue
            record: dict[str, Any] = {
                "epoch": self.epoch,
                "epochs": self.epochs,
                "step": self.epoch * len(self.loader),
                "train_loss": float(np.mean(losses)) if losses else float("nan"),
                "lr": self.scheduler.get_last_lr()[0],
            }
            if self.config.calibrate:
                self.calibrate()
            held_out = self.evaluate(self.test_set) if self.test_set is not None else None
            if held_out is not None:
                record.update(held_out.record)
            if self.val_set is not None:
                record.update({f"val_{k}": v for k, v in self.evaluate(self.val_set).record.items()})
            record["seconds"] = time.perf_counter() - start
            self._end_epoch(record, held_out)
            losses, start = [], time.perf_counter()
        return read_log(log)

    def _end_epoch(self, record: dict[str, Any], held_out: Evaluation | None) -> None:
        score = record.get(f"val_{self.task.score_name}", float("nan"))
        improved = math.isfinite(score) and score > self.best_score
        if improved:
            self.best_score = score
        if self.rank != 0:
            return
        if held_out is not None and isinstance(self.task, AUTask) and self._test_frames is not None:
            save_predictions(self.out / PREDICTIONS, held_out, self._test_frames, self.config.input_size // 4)
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
            # CPU kernels split their sums by thread: a run repeats bit for bit on as many threads.
            "threads": torch.get_num_threads(),
        }

    def _resume(self) -> None:
        path = self.out / LAST
        info = load_checkpoint(path, self.model, self.optimizer, self.scheduler, restore_rng=True)
        if {k: info.get(k) for k in ("task", "aus")} != {
            k: self.task.describe().get(k) for k in ("task", "aus")
        }:
            raise ValueError(f"{path} was trained for another task: {info.get('task')} {info.get('aus', '')}")
        self.epoch, self.best_score = info["epoch"], info["best_score"]
        # The log must list exactly the epochs up to the checkpoint's: lines of later epochs (from a
        # run resumed from an older checkpoint) are dropped, and the checkpoint's own line, lost
        # when a kill fell between the checkpoint's write and the log's, is written from the record
        # the checkpoint carries.
        log = self.out / LOG
        lines = log.read_text().splitlines() if log.exists() else []
        kept = [line for line in lines if json.loads(line)["epoch"] <= self.epoch]
        logged = {json.loads(line)["epoch"] for line in kept}
        if self.epoch not in logged and "record" in info:
            kept.append(json.dumps(info["record"]))
        if self.rank == 0:
            write_atomically(log, lambda f: f.write("".join(line + "\n" for line in kept).encode()))

    # -- evaluation -----------------------------------------------------------------------------
    @torch.no_grad()
    def calibrate(self) -> None:
        """Fit the AU model's per-AU calibration on the training frames (:func:`fit_calibration`)."""
        if not isinstance(self.model, AUModel):
            raise ValueError("calibrate applies to AU models (auheat.models.AUModel) only")
        raw = self.evaluate(self.train_set)
        self.model.calibration.copy_(fit_calibration(raw.raw, raw.labels))

    @torch.no_grad()
    def evaluate(self, dataset: Dataset) -> Evaluation:
        """Score the model on a dataset; every process predicts a share of the frames.

        A score that is undefined (an AU the model answers with one constant value has no PCC)
        is logged as NaN; the metrics' warning about it is not repeated at every evaluation, where
        in a notebook it would fill the page (runs trained in worker processes print it to it).
        """
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=UNDEFINED_SCORE, category=UserWarning)
            return self._evaluate(dataset)

    def _evaluate(self, dataset: Dataset) -> Evaluation:
        return evaluate_model(
            self.model,
            dataset,
            self.task,
            self.device,
            self.config.input_size,
            self.config.batch_size,
            rank=self.rank,
            world=self.world,
            amp_dtype=self.amp_dtype,
        )


Inputs = torch.Tensor | tuple[torch.Tensor, ...]  # images, or a frozen model's cached features


def _channels_last(inputs: Inputs) -> Inputs:
    """Images, or cached feature maps, as NHWC tensors (other tensors unchanged)."""
    if isinstance(inputs, torch.Tensor):
        return inputs.contiguous(memory_format=torch.channels_last) if inputs.dim() == 4 else inputs
    return tuple(_channels_last(t) for t in inputs)


def run_finished(log: pd.DataFrame) -> bool:
    """Whether a run's metrics log reaches the last epoch of its budget."""
    return bool(len(log)) and int(log["epoch"].iloc[-1]) >= int(log["epochs"].iloc[-1])


def read_log(path: str | Path) -> pd.DataFrame:
    """A run's ``metrics.jsonl`` as a DataFrame, one row per epoch."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no metrics log at {path}")
    return pd.DataFrame([json.loads(line) for line in path.read_text().splitlines() if line.strip()])
