import json
import os
import socket

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp

from auheat.checkpoint import load_checkpoint, read_info, save_checkpoint
from auheat.data.dataset import PreparedDataset
from auheat.data.inputs import CachedInputs, FeatureCache, jitter
from auheat.data.protocols import split_protocol
from auheat.data.writer import DatasetWriter
from auheat.evaluation import PREDICTIONS, evaluate_model, read_predictions
from auheat.heatmaps import encode_heatmaps
from auheat.metrics import normalised_errors
from auheat.models import FAN, build_model
from auheat.tasks import AUTask, LandmarkTask, fit_calibration, masked_mse
from auheat.train import (
    LAST,
    LOG,
    TrainConfig,
    Trainer,
    _EpochSampler,
    oversampling_weights,
    read_log,
    run_finished,
)

AUS = (6, 12)
CROP = 64


class TinyAUNet(torch.nn.Module):
    """[B, 3, S, S] -> [B, K, S/4, S/4]; BatchNorm and Dropout make resume exactness non-trivial."""

    def __init__(self, k: int = len(AUS)) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, stride=2, padding=1),
            torch.nn.BatchNorm2d(8),
            torch.nn.ReLU(),
            torch.nn.Dropout2d(0.2),
            torch.nn.Conv2d(8, k, 3, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    """12 random frames of 4 subjects, 64x64 crops, with some unlabelled entries."""
    root = tmp_path_factory.mktemp("data") / "tiny"
    rng = np.random.default_rng(0)
    subjects = ["S1", "S2", "S3", "S4"]
    rows, landmarks = [], []
    with DatasetWriter(
        root,
        name="tiny",
        aus=AUS,
        protocol=split_protocol({"train": subjects[:3], "test": subjects[3:]}),
        crop_size=CROP,
    ) as writer:
        for i in range(16):
            subject = subjects[i % 4]
            image = writer.save_image(
                f"images/{i:03d}.jpg", rng.integers(0, 255, (CROP, CROP, 3), dtype=np.uint8)
            )
            labels = rng.integers(0, 6, len(AUS)).astype(float)
            if i % 5 == 0:
                labels[1] = np.nan
            rows.append(
                {
                    "id": f"f{i}",
                    "subject": subject,
                    "session": "T1",
                    "frame": i,
                    "image": image,
                    "split": "train" if subject != "S4" else "test",
                    "AU06": labels[0],
                    "AU12": labels[1],
                }
            )
            landmarks.append(rng.uniform(8, CROP - 8, (68, 2)))
        writer.add_frames(rows, np.stack(landmarks))
    return root


def make_trainer(root, out, epochs=3, model=None, val_set=None, **config) -> Trainer:
    torch.manual_seed(0)
    model = model if model is not None else TinyAUNet()
    config = {"input_size": CROP, **config}
    cfg = TrainConfig(epochs=epochs, batch_size=4, lr=1e-2, seed=0, **config)
    return Trainer(
        model,
        AUTask(AUS),
        PreparedDataset(root, "train"),
        PreparedDataset(root, "test"),
        out,
        cfg,
        val_set=val_set,
    )


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module, atol: float = 0.0) -> None:
    for name, value in a.state_dict().items():
        other = b.state_dict()[name]
        if atol:
            torch.testing.assert_close(
                value, other, atol=atol, rtol=0, msg=lambda m, name=name: f"{name}: {m}"
            )
        else:
            assert torch.equal(value, other), name


def test_masked_mse_ignores_unlabelled_entries():
    target = torch.zeros(1, 2, 4, 4)
    prediction = torch.zeros(1, 2, 4, 4)
    prediction[0, 1] = 100.0
    mask = torch.tensor([[True, False]])
    assert masked_mse(prediction, target, mask) == 0
    assert masked_mse(prediction, target, torch.tensor([[True, True]])) == pytest.approx(5000.0)
    assert masked_mse(prediction, target, torch.tensor([[False, False]])) == 0


