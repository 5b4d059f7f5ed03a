"""The library's cache folder: datasets, landmark networks, decoded inputs and runs made once."""

from __future__ import annotations

import os
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
