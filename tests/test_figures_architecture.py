"""Block diagrams of FAN and of the transfer methods (auheat.figures.architecture): what they draw is
read from the modules, and a block's colour from its parameters' requires_grad.

Tiny networks (1-2 stacks, 16 features) keep the file fast; the diagrams do not run them.
"""

import itertools

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.colors import to_hex
from torch import nn

from auheat.figures import plot_fan_diagram, plot_transfer_diagram, plot_transfer_diagrams
from auheat.figures.architecture import (
    FROZEN_COLOUR,
    FROZEN_LABEL,
    MIXED_LABEL,
    NEW_LABEL,
    TRAINABLE_COLOUR,
    TRAINABLE_LABEL,
    count,
)
from auheat.models import FAN, build_model

matplotlib.use("Agg")

TRUNK_1 = {"stem", "m0", "out0", "l0"}
TRUNK_2 = TRUNK_1 | {"feedback0", "m1", "out1", "l1"}
FROZEN, TRAINABLE = to_hex(FROZEN_COLOUR), to_hex(TRAINABLE_COLOUR)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fan2():
    torch.manual_seed(0)
    return FAN(stacks=2, width=16)


def blocks(fig) -> dict[str, object]:
    """gid -> the block's patch (share bars, whose gids end in ':share', aside)."""
    return {p.get_gid(): p for p in fig.axes[0].patches if p.get_gid() and not p.get_gid().endswith(":share")}


def colours(fig) -> dict[str, str]:
    return {gid: to_hex(patch.get_facecolor()) for gid, patch in blocks(fig).items()}


def shares(fig) -> set[str]:
    """The blocks drawn as partly trainable (with a share bar)."""
    return {
        p.get_gid().removesuffix(":share")
        for p in fig.axes[0].patches
        if (p.get_gid() or "").endswith(":share")
    }


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def legend_labels(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


@pytest.mark.parametrize("stacks", [1, 2, 3])
def test_the_fan_diagram_draws_one_hourglass_per_stack_of_the_module(stacks):
    fig = plot_fan_diagram(FAN(stacks=stacks, width=16))
    drawn = set(blocks(fig))
    assert {g for g in drawn if g.startswith("m")} == {f"m{i}" for i in range(stacks)}
    assert {g for g in drawn if g.startswith("l")} == {f"l{i}" for i in range(stacks)}
    assert {g for g in drawn if g.startswith("feedback")} == {f"feedback{i}" for i in range(stacks - 1)}
    assert f"{stacks} stacked hourglass" in fig.axes[0].texts[-1].get_text()


def test_the_fan_diagram_gives_input_and_heatmap_sizes_and_each_hourglass_depth():
    fig = plot_fan_diagram(FAN(stacks=1, width=16), input_size=128)
    shown = "\n".join(texts(fig))
    assert "3×128×128" in shown
    assert "68 landmark\nheatmaps\n32×32 → loss" in shown
    assert "depth 4, 32→2→32 px" in shown


def test_the_fan_diagram_counts_each_blocks_parameters():
    fan = FAN(stacks=1, width=16)
    fig = plot_fan_diagram(fan)
    head = next(
        t for t in texts(fig) if t.startswith(f"{count(sum(p.numel() for p in fan.l0.parameters()))} ")
    )
    assert head.endswith("parameters")


# method, options, the blocks expected frozen, trainable and partly trainable on a 2-stack FAN
METHODS = [
    ("finetune", {"train": "all"}, set(), TRUNK_2, set()),
    (
        "finetune",
        {"train": "last_stack"},
        {"stem", "m0", "out0", "l0", "feedback0"},
        {"m1", "out1", "l1"},
        set(),
    ),
    ("scratch", {}, set(), TRUNK_2, set()),
    ("adapters", {}, TRUNK_2, {"from_stem", "from_heatmaps", "hourglass", "neck", "head"}, set()),
    ("attention", {}, TRUNK_2, {"attention", "features", "from_stem", "head"}, set()),
    ("reparam", {}, set(), {"l1"}, TRUNK_2 - {"l1"}),
    ("residual_adapters", {}, {"l0", "feedback0"}, {"l1"}, {"stem", "m0", "out0", "m1", "out1"}),
    ("direct", {"train": "all"}, set(), TRUNK_2, set()),
    ("direct", {"train": "head"}, TRUNK_2 - {"l1"}, {"l1"}, set()),
]


@pytest.mark.parametrize(
    ("method", "options", "frozen", "trainable", "mixed"),
    METHODS,
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_each_methods_diagram_colours_its_blocks_by_requires_grad(
    fan2, method, options, frozen, trainable, mixed
):
    fig = plot_transfer_diagram(build_model(method, fan2, "disfa", **options))
    drawn = colours(fig)
    assert set(drawn) == frozen | trainable | mixed
    assert {g for g, c in drawn.items() if c == TRAINABLE} == trainable
    assert {g for g, c in drawn.items() if c == FROZEN} == frozen | mixed
    assert shares(fig) == mixed
    assert legend_labels(fig)[:2] == [FROZEN_LABEL, TRAINABLE_LABEL]
    assert (MIXED_LABEL in legend_labels(fig)) == bool(mixed)


def test_a_block_changes_colour_when_its_parameters_are_frozen_or_unfrozen(fan2):
    model = build_model("finetune", fan2, "disfa", train="all")
    assert colours(plot_transfer_diagram(model))["m0"] == TRAINABLE
    model.fan.m0.requires_grad_(False)
    assert colours(plot_transfer_diagram(model))["m0"] == FROZEN
    model.fan.m0.b1_4.requires_grad_(True)
    fig = plot_transfer_diagram(model)
    assert colours(fig)["m0"] == FROZEN and shares(fig) == {"m0"}
    trainable = sum(p.numel() for p in model.fan.m0.b1_4.parameters())
    assert any(t.startswith(f"{count(trainable)} trainable (") for t in texts(fig))


def test_blocks_the_method_added_are_marked_new_and_labelled_with_their_trainable_count(fan2):
    model = build_model("adapters", fan2, "disfa")
    fig = plot_transfer_diagram(model)
    drawn = blocks(fig)
    assert drawn["head"].get_linewidth() > drawn["m1"].get_linewidth()
    assert any(p.get_hatch() for p in fig.axes[0].patches)
    assert NEW_LABEL in legend_labels(fig)
    assert f"{count(sum(p.numel() for p in model.head.parameters()))} trainable" in texts(fig)


def test_layers_put_inside_the_landmark_network_are_counted_on_their_block(fan2):
    fig = plot_transfer_diagram(build_model("reparam", fan2, "disfa"))
    assert any(t.startswith("new: mixing A ×") for t in texts(fig))


def test_a_layer_added_to_a_model_shows_up_in_its_diagram(fan2):
    model = build_model("attention", fan2, "disfa")
    model.extra = nn.Conv2d(12, 12, kernel_size=1)
    assert "extra" in blocks(plot_transfer_diagram(model))


@pytest.mark.parametrize(("method", "options"), [(m, o) for m, o, *_ in METHODS])
def test_no_two_labels_of_a_diagram_overlap(fan2, method, options):
    fig = plot_transfer_diagram(build_model(method, fan2, "disfa", **options))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer).padded(-1) for t in fig.axes[0].texts if t.get_text()]
    overlapping = [(a, b) for a, b in itertools.combinations(boxes, 2) if a.overlaps(b)]
    assert not overlapping
    assert all(fig.bbox.contains(b.x0, b.y0) and fig.bbox.contains(b.x1, b.y1) for b in boxes)