def test_weighted_mse_weights_the_au_window_and_ignores_unlabelled_entries():
    """The loss and its gradient do not depend on what a model draws for an unlabelled AU."""
    landmarks = torch.full((1, 68, 2), 32.0)  # input pixels of a 64 crop: every centre at heatmap (8, 8)
    labels = torch.tensor([[2.0, float("nan")]])
    task = AUTask(AUS, "fixed", loss_name="weighted_mse", foreground_weight=10.0)
    output = torch.zeros(1, 2, 16, 16, requires_grad=True)
    loss = task.loss(output, landmarks, labels, 64)
    loss.backward()
    assert torch.count_nonzero(output.grad[0, 1]) == 0
    changed = output.detach().clone()
    changed[0, 1] = 7.0
    assert task.loss(changed, landmarks, labels, 64) == loss
    # In the window of a present AU an error costs foreground_weight times what it costs outside;
    # where the AU is absent (label 0) the window weighs as the background.
    inside, outside = torch.zeros(1, 2, 16, 16), torch.zeros(1, 2, 16, 16)
    inside[0, 0, 8, 8], outside[0, 0, 0, 0] = 1.0, 1.0
    zero = torch.tensor([[0.0, float("nan")]])
    assert task.loss(inside, landmarks, zero, 64) == task.loss(outside, landmarks, zero, 64) > 0
    plain = AUTask(AUS, "fixed")
    drawn = encode_heatmaps(
        torch.full((1, 68, 2), 7.625), labels.nan_to_num(0.0), AUS, size=16, design="fixed"
    )
    for where, weight in (((8, 8), 10.0), ((0, 0), 1.0)):
        off = drawn.clone()
        off[0, 0][where] += 1.0
        assert task.loss(off, landmarks, labels, 64) == pytest.approx(
            weight * plain.loss(off, landmarks, labels, 64)
        )
    with pytest.raises(ValueError, match="unknown loss 'l1'; valid losses: mse, weighted_mse"):
        AUTask(AUS, loss_name="l1")


def test_fit_logs_every_epoch_and_keeps_the_last_checkpoint(dataset_root, tmp_path):
    log = make_trainer(dataset_root, tmp_path, epochs=2).fit()
    assert list(log["epoch"]) == [1, 2]
    assert {"train_loss", "lr", "ICC_mean", "MAE_mean", "MAE_AU06", "ICC_AU12"} <= set(log.columns)
    # Without a validation set nothing may choose an epoch: only the last checkpoint is written.
    assert (tmp_path / LAST).exists() and not (tmp_path / "best.safetensors").exists()
    info = read_info(tmp_path / LAST)
    assert info["epoch"] == 2 and info["aus"] == list(AUS) and info["config"]["batch_size"] == 4
    assert info["threads"] == torch.get_num_threads()  # what a bit-for-bit repeat needs too
    assert not list(tmp_path.glob("*.partial"))


def test_the_best_checkpoint_is_chosen_on_the_validation_set(dataset_root, tmp_path):
    val = PreparedDataset(dataset_root, "train", subjects=["S3"])
    log = make_trainer(dataset_root, tmp_path, epochs=3, val_set=val).fit()
    assert {"val_ICC_mean", "val_MAE_mean", "ICC_mean"} <= set(log.columns)
    best = read_info(tmp_path / "best.safetensors")
    assert best["best_score"] == pytest.approx(log["val_ICC_mean"].max())
    assert best["record"]["val_ICC_mean"] == pytest.approx(log["val_ICC_mean"].max())


def test_a_step_budget_sets_the_epochs_the_schedule_and_the_evaluations(dataset_root, tmp_path):
    # 12 training frames in batches of 4: 3 steps an epoch, so 7 steps take 3 epochs.
    trainer = make_trainer(dataset_root, tmp_path, steps=7, evaluations=2, warmup_steps=2)
    assert trainer.epochs == 3 and trainer.logged_epochs == {2, 3}
    log = trainer.fit()
    assert log["epoch"].tolist() == [2, 3] and log["step"].tolist() == [6, 9]
    assert log["lr"].iloc[-1] == pytest.approx(0.0, abs=1e-12)  # the cosine reaches 0 at the last step
    assert run_finished(log)
    assert trainer.scheduler.lr_lambdas[0](0) == pytest.approx(0.5)  # warm-up: (step + 1) / 2


def test_cached_inputs_train_exactly_as_decoding_every_step(dataset_root, tmp_path):
    # Input 32 px from 64 px crops: the cache holds resized 8-bit crops, as the uncached path makes.
    runs = []
    for cached in (True, False):  # each run starts from the same global random state
        runs.append(
            make_trainer(dataset_root, tmp_path / str(cached), epochs=2, input_size=32, cache_inputs=cached)
        )
        runs[-1].fit()
    assert isinstance(runs[0].train_set, CachedInputs) and isinstance(runs[1].train_set, PreparedDataset)
    assert_same_weights(runs[0].model, runs[1].model)
    logs = [read_log(tmp_path / str(cached) / LOG) for cached in (True, False)]
    assert logs[0]["train_loss"].tolist() == logs[1]["train_loss"].tolist()


