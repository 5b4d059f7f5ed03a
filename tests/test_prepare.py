"""Raw datasets -> prepared datasets, on tiny fixture trees written in the releases' exact formats."""

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auheat.aus import dataset_aus
from auheat.data.dataset import PreparedDataset, read_frames, read_meta
from auheat.data.layouts import bp4d_layout, disfa_layout, fera2017_layout, template_regex
from auheat.data.prepare import PreparationError, PrepareOptions, prepare_dataset
from auheat.data.protocols import DISFA_FOLDS, load_protocol
from auheat.data.raw import RawDataError, read_intensity_file
from auheat.data.subject import DONE
from auheat.synth.standin import write_disfa_tree, write_intensity_file, write_video

ROOT = Path(__file__).resolve().parents[1]
SIZE = 64  # video frames are SIZE x SIZE
FRAMES = 3
SUBJECTS = ("SN001", "SN013", "SN003")  # one subject of each JAA-Net fold
DISFA_AUS = dataset_aus("disfa")


def face_points(seed: int = 0) -> np.ndarray:
    """[68, 2] landmarks in a SIZE frame, with the alignment anchors (chin, outer eye corners) placed."""
    points = np.random.default_rng(seed).uniform(12, 52, (68, 2))
    points[[8, 36, 45]] = [[32, 56], [20, 24], [44, 24]]
    return points


def labels_of(subject_index: int, frames: int = FRAMES) -> dict[int, list[int]]:
    return {au: [(subject_index + k + f) % 6 for f in range(frames)] for k, au in enumerate(DISFA_AUS)}


def disfa_tree(root: Path, subjects=SUBJECTS, frames: int = FRAMES) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    videos = {s: rng.integers(0, 256, (frames, SIZE, SIZE, 3), dtype=np.uint8) for s in subjects}
    labels = {s: labels_of(i, frames) for i, s in enumerate(subjects)}
    landmarks = {s: np.stack([face_points(f) for f in range(frames)]) for s in subjects}
    return write_disfa_tree(root / "raw", videos, labels, landmarks)


def prepare_disfa(folders: dict[str, Path], out: Path, **options):
    layout = disfa_layout(folders["videos"], folders["labels"])
    settings = {k: options.pop(k) for k in ("work", "skip_failed", "keep_shards") if k in options}
    opts = PrepareOptions(crop_size=32, landmarks=str(folders["landmarks"]), **options)
    return prepare_dataset(layout, out, opts, **settings)


def label_file(folders, subject="SN001", au=1) -> Path:
    return folders["labels"] / subject / f"{subject}_au{au}.txt"


@pytest.fixture
def tree(tmp_path):
    return disfa_tree(tmp_path)


def test_disfa_tree_becomes_a_prepared_dataset_with_the_jaa_net_folds_and_a_report(tree, tmp_path):
    out = prepare_disfa(tree, tmp_path / "disfa")
    meta = read_meta(out)
    assert meta["aus"] == list(DISFA_AUS) and meta["crop_size"] == 32
    assert meta["protocol"] == {"kind": "folds", "folds": [["SN001"], ["SN013"], ["SN003"]]}
    frames = read_frames(out)
    assert len(frames) == len(SUBJECTS) * FRAMES
    sn013 = frames[frames["subject"] == "SN013"].sort_values("frame")
    assert sn013["frame"].tolist() == [1, 2, 3]  # DISFA's 1-based frame numbers
    assert sn013["AU01"].tolist() == labels_of(1)[1]
    test = PreparedDataset(out, "test", fold=1)
    assert test.subjects == ("SN013",)
    assert test[0]["image"].shape[-2:] == (32, 32)
    report = json.loads((out / "report.json").read_text())
    assert report["frames_per_subject"] == {"SN001": 3, "SN003": 3, "SN013": 3}
    assert report["coverage"]["AU01"] == 1.0
    assert sum(v for k, v in report["histograms"]["AU01"].items() if k != "unlabelled") == 9
    assert "| SN013 | 3 | 0 |" in (out / "report.md").read_text()
    assert not (tmp_path / "disfa.shards").exists()  # shards go once assembled


