"""Execute every chapter of the book with papermill, then render the HTML with Jupyter Book 1.x.

    python book/build.py                  # full runs, as `make book`
    python book/build.py --quick          # each chapter's quick setting, as the tests
    python book/build.py --quick --chapters 01_heatmap_targets --no-html
    python book/build.py --quick --jobs 2  # two chapters at a time (the tests)
    python book/build.py --student         # the student edition: exercises without their solutions

The sources are copied to ``<out>/src`` and the executed chapters written there, so the
committed notebooks stay free of outputs. A build of some chapters (``--chapters``) keeps the
other chapters as the last build into ``<out>`` executed them, where their notebook, the library's
code and the setting are unchanged (each executed chapter records them), and renders the rest
unexecuted. A cell that raises stops the build with the
chapter's name and the failing cell; the rendering fails on any Sphinx warning.

The build measures each chapter's execution and writes the table into the course page's
``timings.md`` (the teacher plans sessions from it). ``--student`` leaves every exercise's folded
solution out of the pages (the self-checks keep their answers: they are for the reader's own
check), and says so on the landing page; the default is the teacher's edition, with solutions.

The chapters run with ``AUHEAT_EXPLORER_PAGES=1``, so each interactive explorer also gives its
page version: its figure precomputed over a grid of its controls, with HTML controls that switch
between the pictures without a kernel (:mod:`auheat.widgets`). The pages render that version, not
the live widget, whose Python callbacks cannot run there (``nb_mime_priority_overrides`` in
_config.yml); the widgets' saved state is dropped from the executed chapters for the same reason.

The pages load their scripts from the site itself, not from a CDN, so the book works offline:
MathJax from ``_static/mathjax`` (``mathjax_path`` in _config.yml), installed with npm from
book/package-lock.json into book/node_modules and copied there.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
import papermill
import yaml
from jupyter_client.manager import AsyncKernelManager

import auheat
from auheat.cache import cache_dir

BOOK = Path(__file__).resolve().parent
NODE_MODULES = BOOK / "node_modules"


def chapters() -> list[str]:
    """Chapter notebooks in table-of-contents order (names without suffix)."""
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    names = [entry["file"] for part in _parts(toc) for entry in part]
    return [n for n in names if (BOOK / f"{n}.ipynb").exists()]


def _parts(toc: dict) -> list[list[dict]]:
    if "parts" in toc:
        return [part["chapters"] for part in toc["parts"]]
    return [toc.get("chapters", [])]


# The repository is named in one place, _config.yml's ``repository`` (url and branch). Each
# chapter's Colab badge and Colab install cell must carry it too, since Colab runs the committed
# notebook; ``--set-repository URL`` writes it everywhere and the build refuses stale copies.
COLAB_BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/[^/\s)]+/book/")
INSTALL = re.compile(r"auheat\[book\] @ git\+https://github\.com/[^/\s\"\\]+/[^/\s\"\\]+")


def repository() -> tuple[str, str]:
    """(url, branch) of the repository, from _config.yml."""
    config = yaml.safe_load((BOOK / "_config.yml").read_text())["repository"]
    return config["url"].rstrip("/"), config.get("branch", "main")


def repository_links(url: str, branch: str) -> tuple[str, str]:
    """The Colab badge's link prefix and the install requirement that point at ``url``."""
    owner_name = url.removeprefix("https://github.com/")
    return (
        f"https://colab.research.google.com/github/{owner_name}/blob/{branch}/book/",
        f"auheat[book] @ git+{url}",
    )


def stale_repository_links() -> list[str]:
    """Chapters whose badge or install cell names another repository than _config.yml."""
    badge, install = repository_links(*repository())
    stale = []
    for path in sorted(BOOK.glob("[0-9][0-9]_*.ipynb")):
        text = path.read_text()
        found = set(COLAB_BADGE.findall(text)) | set(INSTALL.findall(text))
        if found != {badge, install}:
            stale.append(path.name)
    return stale


