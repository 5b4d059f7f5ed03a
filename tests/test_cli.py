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