def test_frames_without_a_face_or_with_a_failed_fit_are_counted_and_listed(tree, tmp_path):
    points = np.load(tree["landmarks"] / "SN001" / "left.npy")
    points[0] = np.nan  # no face in frame 1
    points[2, [8, 36, 45]] = [[10, 10], [20, 20], [30, 30]]  # collinear anchors: frame 3 cannot align
    np.save(tree["landmarks"] / "SN001" / "left.npy", points)
    out = prepare_disfa(tree, tmp_path / "disfa")
    assert read_frames(out).query("subject == 'SN001'")["frame"].tolist() == [2]
    sn001 = json.loads((out / "report.json").read_text())["subjects"]["SN001"]
    assert sn001["no_face"] == ["left/1"]
    assert [entry.split(":")[0] for entry in sn001["failed_fit"]] == ["left/3"]
    assert sn001["frames_decoded"] == 3 and sn001["frames_kept"] == 1
    assert "2 frames lost" in (out / "report.md").read_text()


def test_a_rerun_skips_finished_subjects_and_rebuilds_one_without_its_marker(tree, tmp_path):
    video = tree["videos"] / "LeftVideoSN003_comp.avi"
    good = video.read_bytes()
    video.write_bytes(b"not a video" * 10)
    work = tmp_path / "shards"
    with pytest.raises(PreparationError, match=r"1 of 3 subjects failed[\s\S]*SN003.*not a readable video"):
        prepare_disfa(tree, tmp_path / "disfa", work=work)
    assert not (tmp_path / "disfa").exists()
    (work / "SN013" / DONE).unlink()  # as if killed while writing: never trusted
    video.write_bytes(good)
    import auheat.data.subject as subject_module

    sessions, real = [], subject_module._prepare_session
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            subject_module,
            "_prepare_session",
            lambda subject, *a: sessions.append(subject) or real(subject, *a),
        )
        out = prepare_disfa(tree, tmp_path / "disfa", work=work, keep_shards=True)
    assert sorted(sessions) == ["SN003", "SN013"]  # SN001 was finished: read, not prepared again
    assert (work / "SN013" / DONE).is_file()
    assert len(read_frames(out)) == 9


def test_shards_made_with_other_options_are_rebuilt(tree, tmp_path):
    work = tmp_path / "shards"
    prepare_disfa(tree, tmp_path / "a", work=work, keep_shards=True)
    out = prepare_disfa(tree, tmp_path / "b", work=work, frame_step=2)
    assert read_frames(out).query("subject == 'SN001'")["frame"].tolist() == [1, 3]


def test_failed_subjects_can_be_left_out_and_are_listed(tmp_path):
    tree = disfa_tree(tmp_path, subjects=(*SUBJECTS, "SN002"))  # SN002 shares SN001's fold
    (tree["videos"] / "LeftVideoSN002_comp.avi").write_bytes(b"\x00" * 100)
    out = prepare_disfa(tree, tmp_path / "disfa", skip_failed=True)
    assert sorted(read_frames(out)["subject"].unique()) == sorted(SUBJECTS)
    assert read_meta(out)["protocol"]["folds"] == [["SN001"], ["SN013"], ["SN003"]]
    assert "not a readable video" in json.loads((out / "report.json").read_text())["failed"]["SN002"]


def test_a_corrupt_video_is_an_error_naming_it(tree, tmp_path):
    video = tree["videos"] / "LeftVideoSN001_comp.avi"
    video.write_bytes(video.read_bytes()[:40])  # truncated: the header survives, no frame decodes
    with pytest.raises(PreparationError, match=re.escape(str(video)) + ": not a readable video"):
        prepare_disfa(tree, tmp_path / "disfa")