def set_repository(url: str) -> None:
    """Name ``url`` as the repository in _config.yml and in every chapter's badge and install cell."""
    url = url.rstrip("/")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        sys.exit(f"--set-repository needs https://github.com/<owner>/<name>, got {url!r}")
    config = BOOK / "_config.yml"
    config.write_text(re.sub(r"(?m)^(  url: ).*$", lambda m: m.group(1) + url, config.read_text(), count=1))
    badge, install = repository_links(url, repository()[1])
    for path in sorted(BOOK.glob("[0-9][0-9]_*.ipynb")):
        text = COLAB_BADGE.sub(badge, path.read_text())
        path.write_text(INSTALL.sub(install, text))


def execute(names: list[str], src: Path, quick: bool, jobs: int = 1) -> dict[str, float]:
    """Run the chapters, ``jobs`` at a time; the first chapter that fails stops the build.

    Chapters share the cache, which makes each dataset and run once (:func:`auheat.cache.made_once`),
    so a chapter that needs another's run waits for it. Parallel kernels get ``cores // jobs``
    threads each: more threads than cores would slow every one of them down.

    Returns:
        Each chapter's execution time in seconds.
    """
    os.environ["AUHEAT_EXPLORER_PAGES"] = "1"  # the kernels inherit it (auheat.widgets)
    os.environ["TQDM_DISABLE"] = "1"  # no progress bars: they would stay on the pages (auheat.progress)
    if jobs == 1:
        return {name: execute_chapter(name, src, quick) for name in names}
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))  # the kernels inherit it
    context = multiprocessing.get_context("spawn")
    times = {}
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        running = {pool.submit(execute_chapter, name, src, quick): name for name in names}
        for job in as_completed(running):
            if job.exception() is not None:
                for other in running:
                    other.cancel()
                raise job.exception()
            times[running[job]] = job.result()
    return {name: times[name] for name in names}


class LocalKernelManager(AsyncKernelManager):
    """A kernel that talks over local (IPC) sockets where the system has them, as the build's
    kernels are all on this machine: over TCP, ipykernel 7 warns on the console at every chapter
    that its traffic is not encrypted. The sockets live in the temporary folder, not in the book."""

    def __init__(self, **kwargs) -> None:
        if os.name == "posix":
            kwargs.update(
                transport="ipc", ip=str(Path(tempfile.gettempdir()) / f"auheat-kernel-{uuid.uuid4().hex}")
            )
        super().__init__(**kwargs)


def execute_chapter(name: str, src: Path, quick: bool) -> float:
    """Execute one chapter into ``src`` and hide its own parameters cell; returns the seconds."""
    start = time.perf_counter()
    print(f"executing {name} ({'quick' if quick else 'full'})", flush=True)
    papermill.execute_notebook(
        str(BOOK / f"{name}.ipynb"),
        str(src / f"{name}.ipynb"),
        parameters={"QUICK": quick},
        cwd=str(src),
        kernel_name="python3",
        progress_bar=False,
        kernel_manager_class=LocalKernelManager,
    )
    show_for_the_page(src / f"{name}.ipynb", build_stamp(name, quick))
    seconds = time.perf_counter() - start
    print(f"  {name}: {seconds:.1f} s", flush=True)
    return seconds


def show_for_the_page(path: Path, stamp: dict) -> None:
    """Hide the chapter's own ``parameters`` cell, drop its widgets' saved state and record what it
    was executed from (``stamp``, :func:`build_stamp`).

    papermill adds the values the chapter ran with in a cell of their own, just after it; showing
    both would print ``QUICK = False`` above a page that ran with ``QUICK = True``. The pages show
    each explorer's page version, so the widget state would be dead weight (and would make myst-nb
    load a widget manager).
    """
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if "parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    notebook.metadata.pop("widgets", None)
    notebook.metadata[STAMP] = stamp
    nbformat.write(notebook, path)


# An executed chapter records what its outputs come from, so that a build of some chapters
# (--chapters) keeps the others' pages from the last build wherever nothing they depend on changed.
STAMP = "auheat_build"


