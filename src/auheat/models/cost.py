"""What each AU model costs, measured against the landmark network alone in the same run.

The paper (Ntinou et al., "A transfer learning approach to heatmap regression for action unit
intensity estimation", IEEE TAC 2021) claims that adaptation layers, attention maps and
reparametrisation add little to the landmark network's cost; :func:`cost_table` measures it:
parameters, multiply-accumulates (torch's flop counter) and CPU latency, each also as a ratio to
the landmark network. :func:`parameter_table` lists one model's trainable and frozen parameters
part by part (Chapters 4 to 7).
"""

from __future__ import annotations

import functools

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from auheat.models.backbone import FAN
from auheat.models.base import AUModel
from auheat.timing import median_times

REFERENCE = "landmark network"


def count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass on ``x``: torch's flop count / 2.

    The counter covers convolutions and matrix products, which dominate; BatchNorm, activations
    and pooling are not counted.
    """
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() // 2


def median_latencies_ms(models: dict[str, nn.Module], x: torch.Tensor, repeats: int = 5) -> dict[str, float]:
    """Median wall time of a forward pass on ``x`` for each model, milliseconds.

    The models are timed in turn within each of ``repeats`` rounds (after one warm-up round,
    :func:`auheat.timing.median_times`), so that load from other processes on a shared CPU slows
    every model alike instead of whichever happened to be measured at the time.
    """
    sync = torch.cuda.synchronize if x.device.type == "cuda" else None
    with torch.inference_mode():
        steps = {name: functools.partial(model, x) for name, model in models.items()}
        times = median_times(steps, repeats, sync=sync)
    return {name: 1e3 * timing.wall for name, timing in times.items()}


def cost_table(
    models: dict[str, nn.Module],
    input_size: int = 256,
    device: str | torch.device = "cpu",
    reference: nn.Module | None = None,
    repeats: int = 5,
    threads: int | None = 1,
) -> pd.DataFrame:
    """Parameters, MACs and latency per image of each model, and their ratios to the landmark network.

    Args:
        models: name -> model taking [1, 3, input_size, input_size]; moved to ``device`` and
            measured in eval mode (their train/eval mode is restored afterwards).
        input_size: side of the square input, pixels.
        device: where to measure; latency is for batch 1.
        reference: the landmark network alone; by default a FAN with the stacks and width the
            first :class:`AUModel` was built on (weights do not change the cost).
        repeats: rounds of timing; each model's latency is its median over the rounds.
        threads: CPU threads during the timing (None: leave torch's setting). One thread by
            default: on a CPU shared with other work, several threads wait on each other whenever
            one is descheduled, which made batch-1 latencies vary tenfold between identical
            networks; one thread gives steady ratios (absolute times are per core).

    Returns:
        One row per model, the reference first (named ``"landmark network"``), columns
        ``trainable_params``, ``total_params``, ``macs``, ``latency_ms``, and ``params_ratio``,
        ``macs_ratio``, ``latency_ratio`` (each model's value over the reference's).
    """
    if reference is None:
        configs = [m.landmark_config for m in models.values() if isinstance(m, AUModel)]
        if not configs:
            raise ValueError("no AUModel among the models: pass reference=, the landmark network alone")
        reference = FAN(**configs[0])
    x = torch.rand(1, 3, input_size, input_size, device=device)
    models = {REFERENCE: reference, **models}
    modes = {name: model.training for name, model in models.items()}
    rows = {}
    for name, model in models.items():
        model.to(device).eval()
        rows[name] = {
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total_params": sum(p.numel() for p in model.parameters()),
            "macs": count_macs(model, x),
        }
    saved_threads = torch.get_num_threads()
    if threads is not None and x.device.type == "cpu":
        torch.set_num_threads(threads)
    try:
        for name, latency in median_latencies_ms(models, x, repeats).items():
            rows[name]["latency_ms"] = latency
    finally:
        torch.set_num_threads(saved_threads)
    for name, model in models.items():
        model.train(modes[name])
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    for column, ratio in [
        ("total_params", "params_ratio"),
        ("macs", "macs_ratio"),
        ("latency_ms", "latency_ratio"),
    ]:
        table[ratio] = table[column] / table.loc[REFERENCE, column]
    return table


def parameter_table(model: nn.Module, depth: int = 2) -> pd.DataFrame:
    """A model's trainable and frozen parameters, part by part, with a total row.

    Args:
        model: any module; a parameter is trainable when ``requires_grad`` is set.
        depth: parameters are grouped by the first ``depth`` names of their module's path
            (``fan.m0`` for depth 2), in module order.

    Returns:
        Rows per part then ``"total"``; columns ``module`` (the part's class), ``trainable``,
        ``frozen`` (parameter counts; BatchNorm running statistics are buffers, not counted).
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    rows: dict[str, dict[str, object]] = {}
    for name, parameter in model.named_parameters():
        part = ".".join(name.split(".")[:-1][:depth]) or name
        if part not in rows:
            owner = model.get_submodule(part) if part != name else parameter
            rows[part] = {"module": type(owner).__name__, "trainable": 0, "frozen": 0}
        rows[part]["trainable" if parameter.requires_grad else "frozen"] += parameter.numel()
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["module", "trainable", "frozen"])
    table.loc["total"] = ["", int(table["trainable"].sum()), int(table["frozen"].sum())]
    table[["trainable", "frozen"]] = table[["trainable", "frozen"]].astype(int)
    table.index.name = "part"
    return table
