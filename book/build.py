"""Execute every chapter of the book with papermill, then render the HTML with Jupyter Book 1.x.

    python book/build.py                  # full runs, as `make book`
    python book/build.py --quick          # each chapter's quick setting, as the tests
    python book/build.py --quick --chapters 01_heatmap_targets --no-html

The sources are copied to ``<out>/src`` and the executed chapters written there, so the
committed notebooks stay free of outputs. A cell that raises stops the build with the
chapter's name and the failing cell; the rendering fails on any Sphinx warning.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import papermill
import yaml

BOOK = Path(__file__).resolve().parent


def chapters() -> list[str]:
    """Chapter notebooks in table-of-contents order (names without suffix)."""
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    names = [entry["file"] for part in _parts(toc) for entry in part]
    return [n for n in names if (BOOK / f"{n}.ipynb").exists()]


def _parts(toc: dict) -> list[list[dict]]:
    if "parts" in toc:
        return [part["chapters"] for part in toc["parts"]]
    return [toc.get("chapters", [])]


def execute(names: list[str], src: Path, quick: bool) -> None:
    for name in names:
        start = time.perf_counter()
        print(f"executing {name} ({'quick' if quick else 'full'})", flush=True)
        papermill.execute_notebook(
            str(BOOK / f"{name}.ipynb"),
            str(src / f"{name}.ipynb"),
            parameters={"QUICK": quick},
            cwd=str(src),
            kernel_name="python3",
            progress_bar=False,
        )
        print(f"  {name}: {time.perf_counter() - start:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BOOK / "_build", help="build folder")
    parser.add_argument("--quick", action="store_true", help="run each chapter's quick setting")
    parser.add_argument("--chapters", nargs="*", help="only these chapters (default: all in _toc.yml)")
    parser.add_argument("--no-html", action="store_true", help="execute only, skip the rendering")
    args = parser.parse_args(argv)

    names = args.chapters or chapters()
    unknown = [n for n in names if not (BOOK / f"{n}.ipynb").exists()]
    if unknown:
        parser.error(f"no such chapter(s) in {BOOK}: {', '.join(unknown)}")

    src = args.out / "src"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(BOOK, src, ignore=shutil.ignore_patterns("_build", "*.ipynb", "build.py", "__pycache__"))
    execute(names, src, args.quick)
    if args.no_html:
        return 0
    for name in chapters():  # chapters left out of --chapters are rendered unexecuted
        if not (src / f"{name}.ipynb").exists():
            shutil.copy(BOOK / f"{name}.ipynb", src / f"{name}.ipynb")
    cmd = [
        "jupyter-book",
        "build",
        str(src),
        "--path-output",
        str(args.out),
        "--warningiserror",
        "--keep-going",
    ]
    print(" ".join(cmd), flush=True)
    code = subprocess.run([str(Path(sys.executable).parent / cmd[0]), *cmd[1:]]).returncode
    if code == 0:
        print(f"the book: {args.out / '_build' / 'html' / 'index.html'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
