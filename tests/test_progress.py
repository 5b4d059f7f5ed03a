"""One switch for every progress bar: tqdm's own TQDM_DISABLE, read at each call (auheat.progress)."""

import os

import pytest

from auheat.cli import main
from auheat.progress import SWITCH, progress_bar, progress_hidden, progress_off


@pytest.mark.parametrize(
    ("value", "off"), [(None, False), ("", False), ("0", False), ("false", False), ("1", True)]
)
def test_the_switch_is_tqdms_own_variable(monkeypatch, value, off):
    if value is None:
        monkeypatch.delenv(SWITCH, raising=False)
    else:
        monkeypatch.setenv(SWITCH, value)
    assert progress_off() is off
    assert progress_bar(range(3)).disable is off
    assert progress_bar(range(3), shown=False).disable  # another rank of a distributed run


def test_hiding_the_bars_holds_inside_the_block_and_restores_the_switch(monkeypatch):
    monkeypatch.delenv(SWITCH, raising=False)
    with progress_hidden():
        assert progress_bar(range(3)).disable and os.environ[SWITCH] == "1"
    assert SWITCH not in os.environ and not progress_off()
    monkeypatch.setenv(SWITCH, "0")
    with progress_hidden():
        assert progress_off()
    assert os.environ[SWITCH] == "0"


def test_the_command_lines_no_progress_hides_the_bars_for_the_command_only(monkeypatch):
    monkeypatch.delenv(SWITCH, raising=False)
    seen = []
    monkeypatch.setattr("auheat.cli._predict", lambda args: seen.append(progress_off()))
    main(["predict", "photo.jpg", "--checkpoint", "model.safetensors"])
    main(["predict", "photo.jpg", "--checkpoint", "model.safetensors", "--no-progress"])
    assert seen == [False, True] and SWITCH not in os.environ