def test_frozen_features_are_cached_and_train_as_the_whole_model(dataset_root, tmp_path):
    fan = FAN(1, 16)
    runs = []
    for cached in (True, False):
        torch.manual_seed(0)  # the same new layers
        model = build_model("adapters", fan, AUS)
        run = make_trainer(dataset_root, tmp_path / str(cached), epochs=2, model=model, cache_features=cached)
        runs.append(run)
        run.fit()
    assert isinstance(runs[0].train_set, FeatureCache) and not isinstance(runs[1].train_set, FeatureCache)
    assert_same_weights(runs[0].model, runs[1].model, atol=1e-5)
    # Fine-tuning trains the landmark network: nothing to cache; jittered inputs: nothing either.
    assert not build_model("finetune", fan, AUS).caches_features
    jittered = make_trainer(
        dataset_root, tmp_path / "j", model=build_model("adapters", fan, AUS), augment=True
    )
    assert not isinstance(jittered.train_set, FeatureCache)


def test_channels_last_computes_the_step_of_nchw_up_to_float_rounding(dataset_root, tmp_path):
    runs = []
    for nhwc in (True, False):
        torch.manual_seed(0)
        model = build_model("finetune", FAN(1, 16), AUS)
        runs.append(make_trainer(dataset_root, tmp_path / str(nhwc), model=model, channels_last=nhwc))
    weight = runs[0].model.fan.conv1.weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    assert runs[1].model.fan.conv1.weight.is_contiguous()
    batch = next(iter(runs[0].loader))
    losses = [run.train_step(batch) for run in runs]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    # Gradients, not weights after many steps: Adam turns rounding in a near-zero gradient into a
    # whole step of either sign.
    for (name, a), b in zip(runs[0].model.named_parameters(), runs[1].model.parameters(), strict=True):
        if a.grad is not None:
            message = lambda m, n=name: f"{n}: {m}"  # noqa: E731
            torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-4, msg=message)


def test_oversampling_draws_frames_that_show_an_au_more_often(dataset_root):
    train = PreparedDataset(dataset_root, "train")
    weights = oversampling_weights(train, 3.0)
    shows = (np.nan_to_num(train.intensities) >= 1).any(-1)
    assert weights.tolist() == [4.0 if s else 1.0 for s in shows]
    sampler = _EpochSampler(len(train), seed=0, weights=torch.tensor([1.0] * 11 + [1000.0]))
    drawn = list(sampler)
    assert len(drawn) == 12 and drawn.count(11) > 6
    assert oversampling_weights(train, 0.0) is None


def test_jitter_moves_each_image_and_its_landmarks_together():
    torch.manual_seed(3)
    side = 64
    points = torch.tensor([[[20.3, 25.6], [40.0, 44.7]]]).repeat(4, 1, 1)
    grid = torch.arange(side, dtype=torch.float32)
    images = torch.zeros(4, 3, side, side)
    for b in range(4):  # a bright Gaussian spot at the first point
        x, y = points[b, 0]
        images[b] = torch.exp(-((grid[None, :] - x) ** 2 + (grid[:, None] - y) ** 2) / (2 * 1.5**2))
    moved, moved_points = jitter(images, points, rotation=15.0, scale=0.1, shift=0.1)
    assert not torch.allclose(moved_points, points)
    for b in range(4):
        spot = moved[b, 0]
        weight = spot / spot.sum()
        centre = torch.stack([(weight * grid[None, :]).sum(), (weight * grid[:, None]).sum()])
        assert torch.linalg.norm(centre - moved_points[b, 0]) < 0.2, (centre, moved_points[b, 0])
    # A similarity: distances between landmarks scale by one factor per image, within +-10 %.
    ratio = torch.linalg.norm(moved_points[:, 0] - moved_points[:, 1], dim=-1) / torch.linalg.norm(
        points[:, 0] - points[:, 1], dim=-1
    )
    assert ((ratio > 0.89) & (ratio < 1.11)).all()


