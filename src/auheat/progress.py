"""Progress bars, switched off in one place: tqdm's own ``TQDM_DISABLE`` environment variable.

Every long loop of the library (rendering, decoding, training, predicting) shows a tqdm bar, and
no function takes a parameter for it. ``TQDM_DISABLE=1`` switches every bar off, in this process
and in the worker processes it starts, which inherit the environment (the book's build sets it
for its chapters, whose pages would otherwise keep the bars' residue).

tqdm reads the variable once, when it is imported; :func:`progress_bar` reads it at each call,
so that the switch also holds when it is set later: by :func:`progress_hidden` (``auheat ...
--no-progress``) or in a notebook cell.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from tqdm.auto import tqdm

SWITCH = "TQDM_DISABLE"


def progress_off() -> bool:
    """Whether ``TQDM_DISABLE`` switches the bars off (any value but empty, 0 or false)."""
    return os.environ.get(SWITCH, "").strip().lower() not in ("", "0", "false")


def progress_bar(iterable: Iterable | None = None, *, shown: bool = True, **kwargs) -> tqdm:
    """tqdm's bar over ``iterable`` (``kwargs`` are tqdm's), unless the switch is off or ``shown``
    is False (a process other than the first of a distributed run)."""
    return tqdm(iterable, disable=progress_off() or not shown, **kwargs)


@contextmanager
def progress_hidden() -> Iterator[None]:
    """Switch the bars off inside the block (and in the processes it starts), then back."""
    before = os.environ.get(SWITCH)
    os.environ[SWITCH] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ[SWITCH]
        else:
            os.environ[SWITCH] = before
