import json
import shutil

import numpy as np
import pytest
from PIL import Image
from test_dataset import edit_frames, write_tiny

from auheat.cache import source_digest
from auheat.data.dataset import read_meta
from auheat.data.digest import DIGEST_KEY, compute_digest, dataset_digest


def test_the_writer_records_the_content_digest_that_the_files_give(tmp_path):
    rows, _ = write_tiny(tmp_path / "ds")
    meta = read_meta(tmp_path / "ds")
    assert isinstance(meta[DIGEST_KEY], str) and len(meta[DIGEST_KEY]) == 16
    assert compute_digest(tmp_path / "ds", meta) == meta[DIGEST_KEY] == dataset_digest(tmp_path / "ds")
    write_tiny(tmp_path / "again")  # the same content elsewhere: the same name
    assert dataset_digest(tmp_path / "again") == meta[DIGEST_KEY]


def test_one_changed_image_or_label_changes_the_digest(tmp_path):
    rows, _ = write_tiny(tmp_path / "ds")
    before = dataset_digest(tmp_path / "ds")
    image = tmp_path / "ds" / rows[0]["image"]
    shutil.copytree(tmp_path / "ds", tmp_path / "pixels")
    pixels = np.asarray(Image.open(image)).copy()
    pixels[0, 0] ^= 255
    Image.fromarray(pixels).save(tmp_path / "pixels" / rows[0]["image"], quality=95)
    meta = read_meta(tmp_path / "pixels")
    assert compute_digest(tmp_path / "pixels", meta) != before
    shutil.copytree(tmp_path / "ds", tmp_path / "labels")

    def one_intensity(frames):
        column = next(c for c in frames.columns if c.startswith("AU"))
        frames.loc[0, column] = "5" if frames.loc[0, column] != "5" else "4"

    edit_frames(tmp_path / "labels", one_intensity)
    assert compute_digest(tmp_path / "labels", meta) != before


def test_a_dataset_written_without_a_digest_is_named_by_its_files(tmp_path):
    write_tiny(tmp_path / "ds")
    recorded = dataset_digest(tmp_path / "ds")
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    del meta[DIGEST_KEY]
    (tmp_path / "ds" / "meta.json").write_text(json.dumps(meta))
    assert dataset_digest(tmp_path / "ds") == recorded


def test_a_source_digest_follows_the_code_a_module_imports_not_its_comments(tmp_path, monkeypatch):
    package = tmp_path / "digestpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from digestpkg import b\n\n    return b.VALUE\n")
    (package / "b.py").write_text('"""Module b."""\n\nVALUE = 1  # one\n')
    (package / "c.py").write_text("OTHER = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def digest() -> str:
        source_digest.cache_clear()
        return source_digest("digestpkg.a")

    first = digest()
    (package / "b.py").write_text('"""Module b, reworded."""\n\nVALUE = 1  # still one\n')
    (package / "c.py").write_text("OTHER = 3\n")  # not imported by a
    assert digest() == first
    (package / "b.py").write_text("VALUE = 2\n")  # imported inside a's function
    assert digest() != first
    with pytest.raises(ModuleNotFoundError, match="digestpkg.missing"):
        source_digest("digestpkg.missing")