def test_calibration_fits_the_clamped_line_per_au_and_never_reverses_the_order():
    rng = np.random.default_rng(0)
    raw = rng.uniform(0, 3, (400, 4))
    truth = np.stack(
        [
            np.clip(2 * raw[:, 0] - 1, 0, 5),  # zero below a threshold, then linear: needs the clamp
            np.clip(4 - raw[:, 1], 0, 5),  # reversed: the slope stays >= 0
            np.full(400, 1.0),  # constant
            np.clip(0.5 * raw[:, 3] + 0.25, 0, 5),
        ],
        -1,
    )
    truth[::7, 0] = np.nan  # unlabelled entries are left out of the fit
    line = fit_calibration(raw, truth).numpy()
    np.testing.assert_allclose(line[:, 0], [2.0, -1.0], atol=1e-6)
    np.testing.assert_allclose(line[:, 3], [0.5, 0.25], atol=1e-6)
    # Reversed: no slope; the constant of least absolute error, the median, to the grid's 0.05.
    assert line[0, 1] == 0.0 and line[1, 1] == pytest.approx(np.median(truth[:, 1]), abs=0.05)
    assert line[0, 2] == 0.0 and line[1, 2] == pytest.approx(1.0)
    # Fewer than two labels: the identity.
    assert fit_calibration(raw[:1, :1], truth[:1, :1]).tolist() == [[1.0], [0.0]]


