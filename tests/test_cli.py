import subprocess
import sys
from pathlib import Path

import pytest

from auheat.cli import main
from auheat.speed import bench_targets, bench_train


def test_aus_lists_a_datasets_catalogue(capsys):
    main(["aus", "--dataset", "bp4d"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["AU06", "AU10", "AU12", "AU14", "AU17"]
    assert "lip corner puller" in lines[2] and "48; 54" in lines[2]


def test_unknown_subcommand_or_dataset_exits_with_usage(capsys):
    with pytest.raises(SystemExit):
        main(["aus", "--dataset", "ck"])
    assert "invalid choice: 'ck'" in capsys.readouterr().err


def test_targets_benchmark_prints_measured_ratios(capsys, monkeypatch):
    import time

    import auheat.speed as bench

    results = bench_targets(batch=8, repeats=2)
    out = capsys.readouterr().out
    assert "faster" in out and "the floor" in out and "agree to" in out
    # Every design is timed, the default one first and named so in the printout.
    assert results.index.tolist() == ["variable", "fixed", "windowed", "binary"]
    assert "variable (default)" in out
    for key in ("library_ms", "numpy_loop_ms", "zero_fill_ms"):
        assert (results[key] > 0).all()
    assert results["speedup_vs_numpy_loop"].tolist() == pytest.approx(
        (results["numpy_loop_ms"] / results["library_ms"]).tolist()
    )
    assert results["ratio_to_zero_fill"].tolist() == pytest.approx(
        (results["library_ms"] / results["zero_fill_ms"]).tolist()
    )
    assert (results["max_difference"] <= 1e-4).all()
    # The baseline is timed, not assumed: a baseline that sleeps 50 ms is measured at 50 ms or more.
    reference = bench.numpy_reference_targets

    def slower(*args, **kwargs):
        time.sleep(0.05)
        return reference(*args, **kwargs)

    monkeypatch.setattr(bench, "numpy_reference_targets", slower)
    slowed = bench_targets(batch=8, repeats=2, designs=["fixed"])
    # The sleep alone; the loop's own time varies from run to run.
    assert slowed.loc["fixed", "numpy_loop_ms"] >= 50


def test_train_benchmark_measures_each_method_with_and_without_the_caches(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("AUHEAT_CACHE", str(tmp_path))
    table = bench_train(steps=2, batch=4, width=16, frames_per_subject=1, threads=1)
    out = capsys.readouterr().out
    assert "frames/s over decoding every frame" in out
    settings = table.groupby("method")["setting"].apply(set)
    cached = {"decode every step", "input cache, NCHW", "input cache"}
    assert settings["finetune"] == cached
    assert settings["adapters"] == cached | {"input + feature cache"}
    assert (table["frames_per_s"] > 0).all()
    base = table[table["setting"] == "decode every step"].set_index("method")["frames_per_s"]
    assert table["speedup"].tolist() == pytest.approx(
        (table["frames_per_s"] / table["method"].map(base)).tolist()
    )


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "auheat"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    assert "bench" in result.stdout and "aus" in result.stdout


def _another_value(spec, hint):
    """A valid value of a TrainConfig field other than its default, as an option's arguments."""
    from typing import Literal, get_args, get_origin

    name = "--" + spec.name.replace("_", "-")
    if hint is bool:
        return [name if not spec.default else "--no-" + name[2:]], not spec.default
    if get_origin(hint) is Literal:
        other = next(c for c in get_args(hint) if c != spec.default)
        return [name, other], other
    if spec.name == "device":
        return [name, "cpu"], "cpu"
    value = (spec.default if spec.default is not None else spec.metadata["minimum"]) + 2
    return [name, str(value)], value


def test_each_training_setting_is_an_option_with_the_config_fields_default_help_and_minimum(capsys):
    """One home per default: the option of each TrainConfig field sets that field, shows its help
    and default, and refuses what the field refuses; left out, the recipe's value or the field's."""
    import dataclasses
    from typing import get_type_hints

    from auheat.cli import _config, build_parser
    from auheat.config import TrainConfig
    from auheat.recipes import RECIPES

    parser = build_parser()
    train = ["train", "--method", "scratch", "--data", "d", "--out", "o"]
    pretrain = ["pretrain-landmarks", "--data", "d", "--out", "o"]
    assert _config(parser.parse_args(train)) == TrainConfig()
    for name, recipe in RECIPES.items():
        assert _config(parser.parse_args([*train, "--recipe", name])) == recipe.config()
        landmarks = _config(parser.parse_args([*pretrain, "--recipe", name]), landmarks=True)
        assert landmarks == recipe.landmark_config()
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    hints = get_type_hints(TrainConfig)
    for spec in dataclasses.fields(TrainConfig):
        words, value = _another_value(spec, hints[spec.name])
        assert getattr(_config(parser.parse_args([*train, *words])), spec.name) == value, words
        assert spec.metadata["help"] in shown, f"train --help does not explain --{spec.name}"
        if spec.default is not None:
            assert f"{spec.metadata['help']} (default {spec.default})" in shown
        if spec.metadata["minimum"] is not None:
            below = spec.metadata["minimum"] - 1
            with pytest.raises(ValueError, match=f"{spec.name} must be at least"):
                TrainConfig(**{spec.name: below})
            with pytest.raises(SystemExit):
                parser.parse_args([*train, words[0], str(below)])
            assert f"at least {spec.metadata['minimum']}" in capsys.readouterr().err
        # AU-only settings are no options of the landmark pretraining
        if spec.metadata["au_only"]:
            with pytest.raises(SystemExit):
                parser.parse_args([*pretrain, *words])


def test_predict_benchmark_times_each_step_of_a_frame(capsys):
    from auheat.speed import bench_predict

    table = bench_predict(repeats=1)
    assert list(table.index) == ["detect", "landmarks", "align", "AU model", "frame"]
    assert table.loc["AU model", "ratio to AU model"] == 1.0 and (table["ms"] > 0).all()
    assert "one 512x512 frame with one face" in capsys.readouterr().out


def test_synth_benchmark_prints_faces_per_cpu_second_against_its_floor(capsys):
    from auheat.speed import bench_synth

    result = bench_synth(faces=4, runs=1)
    assert result["faces"] == 4 and result["faces_per_cpu_s"] > 0 and 0 < result["ratio"]
    assert "faces per CPU-second" in capsys.readouterr().out
