import json
import os
import signal
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from auheat.data.dataset import PreparedDataset, read_meta
from auheat.data.labels import au_cooccurrence, level_shares, showcase_frames
from auheat.data.protocols import folds_protocol, split_protocol
from auheat.data.writer import DatasetWriter

AUS = (6, 12)
SUBJECTS = ["S1", "S2", "S3", "S4"]


def tiny_rows(protocol_kind: str = "split", frames: int = 3) -> tuple[list[dict], np.ndarray]:
    """Rows for 4 subjects x `frames` frames, added in a scrambled order; AU12 unlabelled on frame 0."""
    rows = []
    for s, subject in enumerate(SUBJECTS):
        for f in range(frames):
            row = {
                "id": f"{subject}_{f}",
                "subject": subject,
                "session": "T1",
                "frame": f,
                "image": f"images/{subject}/{f:04d}.jpg",
                "AU06": float((s + f) % 6),
                "AU12": np.nan if f == 0 else float(f % 6),
            }
            if protocol_kind == "split":
                row["split"] = "train" if s < 2 else "test"
            else:
                row["fold"] = s // 2
            rows.append(row)
    rows = rows[::-1]  # the writer must restore the canonical order
    landmarks = np.stack([np.full((68, 2), 10.0 * i + 1, np.float32) for i in range(len(rows))])
    return rows, landmarks


def protocol(kind: str) -> dict:
    if kind == "split":
        return split_protocol({"train": SUBJECTS[:2], "test": SUBJECTS[2:]})
    return folds_protocol([SUBJECTS[:2], SUBJECTS[2:]])


def write_tiny(root, kind: str = "split", overwrite: bool = False, size: int = 32, frames: int = 3):
    rows, landmarks = tiny_rows(kind, frames)
    with DatasetWriter(
        root, name="tiny", aus=AUS, protocol=protocol(kind), crop_size=size, overwrite=overwrite
    ) as w:
        for row in rows:
            w.save_image(row["image"], np.full((size, size, 3), row["frame"] * 40, np.uint8))
        w.add_frames(rows, landmarks)
    return rows, landmarks


def siblings(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir())


def test_round_trip_sorts_rows_and_reads_back_what_was_written(tmp_path):
    rows, landmarks = write_tiny(tmp_path / "ds")
    ds = PreparedDataset(tmp_path / "ds")
    assert len(ds) == len(rows) and ds.aus == AUS and ds.subjects == tuple(SUBJECTS)
    assert list(ds.frames.columns[:8]) == [
        "id",
        "subject",
        "session",
        "frame",
        "image",
        "split",
        "AU06",
        "AU12",
    ]
    assert list(ds.frames["id"]) == [f"{s}_{f}" for s in SUBJECTS for f in range(3)]
    sample = ds[4]  # S2, frame 1
    assert sample["subject"] == "S2" and sample["index"] == 4
    assert sample["image"].dtype == torch.uint8 and sample["image"].shape == (3, 32, 32)
    assert abs(int(sample["image"].float().mean()) - 40) <= 1  # JPEG of a flat grey
    assert sample["intensities"].dtype == torch.float32
    assert sample["intensities"].tolist() == [2.0, 1.0]
    by_id = {row["id"]: landmarks[i] for i, row in enumerate(rows)}
    assert torch.equal(sample["landmarks"], torch.from_numpy(by_id["S2_1"]))
    assert torch.isnan(ds[3]["intensities"][1])  # S2 frame 0: AU12 unlabelled
    text = (tmp_path / "ds" / "frames.csv").read_text().splitlines()
    assert text[1] == "S1_0,S1,T1,0,images/S1/0000.jpg,train,0,"  # integers as integers, empty = unlabelled
    assert read_meta(tmp_path / "ds")["num_frames"] == len(rows)
    assert siblings(tmp_path) == ["ds"]  # no staging folder left behind


def test_split_and_fold_selection(tmp_path):
    write_tiny(tmp_path / "split", "split")
    assert PreparedDataset(tmp_path / "split", split="test").subjects == ("S3", "S4")
    write_tiny(tmp_path / "folds", "folds")
    test = PreparedDataset(tmp_path / "folds", split="test", fold=1)
    train = PreparedDataset(tmp_path / "folds", split="train", fold=1)
    assert test.subjects == ("S3", "S4") and train.subjects == ("S1", "S2")
    assert sorted([*test.frames.index, *train.frames.index]) == list(range(12))
    assert [test[i]["index"] for i in range(len(test))] == list(test.frames.index)
    with pytest.raises(ValueError, match="pass fold=0..1 with split"):
        PreparedDataset(tmp_path / "folds", split="test")
    with pytest.raises(ValueError, match="fold must be an int in 0..1"):
        PreparedDataset(tmp_path / "folds", split="test", fold=2)
    with pytest.raises(ValueError, match="named splits, not folds"):
        PreparedDataset(tmp_path / "split", split="test", fold=0)
    with pytest.raises(ValueError, match="no split 'val'"):
        PreparedDataset(tmp_path / "split", split="val")


