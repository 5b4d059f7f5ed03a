"""The library's cache folder: datasets, landmark networks, decoded inputs and runs made once."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The library's cache folder: ``$AUHEAT_CACHE``, else ``~/.cache/auheat``."""
    return Path(os.environ.get("AUHEAT_CACHE") or Path.home() / ".cache" / "auheat")
