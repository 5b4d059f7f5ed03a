"""Lint and format are part of the suite, so a style slip fails like any other defect."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ["src", "tests", "book/build.py", "data_scripts"]


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, *TARGETS], cwd=ROOT, capture_output=True, text=True
    )


def test_ruff_finds_no_lint_errors():
    result = ruff("check")
    assert result.returncode == 0, result.stdout


def test_code_is_ruff_formatted():
    result = ruff("format", "--check")
    assert result.returncode == 0, result.stdout