def test_a_missing_label_file_is_an_error_naming_it_or_an_unlabelled_au(tree, tmp_path):
    missing = label_file(tree, au=4)
    missing.unlink()
    with pytest.raises(PreparationError, match=re.escape(f"{missing}: label file not found")):
        prepare_disfa(tree, tmp_path / "disfa")
    out = prepare_disfa(tree, tmp_path / "disfa", missing_labels="unlabelled")
    frames = read_frames(out)
    assert frames.query("subject == 'SN001'")["AU04"].isna().all()
    assert frames.query("subject == 'SN013'")["AU04"].notna().all()
    report = json.loads((out / "report.json").read_text())
    assert report["subjects"]["SN001"]["missing_label_files"] == [str(missing)]
    assert report["coverage"]["AU04"] == pytest.approx(2 / 3)


def test_an_empty_subject_label_folder_is_an_error_naming_the_first_missing_file(tree, tmp_path):
    for path in (tree["labels"] / "SN013").iterdir():
        path.unlink()
    with pytest.raises(PreparationError, match=re.escape(str(label_file(tree, "SN013", 1)))):
        prepare_disfa(tree, tmp_path / "disfa")


def test_labels_beyond_the_video_name_the_file_and_line(tree, tmp_path):
    path = label_file(tree, au=12)
    write_intensity_file(path, [1, 2, 3, 4])  # 4 labels, 3 frames
    # Past the video's last frame: the video may be the one at fault, and both are named.
    with pytest.raises(
        PreparationError, match=re.escape(f"the video ends at frame 3, but {path}, line 4 describes")
    ):
        prepare_disfa(tree, tmp_path / "disfa")
    out = prepare_disfa(tree, tmp_path / "disfa", on_mismatch="unlabelled")
    assert json.loads((out / "report.json").read_text())["subjects"]["SN001"]["labels_dropped"] == 1


def test_labels_shorter_than_the_video_are_an_error_or_unlabelled_frames(tree, tmp_path):
    path = label_file(tree, au=12)
    write_intensity_file(path, [1, 2])
    with pytest.raises(PreparationError, match=re.escape(f"{path}: 1 of the 3 frames") + ".*frame 3"):
        prepare_disfa(tree, tmp_path / "disfa")
    out = prepare_disfa(tree, tmp_path / "disfa", on_mismatch="unlabelled")
    assert read_frames(out).query("subject == 'SN001'")["AU12"].tolist()[:2] == [1, 2]
    assert np.isnan(read_frames(out).query("subject == 'SN001'")["AU12"].tolist()[2])


@pytest.mark.parametrize(
    ("text", "unknown", "message"),
    [
        ("1,0\n2,7\n3,1\n", None, "line 2: intensity 7 is outside 0..5"),
        ("1,0\n2,9\n3,1\n", None, "line 2: intensity 9 is outside 0..5"),  # DISFA has no unknown code
        ("1,0\n2,-1\n3,1\n", 9, "line 2: intensity -1 is outside 0..5 or the unknown code 9"),
        ("1,0\n2,1\n2,3\n", None, "line 3: frame 2 appears twice (first at line 2)"),
        ("1,0\n2,x\n", None, "line 2: expected two numbers"),
        ("1,0\n2.5,1\n", None, "line 2: frame number '2.5' is not an integer"),
        ("", None, "the label file is empty"),
    ],
)
def test_bad_label_lines_are_errors_naming_file_and_line(tmp_path, text, unknown, message):
    path = tmp_path / "SN001_au1.txt"
    path.write_text(text)
    with pytest.raises(RawDataError, match=re.escape(f"{path}") + ".*" + re.escape(message)):
        read_intensity_file(path, unknown)


def test_label_files_with_a_header_blank_lines_and_the_unknown_code(tmp_path):
    path = tmp_path / "F001_T1_AU06.csv"
    path.write_text("frame,intensity\n\n10,3\n11,9\n12;0\n")
    labels, lines = read_intensity_file(path, unknown=9)
    assert labels.index.tolist() == [10, 11, 12]
    assert labels[10] == 3 and np.isnan(labels[11]) and labels[12] == 0
    assert lines == {10: 3, 11: 4, 12: 5}


