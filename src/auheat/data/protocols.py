"""The evaluation protocols of the literature, as data, and how a user replaces them.

A protocol is the dictionary of :func:`auheat.data.dataset.split_protocol` or
:func:`~auheat.data.dataset.folds_protocol`, stored in a prepared dataset's ``meta.json``.
``auheat train --fold k`` then trains and tests on it. A JSON file holding such a dictionary
(``{"kind": "folds", "folds": [[...], ...]}`` or ``{"kind": "split", "splits": {...}}``) replaces
the default one (``--protocol`` in the data_scripts).

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

from auheat.data.dataset import check_protocol, folds_protocol, split_protocol

# The DISFA 3-fold split of JAA-Net (Shao, Liu, Cai, Ma: "Deep Adaptive Attention for Joint Facial
# Action Unit Detection and Face Alignment", ECCV 2018), reused by later work so that results are
# comparable. Fold k tests on DISFA_FOLDS[k] and trains on the other 18 subjects.
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
