"""Fixtures shared by several test modules."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BOOK = Path(__file__).resolve().parents[1] / "book"
# No progress bars in the tests' output, nor in the processes they start (auheat.progress).
os.environ["TQDM_DISABLE"] = "1"


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """Every test writes its caches (decoded inputs, datasets, weights) under a temporary folder,
    never the user's; a test that needs its own empty cache sets AUHEAT_CACHE itself."""
    previous = os.environ.get("AUHEAT_CACHE")
    os.environ["AUHEAT_CACHE"] = str(tmp_path_factory.mktemp("auheat-cache"))
    yield
    if previous is None:
        del os.environ["AUHEAT_CACHE"]
    else:
        os.environ["AUHEAT_CACHE"] = previous


def pytest_collection_modifyitems(items):
    """The tests of the built book run last, so that the rest of the suite runs while it builds."""
    items.sort(key=lambda item: "built_book" in item.fixturenames)  # a stable sort: order kept


@pytest.fixture(autouse=True, scope="session")
def book_build(request, tmp_path_factory):
    """The whole book, built in its quick setting in the background from the session's start
    when a collected test needs it (test_book, test_browser).

    The build executes two chapters at a time with one torch thread each; the tests that run
    meanwhile get one thread too, so that no process waits on threads that share a core.
    """
    if not any("built_book" in item.fixturenames for item in request.session.items):
        yield None
        return
    out = tmp_path_factory.mktemp("book")
    # A fresh cache: the chapters make their own data and landmark network, as on a new machine.
    # Its own temporary folder, so that test_book can check that the chapters leave nothing there.
    (out / "tmp").mkdir()
    env = {
        **os.environ,
        "AUHEAT_CACHE": str(out / "cache"),
        "TORCH_HOME": str(out / "torch"),
        "TMPDIR": str(out / "tmp"),
        "TORCHINDUCTOR_CACHE_DIR": str(out / "torchinductor"),  # torch's own cache, not the chapters'
    }
    command = [sys.executable, str(BOOK / "build.py"), "--quick", "--jobs", "2", "--out", str(out)]
    threads = torch.get_num_threads()
    with open(out / "build.log", "w") as log:
        build = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    torch.set_num_threads(1)
    yield build, out, threads
    if build.poll() is None:  # the session ended (or was interrupted) before a book test waited
        build.kill()
        build.wait()
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def cores_back_after_the_book_build(book_build):
    """Tests that start after the background build has finished get every core again."""
    if book_build is not None and book_build[0].poll() is not None:
        torch.set_num_threads(book_build[2])


@pytest.fixture(scope="session")
def built_book(book_build) -> Path:
    """The built book's folder, once its background build has finished."""
    build, out, threads = book_build
    code = build.wait()
    torch.set_num_threads(threads)  # the build no longer shares the cores
    log = (out / "build.log").read_text()
    assert code == 0, f"book build failed:\n{log[-12000:]}"
    return out


@pytest.fixture
def crop() -> np.ndarray:
    """A 256x256 RGB crop of noise (test_figures, test_widgets)."""
    return np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)


@pytest.fixture
def landmarks() -> np.ndarray:
    """68 points spread over the middle of a 256x256 crop (crop pixels)."""
    return np.random.default_rng(1).uniform(60, 196, (68, 2)).astype(np.float32)


@pytest.fixture
def reading(crop):
    """A face's reading by a model of three AUs: a peak of 2 at the centre of AU 12's map."""
    heatmaps = np.zeros((3, 16, 16))
    heatmaps[1, 8, 8] = 2.0
    heatmaps[2, 2:5, 2:5] = 0.5
    from auheat.predict import FaceReading, Reading

    levels, peaks = np.array([0.0, 2.1, 0.4]), np.full((1, 3, 2), np.nan)
    return FaceReading(crop, np.zeros((68, 2)), Reading(levels[None], heatmaps[None], peaks))