def test_a_duplicate_frame_in_a_label_file_stops_the_subject(tree, tmp_path):
    path = label_file(tree, au=25)
    path.write_text("1,0\n2,1\n2,1\n")
    with pytest.raises(PreparationError, match=re.escape(f"{path}, line 3: frame 2 appears twice")):
        prepare_disfa(tree, tmp_path / "disfa")


def test_without_landmarks_or_face_alignment_weights_the_error_says_where_they_go(
    tree, tmp_path, monkeypatch
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    layout = disfa_layout(tree["videos"], tree["labels"])
    with pytest.raises(FileNotFoundError, match=r"--landmarks[\s\S]*torch hub cache[\s\S]*2DFAN4"):
        prepare_dataset(layout, tmp_path / "disfa", PrepareOptions())


def test_an_existing_output_is_refused_before_any_work(tree, tmp_path):
    (tmp_path / "disfa").mkdir()
    (tmp_path / "disfa" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite"):
        prepare_disfa(tree, tmp_path / "disfa")
    assert not (tmp_path / "disfa.shards").exists()


def test_subjects_outside_the_protocol_are_refused_and_a_json_protocol_replaces_it(tmp_path):
    tree = disfa_tree(tmp_path, subjects=("SN001", "SN013", "SN099"))
    with pytest.raises(ValueError, match=r"\['SN099'\] are in no part or fold.*--protocol"):
        prepare_disfa(tree, tmp_path / "disfa")
    path = tmp_path / "folds.json"
    path.write_text(json.dumps({"kind": "folds", "folds": [["SN001", "SN099"], ["SN013"]]}))
    layout = disfa_layout(tree["videos"], tree["labels"], protocol=load_protocol(path))
    options = PrepareOptions(crop_size=32, landmarks=str(tree["landmarks"]))
    out = prepare_dataset(layout, tmp_path / "disfa", options)
    assert read_meta(out)["protocol"]["folds"] == [["SN001", "SN099"], ["SN013"]]


def test_the_jaa_net_folds_hold_the_27_disfa_subjects_once():
    subjects = [s for fold in DISFA_FOLDS for s in fold]
    assert len(subjects) == len(set(subjects)) == 27 and all(len(f) == 9 for f in DISFA_FOLDS)


def write_frames(folder: Path, numbers) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    from PIL import Image

    for n in numbers:
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(folder / f"{n:04d}.jpg")


def bp4d_tree(root: Path) -> tuple[dict[str, Path], Path]:
    """FERA2015 layout: train/F001/T1, test/M001/T1 and T2; labels in AU folders; an empty subject F002."""
    landmarks = root / "landmarks"
    for part, subject, tasks in (("train", "F001", ("T1",)), ("test", "M001", ("T1", "T2"))):
        for task in tasks:
            write_frames(root / part / subject / task, [10, 11, 12])
            for au in dataset_aus("bp4d"):
                path = root / part / "labels" / f"AU{au:02d}" / f"{subject}_{task}_AU{au:02d}.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("frame,intensity\n10,0\n11,9\n12,4\n")
            (landmarks / subject).mkdir(parents=True, exist_ok=True)
            np.save(landmarks / subject / f"{task}.npy", np.stack([face_points(f) for f in range(3)]))
    (root / "train" / "F002").mkdir()  # an empty subject folder
    return {"train": root / "train", "test": root / "test"}, landmarks


def test_bp4d_frames_partitions_unknown_code_and_an_empty_subject_folder(tmp_path):
    partitions, landmarks = bp4d_tree(tmp_path / "raw")
    layout = bp4d_layout(partitions)
    assert layout.skipped == {"F002": f"{partitions['train'] / 'F002'}: no task folder with frames"}
    out = prepare_dataset(layout, tmp_path / "bp4d", PrepareOptions(crop_size=32, landmarks=str(landmarks)))
    assert read_meta(out)["protocol"] == {"kind": "split", "splits": {"train": ["F001"], "test": ["M001"]}}
    frames = read_frames(out)
    assert frames.groupby("subject").size().to_dict() == {"F001": 3, "M001": 6}
    assert frames["AU06"].isna().tolist() == [False, True, False] * 3  # 9 = unknown
    report = json.loads((out / "report.json").read_text())
    assert report["skipped"] == {"F002": layout.skipped["F002"]}
    assert report["coverage"]["AU12"] == pytest.approx(2 / 3)
    assert report["histograms"]["AU12"]["4"] == 3
    assert len(PreparedDataset(out, "test")) == 6


def test_fera2017_views_become_sessions_and_a_view_column(tmp_path):
    root = tmp_path / "raw" / "train"
    rng = np.random.default_rng(2)
    for view in (1, 6):
        write_video(
            root / "videos" / f"F001_T1_{view}.avi", rng.integers(0, 256, (2, SIZE, SIZE, 3), np.uint8)
        )
        np.save(_mkdir(tmp_path / "lm" / "F001") / f"T1-view{view}.npy", np.stack([face_points(0)] * 2))
    for au in dataset_aus("fera2017"):
        write_intensity_file(root / "labels" / f"F001_T1_AU{au:02d}.csv", [2, 9])
    protocol = {"kind": "folds", "folds": [["F001"], ["F002"]]}
    layout = fera2017_layout(
        {"train": root}, video_template="videos/{subject}_{task}_{view}.avi", protocol=protocol
    )
    with pytest.raises(ValueError, match=r"no prepared subject is in fold\(s\) \[1\]"):
        prepare_dataset(layout, tmp_path / "fera", PrepareOptions(landmarks=str(tmp_path / "lm")))
    layout.protocol = {"kind": "split", "splits": {"train": ["F001"]}}
    out = prepare_dataset(layout, tmp_path / "fera", PrepareOptions(32, str(tmp_path / "lm")))
    frames = read_frames(out)
    assert frames["session"].tolist() == ["T1-view1", "T1-view1", "T1-view6", "T1-view6"]
    assert frames["view"].tolist() == ["1", "1", "6", "6"]
    assert frames["AU01"].tolist()[:1] == [2] and np.isnan(frames["AU01"].iloc[1])


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_templates_match_fields_without_underscores():
    match = template_regex("LeftVideo{subject}_comp.avi").match("LeftVideoSN001_comp.avi")
    assert match["subject"] == "SN001"
    assert template_regex("{subject}_{task}_{view}.mp4").match("F001_T1_extra_2.mp4") is None


def test_the_disfa_script_prepares_a_tree_and_reports_errors_as_messages(tree, tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "data_scripts"))
    try:
        import prepare_disfa
    finally:
        sys.path.pop(0)
    argv = ["--videos", str(tree["videos"]), "--labels", str(tree["labels"]), "--no-progress"]
    argv += ["--landmarks", str(tree["landmarks"]), "--crop-size", "32", "--out", str(tmp_path / "d")]
    prepare_disfa.main(argv)
    assert "report.md" in capsys.readouterr().out
    label_file(tree).write_text("1,0\n2,6\n3,0\n")
    shutil.rmtree(tmp_path / "d")
    with pytest.raises(SystemExit, match=re.escape(f"{label_file(tree)}, line 2: intensity 6")):
        prepare_disfa.main(argv)


def test_two_worker_processes_give_the_same_dataset(tree, tmp_path):
    one = prepare_disfa(tree, tmp_path / "one")
    layout = disfa_layout(tree["videos"], tree["labels"])
    options = PrepareOptions(crop_size=32, landmarks=str(tree["landmarks"]))
    two = prepare_dataset(layout, tmp_path / "two", options, workers=2)
    pd.testing.assert_frame_equal(read_frames(one), read_frames(two))
    assert np.array_equal(np.load(one / "landmarks.npy"), np.load(two / "landmarks.npy"))


# Integrity: damaged images, videos that end early, stale shards, interruption (issue of bad data).


def test_a_truncated_jpeg_is_dropped_and_listed_or_fails_the_subject(tmp_path):
    partitions, landmarks = bp4d_tree(tmp_path / "raw")
    damaged = partitions["train"] / "F001" / "T1" / "0011.jpg"
    damaged.write_bytes(damaged.read_bytes()[: len(damaged.read_bytes()) // 2])
    layout = bp4d_layout(partitions)
    options = PrepareOptions(crop_size=32, landmarks=str(landmarks))
    out = prepare_dataset(layout, tmp_path / "bp4d", options)
    frames = read_frames(out)
    assert frames.query("subject == 'F001'")["frame"].tolist() == [10, 12]  # 11 is not in the dataset
    report = json.loads((out / "report.json").read_text())
    (entry,) = report["subjects"]["F001"]["damaged"]
    assert entry.startswith("T1/11: ") and str(damaged) in entry
    assert "damaged image: 1" in (out / "report.md").read_text()
    strict = PrepareOptions(crop_size=32, landmarks=str(landmarks), on_damaged="error")
    with pytest.raises(PreparationError, match=re.escape(str(damaged)) + ": damaged"):
        prepare_dataset(layout, tmp_path / "strict", strict)


def test_a_video_that_ends_early_is_named_with_the_frame_where_it_ended(tree, tmp_path):
    video = tree["videos"] / "LeftVideoSN001_comp.avi"
    rng = np.random.default_rng(5)
    write_video(video, rng.integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8))  # 2 of 3 frames
    for au in DISFA_AUS:
        write_intensity_file(label_file(tree, au=au), [1, 2])  # the labels agree with the video
    with pytest.raises(PreparationError, match=re.escape(f"{video}: the video ends at frame 2, but ")):
        prepare_disfa(tree, tmp_path / "disfa")
    out = prepare_disfa(tree, tmp_path / "disfa", on_mismatch="unlabelled")
    assert read_frames(out).query("subject == 'SN001'")["frame"].tolist() == [1, 2]
    assert json.loads((out / "report.json").read_text())["subjects"]["SN001"]["landmarks_dropped"] == 1


def test_a_rerun_rebuilds_subjects_whose_labels_changed(tree, tmp_path, capsys):
    work = tmp_path / "shards"
    video = tree["videos"] / "LeftVideoSN003_comp.avi"
    good = video.read_bytes()
    video.write_bytes(b"not a video" * 10)
    with pytest.raises(PreparationError):
        prepare_disfa(tree, tmp_path / "disfa", work=work)
    write_intensity_file(label_file(tree, au=1), [5, 5, 5])  # edited between the runs
    video.write_bytes(good)
    out = prepare_disfa(tree, tmp_path / "disfa", work=work, keep_shards=True)
    assert read_frames(out).query("subject == 'SN001'")["AU01"].tolist() == [5, 5, 5]
    assert f"SN001: rebuilt, its inputs changed ({label_file(tree, au=1)})" in capsys.readouterr().err
    assert json.loads((out / "report.json").read_text())["subjects"]["SN013"]["rebuilt"] is None
    # A third run with nothing changed reuses every kept shard and says nothing was rebuilt.
    out = prepare_disfa(tree, tmp_path / "disfa-again", work=work)
    assert "rebuilt" not in capsys.readouterr().err
    assert not any(
        info["rebuilt"] for info in json.loads((out / "report.json").read_text())["subjects"].values()
    )


def test_a_rerun_with_another_labels_folder_or_session_name_rebuilds_every_subject(tree, tmp_path):
    work = tmp_path / "shards"
    prepare_disfa(tree, tmp_path / "a", work=work, keep_shards=True)
    other = tmp_path / "labels2"
    shutil.copytree(tree["labels"], other)
    write_intensity_file(other / "SN013" / "SN013_au4.txt", [1, 1, 1])
    layout = disfa_layout(tree["videos"], other, session="right")
    options = PrepareOptions(crop_size=32, landmarks=str(tree["landmarks"]))
    (tree["landmarks"] / "SN013" / "left.npy").rename(tree["landmarks"] / "SN013" / "right.npy")
    for subject in ("SN001", "SN003"):
        shutil.copy(tree["landmarks"] / subject / "left.npy", tree["landmarks"] / subject / "right.npy")
    out = prepare_dataset(layout, tmp_path / "b", options, work=work)
    frames = read_frames(out)
    assert set(frames["session"]) == {"right"}
    assert frames.query("subject == 'SN013'")["AU04"].tolist() == [1, 1, 1]
    assert all(info["rebuilt"] for info in json.loads((out / "report.json").read_text())["subjects"].values())


def test_a_rerun_removes_what_a_killed_run_left(tree, tmp_path):
    work = tmp_path / "shards"
    (work / ".SN001.partial-x1y2").mkdir(parents=True)  # a shard being built when killed
    (tmp_path / ".disfa.partial-z3").mkdir()  # a dataset being assembled when killed
    prepare_disfa(tree, tmp_path / "disfa", work=work, keep_shards=True)
    assert not list(work.glob(".*")) and not list(tmp_path.glob(".disfa.partial-*"))


def test_ctrl_c_says_what_is_done_and_how_to_resume(tree, tmp_path, monkeypatch):
    import auheat.data.prepare as prepare

    real, calls = prepare.prepare_subject, []

    def interrupted_on_the_second(*args):
        calls.append(args[0].name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(prepare, "prepare_subject", interrupted_on_the_second)
    with pytest.raises(prepare.PreparationInterrupted, match=r"interrupted: 1 of 3 subjects are done in "):
        prepare_disfa(tree, tmp_path / "disfa", work=tmp_path / "shards")
    assert not (tmp_path / "disfa").exists()


def test_a_failed_subject_alone_in_its_fold_keeps_its_reason_with_skip_failed(tree, tmp_path):
    video = tree["videos"] / "LeftVideoSN013_comp.avi"
    video.write_bytes(b"\x00" * 100)
    with pytest.raises(
        PreparationError, match=r"fold\(s\) \[1\][\s\S]*--protocol[\s\S]*SN013: .*not a readable"
    ):
        prepare_disfa(tree, tmp_path / "disfa", skip_failed=True)


def test_a_missing_intensity_is_named_as_missing(tmp_path):
    path = tmp_path / "SN001_au1.txt"
    path.write_text("1,0\n2,\n")
    with pytest.raises(RawDataError, match=re.escape(f"{path}, line 2: expected two numbers")):
        read_intensity_file(path)


# DISFA's own landmark files: one MATLAB file of 66 points per frame, counted from 0.


def test_disfa_mat_landmarks_are_read_in_ibug_order(tree, tmp_path):
    from scipy.io import savemat

    from auheat.data.raw import points_66_to_68, read_mat_landmarks

    mats = tmp_path / "Landmark_Points"
    expected = {}
    for subject in SUBJECTS:
        points68 = np.load(tree["landmarks"] / subject / "left.npy").astype(np.float64)
        folder = mats / subject / "tmp_frame_lm"
        folder.mkdir(parents=True)
        for f, face in enumerate(points68):
            points66 = np.delete(face, [60, 64], axis=0)  # the 66-point scheme has no inner mouth corners
            savemat(folder / f"{subject}_{f:04d}_lm.mat", {"pts": points66})
        expected[subject] = points68
    read = read_mat_landmarks(mats / "SN001" / "tmp_frame_lm")
    assert sorted(read) == [1, 2, 3]  # file 0000 is video frame 1
    keep = [i for i in range(68) if i not in (60, 64)]
    np.testing.assert_allclose(read[1][keep], expected["SN001"][0][keep])
    np.testing.assert_allclose(read[1][[60, 64]], expected["SN001"][0][[48, 54]])  # the outer corners
    with pytest.raises(ValueError, match=r"expected \[66, 2\]"):
        points_66_to_68(np.zeros((68, 2)))
    out = prepare_disfa({**tree, "landmarks": mats}, tmp_path / "disfa")
    assert len(read_frames(out)) == len(SUBJECTS) * FRAMES
    savemat(mats / "SN001" / "tmp_frame_lm" / "SN001_0001_lm.mat", {"pts": np.zeros((5, 2))})
    with pytest.raises(PreparationError, match=r"SN001_0001_lm.mat: expected one array of 66 or 68"):
        prepare_disfa({**tree, "landmarks": mats}, tmp_path / "disfa2")


def test_a_label_file_found_nowhere_is_named_as_searched(tmp_path):
    partitions, landmarks = bp4d_tree(tmp_path / "raw")
    missing = partitions["train"] / "labels" / "AU14" / "F001_T1_AU14.csv"
    missing.unlink()
    options = PrepareOptions(crop_size=32, landmarks=str(landmarks))
    searched = partitions["train"] / "**" / "F001_T1_AU14.csv"  # looked up anywhere under the part
    with pytest.raises(PreparationError, match=re.escape(str(searched))):
        prepare_dataset(bp4d_layout(partitions), tmp_path / "bp4d", options)


def test_the_scripts_end_an_interruption_with_one_line(tree, tmp_path, monkeypatch, capsys):
    import auheat.data.scripts as scripts
    from auheat.data.prepare import PreparationInterrupted

    def interrupted(*args, **kwargs):
        raise PreparationInterrupted("interrupted: 1 of 3 subjects are done in shards; run it again")

    monkeypatch.setattr(scripts, "prepare_dataset", interrupted)
    sys.path.insert(0, str(ROOT / "data_scripts"))
    try:
        import prepare_disfa
    finally:
        sys.path.pop(0)
    argv = ["--videos", str(tree["videos"]), "--labels", str(tree["labels"]), "--out", str(tmp_path / "d")]
    with pytest.raises(SystemExit) as stop:
        prepare_disfa.main([*argv, "--landmarks", str(tree["landmarks"]), "--no-progress"])
    assert stop.value.code == 130
    assert capsys.readouterr().err.strip().splitlines() == [
        "prepare_disfa.py: interrupted: 1 of 3 subjects are done in shards; run it again"
    ]


def _script(name: str):
    sys.path.insert(0, str(ROOT / "data_scripts"))
    try:
        return __import__(name)
    finally:
        sys.path.pop(0)


def test_the_bp4d_script_prepares_the_fera2015_partitions(tmp_path, capsys):
    partitions, landmarks = bp4d_tree(tmp_path / "raw")
    argv = [f"--partition=train={partitions['train']}", f"--partition=test={partitions['test']}"]
    argv += [
        "--landmarks",
        str(landmarks),
        "--crop-size",
        "32",
        "--out",
        str(tmp_path / "bp4d"),
        "--no-progress",
    ]
    _script("prepare_bp4d").main(argv)
    assert "9 frames of 2 subjects; 0 frames left out" in capsys.readouterr().out
    assert read_meta(tmp_path / "bp4d")["protocol"]["splits"] == {"train": ["F001"], "test": ["M001"]}


def test_the_fera2017_script_prepares_views_as_sessions(tmp_path, capsys):
    root = tmp_path / "raw" / "train"
    rng = np.random.default_rng(2)
    for view in (1, 6):
        write_video(root / f"F001_T1_{view}.mp4", rng.integers(0, 256, (2, SIZE, SIZE, 3), np.uint8))
        np.save(_mkdir(tmp_path / "lm" / "F001") / f"T1-view{view}.npy", np.stack([face_points(0)] * 2))
    for au in dataset_aus("fera2017"):
        write_intensity_file(root / f"F001_T1_AU{au:02d}.csv", [2, 9])
    argv = [f"--partition=train={root}", "--landmarks", str(tmp_path / "lm"), "--crop-size", "32"]
    _script("prepare_fera2017").main([*argv, "--out", str(tmp_path / "fera"), "--no-progress"])
    assert "4 frames of 1 subjects" in capsys.readouterr().out
    assert set(read_frames(tmp_path / "fera")["view"]) == {"1", "6"}


@pytest.mark.parametrize(
    ("pairs", "message"),
    [(["train"], "'train' must be NAME=FOLDER"), (["train=/a", "train=/b"], "part 'train' is given twice")],
)
def test_partition_folders_refuse_a_pair_without_a_folder_or_a_part_twice(pairs, message):
    from auheat.data.scripts import named_folders

    with pytest.raises(SystemExit, match=message):
        named_folders(pairs)
