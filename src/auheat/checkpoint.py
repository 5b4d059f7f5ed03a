"""Checkpoints: one safetensors file per checkpoint, written atomically, loadable without pickle.

A checkpoint holds the model's weights under ``model.``, and, for resuming, the optimizer's
tensors under ``optimizer.`` and the random number generator's state under ``rng.``. Everything
that is not a tensor (the optimizer's hyper-parameters, the scheduler's counters, the epoch, the
run's configuration) is JSON in the file's metadata. safetensors rather than ``torch.save``:
loading a checkpoint must not be able to run code, and safetensors stores only tensors and text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from auheat.atomic import write_atomically

MODEL, OPTIMIZER, RNG = "model.", "optimizer.", "rng."


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state dict into its tensors and a JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    rest: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for index, entries in state["state"].items():
        rest["state"][str(index)] = {}
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{OPTIMIZER}{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                rest["state"][str(index)][name] = value
    return tensors, rest


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], rest: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in rest["state"].items()}
    for key, value in tensors.items():
        index, name = key[len(OPTIMIZER) :].split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": rest["param_groups"]}


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    info: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
) -> Path:
    """Write a checkpoint to ``path`` through a temporary file and an atomic rename.

    Args:
        path: the ``.safetensors`` file to write.
        model: its ``state_dict`` is stored (BatchNorm statistics included).
        info: JSON-able facts about the run (AUs, method, epoch, scores, configuration).
        optimizer, scheduler: stored too when given, with the torch RNG state, for exact resume.
    """
    path = Path(path)
    tensors = {MODEL + k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {"info": json.dumps(info)}
    if optimizer is not None:
        optimizer_tensors, optimizer_rest = _flatten_optimizer(optimizer.state_dict())
        tensors.update(optimizer_tensors)
        metadata["optimizer"] = json.dumps(optimizer_rest)
        tensors[RNG + "torch"] = torch.get_rng_state()
    if scheduler is not None:
        metadata["scheduler"] = json.dumps(scheduler.state_dict())
    return write_atomically(path, lambda f: f.write(save(tensors, metadata=metadata)))


def read_info(path: str | Path) -> dict[str, Any]:
    """The ``info`` dict of a checkpoint, without reading its tensors."""
    path = _existing(path)
    with open_safetensors(path) as f:
        metadata = _checkpoint_metadata(f, path)
    return json.loads(metadata["info"])


def load_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    restore_rng: bool = False,
) -> dict[str, Any]:
    """Load weights (strictly) into ``model`` and, when given, the optimizer and scheduler state.

    Returns the checkpoint's ``info``. A checkpoint whose weights do not fit the model raises an
    error that names the file and the mismatching keys.
    """
    path = _existing(path)
    with open_safetensors(path) as f:
        metadata = _checkpoint_metadata(f, path)
        keys = list(f.keys())
        weights = {k[len(MODEL) :]: f.get_tensor(k) for k in keys if k.startswith(MODEL)}
        try:
            model.load_state_dict(weights, strict=True)
        except RuntimeError:
            raise ValueError(
                f"{path}: the weights do not fit this model ({key_mismatch(model, weights)})"
            ) from None
        if optimizer is not None:
            if "optimizer" not in metadata:
                raise ValueError(f"{path}: holds no optimizer state; it cannot resume a run")
            tensors = {k: f.get_tensor(k) for k in keys if k.startswith(OPTIMIZER)}
            optimizer.load_state_dict(_unflatten_optimizer(tensors, json.loads(metadata["optimizer"])))
        if scheduler is not None:
            scheduler.load_state_dict(json.loads(metadata["scheduler"]))
        if restore_rng:
            torch.set_rng_state(f.get_tensor(RNG + "torch"))
    return json.loads(metadata["info"])


@contextmanager
def open_safetensors(path: str | Path) -> Iterator[Any]:
    """safetensors' ``safe_open`` of ``path``, with a file of another kind named in a ValueError
    (safetensors itself says only "header too small" or the like, without the file)."""
    try:
        handle = safe_open(str(path), framework="pt")
    except SafetensorError as error:
        raise ValueError(f"{path}: not a safetensors file ({error})") from None
    with handle as f:
        yield f


def _checkpoint_metadata(f: Any, path: Path) -> dict[str, str]:
    """An open file's metadata, which an auheat checkpoint's ``info`` must be part of."""
    metadata = f.metadata() or {}
    if "info" not in metadata:
        raise ValueError(f"{path}: not an auheat checkpoint (no 'info' in its metadata)")
    return metadata


def key_mismatch(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> str:
    """What keeps ``weights`` from loading into ``model``, in one line: counts and a few names
    (torch's own message lists every key, tens of thousands of characters for a FAN)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    shapes = [k for k in expected if k in weights and weights[k].shape != expected[k].shape]
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("of another shape", shapes)):
        if keys:
            more = f", ... ({len(keys)} in all)" if len(keys) > 3 else ""
            parts.append(f"{label}: {', '.join(keys[:3])}{more}")
    return "; ".join(parts) or "no key differs"


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return path
