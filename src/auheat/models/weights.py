"""Where the landmark network's weights come from.

Resolution order (first found wins):

1. an explicit path given by the user;
2. face_alignment's real 2DFAN4 checkpoint in the torch hub cache, present once face_alignment has
   downloaded it (e.g. on Colab); it serves 256-wide networks of up to 4 stacks, a shorter one
   taking the first stacks;
3. a landmark network pretrained on synthetic faces by ``auheat pretrain-landmarks``, cached under
   ``$AUHEAT_CACHE`` (default ``~/.cache/auheat``) as ``landmarks/fan-s{stacks}-w{width}.safetensors``;
4. otherwise a ``FileNotFoundError`` that says how to get weights.

Nothing here touches the internet. Files are read without running code: safetensors for the
library's own weights, ``torch.load(weights_only=True)`` for face_alignment's.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Literal, NamedTuple

import torch
from safetensors.torch import save

from auheat.atomic import write_atomically
from auheat.cache import cache_dir
from auheat.checkpoint import MODEL, key_mismatch, open_safetensors
from auheat.landmarkers import FAN4_CHECKPOINT, hub_checkpoint_path
from auheat.models.backbone import FAN

FAN4_STACKS, FAN4_WIDTH = 4, 256
FAN4_INPUT_SIZE = 256  # the side of 2DFAN4's training crops

Source = Literal["explicit", "face_alignment", "auheat"]


class LandmarkWeights(NamedTuple):
    """A resolved weight file and which step of the resolution order found it."""

    path: Path
    source: Source


def pretrained_landmarks_path(stacks: int, width: int) -> Path:
    """Where ``auheat pretrain-landmarks`` stores (and the resolution looks for) a FAN's weights."""
    return cache_dir() / "landmarks" / f"fan-s{stacks}-w{width}.safetensors"


def resolve_landmark_weights(
    path: str | os.PathLike | None = None, stacks: int = 4, width: int = 256
) -> LandmarkWeights:
    """Find weights for a FAN of ``stacks`` hourglasses and ``width`` features (see module docstring)."""
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"landmark weights {path} do not exist")
        return LandmarkWeights(path, "explicit")
    hub = hub_checkpoint_path()
    if width == FAN4_WIDTH and stacks <= FAN4_STACKS and hub.is_file():
        return LandmarkWeights(hub, "face_alignment")
    own = pretrained_landmarks_path(stacks, width)
    if own.is_file():
        return LandmarkWeights(own, "auheat")
    raise FileNotFoundError(
        f"no landmark weights for a FAN of {stacks} stack(s) and width {width}. Looked for:\n"
        f"  {hub} (face_alignment's 2DFAN4; serves width 256 and up to 4 stacks)\n"
        f"  {own} (pretrained by auheat)\n"
        "To get them: with internet (e.g. Colab), run face_alignment once, e.g. "
        "face_alignment.FaceAlignment(face_alignment.LandmarksType.TWO_D, device='cpu'), which "
        "downloads 2DFAN4; offline, pretrain on synthetic faces with "
        f"`auheat pretrain-landmarks --stacks {stacks} --width {width} --set-default`; or pass a "
        "weights path."
    )


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A landmark network's tensors: of a weights file (``.safetensors``, or a plain state dict
    saved by ``torch.save``), or of a landmark pretraining's checkpoint (its ``last.safetensors``).

    ``torch.load`` runs with ``weights_only=True``: a weight file must not be able to run code.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
            raise ValueError(f"{path}: not a weights file (.safetensors or torch.save): {error}") from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ValueError(f"{path} is not a plain state dict (name -> tensor) of a FAN")
        return state
    with open_safetensors(path) as f:
        info = json.loads((f.metadata() or {}).get("info", "null"))
        if info is None:  # a weights file (save_landmark_weights)
            return {k: f.get_tensor(k) for k in f.keys()}
        if info.get("task") != "landmarks":
            what = info.get("method", f"task {info.get('task')}")
            raise ValueError(
                f"{path} is a checkpoint of an AU model ({what}), "
                "not of a landmark network: pass the weights `auheat pretrain-landmarks` printed, or its "
                "run's last.safetensors"
            )
        return {k[len(MODEL) :]: f.get_tensor(k) for k in f.keys() if k.startswith(MODEL)}


def load_landmark_weights(network: FAN, path: str | os.PathLike | None = None) -> LandmarkWeights:
    """Resolve weights for ``network``'s stacks and width, load them strictly, and say where from."""
    found = resolve_landmark_weights(path, network.stacks, network.width)
    state = read_state_dict(found.path)
    if found.path.name == FAN4_CHECKPOINT and network.stacks < FAN4_STACKS:
        # A shorter network takes 2DFAN4's stem and first stacks: each stack was trained with its
        # own landmark loss (intermediate supervision), so its heads are landmark heads too.
        wanted = network.state_dict().keys()
        state = {k: v for k, v in state.items() if k in wanted}
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError:
        raise ValueError(
            f"{found.path} does not fit a FAN of {network.stacks} stack(s) and width {network.width} "
            f"({key_mismatch(network, state)})"
        ) from None
    return found


def pretrained_fan(
    stacks: int = 4, width: int = 256, path: str | os.PathLike | None = None, input_size: int | None = None
) -> FAN:
    """A FAN with resolved landmark weights (:func:`resolve_landmark_weights`), in eval mode.

    With ``input_size``, the side of the crops a run will feed it, the weights must have been
    pretrained at that side: a network pretrained on 64-pixel crops and transferred at 256 would
    transfer badly, and silently. Every run (training, the chapters' recipes, the command line)
    gets its network here with its input size.
    """
    network = FAN(stacks, width)
    found = load_landmark_weights(network, path)
    trained_at = FAN4_INPUT_SIZE if found.path.name == FAN4_CHECKPOINT else None
    if found.path.suffix == ".safetensors":
        trained_at = trained_input_size(found.path)
    if input_size is not None and trained_at is not None and trained_at != input_size:
        raise ValueError(
            f"{found.path} was pretrained at input size {trained_at}, but this run's input size is "
            f"{input_size}: run at {trained_at}, or pretrain again at {input_size} "
            f"(`auheat pretrain-landmarks --input-size {input_size} --set-default` replaces them)"
        )
    return network.eval()


def save_landmark_weights(
    network: FAN, path: str | os.PathLike | None = None, input_size: int | None = None
) -> Path:
    """Write ``network``'s weights as safetensors, where the resolution order finds them by default.

    ``input_size``, the side the network was trained at, is recorded when given (see
    :func:`trained_input_size`). The file is written next to its destination and renamed into
    place, so an interrupted write never leaves a truncated file that the resolution would pick up.
    """
    path = Path(path) if path is not None else pretrained_landmarks_path(network.stacks, network.width)
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    metadata = {"stacks": str(network.stacks), "width": str(network.width)}
    if input_size is not None:
        metadata["input_size"] = str(input_size)
    return write_atomically(path, lambda f: f.write(save(state, metadata=metadata)))


def trained_input_size(path: str | os.PathLike) -> int | None:
    """The input side a weights file records (:func:`save_landmark_weights`), or the one a
    landmark pretraining's checkpoint was trained at; None where neither says."""
    with open_safetensors(path) as f:
        metadata = f.metadata() or {}
    if "input_size" in metadata:
        return int(metadata["input_size"])
    size = json.loads(metadata.get("info", "{}")).get("config", {}).get("input_size")
    return int(size) if size is not None else None
