"""AU models: shapes, freezing, the reparametrisation fold, the factory's errors, the cost table.

Small networks (1-2 stacks, 16-32 features, 64 px inputs) keep the file fast on a CPU.
"""

import pytest
import torch
from face_alignment.models import fan as fa_fan
from torch import nn

from auheat.models import (
    FAN,
    METHODS,
    Attention,
    LightHourGlass,
    ReparamConv,
    build_model,
    cost_table,
    parameter_table,
)
from auheat.models.cost import count_macs

AUS = (1, 6, 12)
K = len(AUS)
SIZE = 64  # input side; heatmaps are SIZE / 4


@pytest.fixture(scope="module")
def fan1():
    torch.manual_seed(0)
    return FAN(stacks=1, width=32).eval()


@pytest.fixture(scope="module")
def fan2():
    torch.manual_seed(0)
    return FAN(stacks=2, width=16).eval()


@pytest.fixture(scope="module")
def images():
    torch.manual_seed(1)
    return torch.rand(2, 3, SIZE, SIZE)


def test_fan_256_wide_is_face_alignments_fan_module_for_module():
    ours, theirs = FAN(stacks=1, width=256), fa_fan.FAN(1)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in theirs.state_dict().items()
    ]


@pytest.mark.parametrize(("side", "width"), [(128, 16), (256, 8)])
def test_fan_features_are_a_quarter_of_the_input_side(side, width):
    network = FAN(stacks=2, width=width).eval()
    with torch.no_grad():
        feats = network.forward_features(torch.rand(1, 3, side, side))
    q = side // 4
    assert feats.stem.shape == (1, width, q, q)
    assert [s.shape for s in feats.stacks] == [(1, width, q, q)] * 2
    assert [h.shape for h in feats.heatmaps] == [(1, 68, q, q)] * 2


def test_forward_features_gives_face_alignments_heatmaps(fan2, images):
    with torch.no_grad():
        expected = fa_fan.FAN.forward(fan2, images)
        got = fan2.forward_features(images).heatmaps
    assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))


