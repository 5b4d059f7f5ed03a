"""train -> evaluate through the command line, on tiny synthetic datasets (predict: test_predict.py)."""

import json
import shutil
from dataclasses import replace

import pandas as pd
import pytest

from auheat.cli import main
from auheat.models import FAN
from auheat.models.weights import save_landmark_weights
from auheat.synth.generate import generate_dataset

TINY = ["--stacks", "1", "--width", "16", "--input-size", "64", "--batch-size", "8", "--no-progress"]


@pytest.fixture(scope="module")
def disfa(tmp_path_factory):
    return generate_dataset("disfa-like", tmp_path_factory.mktemp("d") / "disfa", 2, seed=0, workers=1)


@pytest.fixture(autouse=True)
def landmark_cache(tmp_path, monkeypatch):
    """Random 1x16 landmark weights where the resolution looks, and no face_alignment weights."""
    monkeypatch.setenv("AUHEAT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    save_landmark_weights(FAN(1, 16))


@pytest.fixture
def trained(disfa, tmp_path):
    out = tmp_path / "run"
    main(
        [
            "train",
            "--method",
            "adapters",
            "--data",
            str(disfa),
            "--fold",
            "0",
            "--epochs",
            "1",
            "--val-subjects",
            "3",
            "--out",
            str(out),
            *TINY,
        ]
    )
    return out


def test_evaluate_reports_the_numbers_training_logged(trained, disfa, capsys):
    logged = json.loads((trained / "metrics.jsonl").read_text().splitlines()[-1])
    capsys.readouterr()
    main(["evaluate", "--checkpoint", str(trained / "best.safetensors"), "--data", str(disfa), "--fold", "0"])
    printed = capsys.readouterr().out
    mean = next(line for line in printed.splitlines() if line.startswith("mean")).split()
    columns = ["ICC", "PCC", "MAE", "MAE raw", "frames"]  # AUTask.score's order
    assert float(mean[1 + columns.index("ICC")]) == pytest.approx(logged["ICC_mean"], abs=1e-4)
    assert float(mean[1 + columns.index("MAE")]) == pytest.approx(logged["MAE_mean"], abs=1e-4)
    assert "raw heatmap maximum" in printed  # the table says what each score is read on
    assert "AU26" in printed


def test_validation_subjects_are_held_out_of_training_and_never_test_subjects(trained, disfa):
    from auheat.checkpoint import read_info
    from auheat.data.dataset import PreparedDataset
    from auheat.experiment import validation_split

    info = read_info(trained / "best.safetensors")
    test = set(PreparedDataset(disfa, "test", 0).subjects)
    train, val = set(info["train_subjects"]), set(info["val_subjects"])
    assert len(val) == 3 and len(train) == 15
    assert not (val & test) and not (val & train) and not (train & test)
    assert info["record"]["val_ICC_mean"] == info["best_score"]
    # With fewer training subjects, the validation subjects stay the same.
    part = PreparedDataset(disfa, "train", 0)
    few, same_val = validation_split(part, train_subjects=2, val_subjects=3)
    assert few.subjects == part.subjects[:2] and set(same_val.subjects) == val
    with pytest.raises(ValueError, match="train_subjects must be in 1..15"):
        validation_split(part, train_subjects=16, val_subjects=3)


def test_a_recipe_sets_the_run_and_explicit_options_override_it():
    from auheat.cli import _config, _network_size, build_parser
    from auheat.recipes import CPU

    base = ["train", "--method", "scratch", "--data", "d", "--out", "o", "--recipe", "cpu"]
    args = build_parser().parse_args(base)
    config = _config(args)
    assert config == CPU.config()
    assert (config.steps, config.input_size, config.loss) == (CPU.training.steps, 64, "weighted_mse")
    assert _network_size(args) == (CPU.stacks, CPU.width)
    args = build_parser().parse_args(
        [*base, "--steps", "7", "--width", "16", "--loss", "mse", "--lr", "0.01", "--grad-clip", "0"]
    )
    config = _config(args)
    assert (config.steps, config.loss, config.lr, config.grad_clip) == (7, "mse", 0.01, 0.0)
    assert (config.batch_size, config.input_size) == (CPU.training.batch_size, 64)  # the recipe's
    assert _network_size(args) == (CPU.stacks, 16)
    # An explicit epoch count replaces the recipe's step budget; no recipe: the library defaults.
    assert _config(build_parser().parse_args([*base, "--epochs", "3"])).steps is None
    plain = build_parser().parse_args(base[:-2])
    assert _config(plain).input_size == 256 and _network_size(plain) == (1, 64)


def test_train_needs_a_fold_on_a_folds_protocol(disfa, tmp_path):
    with pytest.raises(SystemExit, match="3 subject-independent folds: choose one with --fold 0..2"):
        main(["train", "--method", "scratch", "--data", str(disfa), "--out", str(tmp_path / "x"), *TINY])


def test_methods_other_than_scratch_need_landmark_weights(disfa, tmp_path, monkeypatch):
    monkeypatch.setenv("AUHEAT_CACHE", str(tmp_path / "empty"))
    with pytest.raises(SystemExit, match="auheat pretrain-landmarks --stacks 1 --width 16"):
        main(
            [
                "train",
                "--method",
                "attention",
                "--data",
                str(disfa),
                "--fold",
                "1",
                "--out",
                str(tmp_path / "y"),
                *TINY,
            ]
        )


def test_few_training_subjects_are_recorded(disfa, tmp_path):
    out = tmp_path / "few"
    main(
        [
            "train",
            "--method",
            "scratch",
            "--data",
            str(disfa),
            "--fold",
            "2",
            "--train-subjects",
            "3",
            "--epochs",
            "1",
            "--out",
            str(out),
            *TINY,
        ]
    )
    info = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert info["epoch"] == 1
    from auheat.checkpoint import read_info

    assert read_info(out / "last.safetensors")["train_subjects"] == ["S001", "S002", "S003"]


def test_run_grid_trains_each_run_once_and_reports_last_epoch_scores(disfa, tmp_path):
    from auheat.config import TrainConfig
    from auheat.grid import run_grid

    config = TrainConfig(epochs=1, batch_size=8, input_size=64)
    data = {"disfa-like": (disfa, [0])}
    args = (data, ["scratch", "direct"], ["fixed", "variable"], tmp_path / "grid", 1, 16, config, [2])
    scores, curves, runs = run_grid(*args)
    assert len(scores) == 2 * 2 * 13  # methods x designs x (12 AUs + mean)
    assert set(scores["train_subjects"]) == {2}
    assert {"ICC", "PCC", "MAE", "MAE raw", "LOC"} <= set(scores.columns)
    # Peaks are located for heatmap models only; direct regression draws none.
    assert scores.loc[scores["method"] == "direct", "LOC"].isna().all()
    assert len(curves) == 2 * 2  # one epoch per run
    assert len(runs) == 2 * 2 and all(
        (folder / "test_predictions.npz").is_file() for folder in runs["folder"]
    )
    logs = sorted((tmp_path / "grid").glob("*/*/metrics.jsonl"))
    # direct regression has no heatmap target: one run serves both designs
    assert len(logs) == 2 + 1
    import auheat.experiment as experiment

    def never(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(experiment, "train_au_model", never)  # every run read, none trained again
        again = run_grid(*args).scores
    pd.testing.assert_frame_equal(scores, again)
    direct = scores[scores["method"] == "direct"].set_index(["design", "AU"])["ICC"]
    assert direct.loc["fixed"].equals(direct.loc["variable"])


def test_train_runs_starts_the_longest_budget_first_and_grid_specs_lists_the_grids_runs(
    disfa, tmp_path, monkeypatch
):
    import auheat.grid as grid
    from auheat.config import TrainConfig

    short, long = TrainConfig(steps=2, input_size=64), TrainConfig(steps=6, input_size=64)
    data = {"disfa-like": (disfa, [0, 1])}
    specs = [
        *grid.grid_specs(data, ["scratch"], ["fixed"], 1, 16, short),
        *grid.grid_specs(data, ["scratch"], ["fixed"], 1, 16, long, seeds=[3]),
    ]
    assert [(s.fold, s.config.steps, s.config.seed) for s in specs] == [
        (0, 2, 0),
        (1, 2, 0),
        (0, 6, 3),
        (1, 6, 3),
    ]
    trained = []
    monkeypatch.setattr(grid, "train_or_load", lambda spec, root: trained.append(spec))
    folders = grid.train_runs(specs, tmp_path)
    assert [s.config.steps for s in trained] == [6, 6, 2, 2]
    assert folders == [spec.folder(tmp_path) for spec in specs]  # in the order asked


def test_a_changed_configuration_is_a_new_run(disfa, tmp_path, monkeypatch):
    from auheat.config import TrainConfig
    from auheat.experiment import RunSpec
    from auheat.landmarkers import FAN4_CHECKPOINT

    base = RunSpec(disfa, "finetune", fold=0, width=16, config=TrainConfig(epochs=1, input_size=64))
    same = RunSpec(disfa, "finetune", fold=0, width=16, config=TrainConfig(epochs=1, input_size=64))
    assert base.digest() == same.digest() and base.name() == same.name()
    assert base.folder(tmp_path) == tmp_path / "disfa-like" / base.name()
    changed = [
        replace(base, config=TrainConfig(epochs=1, input_size=64, lr=2e-3)),
        replace(base, config=TrainConfig(epochs=1, input_size=128)),
        replace(base, width=32),
    ]
    assert all(run.digest() != base.digest() for run in changed)
    # A method whose layers changed (its version) names new runs; scratch starts from no weights.
    assert replace(base, method="attention").digest() != base.digest()
    assert replace(base, method="scratch").landmark_origin() is None
    # Where the landmark weights come from: an explicit file (by content) or face_alignment's 2DFAN4.
    weights = tmp_path / "w.safetensors"
    save_landmark_weights(FAN(1, 16), weights)
    explicit = replace(base, landmark_weights=weights).digest()
    assert explicit != base.digest()
    save_landmark_weights(FAN(1, 16), weights, input_size=64)  # other bytes at the same path
    assert replace(base, landmark_weights=weights).digest() != explicit
    wide = replace(base, stacks=2, width=256)
    before = wide.digest()
    hub = tmp_path / "torch" / "hub" / "checkpoints" / FAN4_CHECKPOINT
    hub.parent.mkdir(parents=True)
    hub.write_bytes(b"stand-in")
    assert wide.digest() != before and wide.landmark_origin().startswith("face_alignment:")
    # Options name the variant; direct regression has no design.
    assert (
        replace(base, options={"train": "last_stack"})
        .name()
        .startswith("finetune[train=last_stack]-variable")
    )
    assert replace(base, method="direct").name().startswith("direct-none-fold0-nall-")


def test_a_run_never_outlives_the_landmark_network_it_started_from(disfa, tmp_path):
    from auheat.config import TrainConfig
    from auheat.experiment import RunSpec, train_or_load

    spec = RunSpec(disfa, "adapters", fold=0, width=16, config=TrainConfig(epochs=1, input_size=64))
    train_or_load(spec, tmp_path / "runs")
    folder = spec.folder(tmp_path / "runs")
    assert spec.folder(tmp_path / "runs") == folder  # the same network: the run is read back
    save_landmark_weights(FAN(1, 16))  # pretrained again: other weights where the resolution looks
    renamed = spec.folder(tmp_path / "runs")
    assert renamed != folder and not renamed.exists()
    train_or_load(spec, tmp_path / "runs")
    assert (renamed / "metrics.jsonl").is_file()  # trained anew, from the new network


def test_weights_pretrained_at_another_input_size_are_refused(disfa, tmp_path):
    save_landmark_weights(FAN(1, 16), input_size=64)
    wider = [a if a != "64" else "128" for a in TINY]
    with pytest.raises(SystemExit, match="pretrained at input size 64, but this run's input size is 128"):
        main(
            [
                "train",
                "--method",
                "finetune",
                "--data",
                str(disfa),
                "--fold",
                "0",
                "--out",
                str(tmp_path / "z"),
                *wider,
            ]
        )


@pytest.mark.parametrize("design", ["fixed", "variable"])
def test_zero_prediction_is_what_a_model_drawing_nothing_scores(disfa, design):
    import torch
    from torch.utils.data import DataLoader

    from auheat.data.dataset import protocol_datasets
    from auheat.data.inputs import prepare_batch
    from auheat.evaluation import evaluate_model
    from auheat.grid import zero_prediction
    from auheat.tasks import AUTask

    class Blank(torch.nn.Module):
        def forward(self, x):
            return torch.zeros(len(x), 12, x.shape[-1] // 4, x.shape[-1] // 4)

    floor = zero_prediction(disfa, 0, design, input_size=64, loss="weighted_mse", foreground_weight=5.0)
    train, test = protocol_datasets(disfa, 0)
    task = AUTask(train.aus, design, loss_name="weighted_mse", foreground_weight=5.0)
    evaluation = evaluate_model(Blank(), test, task, "cpu", 64)
    assert floor["MAE"] == pytest.approx(evaluation.table.loc["mean", "MAE"], abs=1e-6)
    # the training path: crops resized to the input, landmarks mapped to it
    images, landmarks, intensities = prepare_batch(next(iter(DataLoader(train, len(train)))), "cpu", 64)
    loss = task.loss(Blank()(images), landmarks, intensities, 64)
    assert floor["heatmap_loss"] == pytest.approx(float(loss), rel=1e-5)
    assert floor["heatmap_loss"] > 0


def test_options_parse_numbers_and_names_and_refuse_a_pair_without_a_value():
    from auheat.cli import _options

    assert _options(["rank=8", "train=last_stack", "scale=0.5"]) == {
        "rank": 8,
        "train": "last_stack",
        "scale": 0.5,
    }
    with pytest.raises(SystemExit, match="--option 'rank' must be NAME=VALUE"):
        _options(["rank"])


def test_train_resume_continues_a_run_and_a_second_run_without_it_is_refused(disfa, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--method", "scratch", "--data", str(disfa), "--fold", "0", "--out", str(out), *TINY]
    main([*args, "--epochs", "1"])
    first = (out / "metrics.jsonl").read_text().splitlines()
    with pytest.raises(SystemExit, match="metrics.jsonl exists: pass resume=True"):
        main([*args, "--epochs", "2"])
    main([*args, "--epochs", "2", "--resume"])
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert lines[0] == first[0]  # the first epoch is kept, not trained again


def test_pretrain_landmarks_writes_under_out_and_replaces_the_default_only_when_asked(
    disfa, tmp_path, capsys
):
    from auheat.models.weights import pretrained_landmarks_path

    data = generate_dataset("landmarks", tmp_path / "lm", 1, seed=0, workers=1)
    cached = pretrained_landmarks_path(1, 16)  # where the AU models' resolution looks
    before = cached.read_bytes()  # this module's random stand-in
    out = tmp_path / "fan"
    main(["pretrain-landmarks", "--data", str(data), "--epochs", "1", "--out", str(out), *TINY])
    printed = capsys.readouterr().out
    assert "NME" in printed and "einstein" in printed
    weights = out / "landmarks.safetensors"
    assert f"--landmark-weights {weights}" in printed and weights.is_file()
    assert cached.read_bytes() == before  # the default network every cached run started from
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1]
    # Either file starts a run: the weights printed, or the pretraining's own checkpoint.
    au_run = ["train", "--method", "adapters", "--data", str(disfa), "--fold", "0", "--epochs", "1", *TINY]
    for given in (weights, out / "last.safetensors"):
        main([*au_run, "--landmark-weights", str(given), "--out", str(tmp_path / given.stem)])
    # An AU model's checkpoint is not a landmark network: one line says which file to pass.
    with pytest.raises(SystemExit, match="checkpoint of an AU model .adapters., not of a landmark network"):
        main([*au_run, "--landmark-weights", str(tmp_path / "last" / "last.safetensors"), "--out", "x"])
    main(
        [
            "pretrain-landmarks",
            "--data",
            str(data),
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "f2"),
            "--set-default",
            *TINY,
        ]
    )
    assert cached.read_bytes() != before
    assert "(the default: runs that name no --landmark-weights start from it)" in capsys.readouterr().out


def test_commands_given_a_file_of_another_kind_end_with_one_line_naming_it(disfa, tmp_path, capsys):
    text = tmp_path / "notes.safetensors"
    text.write_text("not a checkpoint")
    with pytest.raises(SystemExit) as raised:
        main(["evaluate", "--checkpoint", str(text), "--data", str(disfa), "--fold", "0"])
    assert str(raised.value).startswith(f"auheat evaluate: {text}: not a safetensors file (")
    assert "\n" not in str(raised.value)
    with pytest.raises(SystemExit, match=f"{text}: not a safetensors file"):
        main(["predict", str(tmp_path), "--checkpoint", str(text), "--no-progress"])
    au_run = ["train", "--method", "adapters", "--data", str(disfa), "--fold", "0", "--epochs", "1", *TINY]
    with pytest.raises(SystemExit, match=f"{text}: not a safetensors file"):
        main([*au_run, "--landmark-weights", str(text), "--out", str(tmp_path / "a")])
    # --out naming a file: the option and what it needs, not "[Errno 17] File exists".
    with pytest.raises(SystemExit, match=f"--out {text} is a file; a run folder is needed"):
        main([*au_run, "--out", str(text)])
    # A step budget that trains nothing is refused before anything runs.
    for option, value in (("--steps", "-5"), ("--steps", "0"), ("--epochs", "0"), ("--batch-size", "x")):
        with pytest.raises(SystemExit) as raised:
            main([*au_run, option, value, "--out", str(tmp_path / "b")])
        assert raised.value.code == 2
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.startswith(f"auheat train: error: argument {option}: expected an integer")
    assert not (tmp_path / "b").exists()


def test_a_train_config_refuses_a_budget_that_trains_nothing():
    from auheat.config import TrainConfig

    for field, value in (("steps", 0), ("steps", -5), ("epochs", 0), ("batch_size", 0), ("warmup_steps", -1)):
        with pytest.raises(ValueError, match=f"{field} must be at least"):
            TrainConfig(**{field: value})


def test_a_new_method_is_its_model_class_and_one_registry_entry(disfa, tmp_path, monkeypatch):
    """Nothing outside the registry names a method: a toy one trains from the command line and in
    a grid, with its options checked, no target design (it answers intensities) and its version in
    the run's digest."""
    from torch import nn

    from auheat.config import TrainConfig
    from auheat.experiment import RunSpec
    from auheat.grid import run_grid
    from auheat.models import METHODS, AUModel, Method, build_model
    from auheat.models.base import freeze

    class Toy(AUModel):
        output = "intensities"
        version = 2

        def __init__(self, fan: FAN, aus: tuple[int, ...], scale: float = 1.0) -> None:
            super().__init__(aus, fan.stacks, fan.width)
            freeze(fan)
            self.fan, self.scale = fan, scale
            self.linear = nn.Linear(fan.width, len(aus))

        def forward(self, x):
            return self.linear(self.fan.forward_features(x).stacks[-1].mean((2, 3))) * self.scale

    monkeypatch.setitem(METHODS, "toy", Method(Toy, "toy: pooled frozen features, one linear layer"))
    assert build_model("toy", FAN(1, 16), "disfa", scale=2.0).scale == 2.0
    with pytest.raises(ValueError, match="its options: scale"):
        build_model("toy", FAN(1, 16), "disfa", rank=2)
    config = TrainConfig(steps=2, batch_size=8, input_size=64)
    spec = RunSpec(disfa, "toy", fold=0, stacks=1, width=16, config=config)
    assert "-none-" in spec.name() and replace(spec, design="fixed").name() == spec.name()
    layers_2 = spec.digest()
    monkeypatch.setattr(Toy, "version", 1)
    assert spec.digest() != layers_2  # other layers, another run
    monkeypatch.setattr(Toy, "version", 2)
    out = tmp_path / "toy"
    main(
        [
            "train",
            "--method",
            "toy",
            "--data",
            str(disfa),
            "--fold",
            "0",
            "--steps",
            "2",
            "--out",
            str(out),
            *TINY,
        ]
    )
    assert (out / "last.safetensors").is_file()
    grid = run_grid({"disfa-like": (disfa, [0])}, ["toy"], ["fixed"], tmp_path / "grid", 1, 16, config)
    assert set(grid.scores["method"]) == {"toy"} and grid.scores["ICC"].notna().any()


def test_a_run_is_named_by_its_data_content_not_its_folder(disfa, tmp_path):
    from auheat.config import TrainConfig
    from auheat.data.digest import DIGEST_KEY
    from auheat.experiment import RunSpec

    copy = tmp_path / "copy"
    shutil.copytree(disfa, copy)
    config = TrainConfig(epochs=1, input_size=64)
    base = RunSpec(disfa, "finetune", fold=0, width=16, config=config)
    moved = RunSpec(copy, "finetune", fold=0, width=16, config=config)
    assert moved.name() == base.name()  # the same faces elsewhere: the same run
    meta = json.loads((copy / "meta.json").read_text())
    meta[DIGEST_KEY] = "0" * 16  # the faces generated again, other pixels: the same folder name
    (copy / "meta.json").write_text(json.dumps(meta))
    assert moved.folder(tmp_path) == base.folder(tmp_path).parent / moved.name() != base.folder(tmp_path)
