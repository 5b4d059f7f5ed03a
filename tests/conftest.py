"""Fixtures shared by several test modules."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"


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


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """The whole book built in its quick setting, once for the session (test_book, test_browser)."""
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
    result = subprocess.run(
        [sys.executable, str(BOOK / "build.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, f"book build failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return out
