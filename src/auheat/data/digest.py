"""What a prepared dataset holds, as 16 hex digits: the name a run gives its data.

A run's folder is named after everything that shapes it (:meth:`auheat.experiment.RunSpec.digest`),
and the data is part of that: a dataset prepared again with other crops, or SynthFACS faces
generated again by a changed renderer, lands in the same folder under the same name, and a run
named by the folder alone would outlive the faces it was trained on. So the digest covers the
content: ``meta.json`` (less the digest itself), ``frames.csv``, ``landmarks.npy`` and every image's
bytes, in ``frames.csv``'s order. :class:`auheat.data.writer.DatasetWriter` records it in
``meta.json`` as the dataset is written; a dataset written before that is read once per process.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import pandas as pd

from auheat.data.dataset import FRAMES_FILE, LANDMARKS_FILE, META_FILE, read_meta

#: The key of ``meta.json`` that holds the digest.
DIGEST_KEY = "content_digest"


def compute_digest(root: str | Path, meta: dict) -> str:
    """The digest of the dataset in ``root`` whose ``meta.json`` says ``meta`` (which may not be
    written yet: the writer computes it just before)."""
    root = Path(root)
    sha = hashlib.sha1()
    described = {key: value for key, value in meta.items() if key != DIGEST_KEY}
    sha.update(json.dumps(described, sort_keys=True).encode())
    for name in (FRAMES_FILE, LANDMARKS_FILE):
        sha.update((root / name).read_bytes())
    for image in pd.read_csv(root / FRAMES_FILE, usecols=["image"], dtype=str)["image"]:
        sha.update((root / image).read_bytes())
    return sha.hexdigest()[:16]


def dataset_digest(root: str | Path) -> str:
    """The content digest of a prepared dataset: the one its ``meta.json`` records, or, for a
    dataset written without one, computed from its files (once per process for each version of
    its ``meta.json`` and ``frames.csv``)."""
    meta = read_meta(root)
    recorded = meta.get(DIGEST_KEY)
    if recorded is not None:
        if not isinstance(recorded, str):
            raise ValueError(f"{Path(root) / META_FILE}: {DIGEST_KEY!r} must be a string, got {recorded!r}")
        return recorded
    root = Path(root).resolve()
    stamps = tuple((root / name).stat().st_mtime_ns for name in (META_FILE, FRAMES_FILE))
    return _computed(root, stamps)


@lru_cache(maxsize=16)
def _computed(root: Path, stamps: tuple[int, int]) -> str:
    return compute_digest(root, read_meta(root))