def test_a_failure_inside_the_block_leaves_no_dataset_and_no_folder(tmp_path):
    rows, landmarks = tiny_rows()
    with pytest.raises(RuntimeError, match="renderer crashed"):
        with DatasetWriter(
            tmp_path / "ds", name="tiny", aus=AUS, protocol=protocol("split"), crop_size=32
        ) as w:
            w.save_image(rows[0]["image"], np.zeros((32, 32, 3), np.uint8))
            raise RuntimeError("renderer crashed")
    assert siblings(tmp_path) == []


def test_a_failure_while_finishing_keeps_the_old_dataset(tmp_path):
    write_tiny(tmp_path / "ds")
    before = (tmp_path / "ds" / "frames.csv").read_bytes()
    rows, landmarks = tiny_rows()
    with pytest.raises(FileNotFoundError, match="rows name images never saved"):
        with DatasetWriter(
            tmp_path / "ds", name="tiny", aus=AUS, protocol=protocol("split"), crop_size=32, overwrite=True
        ) as w:
            w.add_frames(rows, landmarks)  # images were never saved: the check at the end fails
    assert siblings(tmp_path) == ["ds"]
    assert (tmp_path / "ds" / "frames.csv").read_bytes() == before


def test_a_killed_run_leaves_only_a_hidden_folder_that_does_not_look_whole(tmp_path):
    script = textwrap.dedent(
        f"""
        import os, signal
        import numpy as np
        from auheat.data.writer import DatasetWriter
        from auheat.data.protocols import split_protocol
        protocol = split_protocol({{"train": ["S1"]}})
        with DatasetWriter({str(tmp_path / "ds")!r}, name="tiny", aus=[6], protocol=protocol) as w:
            w.save_image("images/a.jpg", np.zeros((8, 8, 3), np.uint8))
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == -signal.SIGKILL
    (partial,) = tmp_path.iterdir()
    assert partial.name.startswith(".ds.partial-") and not (tmp_path / "ds").exists()
    with pytest.raises(FileNotFoundError, match="meta.json is missing"):
        PreparedDataset(partial)


def test_overwrite_rules(tmp_path):
    write_tiny(tmp_path / "ds")
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        write_tiny(tmp_path / "ds")
    write_tiny(tmp_path / "ds", "folds", overwrite=True)
    assert read_meta(tmp_path / "ds")["protocol"]["kind"] == "folds"
    assert siblings(tmp_path) == ["ds"]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="neither a prepared dataset"):
        write_tiny(tmp_path / "notes", overwrite=True)
    assert (tmp_path / "notes" / "thesis.tex").read_text() == "precious"
    (tmp_path / "empty").mkdir()
    write_tiny(tmp_path / "empty", overwrite=True)
    assert len(PreparedDataset(tmp_path / "empty")) == 12


def test_writer_rejects_bad_rows_before_writing(tmp_path):
    rows, landmarks = tiny_rows()
    rows[0]["AU06"] = 7.0
    with pytest.raises(ValueError, match="column AU06: intensity 7 is outside 0..5"):
        with DatasetWriter(tmp_path / "ds", name="t", aus=AUS, protocol=protocol("split"), crop_size=32) as w:
            w.add_frames(rows, landmarks)
    with pytest.raises(ValueError, match=r"landmarks must have shape \[12, 68, 2\]"):
        with DatasetWriter(tmp_path / "ds", name="t", aus=AUS, protocol=protocol("split"), crop_size=32) as w:
            w.add_frames(rows, landmarks[:3])
    with pytest.raises(ValueError, match="subject 'S1' is in both train and test"):
        split_protocol({"train": ["S1"], "test": ["S1"]})
    assert siblings(tmp_path) == []


@pytest.fixture
def dataset(tmp_path):
    write_tiny(tmp_path / "ds")
    return tmp_path / "ds"


def edit_meta(root, **changes):
    meta = json.loads((root / "meta.json").read_text())
    meta.update(changes)
    (root / "meta.json").write_text(json.dumps(meta))


def edit_frames(root, edit):
    frames = pd.read_csv(root / "frames.csv", dtype=str, keep_default_na=False)
    edit(frames)
    frames.to_csv(root / "frames.csv", index=False)


def test_missing_meta_or_frames_is_named(dataset):
    (dataset / "frames.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"frames\.csv is missing"):
        PreparedDataset(dataset)
    (dataset / "meta.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"meta\.json is missing"):
        PreparedDataset(dataset)


def test_unsupported_version_is_named(dataset):
    edit_meta(dataset, format_version=99)
    with pytest.raises(ValueError, match=r"meta\.json: format_version 99 is not supported.*newer auheat"):
        PreparedDataset(dataset)


def test_au_columns_must_match_meta(dataset):
    edit_meta(dataset, aus=[6, 12, 25])
    with pytest.raises(ValueError, match=r"frames\.csv: AU columns do not match.*missing \['AU25'\]"):
        PreparedDataset(dataset)


def test_label_outside_range_names_line_and_column(dataset):
    edit_frames(dataset, lambda f: f.__setitem__("AU12", f["AU12"].where(f.index != 4, "6")))
    with pytest.raises(ValueError, match=r"frames\.csv, line 6 \(id 'S2_1'\), column AU12: intensity 6"):
        PreparedDataset(dataset)


def test_non_numeric_label_names_line_and_column(dataset):
    edit_frames(dataset, lambda f: f.__setitem__("AU06", f["AU06"].where(f.index != 0, "B")))
    with pytest.raises(ValueError, match=r"line 2 \(id 'S1_0'\), column AU06: 'B' is not a number"):
        PreparedDataset(dataset)


def test_subject_in_the_wrong_split_names_the_line(dataset):
    edit_frames(dataset, lambda f: f.__setitem__("split", f["split"].where(f.index != 11, "train")))
    with pytest.raises(ValueError, match=r"line 13 \(id 'S4_2'\), column split: subject 'S4' has 'train'"):
        PreparedDataset(dataset)


def test_landmark_count_must_match_rows(dataset):
    np.save(dataset / "landmarks.npy", np.zeros((5, 68, 2), np.float32))
    with pytest.raises(ValueError, match=r"landmarks\.npy: landmarks must be float32 \[12, 68, 2\]"):
        PreparedDataset(dataset)


def test_missing_image_is_named_when_read(dataset):
    os.remove(dataset / "images" / "S1" / "0002.jpg")
    ds = PreparedDataset(dataset)
    with pytest.raises(FileNotFoundError, match=r"S1/0002\.jpg is missing .*line 4 \(id 'S1_2'\)"):
        ds[2]
    with pytest.raises(FileNotFoundError, match=r"S1/0002\.jpg is missing"):
        PreparedDataset(dataset, check_images=True)


def test_a_dataloader_batches_samples(dataset):
    loader = torch.utils.data.DataLoader(PreparedDataset(dataset, split="train"), batch_size=4)
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 3, 32, 32) and batch["intensities"].shape == (4, 2)
    assert batch["subject"] == ["S1", "S1", "S1", "S2"]


# Label statistics and frames chosen by their labels (auheat.data.labels).


@pytest.fixture
def table() -> pd.DataFrame:
    """Four frames of one session: AU01 present in three, AU02 in two of those."""
    return pd.DataFrame(
        {
            "subject": "S1",
            "session": "T1",
            "frame": [0, 10, 20, 30],
            "AU01": [0, 1, 3, 5],
            "AU02": [0, 0, 2, 1],
            "AU04": [0.0, 0.0, 0.0, np.nan],
        }
    )


def test_level_shares_are_shares_of_labelled_frames(table):
    shares = level_shares(table)
    assert list(shares.columns) == [0, 1, 2, 3, 4, 5]
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert shares.loc["AU01"].tolist() == [0.25, 0.25, 0, 0.25, 0, 0.25]
    assert shares.loc["AU04", 0] == 1.0  # the unlabelled frame does not count


def test_cooccurrence_is_conditional_on_the_row_au(table):
    matrix = au_cooccurrence(table)
    assert matrix.loc["AU01", "AU02"] == pytest.approx(2 / 3)
    assert matrix.loc["AU02", "AU01"] == 1.0
    assert matrix.loc["AU01", "AU04"] == 0.0  # present twice where AU04 is labelled, never with it
    assert matrix.loc["AU04"].isna().all()  # AU04 never occurs


def test_showcase_frames_take_each_subjects_strongest_frame_strongest_first():
    dataset = SimpleNamespace(
        aus=(1, 12),
        intensities=np.array([[0, 1], [5, 0], [0, 3], [np.nan, 4], [0, 2]], dtype=np.float32),
        frames=pd.DataFrame({"subject": ["A", "A", "B", "B", "C"]}),
    )
    assert showcase_frames(dataset, [12], count=3) == [3, 4, 0]
    assert showcase_frames(dataset, [1, 12], count=2) == [1, 3]
    with pytest.raises(ValueError, match="fewer than count=4"):
        showcase_frames(dataset, [12], count=4)
    with pytest.raises(ValueError, match=r"no AU\(s\) \[25\]"):
        showcase_frames(dataset, [25])
