"""The library's layout: imports run one way, from the chapters' layers down to the AU catalogue."""

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "auheat"

# Lowest first. A module imports only from its own layer or the ones below (the package's
# own __version__ aside), so each layer can be read, tested and taught without those above it.
LAYERS = (
    (
        "atomic",
        "cache",
        "checkpoint",
        "progress",
        "timing",
        "aus",
        "mean_face",
        "heatmaps",
        "metrics",
        "stats",
    ),
    ("data", "landmarkers"),
    ("synth",),
    ("models",),
    ("config", "tasks", "evaluation", "train", "pretraining", "prior"),
    ("experiment", "grid", "benchmark", "recipes", "predict", "edit_check", "speed"),
    ("figures",),
    ("widgets", "cli", "api", "chapters", "__main__"),
)


def layer_of(module: str) -> int:
    top = module.split(".")[1]
    for number, names in enumerate(LAYERS):
        if top in names:
            return number
    raise AssertionError(f"{module} is in no layer of tests/test_architecture.py: add it to one")


def library_modules() -> list[tuple[str, Path]]:
    modules = []
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if len(parts) > 1:
            modules.append((".".join(parts), path))
    return modules


def imported(path: Path) -> set[str]:
    """The auheat modules a file imports, at its top or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("auheat."):
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.module == "auheat":
            names.update(f"auheat.{a.name}" for a in node.names if a.name != "__version__")
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("auheat."))
    return names


@pytest.mark.parametrize(("module", "path"), library_modules(), ids=lambda m: m if isinstance(m, str) else "")
def test_a_module_imports_only_its_own_layer_or_those_below(module, path):
    upward = sorted(name for name in imported(path) if layer_of(name) > layer_of(module))
    assert not upward, f"{module} (layer {layer_of(module)}) imports {upward} from a layer above it"


def test_the_layer_check_sees_an_upward_import(tmp_path):
    # The check itself: a data module that imports the training loop is refused.
    path = tmp_path / "prepare.py"
    path.write_text("def f():\n    from auheat.train import Trainer\n")
    assert {name for name in imported(path) if layer_of(name) > layer_of("auheat.data.prepare")} == {
        "auheat.train"
    }


@pytest.mark.parametrize(("module", "path"), library_modules(), ids=lambda m: m if isinstance(m, str) else "")
def test_a_module_stays_short_enough_to_read_in_one_sitting(module, path):
    lines = len(path.read_text().splitlines())
    assert lines <= 500, f"{module} has {lines} lines: split it by what its parts do"


def test_the_public_face_offers_every_name_it_lists_without_the_widgets():
    import subprocess
    import sys

    code = (
        "import sys, auheat.api as api\n"
        "missing = [n for n in api.__all__ if not hasattr(api, n)]\n"
        "assert not missing, missing\n"
        "assert len(set(api.__all__)) == len(api.__all__), 'a name listed twice'\n"
        "assert 'ipywidgets' not in sys.modules, 'auheat.api loaded the widgets'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