def test_a_diagram_drawn_into_given_axes_returns_their_figure(fan2):
    fig, axes = plt.subplots(1, 2, figsize=(16, 4))
    assert plot_fan_diagram(fan2, ax=axes[0]) is fig
    assert (
        plot_transfer_diagram(build_model("attention", fan2, "disfa"), ax=axes[1], title="attention") is fig
    )


def test_the_comparison_draws_a_row_per_model_and_a_column_per_part(fan2):
    models = {name: build_model(name, fan2, "disfa") for name in ("finetune", "adapters", "reparam")}
    drawn = colours(plot_transfer_diagrams(models))
    assert drawn["finetune:stack 1"] == TRAINABLE
    assert drawn["adapters:stack 2"] == FROZEN and drawn["adapters:added layers"] == TRAINABLE
    assert "finetune:added layers" not in drawn
    assert {g.split(":")[1] for g in drawn} == {"stem", "stack 1", "stack 2", "last head", "added layers"}


def test_bad_inputs_get_errors_that_name_the_argument(fan2):
    model = build_model("finetune", fan2, "disfa")
    with pytest.raises(TypeError, match="fan must be a FAN.*got Linear"):
        plot_fan_diagram(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="fan must be a FAN.*use plot_transfer_diagram"):
        plot_fan_diagram(model)
    with pytest.raises(TypeError, match="model must be an AU model.*got FAN.*use plot_fan_diagram"):
        plot_transfer_diagram(fan2)
    with pytest.raises(TypeError, match=r"models\['bad'\] must be an AU model"):
        plot_transfer_diagrams({"good": model, "bad": nn.Linear(2, 2)})
    with pytest.raises(ValueError, match="models is empty"):
        plot_transfer_diagrams({})
    with pytest.raises(ValueError, match="input_size must be a multiple of 64"):
        plot_fan_diagram(fan2, input_size=100)