@functools.cache
def _library_digest() -> str:
    """A digest of the library's code, which every chapter imports."""
    library = Path(auheat.__file__).parent
    digest = hashlib.sha1()
    for path in sorted(library.rglob("*.py")):
        digest.update(path.relative_to(library).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build_stamp(name: str, quick: bool) -> dict:
    """What a chapter's executed outputs depend on: its notebook, the library, the setting."""
    notebook = hashlib.sha1((BOOK / f"{name}.ipynb").read_bytes()).hexdigest()
    return {"notebook": notebook, "library": _library_digest(), "quick": quick}


def executed_earlier(src: Path, names: list[str], quick: bool) -> dict[str, bytes]:
    """The chapters among ``names`` that the last build into ``src`` executed from the same
    notebook, library and setting, as their executed files' bytes."""
    kept = {}
    for name in names:
        path = src / f"{name}.ipynb"
        executed = path.read_bytes() if path.is_file() else b"{}"
        if json.loads(executed).get("metadata", {}).get(STAMP) == build_stamp(name, quick):
            kept[name] = executed
    return kept


# An exercise's folded solution: a fence of three or more backticks opening "{admonition} Solution",
# to the fence of the same length that closes it.
SOLUTION = re.compile(r"^(`{3,})\{admonition\} Solution\n.*?^\1[ \t]*$\n?", re.M | re.S)
# The exercises' opening sentence about their solutions, however the text wraps it.
FOLDED_AWAY = re.compile(r"\s*The solutions are folded away;\s+open one\s+once\s+you\s+have\s+tried\.")
LEFT_OUT = "```{note}\nThe solution is in the teacher's edition of the book.\n```\n"
STUDENT_NOTE = (
    "```{important}\nThis is the **student edition**: the exercises' solutions are left out (the "
    "self-checks keep their answers). `python book/build.py` builds the teacher's edition.\n```\n\n"
)


def student_edition(src: Path) -> int:
    """Leave every exercise's solution out of the chapters in ``src`` and say so on the landing
    page; returns the number of solutions left out."""
    removed = 0
    for path in sorted(src.glob("[0-9][0-9]_*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                cell.source, count = SOLUTION.subn(LEFT_OUT, cell.source)
                cell.source = FOLDED_AWAY.sub("", cell.source)
                removed += count
        notebook.metadata.pop(STAMP, None)  # never kept for another build: its solutions are gone
        nbformat.write(notebook, path)
    landing = src / "intro.md"
    title, rest = landing.read_text().split("\n", 1)
    landing.write_text(f"{title}\n\n{STUDENT_NOTE}{rest}")
    return removed


TIMINGS = "<!-- the chapter times of this build -->"


def trained_runs_in_cache() -> int:
    """The runs (landmark pretraining and AU runs, each a ``metrics.jsonl``) in the cache: counted
    when a build starts, 0 says it is a first build, where every chapter trains its runs."""
    runs = cache_dir() / "runs"
    return sum(1 for _ in runs.rglob("metrics.jsonl")) if runs.is_dir() else 0


def write_timings(src: Path, times: dict[str, float], quick: bool, jobs: int, cached_runs: int) -> None:
    """Put the table of this build's chapter times into ``src/timings.md``, at its marker line;
    ``cached_runs`` is :func:`trained_runs_in_cache` at the build's start."""
    page = src / "timings.md"
    text = page.read_text()
    if TIMINGS not in text:
        raise ValueError(f"{page} has no line {TIMINGS!r} for the table of chapter times")
    rows = "".join(f"| {name} | {seconds / 60:.1f} |\n" for name, seconds in times.items())
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), "unknown CPU"
    )
    if cached_runs == 0:
        start = "It started from an empty cache: a first build, every chapter trained its runs."
    else:
        start = (
            f"It started with {cached_runs} trained runs in the cache: a chapter that found its runs "
            "there read them instead of training them, so a first build takes longer."
        )
    table = (
        f"Measured by this build of the book: the {'quick' if quick else 'full'} setting, "
        f"{jobs} chapter(s) at a time, on {os.cpu_count()} CPU core(s) ({cpu}), no GPU used, "
        f"{time.strftime('%Y-%m-%d')}. {start}\n\n"
        f"| chapter | minutes |\n| --- | --- |\n{rows}| **all** | **{sum(times.values()) / 60:.1f}** |\n"
    )
    page.write_text(text.replace(TIMINGS, table))


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:  # not Linux
        return []


def npm_install() -> None:
    """Install book/package-lock.json into book/node_modules, unless it is installed already."""
    npm = shutil.which("npm")
    if npm is None:
        sys.exit(
            "npm not found: the book serves its scripts itself and installs them with npm; "
            "install Node.js and npm (Debian: apt-get install nodejs npm)"
        )
    lock = BOOK / "package-lock.json"
    stamp = NODE_MODULES / ".installed-lock.json"  # the lock of the last install, to skip a reinstall
    if not stamp.exists() or stamp.read_bytes() != lock.read_bytes():
        # --ignore-scripts: only files are needed, no package runs code on this machine
        subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=BOOK, check=True)
        shutil.copy(lock, stamp)


