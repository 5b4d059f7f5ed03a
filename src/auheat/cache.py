"""The library's cache folder: datasets, landmark networks, decoded inputs and runs made once."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from filelock import FileLock


def cache_dir() -> Path:
    """The library's cache folder: ``$AUHEAT_CACHE``, else ``~/.cache/auheat``."""
    return Path(os.environ.get("AUHEAT_CACHE") or Path.home() / ".cache" / "auheat")


def made_once(path: str | Path) -> FileLock:
    """A lock for making ``path`` (a dataset, a run folder) if it is missing.

    Two processes sharing the cache, such as two notebooks or two chapters of a parallel book
    build, would otherwise make the same entry at once and collide when renaming it into place.
    Inside ``with made_once(path):`` check for the entry and make it: the second process waits,
    then finds it made. The lock file ``<path>.lock`` sits beside the entry.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(f"{path}.lock")


def content_digest(path: str | Path) -> str:
    """16 hex digits of a file's SHA-1: names what a file holds, whatever it is called.

    A file is read once per process for each (size, modification time) it has: a run's digest asks
    for its landmark network's every time it is named, and 2DFAN4's weights are 95 MB.
    """
    path = Path(path).resolve()
    stat = path.stat()
    return _digest(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _digest(path: Path, size: int, mtime_ns: int) -> str:
    sha = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:16]