def test_calibration_is_fitted_on_training_frames_and_applied_to_every_score(dataset_root, tmp_path):
    model = build_model("adapters", FAN(1, 16), AUS)
    trainer = make_trainer(dataset_root, tmp_path, epochs=1, model=model, calibrate=True)
    trainer.fit()
    line = trainer.model.calibration.clone()
    assert not torch.equal(line, torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    raw = np.asarray(PreparedDataset(dataset_root, "train").intensities)
    trainer.model.calibration[0], trainer.model.calibration[1] = 1.0, 0.0
    refit = fit_calibration(trainer.evaluate(trainer.train_set).predictions, raw)
    torch.testing.assert_close(line, refit)
    # The checkpoint keeps the line, and predictions go through it.
    reloaded = build_model("adapters", FAN(1, 16), AUS)
    load_checkpoint(tmp_path / LAST, reloaded)
    torch.testing.assert_close(reloaded.calibration, line)


def test_agreement_is_scored_on_the_raw_maximum_and_the_mae_on_the_calibrated_answer(dataset_root, tmp_path):
    model = build_model("adapters", FAN(1, 16), AUS)
    trainer = make_trainer(dataset_root, tmp_path, epochs=1, model=model, calibrate=True)
    trainer.fit()
    calibrated = trainer.evaluate(trainer.test_set)
    line = trainer.model.calibration.clone()
    trainer.model.calibration[0], trainer.model.calibration[1] = 1.0, 0.0  # the uncalibrated model
    uncalibrated = trainer.evaluate(trainer.test_set)
    trainer.model.calibration.copy_(line)
    for score in ("ICC", "PCC"):  # the raw-maximum ICC is the uncalibrated model's ICC
        pd.testing.assert_series_equal(calibrated.table[score], uncalibrated.table[score])
    pd.testing.assert_series_equal(calibrated.table["MAE raw"], uncalibrated.table["MAE"], check_names=False)
    truth = np.asarray(PreparedDataset(dataset_root, "test").intensities)
    np.testing.assert_allclose(
        calibrated.table["MAE"].iloc[:-1], np.nanmean(np.abs(calibrated.predictions - truth), 0), rtol=1e-6
    )
    assert not np.allclose(calibrated.predictions, calibrated.raw)  # the line did change the answers
    # The run keeps the last evaluation's answers, frame by frame, with the frames' subjects.
    kept = read_predictions(tmp_path / PREDICTIONS)
    np.testing.assert_allclose(kept.answers, calibrated.predictions)
    np.testing.assert_allclose(kept.raw, calibrated.raw)
    assert kept.peaks.shape == (*truth.shape, 2) and set(kept.subjects) == {"S4"}
    assert kept.heatmap_size == trainer.config.input_size // 4


def test_a_finished_run_is_not_overwritten_without_resume(dataset_root, tmp_path):
    make_trainer(dataset_root, tmp_path, epochs=1).fit()
    with pytest.raises(FileExistsError, match="pass resume=True"):
        make_trainer(dataset_root, tmp_path, epochs=1).fit()


class KilledAfter(Exception):
    pass


def test_resume_after_a_kill_ends_with_the_weights_of_an_uninterrupted_run(dataset_root, tmp_path):
    whole = make_trainer(dataset_root, tmp_path / "whole", epochs=3)
    whole.fit()

    interrupted = make_trainer(dataset_root, tmp_path / "resumed", epochs=3)
    end_epoch = interrupted._end_epoch

    def end_epoch_then_die(record, held_out):
        end_epoch(record, held_out)
        if interrupted.epoch == 2:
            raise KilledAfter

    interrupted._end_epoch = end_epoch_then_die
    with pytest.raises(KilledAfter):
        interrupted.fit()
    torch.manual_seed(1234)  # a fresh process: the global random state is not the run's
    resumed = make_trainer(dataset_root, tmp_path / "resumed", epochs=3)
    log = resumed.fit(resume=True)

    assert list(log["epoch"]) == [1, 2, 3]
    for name, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    assert read_log(tmp_path / "whole" / LOG)["train_loss"].tolist() == log["train_loss"].tolist()


def test_checkpoint_refuses_weights_of_another_model(tmp_path):
    path = save_checkpoint(tmp_path / "c.safetensors", TinyAUNet(k=3), {"aus": [1, 2, 4]})
    with pytest.raises(ValueError, match="c.safetensors: the weights do not fit this model"):
        load_checkpoint(path, TinyAUNet(k=2))
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.safetensors", TinyAUNet())


def test_trainer_refuses_datasets_with_other_aus(dataset_root, tmp_path):
    with pytest.raises(ValueError, match=r"train_set labels AUs \[6, 12\], but the model predicts \[6, 10\]"):
        Trainer(TinyAUNet(), AUTask((6, 10)), PreparedDataset(dataset_root, "train"), None, tmp_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, root: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    trainer = make_trainer(root, out, epochs=2)
    trainer.fit()
    torch.save({k: v.clone() for k, v in trainer.model.state_dict().items()}, f"{out}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_two_processes_train_in_step_with_gloo(dataset_root, tmp_path):
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(dataset_root), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for name, value in ranks[0].items():
        if "running" not in name and "num_batches" not in name:  # BatchNorm statistics are per process
            assert torch.equal(value, ranks[1][name]), name
    lines = (tmp_path / LOG).read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]  # written by rank 0 only
    assert np.isfinite(json.loads(lines[-1])["MAE_mean"])


class TinyLandmarkNet(torch.nn.Module):
    """[B, 3, S, S] -> a list of one [B, 68, S/4, S/4] stack, as FAN returns."""

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(16, 68, 3, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.body(x)]


def test_the_same_loop_trains_a_landmark_network_and_scores_its_nme(dataset_root, tmp_path):
    torch.manual_seed(0)
    config = TrainConfig(epochs=2, batch_size=4, input_size=CROP, lr=1e-2)
    trainer = Trainer(
        TinyLandmarkNet(),
        LandmarkTask(),
        PreparedDataset(dataset_root, "train"),
        PreparedDataset(dataset_root, "test"),
        tmp_path,
        config,
    )
    log = trainer.fit()
    assert {"NME_mean", "NME_median"} <= set(log.columns)
    test = PreparedDataset(dataset_root, "test")
    evaluation = evaluate_model(trainer.model, test, LandmarkTask(), input_size=CROP)
    assert evaluation.predictions.shape == (len(test), 68, 2)
    expected = normalised_errors(test.landmarks, evaluation.predictions).mean()
    assert evaluation.record["NME_mean"] == pytest.approx(expected)
    assert read_info(tmp_path / LAST)["task"] == "landmarks"


def test_normalised_error_is_relative_to_the_outer_eye_corners():
    truth = np.zeros((1, 68, 2))
    truth[0, 45] = [10.0, 0.0]
    predicted = truth + np.array([0.0, 1.0])
    assert normalised_errors(truth, predicted)[0] == pytest.approx(0.1)


def test_resume_after_a_kill_between_checkpoint_and_log_keeps_every_epochs_line(dataset_root, tmp_path):
    whole = make_trainer(dataset_root, tmp_path / "whole", epochs=3)
    whole.fit()
    interrupted = make_trainer(dataset_root, tmp_path / "resumed", epochs=3)
    end_epoch = interrupted._end_epoch

    def checkpoint_then_die(record, held_out):
        if interrupted.epoch < 2:
            return end_epoch(record, held_out)
        save_checkpoint(
            interrupted.out / LAST,
            interrupted.model,
            interrupted._info(record),
            interrupted.optimizer,
            interrupted.scheduler,
        )
        raise KilledAfter  # the log line of epoch 2 is never written

    interrupted._end_epoch = checkpoint_then_die
    with pytest.raises(KilledAfter):
        interrupted.fit()
    assert [json.loads(line)["epoch"] for line in (tmp_path / "resumed" / LOG).read_text().splitlines()] == [
        1
    ]
    log = make_trainer(dataset_root, tmp_path / "resumed", epochs=3).fit(resume=True)
    assert list(log["epoch"]) == [1, 2, 3]
    expected = read_log(tmp_path / "whole" / LOG)
    np.testing.assert_allclose(log["train_loss"], expected["train_loss"])
    np.testing.assert_allclose(log["MAE_mean"], expected["MAE_mean"])


def test_resume_refuses_a_checkpoint_trained_for_another_task(dataset_root, tmp_path):
    trained = make_trainer(dataset_root, tmp_path / "run", epochs=1)
    trained.fit()
    info = {**read_info(tmp_path / "run" / LAST), "task": "landmark", "aus": None}  # same weights, other task
    save_checkpoint(tmp_path / "run" / LAST, trained.model, info, trained.optimizer, trained.scheduler)
    with pytest.raises(ValueError, match=r"last.safetensors was trained for another task: landmark"):
        make_trainer(dataset_root, tmp_path / "run", epochs=2).fit(resume=True)


# Unlabelled entries (NaN) end to end: they never reach the loss, its gradient or the scores.


@pytest.mark.parametrize("loss_name", ["mse", "weighted_mse"])
@pytest.mark.parametrize("output_kind", ["heatmaps", "direct"])
def test_nan_labels_do_not_reach_the_loss_or_its_gradient(loss_name, output_kind):
    torch.manual_seed(0)
    task = AUTask(AUS, loss_name=loss_name)
    landmarks = torch.rand(3, 68, 2) * 40 + 12
    intensities = torch.tensor([[1.0, float("nan")], [float("nan"), 4.0], [0.0, 2.0]])
    shape = (3, 2, 16, 16) if output_kind == "heatmaps" else (3, 2)
    output = torch.rand(shape, requires_grad=True)
    loss = task.loss(output, landmarks, intensities, CROP)
    assert torch.isfinite(loss)
    loss.backward()
    unlabelled = intensities.isnan()
    grad = output.grad.reshape(3, 2, -1)
    assert (grad[unlabelled] == 0).all()  # an all-true mask would fail here
    assert (grad[~unlabelled].abs().sum(-1) > 0).all()
    changed = output.detach().clone()
    changed.reshape(3, 2, -1)[unlabelled] += 100.0  # whatever the model says there ...
    assert task.loss(changed, landmarks, intensities, CROP) == pytest.approx(
        loss.item()
    )  # ... counts for nothing


def test_scores_skip_unlabelled_frames_per_au():
    task = AUTask(AUS)
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 6, (40, 2)).astype(float)
    predicted = np.clip(truth + rng.normal(0, 1, truth.shape), 0, 5)
    with_gaps = truth.copy()
    with_gaps[:10, 0] = np.nan
    table, _ = task.score(with_gaps, predicted)
    alone, _ = AUTask((6,)).score(truth[10:, :1], predicted[10:, :1])
    assert table.loc["AU06", "ICC"] == pytest.approx(alone.loc["AU06", "ICC"])
    assert table.loc["AU06", "MAE"] == pytest.approx(alone.loc["AU06", "MAE"])


def _evaluate_worker(rank: int, world: int, port: int, root: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    model = TinyAUNet()
    model.load_state_dict(torch.load(f"{out}/model.pt", weights_only=True))
    evaluation = evaluate_model(
        model, PreparedDataset(root, "test"), AUTask(AUS), "cpu", CROP, 2, rank, world
    )
    torch.save({"predictions": evaluation.predictions, "record": evaluation.record}, f"{out}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_evaluation_in_two_processes_equals_one(dataset_root, tmp_path):
    torch.manual_seed(3)
    model = TinyAUNet()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    single = evaluate_model(model, PreparedDataset(dataset_root, "test"), AUTask(AUS), "cpu", CROP, 2)
    mp.spawn(_evaluate_worker, args=(2, _free_port(), str(dataset_root), str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        shared = torch.load(tmp_path / f"rank{rank}.pt", weights_only=False)
        np.testing.assert_allclose(shared["predictions"], single.predictions, rtol=1e-6)
        assert shared["record"] == pytest.approx(single.record, nan_ok=True)
