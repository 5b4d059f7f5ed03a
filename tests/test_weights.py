"""Landmark weights: face_alignment's 2DFAN4 layout loads strictly; the resolution order holds."""

import pytest
import torch
from face_alignment.models import fan as fa_fan

from auheat.landmarkers import FAN4_CHECKPOINT
from auheat.models import (
    FAN,
    hub_checkpoint_path,
    load_landmark_weights,
    pretrained_fan,
    pretrained_landmarks_path,
    resolve_landmark_weights,
    save_landmark_weights,
)


@pytest.fixture(autouse=True)
def isolated_caches(tmp_path, monkeypatch):
    """Empty torch hub and auheat caches, so no test sees (or needs) a user's real weights."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("AUHEAT_CACHE", str(tmp_path / "auheat"))


@pytest.fixture(scope="module")
def fan4_state():
    """A state dict with 2DFAN4's key names and shapes: face_alignment's own FAN(4), random."""
    torch.manual_seed(0)
    return fa_fan.FAN(4).state_dict()


@pytest.fixture(scope="module")
def fan4_file(fan4_state, tmp_path_factory):
    """The stand-in saved once as face_alignment saves 2DFAN4: a plain state dict."""
    path = tmp_path_factory.mktemp("fan4") / FAN4_CHECKPOINT
    torch.save(fan4_state, path)
    return path


def put_hub_checkpoint(source=None):
    """Place ``source`` (an empty file if None) where face_alignment keeps 2DFAN4 after downloading it."""
    path = hub_checkpoint_path()
    path.parent.mkdir(parents=True)
    if source is None:
        path.touch()
    else:
        path.symlink_to(source)
    return path


def test_hub_path_is_face_alignments_checkpoint_file(tmp_path):
    assert hub_checkpoint_path() == tmp_path / "torch" / "hub" / "checkpoints" / FAN4_CHECKPOINT


def test_stand_in_2dfan4_loads_strictly_into_fan4(fan4_state, fan4_file):
    put_hub_checkpoint(fan4_file)
    network = pretrained_fan(stacks=4, width=256)
    loaded = network.state_dict()
    assert loaded.keys() == fan4_state.keys()
    assert all(torch.equal(loaded[k], v) for k, v in fan4_state.items())
    assert not network.training


def test_shorter_256_wide_network_takes_2dfan4s_first_stacks(fan4_state, fan4_file):
    put_hub_checkpoint(fan4_file)
    network = FAN(stacks=2, width=256)
    found = load_landmark_weights(network)
    assert found.source == "face_alignment"
    assert torch.equal(network.l1.weight, fan4_state["l1.weight"])
    assert not hasattr(network, "bl1")


def test_2dfan4_named_by_its_path_serves_as_the_resolved_one(fan4_state, fan4_file):
    # A shorter network takes its first stacks, and it was pretrained at 256 px.
    network = FAN(stacks=1, width=256)
    assert load_landmark_weights(network, fan4_file).source == "explicit"
    assert torch.equal(network.l0.weight, fan4_state["l0.weight"])
    with pytest.raises(ValueError, match="pretrained at input size 256, but this run's input size is 64"):
        pretrained_fan(1, 256, fan4_file, input_size=64)


def test_resolution_order_explicit_then_hub_then_own_cache(tmp_path):
    hub = hub_checkpoint_path()
    own = pretrained_landmarks_path(stacks=2, width=256)
    explicit = tmp_path / "mine.safetensors"
    for path in (hub, own, explicit):  # resolution only checks existence
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    assert resolve_landmark_weights(explicit, stacks=2, width=256) == (explicit, "explicit")
    assert resolve_landmark_weights(stacks=2, width=256) == (hub, "face_alignment")
    hub.unlink()
    assert resolve_landmark_weights(stacks=2, width=256) == (own, "auheat")


@pytest.mark.parametrize(("stacks", "width"), [(1, 64), (5, 256)])
def test_hub_checkpoint_is_skipped_for_other_widths_and_more_stacks(stacks, width):
    put_hub_checkpoint()
    # 2DFAN4 is there, but fits neither: the resolution goes on, finds nothing, and says how to get one.
    with pytest.raises(FileNotFoundError, match=f"pretrain-landmarks --stacks {stacks} --width {width}"):
        resolve_landmark_weights(stacks=stacks, width=width)


def test_own_weights_round_trip_through_the_cache(tmp_path):
    torch.manual_seed(1)
    trained = FAN(stacks=1, width=32)
    path = save_landmark_weights(trained)
    assert path == tmp_path / "auheat" / "landmarks" / "fan-s1-w32.safetensors"
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    network = FAN(stacks=1, width=32)
    assert load_landmark_weights(network).source == "auheat"
    expected = trained.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in network.state_dict().items())


def test_missing_weights_error_says_how_to_get_them():
    with pytest.raises(FileNotFoundError, match="pretrain-landmarks --stacks 1 --width 64") as info:
        resolve_landmark_weights(stacks=1, width=64)
    assert "face_alignment" in str(info.value)
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        resolve_landmark_weights("nowhere.pth", stacks=1, width=64)


def test_weights_of_another_shape_name_the_file(tmp_path):
    path = save_landmark_weights(FAN(stacks=1, width=16), tmp_path / "narrow.safetensors")
    with pytest.raises(ValueError, match="narrow.safetensors does not fit a FAN of 1 stack"):
        load_landmark_weights(FAN(stacks=1, width=32), path)


def test_torch_files_that_are_not_state_dicts_are_refused(tmp_path):
    path = tmp_path / "odd.pth"
    torch.save({"model": {"w": torch.zeros(1)}}, path)
    with pytest.raises(ValueError, match="not a plain state dict"):
        load_landmark_weights(FAN(stacks=1, width=16), path)
