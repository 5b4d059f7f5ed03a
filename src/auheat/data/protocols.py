"""The evaluation protocols of the literature, as data, and how a user replaces them.

A protocol is the dictionary of :func:`split_protocol` or :func:`folds_protocol`, stored in a
prepared dataset's ``meta.json``; ``auheat train --fold k`` then trains and tests on it. A JSON
file holding such a dictionary (``{"kind": "folds", "folds": [[...], ...]}`` or
``{"kind": "split", "splits": {...}}``) replaces the default one (``--protocol`` in the
data_scripts).

* DISFA: 3 subject-independent folds of 9 subjects (below).
* BP4D, FERA2015 release: train on the training partition, test on the development partition.
* FERA2017: train on the training partition, test on the validation partition.

The last two come from where the data sits: each partition is its own folder in the releases,
so the scripts take one folder per part (:func:`partition_protocol`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

# The frames.csv column that records each subject's part of a protocol, by protocol kind.
PROTOCOL_COLUMNS = {"split": "split", "folds": "fold"}


def split_protocol(splits: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """A protocol that divides subjects into named parts, e.g. ``{"train": [...], "test": [...]}``."""
    protocol = {
        "kind": "split",
        "splits": {name: [str(s) for s in subjects] for name, subjects in splits.items()},
    }
    check_protocol(protocol)
    return protocol


def folds_protocol(folds: Sequence[Sequence[str]]) -> dict[str, Any]:
    """A protocol of subject-independent folds: fold k tests on ``folds[k]``, trains on the others."""
    protocol = {"kind": "folds", "folds": [[str(s) for s in fold] for fold in folds]}
    check_protocol(protocol)
    return protocol


def check_protocol(protocol: Any, where: str = "protocol") -> None:
    """Raise ValueError, naming ``where``, unless ``protocol`` is a valid split or folds protocol.

    Every part or fold must list at least one subject, and no subject may appear twice.
    """
    if not isinstance(protocol, Mapping) or protocol.get("kind") not in PROTOCOL_COLUMNS:
        raise ValueError(f"{where}: must be a mapping with kind 'split' or 'folds', got {protocol!r}")
    if protocol["kind"] == "split":
        parts = protocol.get("splits")
        if not isinstance(parts, Mapping) or not parts:
            raise ValueError(f"{where}: a 'split' protocol needs 'splits', a mapping of name -> subjects")
        groups = {str(name): subjects for name, subjects in parts.items()}
    else:
        folds = protocol.get("folds")
        if not isinstance(folds, Sequence) or isinstance(folds, str) or len(folds) < 2:
            raise ValueError(
                f"{where}: a 'folds' protocol needs 'folds', a list of at least two subject lists"
            )
        groups = {f"fold {k}": subjects for k, subjects in enumerate(folds)}
    seen: dict[str, str] = {}
    for name, subjects in groups.items():
        if isinstance(subjects, str) or not isinstance(subjects, Sequence) or not subjects:
            raise ValueError(f"{where}: {name} must be a non-empty list of subject names, got {subjects!r}")
        for subject in subjects:
            if not isinstance(subject, str) or not subject:
                raise ValueError(f"{where}: {name} lists {subject!r}; subject names are non-empty strings")
            if subject in seen:
                raise ValueError(f"{where}: subject {subject!r} is in both {seen[subject]} and {name}")
            seen[subject] = name


#: The DISFA 3-fold split of JAA-Net (Shao, Liu, Cai, Ma: "Deep Adaptive Attention for Joint Facial
#: Action Unit Detection and Face Alignment", ECCV 2018), reused by later work so that results are
#: comparable. Fold k tests on ``DISFA_FOLDS[k]`` and trains on the other 18 subjects.
DISFA_FOLDS: tuple[tuple[str, ...], ...] = (
    ("SN002", "SN010", "SN001", "SN026", "SN027", "SN032", "SN030", "SN009", "SN016"),
    ("SN013", "SN018", "SN011", "SN028", "SN012", "SN006", "SN031", "SN021", "SN024"),
    ("SN003", "SN017", "SN023", "SN029", "SN025", "SN008", "SN005", "SN007", "SN004"),
)


def disfa_protocol() -> dict[str, Any]:
    """DISFA's 3 subject-independent folds (:data:`DISFA_FOLDS`)."""
    return folds_protocol(DISFA_FOLDS)


def partition_protocol(partitions: Mapping[str, Iterable[str]]) -> dict[str, Any]:
    """A split protocol from the subjects found in each partition folder, e.g. ``train`` and ``test``."""
    return split_protocol({name: sorted(subjects) for name, subjects in partitions.items()})


def load_protocol(path: str | Path) -> dict[str, Any]:
    """Read a protocol from a JSON file (format in the module docstring) and check it."""
    path = Path(path)
    try:
        protocol = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable JSON protocol ({error})") from None
    check_protocol(protocol, str(path))
    return protocol


def protocol_subjects(protocol: Mapping[str, Any]) -> dict[str, Any]:
    """Each subject of a protocol -> its part name (split) or fold number (folds)."""
    if protocol["kind"] == "split":
        return {s: name for name, subjects in protocol["splits"].items() for s in subjects}
    return {s: k for k, subjects in enumerate(protocol["folds"]) for s in subjects}


def restrict_protocol(protocol: Mapping[str, Any], subjects: Sequence[str]) -> dict[str, Any]:
    """The protocol with only ``subjects`` (those prepared), so meta.json lists no absent subject.

    Raises:
        ValueError: a subject the protocol does not list, or a part or fold left with no subject.
    """
    where = protocol_subjects(protocol)
    unknown = sorted(set(subjects) - set(where))
    if unknown:
        raise ValueError(
            f"subjects {unknown} are in no part or fold of the protocol; give a protocol JSON file that "
            "lists them (--protocol)"
        )
    keep = set(subjects)
    if protocol["kind"] == "split":
        parts = {name: [s for s in members if s in keep] for name, members in protocol["splits"].items()}
        empty = [name for name, members in parts.items() if not members]
        if empty:
            raise ValueError(
                f"no prepared subject is in part(s) {empty} of the protocol; every part needs one: "
                "prepare subjects of every part, or give a protocol of the subjects at hand (--protocol)"
            )
        return split_protocol(parts)
    folds = [[s for s in members if s in keep] for members in protocol["folds"]]
    empty = [k for k, members in enumerate(folds) if not members]
    if empty:
        raise ValueError(
            f"no prepared subject is in fold(s) {empty} of the protocol (0-based); every fold needs one: "
            "prepare subjects of every fold, or give a protocol of the subjects at hand (--protocol)"
        )
    return folds_protocol(folds)
