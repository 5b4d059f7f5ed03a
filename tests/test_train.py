import json
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from auheat.checkpoint import load_checkpoint, read_info, save_checkpoint
from auheat.data.dataset import DatasetWriter, PreparedDataset, split_protocol
from auheat.tasks import AUTask, LandmarkTask, masked_mse, normalised_errors
from auheat.train import LAST, LOG, TrainConfig, Trainer, evaluate_model, read_log

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


def make_trainer(root, out, epochs=3, **config) -> Trainer:
    torch.manual_seed(0)
    model = TinyAUNet()
    cfg = TrainConfig(epochs=epochs, batch_size=4, input_size=CROP, lr=1e-2, seed=0, **config)
    return Trainer(
        model,
        AUTask(AUS),
        PreparedDataset(root, "train"),
        PreparedDataset(root, "test"),
        out,
        cfg,
        progress=False,
    )


def test_masked_mse_ignores_unlabelled_entries():
    target = torch.zeros(1, 2, 4, 4)
    prediction = torch.zeros(1, 2, 4, 4)
    prediction[0, 1] = 100.0
    mask = torch.tensor([[True, False]])
    assert masked_mse(prediction, target, mask) == 0
    assert masked_mse(prediction, target, torch.tensor([[True, True]])) == pytest.approx(5000.0)
    assert masked_mse(prediction, target, torch.tensor([[False, False]])) == 0


def test_fit_logs_every_epoch_and_keeps_last_and_best(dataset_root, tmp_path):
    log = make_trainer(dataset_root, tmp_path, epochs=2).fit()
    assert list(log["epoch"]) == [1, 2]
    assert {"train_loss", "lr", "ICC_mean", "MAE_mean", "MAE_AU06", "ICC_AU12"} <= set(log.columns)
    assert (tmp_path / "best.safetensors").exists() and (tmp_path / LAST).exists()
    info = read_info(tmp_path / LAST)
    assert info["epoch"] == 2 and info["aus"] == list(AUS) and info["config"]["batch_size"] == 4
    assert not list(tmp_path.glob("*.partial"))


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

    def end_epoch_then_die(record):
        end_epoch(record)
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
        progress=False,
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
