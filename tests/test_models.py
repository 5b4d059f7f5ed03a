"""AU models: shapes, freezing, the released adaptation layers, the reparametrisation fold, BatchNorm
re-estimation, the factory's errors, the cost table.

Small networks (1-2 stacks, 16-32 features, 64 px inputs) keep the file fast on a CPU.
"""

import pytest
import torch
import torch.fx
from face_alignment.models import fan as fa_fan
from torch import nn

from auheat.models import (
    FAN,
    METHODS,
    Attention,
    LightHourGlass,
    LinearProbe,
    ReleasedConvBlock,
    ReleasedHourGlass,
    ReparamConv,
    build_model,
    cost_table,
    parameter_table,
    reestimate_batchnorm,
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


# method, options, backbone fixture, whether the landmark network's BatchNorm trains: every
# configuration that freezes something
FROZEN_CASES = [
    ("finetune", {"train": "last_stack"}, "fan2", False),
    ("adapters", {}, "fan1", False),
    ("adapters", {"design": "light"}, "fan1", False),
    ("residual_adapters", {}, "fan1", True),
    ("residual_adapters", {"batchnorm": "frozen"}, "fan1", False),
    ("attention", {}, "fan1", False),
    ("reparam", {}, "fan1", True),
    ("reparam", {"rank": 2}, "fan2", True),
    ("direct", {"train": "head"}, "fan1", False),
    ("probe", {}, "fan1", False),
]


@pytest.mark.parametrize(("method", "options", "backbone", "norms_train"), FROZEN_CASES)
def test_one_training_step_changes_trainable_weights_only(
    method, options, backbone, norms_train, request, images
):
    torch.manual_seed(2)
    model = build_model(method, request.getfixturevalue(backbone), AUS, **options).train()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    frozen_norms = [m for m in norms if not m.weight.requires_grad]
    assert bool(frozen_norms) != norms_train and not any(m.training for m in frozen_norms)
    assert all(m.training for m in norms if m.weight.requires_grad)
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


def traced_steps(module):
    """The operations of ``module``'s forward pass in order, with what each reads: (name, inputs),
    a submodule named by its class, a function by its name; inputs by step index, -1 the input."""
    nodes = list(torch.fx.symbolic_trace(module).graph.nodes)
    index = {node: i - 1 for i, node in enumerate(nodes)}  # the placeholder first: index -1
    steps = []
    for node in nodes[1:-1]:
        name = (
            type(module.get_submodule(node.target)).__name__
            if node.op == "call_module"
            else node.target.__name__
        )
        flat = [a for arg in node.args for a in (arg if isinstance(arg, tuple) else (arg,))]
        steps.append((name, [index[a] for a in flat if isinstance(a, torch.fx.Node)]))
    return steps


# conv -> BN -> ReLU6 three times (each conv reading the previous ReLU6), the three ReLU6 outputs
# concatenated, and the block's input added
RELEASED_BLOCK_STEPS = [
    ("Conv2d", [-1]),
    ("BatchNorm2d", [0]),
    ("relu6", [1]),
    ("Conv2d", [2]),
    ("BatchNorm2d", [3]),
    ("relu6", [4]),
    ("Conv2d", [5]),
    ("BatchNorm2d", [6]),
    ("relu6", [7]),
    ("cat", [2, 5, 8]),
    ("add", [9, -1]),
]


def test_released_adaptation_hourglass_has_the_released_blocks_and_max_pooling(fan1):
    hourglass = build_model("adapters", fan1, AUS).hourglass
    assert isinstance(hourglass, ReleasedHourGlass) and hourglass.depth == 4
    w = fan1.width
    for level in (1, 2, 3, 4):
        upper = hourglass._modules[f"b1_{level}"]
        lower = [hourglass._modules[f"b2_{level}"], hourglass._modules[f"b3_{level}"]]
        lower += [hourglass.b2_plus_1] if level == 1 else []
        for block, kernel in [(upper, (1, 1)), *((b, (3, 3)) for b in lower)]:
            assert isinstance(block, ReleasedConvBlock)
            convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
            assert [(c.kernel_size, c.out_channels) for c in convs] == [
                (kernel, w // 2),
                (kernel, w // 4),
                (kernel, w // 4),
            ]
            assert traced_steps(block) == RELEASED_BLOCK_STEPS
    functions = {name for name, _ in traced_steps(hourglass)}
    assert "max_pool2d" in functions and "avg_pool2d" not in functions


def test_released_adaptation_layers_start_from_a_narrow_normal(fan1):
    torch.manual_seed(5)
    model = build_model("adapters", fan1, AUS)
    weight = model.hourglass.b2_4.conv1.weight  # [16, 32, 3, 3]: 4,608 weights
    assert weight.numel() > 4000
    assert abs(weight.std().item() - 0.02) < 0.002 and abs(weight.mean().item()) < 0.002
    scales = torch.cat([m.weight for m in model.hourglass.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(scales.mean().item() - 1.0) < 0.005 and abs(scales.std().item() - 0.02) < 0.005
    for conv in (model.from_heatmaps[0], model.from_stem[0], model.neck[0], model.head):
        assert conv.bias is not None and not conv.bias.any()
    # the landmark network keeps its own weights
    assert torch.equal(model.fan.conv1.weight, fan1.conv1.weight)


def test_the_light_adaptation_layers_remain_an_option(fan1):
    model = build_model("adapters", fan1, AUS, design="light")
    assert isinstance(model.hourglass, LightHourGlass) and model.design == "light"
    assert model.head.weight.std() > 0.05  # PyTorch's default start, not N(0, 0.02)
    assert model.from_stem[0].bias is None


# every model that splits at frozen features, with its options
SPLIT_CASES = [
    ("adapters", {}),
    ("adapters", {"design": "light"}),
    ("attention", {}),
    ("probe", {}),
    ("direct", {"train": "head"}),
]


@pytest.mark.parametrize(("method", "options"), SPLIT_CASES)
def test_models_on_frozen_features_give_the_same_output_from_cached_features(method, options, fan1, images):
    torch.manual_seed(6)
    model = build_model(method, fan1, AUS, **options)
    assert model.caches_features
    for mode in (False, True):
        model.train(mode)
        with torch.no_grad():
            torch.testing.assert_close(model(images), model.from_features(model.frozen_features(images)))


def test_only_models_whose_landmark_network_takes_no_gradient_cache_features(fan1):
    caching = {method for method in METHODS if build_model(method, fan1, AUS).caches_features}
    assert caching == {"adapters", "attention", "probe"}
    assert not build_model("direct", fan1, AUS, train="all").caches_features


def test_residual_adapters_learn_a_task_batchnorm_or_keep_the_landmark_networks(fan1, images):
    counts = {}
    for batchnorm, trains in (("task", True), ("frozen", False)):
        options = {} if trains else {"batchnorm": batchnorm}  # "task" is the default
        model = build_model("residual_adapters", fan1, AUS, **options).train()
        norms = [m for m in model.fan.modules() if isinstance(m, nn.BatchNorm2d)]
        assert all(p.requires_grad == trains for m in norms for p in m.parameters())
        assert all(m.training == trains for m in norms)
        convs = [m.conv for m in model.fan.modules() if type(m).__name__ == "ParallelAdapter"]
        assert convs and not any(c.weight.requires_grad for c in convs)
        before = [m.running_mean.clone() for m in norms]
        with torch.no_grad():
            model(images)
        moved = [not torch.equal(b, m.running_mean) for b, m in zip(before, norms, strict=True)]
        assert all(moved) if trains else not any(moved)
        counts[batchnorm] = sum(p.numel() for p in model.trainable_parameters())
    assert counts["task"] - counts["frozen"] == sum(2 * m.num_features for m in norms)


def test_the_probe_is_one_1x1_convolution_on_the_frozen_last_stack_features(fan1, images):
    model = build_model("probe", fan1, AUS)
    assert isinstance(model, LinearProbe) and model.caches_features
    assert model.head.kernel_size == (1, 1) and model.head.out_channels == K
    assert [p.shape for p in model.trainable_parameters()] == [(K, fan1.width, 1, 1), (K,)]
    (features,) = model.frozen_features(images)
    with torch.no_grad():
        torch.testing.assert_close(features, fan1.forward_features(images).stacks[-1])
    assert model(images).shape == (2, K, SIZE // 4, SIZE // 4)


def test_batchnorm_reestimation_measures_the_batches_and_changes_no_weight(fan1):
    model = build_model("adapters", fan1, AUS).train()
    torch.manual_seed(4)
    batches = [0.3 + 0.5 * torch.rand(3, 3, SIZE, SIZE) for _ in range(2)]
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    buffers = {n: b.clone() for n, b in model.named_buffers()}

    assert reestimate_batchnorm(model, iter(batches)) is model

    assert all(torch.equal(p, params[n]) for n, p in model.named_parameters())
    changed = {n for n, b in model.named_buffers() if not torch.equal(b, buffers[n])}
    fan_norms = {n for n, m in model.fan.named_modules() if isinstance(m, nn.BatchNorm2d)}
    statistics = ("running_mean", "running_var", "num_batches_tracked")
    assert changed == {f"fan.{n}.{s}" for n in fan_norms for s in statistics}
    with torch.no_grad():  # the first BatchNorm reads conv1's output: the mean of its batch statistics
        acts = [model.fan.conv1(x) for x in batches]
    bn1 = model.fan.bn1
    torch.testing.assert_close(bn1.running_mean, torch.stack([a.mean((0, 2, 3)) for a in acts]).mean(0))
    torch.testing.assert_close(bn1.running_var, torch.stack([a.var((0, 2, 3)) for a in acts]).mean(0))
    assert bn1.num_batches_tracked == 2 and bn1.momentum == 0.1
    assert model.training and not model.fan.training and model.neck.training


def test_batchnorm_reestimation_refuses_no_batches_and_changes_nothing(fan1):
    model = build_model("probe", fan1, AUS)
    before = model.fan.bn1.running_mean.clone()
    with pytest.raises(ValueError, match="batches is empty"):
        reestimate_batchnorm(model, [])
    assert torch.equal(model.fan.bn1.running_mean, before)


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
    with pytest.raises(ValueError, match="design must be one of released, light"):
        build_model("adapters", fan1, AUS, design="heavy")
    with pytest.raises(ValueError, match="batchnorm must be one of task, frozen"):
        build_model("residual_adapters", fan1, AUS, batchnorm="adabn")
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