def mathjax(static: Path) -> None:
    """Copy MathJax 3's TeX-to-HTML component into ``static`` with what it loads on demand.

    tex-chtml.js finds the rest beside itself: its fonts (in every page with math) and the TeX
    extensions it autoloads for some macros (boldsymbol, color, cancel, ...).
    """
    es5 = NODE_MODULES / "mathjax" / "es5"
    static.mkdir(parents=True, exist_ok=True)
    shutil.copy(es5 / "tex-chtml.js", static)
    shutil.copy(es5.parent / "LICENSE", static)
    for folder in ("output/chtml/fonts/woff-v2", "input/tex/extensions"):
        shutil.copytree(es5 / folder, static / folder, dirs_exist_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BOOK / "_build", help="build folder")
    parser.add_argument("--quick", action="store_true", help="run each chapter's quick setting")
    parser.add_argument("--chapters", nargs="*", help="only these chapters (default: all in _toc.yml)")
    parser.add_argument("--no-html", action="store_true", help="execute only, skip the rendering")
    parser.add_argument("--jobs", type=int, default=1, help="chapters executed at once (default: 1)")
    parser.add_argument(
        "--student", action="store_true", help="the student edition: the exercises' solutions left out"
    )
    parser.add_argument(
        "--set-repository",
        metavar="URL",
        help="name the GitHub repository (in _config.yml, the Colab badges and install cells) and exit",
    )
    args = parser.parse_args(argv)

    if args.set_repository:
        set_repository(args.set_repository)
        return 0
    stale = stale_repository_links()
    if stale:
        parser.error(
            f"{', '.join(stale)}: the Colab badge or install cell names another repository than "
            f"_config.yml ({repository()[0]}); run python book/build.py --set-repository URL"
        )
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    names = args.chapters or chapters()
    unknown = [n for n in names if not (BOOK / f"{n}.ipynb").exists()]
    if unknown:
        parser.error(f"no such chapter(s) in {BOOK}: {', '.join(unknown)}")

    src = args.out / "src"
    earlier = executed_earlier(src, [name for name in chapters() if name not in names], args.quick)
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(
        BOOK,
        src,
        ignore=shutil.ignore_patterns(
            "_build", "*.ipynb", "build.py", "__pycache__", "node_modules", "package*.json"
        ),
    )
    cached_runs = trained_runs_in_cache()
    times = execute(names, src, args.quick, args.jobs)
    write_timings(src, times, args.quick, args.jobs, cached_runs)
    unexecuted = []
    for name in chapters():  # chapters left out of --chapters: the last build's pages, if still valid
        path = src / f"{name}.ipynb"
        if name in earlier:
            path.write_bytes(earlier[name])
        elif not path.exists():
            shutil.copy(BOOK / f"{name}.ipynb", path)
            unexecuted.append(name)
    if earlier:
        print(f"kept from the last build (same notebook, library and setting): {', '.join(earlier)}")
    if unexecuted:
        print(
            f"rendered unexecuted (executed neither now nor, unchanged, last time): {', '.join(unexecuted)}"
        )
    if args.student:
        print(f"student edition: {student_edition(src)} solutions left out", flush=True)
    if args.no_html:
        return 0
    # Not under the sources' _static: Jupyter Book adds every .js file there to every page.
    # html_extra_path (_config.yml) copies _extra/_static to the site's _static.
    npm_install()
    mathjax(src / "_extra" / "_static" / "mathjax")
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