def test_fan_rejects_widths_convblock_cannot_split():
    with pytest.raises(ValueError, match="multiple of 8"):
        FAN(stacks=1, width=20)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_maps_images_to_its_output_and_intensities(method, fan1, images):
    model = build_model(method, fan1, AUS)
    out = model(images)
    if method == "direct":
        assert model.output == "intensities" and out.shape == (2, K)
    else:
        assert model.output == "heatmaps" and out.shape == (2, K, SIZE // 4, SIZE // 4)
    intensities = model.eval().predict_intensities(images)
    assert intensities.shape == (2, K)
    assert bool(((intensities >= 0) & (intensities <= 5)).all())
    assert model.aus == AUS


def test_models_accept_a_dataset_name_and_face_alignments_own_fan(images):
    torch.manual_seed(0)
    model = build_model("finetune", fa_fan.FAN(1), "bp4d").eval()
    assert model.aus == (6, 10, 12, 14, 17)
    assert model(images[:1]).shape == (1, 5, SIZE // 4, SIZE // 4)


def test_the_backbone_is_copied_not_changed(fan1):
    before = {k: v.clone() for k, v in fan1.state_dict().items()}
    for method in METHODS:
        build_model(method, fan1, AUS)
    assert fan1.l0.out_channels == 68
    assert all(torch.equal(v, before[k]) for k, v in fan1.state_dict().items())


def test_scratch_is_the_finetune_network_freshly_initialised(fan1):
    scratch, finetune = build_model("scratch", fan1, AUS), build_model("finetune", fan1, AUS)
    assert [p.shape for p in scratch.parameters()] == [p.shape for p in finetune.parameters()]
    assert not torch.equal(scratch.fan.conv1.weight, fan1.conv1.weight)
    assert torch.equal(finetune.fan.conv1.weight, fan1.conv1.weight)


def test_residual_adapters_and_reparam_start_as_the_landmark_network(fan1, images):
    with torch.no_grad():
        expected = fan1.forward_features(images).stacks[-1]
        for method in ("residual_adapters", "reparam"):
            model = build_model(method, fan1, AUS).eval()
            got = model.fan.forward_features(images).stacks[-1]
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


# method, options, backbone fixture: every configuration that freezes something
FROZEN_CASES = [
    ("finetune", {"train": "last_stack"}, "fan2"),
    ("adapters", {}, "fan1"),
    ("residual_adapters", {}, "fan1"),
    ("attention", {}, "fan1"),
    ("reparam", {}, "fan1"),
    ("reparam", {"rank": 2}, "fan2"),
    ("direct", {"train": "head"}, "fan1"),
]


@pytest.mark.parametrize(("method", "options", "backbone"), FROZEN_CASES)
def test_one_training_step_changes_trainable_weights_only(method, options, backbone, request, images):
    torch.manual_seed(2)
    model = build_model(method, request.getfixturevalue(backbone), AUS, **options).train()
    frozen_norms = [
        m for m in model.modules() if isinstance(m, nn.BatchNorm2d) and not m.weight.requires_grad
    ]
    assert (method == "reparam" or frozen_norms) and not any(m.training for m in frozen_norms)
    params = dict(model.named_parameters())
    trainable = {n for n, p in params.items() if p.requires_grad}
    assert trainable and trainable != set(params)
    before = {n: t.detach().clone() for n, t in [*model.named_parameters(), *model.named_buffers()]}

    optimiser = torch.optim.SGD(model.trainable_parameters(), lr=0.1)
    out = model(images)
    (out - torch.rand_like(out)).square().mean().backward()
    optimiser.step()

    after = dict([*model.named_parameters(), *model.named_buffers()])
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    frozen_state = {n for n in before if n not in trainable and not is_trainable_norm_buffer(model, n)}
    assert not changed & frozen_state
    assert all(params[n].grad is None for n in set(params) - trainable)
    # Exempt, as their first gradient is zero (up to rounding): a bias just before a BatchNorm in
    # train mode (the batch mean cancels it, as in FAN itself), and V of a low-rank mixing while U
    # is still zero. Every other trainable parameter must move.
    assert all(params[n].grad is not None for n in trainable)
    assert {n for n in trainable if params[n].grad.abs().max() > 1e-6} <= changed


def is_trainable_norm_buffer(model, name):
    """Running statistics of a BatchNorm that trains (they move with every training batch)."""
    module = model.get_submodule(name.rpartition(".")[0])
    return isinstance(module, nn.BatchNorm2d) and module.weight.requires_grad


def test_finetune_last_stack_trains_only_the_last_stack(fan2):
    model = build_model("finetune", fan2, AUS, train="last_stack")
    trainable = {n.split(".")[1] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"m1", "top_m_1", "conv_last1", "bn_end1", "l1"}


@pytest.mark.parametrize("rank", [None, 3])
def test_reparam_fold_keeps_the_output_and_removes_the_mixing(rank, fan1, images):
    torch.manual_seed(3)
    model = build_model("reparam", fan1, AUS, rank=rank).eval()
    with torch.no_grad():  # move the mixings away from the identity, as training would
        for m in model.modules():
            if isinstance(m, ReparamConv):
                for p in m.parameters(recurse=False):
                    p.add_(0.05 * torch.randn_like(p))
        unfolded = model(images)
        folded = model.fold()(images)
    torch.testing.assert_close(folded, unfolded, rtol=1e-5, atol=1e-5)
    assert not any(isinstance(m, ReparamConv) for m in model.modules())
    plain = build_model("finetune", fan1, AUS).eval()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in plain.parameters())
    assert count_macs(model, images[:1]) == count_macs(plain, images[:1])


def test_light_hourglass_upper_branch_is_pointwise():
    hourglass = LightHourGlass(depth=3, features=16)
    for level in (1, 2, 3):
        convs = [m for m in hourglass._modules[f"b1_{level}"].modules() if isinstance(m, nn.Conv2d)]
        assert [c.kernel_size for c in convs] == [(1, 1)]
    assert isinstance(hourglass.b2_1, fa_fan.ConvBlock)


def test_attention_starts_on_each_aus_own_landmarks(fan1):
    model = build_model("attention", fan1, (1, 12), spread=0.0)
    heatmaps = torch.zeros(1, 68, 16, 16)
    heatmaps[0, 48, 4, 4] = 1.0  # left lip corner: an AU12 landmark, not an AU1 one
    maps = model.attend(heatmaps)
    assert maps[0, 1, 4, 4] > 0.9 and maps[0, 0, 4, 4] < 0.1
    assert maps[0, 1, 12, 12] < 0.1


def test_attention_spread_widens_each_landmark_to_a_region(fan1):
    model = build_model("attention", fan1, (12,), spread=0.5)
    heatmaps = torch.zeros(1, 68, 16, 16)
    heatmaps[0, 48, 8, 8] = 1.0
    maps = model.attend(heatmaps)[0, 0]
    assert maps[4:13, 4:13].min() > 0.9 and maps[0, 0] < 0.1
    assert isinstance(model, Attention)


def test_unknown_method_lists_the_valid_ones(fan1):
    with pytest.raises(ValueError, match="valid methods: finetune, adapters, .*direct"):
        build_model("lora", fan1, AUS)


def test_wrong_au_lists_are_refused(fan1):
    with pytest.raises(ValueError, match="AU 3 is not in the catalogue"):
        build_model("finetune", fan1, [3, 12])
    with pytest.raises(ValueError, match="unknown dataset"):
        build_model("finetune", fan1, "ck+")


def test_unknown_options_name_the_methods_options(fan1):
    with pytest.raises(ValueError, match="no option.* rank; its options: train"):
        build_model("finetune", fan1, AUS, rank=4)
    with pytest.raises(ValueError, match="train must be one of all, last_stack"):
        build_model("finetune", fan1, AUS, train="head")
    with pytest.raises(TypeError, match="backbone must be a FAN"):
        build_model("finetune", nn.Conv2d(3, 3, 1), AUS)


def test_cost_table_measures_every_model_against_the_landmark_network(fan1):
    models = {m: build_model(m, fan1, AUS) for m in ("finetune", "adapters", "reparam")}
    models["reparam folded"] = build_model("reparam", fan1, AUS).fold()
    table = cost_table(models, input_size=SIZE, repeats=1)
    assert list(table.index) == ["landmark network", "finetune", "adapters", "reparam", "reparam folded"]
    reference = table.loc["landmark network"]
    assert reference.total_params == sum(p.numel() for p in fan1.parameters())
    assert reference[["params_ratio", "macs_ratio", "latency_ratio"]].tolist() == [1.0, 1.0, 1.0]
    assert table.loc["adapters", "macs"] > reference.macs
    assert table.loc["adapters", "trainable_params"] < table.loc["adapters", "total_params"]
    assert table.loc["reparam folded", "macs"] == table.loc["finetune", "macs"]
    assert table.loc["reparam folded", "trainable_params"] == 0  # inference only
    assert (table.latency_ms > 0).all()


def test_parameter_table_splits_trainable_and_frozen_per_part():
    model = build_model("finetune", FAN(1, 16), "disfa", train="last_stack")
    table = parameter_table(model)
    assert table.loc["fan.conv1", "trainable"] == 0 and table.loc["fan.conv1", "frozen"] > 0
    assert table.loc["fan.m0", "frozen"] == 0 and table.loc["fan.l0", "module"] == "Conv2d"
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert table.loc["total", "trainable"] == trainable
    assert table.loc["total", "frozen"] == sum(p.numel() for p in model.parameters()) - trainable
    assert list(parameter_table(build_model("adapters", FAN(1, 16), "disfa"), depth=1).index[:2]) == [
        "fan",
        "from_heatmaps",
    ]
