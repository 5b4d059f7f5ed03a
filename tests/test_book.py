"""The book: committed chapters are clean, and every chapter executes and renders."""

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))


def code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_the_book_has_chapters():
    assert CHAPTERS, f"no numbered chapters in {BOOK}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_committed_chapter_carries_no_outputs(path):
    dirty = [i for i, c in enumerate(code_cells(path)) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"{path.name}: code cells {dirty} carry outputs; run nbstripout {path}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_a_quick_parameters_cell(path):
    tagged = [c for c in code_cells(path) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    assert "QUICK = False" in "".join(tagged[0]["source"]), (
        f"{path.name}: parameters cell must set QUICK = False"
    )


def test_every_chapter_is_in_the_table_of_contents():
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    listed = {entry["file"] for entry in toc["chapters"]}
    assert {p.stem for p in CHAPTERS} <= listed


@pytest.mark.book
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_executes_and_renders_with_figures(built_book, path):
    executed = built_book / "src" / path.name
    outputs = [o for c in code_cells(executed) for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} shows no figure"
    html = built_book / "_build" / "html" / f"{path.stem}.html"
    assert html.exists(), f"no rendered page for {path.name}"
    assert "<img" in html.read_text()


@pytest.mark.book
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_shows_no_warning_or_stderr_block(built_book, path):
    """The build starts from an empty cache, as a reader's first build does, and Chapter 8 trains
    with two worker processes: whatever a chapter, its training or its workers print to stderr
    (warnings, progress bars) would show on the page as a block of its own."""
    outputs = [o for c in code_cells(built_book / "src" / path.name) for o in c.get("outputs", [])]
    stderr = ["".join(o["text"]) for o in outputs if o["output_type"] == "stream" and o["name"] == "stderr"]
    assert not stderr, f"{path.name} prints to stderr: {stderr[0][:300]}"
    warned = [o for o in outputs if "Warning:" in "".join(o.get("text", ""))]
    assert not warned, f"{path.name} shows a warning: {''.join(warned[0]['text'])[:300]}"


@pytest.mark.book
def test_markdown_a_cell_outputs_renders_its_tables(built_book):
    """Chapter 10 shows the preparation's report.md: its tables are tables, not pipe text."""
    html = (built_book / "_build" / "html" / "10_reproducing_the_paper.html").read_text()
    assert "<p>frames kept</p></th>" in html and "| subject | frames kept |" not in html


@pytest.mark.book
def test_bibliography_labels_read_as_the_text_cites(built_book):
    html = (built_book / "_build" / "html" / "bibliography.html").read_text()
    labels = re.findall(r'<span class="label"><span class="fn-bracket">\[</span>([^<]*)', html)
    assert "Ntinou et al., 2021" in labels and "Bulat and Tzimiropoulos, 2017a" in labels
    assert all(re.fullmatch(r"[^,]+, \d{4}[a-z]?", label) for label in labels), labels


@pytest.mark.book
def test_landing_page_renders_with_its_ethics_and_data_section(built_book):
    html = (built_book / "_build" / "html" / "intro.html").read_text()
    assert 'id="ethics-and-data"' in html, "the landing page has no rendered Ethics and data section"
    assert 'id="why-heatmaps-and-why-a-landmark-network"' in html, "the method is not argued for"
    assert "barrett2019emotional" in html or "Barrett" in html, "the ethics section's citation did not render"


@pytest.mark.book
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_rendered_chapter_shows_the_parameters_it_ran_with(built_book, path):
    cells = code_cells(built_book / "src" / path.name)
    tags = [c.get("metadata", {}).get("tags", []) for c in cells]
    own = [t for t in tags if "parameters" in t]
    assert own and all("remove-cell" in t for t in own), "the chapter's default parameters must be hidden"
    injected = [c for c, t in zip(cells, tags, strict=True) if "injected-parameters" in t]
    assert len(injected) == 1 and "QUICK = True" in "".join(injected[0]["source"])


@pytest.mark.book
def test_chapters_leave_no_temporary_folder_behind(built_book):
    left = sorted(p.name for p in (built_book / "tmp").iterdir())
    assert not left, f"the chapters left {left} in the temporary folder"


SKELETON = ("Overview", "Prerequisites", "Setup", "Summary", "Exercises", "What next", "Further reading")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_follows_the_shared_skeleton(path):
    cells = json.loads(path.read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    headings = re.findall(r"^## (.+?)\s*$", text, re.M)
    assert headings[:3] == list(SKELETON[:3]), f"{path.name} starts with {headings[:3]}"
    assert headings[-4:] == list(SKELETON[3:]), f"{path.name} ends with {headings[-4:]}"


def markdown_cells(path: Path) -> list[str]:
    return [
        "".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"
    ]


def bullets_after(text: str, heading: str) -> list[str]:
    """The bullet points of the list that follows ``heading`` in ``text``."""
    rest = text.split(heading, 1)[1]
    return re.findall(r"^- ", rest.split("\n#", 1)[0], re.M)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_opens_with_outcomes_and_closes_with_takeaways_and_a_self_check(path):
    cells = markdown_cells(path)
    overview = next(c for c in cells if c.startswith("## Overview"))
    assert "### Learning outcomes" in overview and "After this chapter you can:" in overview, path.name
    assert 3 <= len(bullets_after(overview, "### Learning outcomes")) <= 5, f"{path.name}: 3 to 5 outcomes"
    summary = next(c for c in cells if c.startswith("## Summary"))
    assert summary.split("\n", 2)[2].startswith("### Key takeaways"), (
        f"{path.name}: takeaways open the summary"
    )
    assert 3 <= len(bullets_after(summary, "### Key takeaways")) <= 5, f"{path.name}: 3 to 5 takeaways"
    after = cells[cells.index(summary) + 1]
    assert after.startswith("### Self-check"), f"{path.name}: the self-check follows the summary"
    # A question is bold, numbered and may wrap: "**1. ...?**".
    questions = [
        n for n, text in re.findall(r"^\*\*(\d)\. (.+?)\*\*$", after, re.M | re.S) if text.endswith("?")
    ]
    answers = re.findall(r"^```\{admonition\} Answer\n:class: dropdown$", after, re.M)
    assert 3 <= len(questions) <= 5 and questions == [str(i + 1) for i in range(len(questions))], path.name
    assert len(answers) == len(questions), f"{path.name}: every question needs a folded answer"


TAG = re.compile(
    r"^\*\*Level:\*\* (easy|medium|hard) · "
    r"\*\*CPU time:\*\* (under a minute|a few minutes|about \d+ minutes|about \d+ hours)$"
)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_exercises_are_tagged_folded_and_one_asks_for_a_prediction_first(path):
    exercises = [c for c in markdown_cells(path) if c.startswith("### Exercise ")]
    assert exercises, f"{path.name} has no exercise cells"
    for number, cell in enumerate(exercises, 1):
        heading, blank, tag = cell.split("\n")[:3]
        assert heading.startswith(f"### Exercise {number}: "), f"{path.name}: {heading!r} out of order"
        assert not blank and TAG.match(tag), f"{path.name}, exercise {number}: tag line {tag!r}"
        assert re.search(r"^`{3,}\{admonition\} Solution\n:class: dropdown$", cell, re.M), (
            f"{path.name}, exercise {number}: no folded solution"
        )
    assert any(
        c.startswith("### Exercise") and ": Predict, then run: " in c.split("\n")[0] for c in exercises
    ), f"{path.name}: no 'Predict, then run' exercise"


def test_the_repository_is_named_in_one_place_and_set_everywhere_from_it(tmp_path, monkeypatch):
    import shutil
    import sys

    sys.path.insert(0, str(BOOK))
    import build

    assert build.stale_repository_links() == [], "run python book/build.py --set-repository URL"
    # --set-repository on a copy of the book: _config.yml, every badge and install cell follow.
    copy = tmp_path / "book"
    shutil.copytree(BOOK, copy, ignore=shutil.ignore_patterns("_build", "node_modules", "data"))
    monkeypatch.setattr(build, "BOOK", copy)
    build.set_repository("https://github.com/someone/fork")
    assert build.repository()[0] == "https://github.com/someone/fork"
    assert build.stale_repository_links() == []
    chapter = (copy / CHAPTERS[0].name).read_text()
    assert "colab.research.google.com/github/someone/fork/blob/main/book/" in chapter
    assert "git+https://github.com/someone/fork" in chapter and "auheat/auheat" not in chapter


def test_the_student_edition_leaves_out_every_solution_and_keeps_the_self_check_answers(
    tmp_path, monkeypatch
):
    import shutil
    import sys

    sys.path.insert(0, str(BOOK))
    import build

    solutions = sum(cell.count("{admonition} Solution") for path in CHAPTERS for cell in markdown_cells(path))
    answers = sum(cell.count("{admonition} Answer") for path in CHAPTERS for cell in markdown_cells(path))

    def copy_instead_of_executing(names, src, quick, jobs):  # the edition works on what a build wrote
        for name in names:
            shutil.copy(BOOK / f"{name}.ipynb", src / f"{name}.ipynb")
        return dict.fromkeys(names, 1.0)

    monkeypatch.setattr(build, "execute", copy_instead_of_executing)
    assert build.main(["--student", "--no-html", "--out", str(tmp_path)]) == 0
    src = tmp_path / "src"
    pages = {path.name: "\n".join(markdown_cells(src / path.name)) for path in CHAPTERS}
    assert solutions > 30 and not [name for name, text in pages.items() if "{admonition} Solution" in text]
    assert sum(text.count("The solution is in the teacher's edition") for text in pages.values()) == solutions
    assert sum(text.count("{admonition} Answer") for text in pages.values()) == answers
    assert not [name for name, text in pages.items() if "solutions are folded away" in " ".join(text.split())]
    assert "**student edition**" in (src / "intro.md").read_text()
    # Every exercise keeps its heading, level and task.
    for path in CHAPTERS:
        assert pages[path.name].count("### Exercise ") == "\n".join(markdown_cells(path)).count(
            "### Exercise "
        )
    # The teacher's edition keeps them: the same build without --student.
    assert build.main(["--no-html", "--out", str(tmp_path / "teacher")]) == 0
    teacher = "\n".join(markdown_cells(tmp_path / "teacher" / "src" / CHAPTERS[0].name))
    assert "{admonition} Solution" in teacher


def test_the_build_writes_each_chapters_time_into_the_timings_page(tmp_path):
    import shutil
    import sys

    sys.path.insert(0, str(BOOK))
    import build

    shutil.copy(BOOK / "timings.md", tmp_path / "timings.md")
    build.write_timings(
        tmp_path, {"01_heatmap_targets": 90.0, "04_finetuning": 30.0}, quick=True, jobs=2, cached_runs=0
    )
    page = (tmp_path / "timings.md").read_text()
    assert "empty cache: a first build" in page
    assert build.TIMINGS not in page
    assert "| 01_heatmap_targets | 1.5 |" in page and "| 04_finetuning | 0.5 |" in page
    assert "| **all** | **2.0** |" in page and "quick setting, 2 chapter(s) at a time" in page
    (tmp_path / "timings.md").write_text("# no marker\n")
    with pytest.raises(ValueError, match="no line"):
        build.write_timings(tmp_path, {"01_heatmap_targets": 1.0}, quick=True, jobs=1, cached_runs=3)


@pytest.mark.book
def test_the_course_pages_render_with_the_rubric_and_this_builds_times(built_book):
    html = {
        name: (built_book / "_build" / "html" / f"{name}.html").read_text()
        for name in ("syllabus", "assignments", "timings")
    }
    assert html["syllabus"].count("<tr") >= 6 and "Assignment 3" in html["syllabus"]
    assert "What earns full marks" in html["assignments"] and html["assignments"].count("<h2") >= 3
    rows = re.findall(r"<td><p>(\d\d_\w+)</p></td>", html["timings"])
    assert rows == [path.stem for path in CHAPTERS], rows


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_draws_in_the_book_style(path):
    code = "\n".join("".join(c["source"]) for c in code_cells(path))
    assert "figures.use_book_style()" in code, f"{path.name} does not set the book's figure style"
    for other in ("set_theme(", "plt.style.use(", "rcParams["):
        assert other not in code, f"{path.name} sets a style of its own ({other})"


# A cell a reader reads fits on a screen; longer cells may only be setup (imports and calls such
# as figures.use_book_style()), folded on the page.
MAX_CELL_LINES = 15
FOLDED = {"hide-input", "remove-input", "remove-cell"}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_a_code_cell_a_reader_reads_fits_on_a_screen(path):
    for cell in code_cells(path):
        source = "".join(cell["source"])
        if len(source.splitlines()) <= MAX_CELL_LINES:
            continue
        setup = all(
            isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr)) for node in ast.parse(source).body
        )
        folded = FOLDED & set(cell.get("metadata", {}).get("tags", []))
        assert setup and folded, (
            f"{path.name}, cell {cell.get('id')}: {len(source.splitlines())} lines; split it, or move its "
            "logic into a library function"
        )


# A result read by position (`runs[name][0]`, `load_photo(name)[0]`) instead of by name.
BY_POSITION = re.compile(r"[\])]\[-?\d+\]")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapters_read_results_by_name_not_by_position(path):
    for cell in code_cells(path):
        for line in "".join(cell["source"]).splitlines():
            assert not BY_POSITION.search(line), f"{path.name}, cell {cell.get('id')}: {line.strip()}"


# What a chapter may import without the README naming it: the public face and the namespaces
# every chapter uses.
OPEN_MODULES = {"auheat.api", "auheat.figures", "auheat.recipes", "auheat.widgets"}


def inner_modules(path: Path) -> set[str]:
    modules = set()
    for cell in code_cells(path):
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if isinstance(node, ast.ImportFrom) and node.module == "auheat":
                modules |= {f"auheat.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("auheat."):
                modules.add(node.module)
    return modules - OPEN_MODULES


def test_the_readme_names_every_inner_module_a_chapter_shows():
    readme = (BOOK.parent / "README.md").read_text()
    rows = dict(re.findall(r"^\| `(\d\d_\w+)` \| (.*) \|$", readme, re.M))
    for path in CHAPTERS:
        assert path.stem in rows, f"the README's table of inner modules has no row for {path.stem}"
        named = set(re.findall(r"`(auheat\.[\w.]+)`", rows[path.stem]))
        assert inner_modules(path) == named, f"{path.stem} imports {sorted(inner_modules(path))}"


# A decimal the prose may state, because it is a setting, a published fact or a property of a
# design, never a measured result; a result stated in prose would go stale when a rebuild changes
# the run, so it is printed from the run instead (issue: numbers in prose come from the run).
STATED_CONSTANTS = {
    "0.0": "zero, as pandas prints a negative zero",
    "0.02": "the released adaptation model's initial weights, N(0, 0.02)",
    "0.05": "Chapter 8's 'within 0.05 of fine-tuning' rule",
    "0.08": "the NME's common failure threshold",
    "0.1": "READ_ICC, the ICC from which an AU is read",
    "0.12": "face_alignment's box offset",
    "0.25": "the attention's default spread; FAN's kernel standard deviation per pixel",
    "0.45": "an opacity Chapter 9's explorer offers",
    "0.5": "Chapter 1's exercise threshold",
    "0.8": "an exercise's analytic answer: the ICC of doubled answers",
    "0.9": "an opacity Chapter 9's explorer offers",
    "1.1": "the windowed design's largest tail beyond the fixed window, a property of the design",
    "1.5": "Crop pixel 1.5; the cost table's light-method threshold",
    "1.875": "an exercise's analytic answer: the mean label",
    "1.96": "the normal quantile of a 95 % interval",
    "3.25": "FAN_SIGMA",
    "4.30": "the t quantile of a 95 % interval on two degrees of freedom",
    "9.75": "three times FAN_SIGMA",
    "23.8": "2DFAN-4's parameter count, in millions",
    "97.6": "the outer eye corners' distance in the 256-pixel alignment template",
}
# Code blocks (an admonition's ````{...} fence holds prose and is read), inline code, maths, links.
CODE_OR_LINK = re.compile(
    r"^```(?:python|bash|text)?\n.*?^```$|`[^`\n]*`|\$[^$]*\$|\(https?://[^)]*\)|arXiv:\d+\.\d+", re.S | re.M
)
DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])")
PERCENT = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?) ?%")
# A result stated as a count ("reads 7 of 12 AUs", "3 out of 4 photos"): counts of what a run did
# are printed by the run; a setting stated as a count is written in words.
COUNT = re.compile(r"(?<![\w.])\d+ (?:of|out of) (?:the )?\d+(?![\w.])")
# A share the prose may state, for the same reasons as STATED_CONSTANTS.
STATED_PERCENTAGES = {
    "0": "the self-checks' weight in the syllabus's grading",
    "1.1": "the windowed design's largest tail, a property of the design",
    "2": "a Gaussian's height at three standard deviations",
    "13": "rank 8's share of the full remixing's parameters, a property of the layer",
    "15": "a rubric weight",
    "25": "a rubric weight",
    "30": "a rubric or assignment weight",
    "35": "an assignment weight",
    "90": "Chapter 9's rise-rate threshold",
    "95": "the intervals' coverage",
}


def prose_pages() -> dict[str, list[str]]:
    pages = {path.name: markdown_cells(path) for path in CHAPTERS}
    return pages | {path.name: [path.read_text()] for path in sorted(BOOK.glob("*.md"))}


def stated(pattern: re.Pattern, text: str) -> list[str]:
    """The numbers ``pattern`` finds in ``text``'s prose (code, maths and links left out)."""
    return pattern.findall(CODE_OR_LINK.sub(" ", text))


def test_prose_states_no_measured_result():
    for name, cells in prose_pages().items():
        for text in cells:
            for number in stated(DECIMAL, text):
                assert number in STATED_CONSTANTS, (
                    f"{name}: '{number}' in the prose; print a result from the run (or name a setting "
                    "in STATED_CONSTANTS)"
                )
            counts = stated(COUNT, text)
            assert not counts, f"{name}: '{counts[0]}' in the prose; print a count from the run"
            for share in stated(PERCENT, text):
                assert share in STATED_PERCENTAGES, (
                    f"{name}: '{share} %' in the prose; print a result from the run (or name a setting "
                    "in STATED_PERCENTAGES)"
                )


def test_the_prose_check_catches_a_stated_result():
    assert stated(DECIMAL, "Fine-tuning scores 0.370 against 0.266 for scratch.") == ["0.370", "0.266"]
    assert stated(PERCENT, "Fine-tuning reads 58 % of the AUs, at a 95 % interval.") == ["58", "95"]
    assert stated(COUNT, "It reads 7 of 12 AUs and beats dlib on 3 out of the 4 photos.") == [
        "7 of 12",
        "3 out of the 4",
    ]
    quoted = "`0.37` in code, $0.5$ in maths, [arXiv:2004.06657](https://arxiv.org/abs/2004.06657)"
    assert stated(DECIMAL, quoted) == []


def test_a_build_of_some_chapters_keeps_the_others_from_the_last_build_while_they_are_unchanged(
    tmp_path, monkeypatch, capsys
):
    import shutil
    import sys

    sys.path.insert(0, str(BOOK))
    import build

    copy = tmp_path / "book"
    shutil.copytree(BOOK, copy, ignore=shutil.ignore_patterns("_build", "node_modules", "data"))
    monkeypatch.setattr(build, "BOOK", copy)

    def run_by_copying(source, out, **kwargs):  # the cells are not run: the build's bookkeeping is
        shutil.copy(source, out)

    monkeypatch.setattr(build.papermill, "execute_notebook", run_by_copying)
    first, second = (path.stem for path in CHAPTERS[:2])
    out = tmp_path / "out"

    def build_only(name: str, *options: str) -> dict[str, dict | None]:
        assert build.main(["--no-html", "--out", str(out), "--chapters", name, *options]) == 0
        pages = {path.stem: json.loads((out / "src" / path.name).read_text()) for path in CHAPTERS}
        return {name: page["metadata"].get(build.STAMP) for name, page in pages.items()}

    stamps = build_only(first)
    assert stamps[first] == build.build_stamp(first, False) and stamps[second] is None
    stamps = build_only(second)  # the first chapter's executed page is kept
    assert stamps[first] == build.build_stamp(first, False) and stamps[second] is not None
    assert (
        f"kept from the last build (same notebook, library and setting): {first}" in capsys.readouterr().out
    )
    assert build_only(second, "--quick")[first] is None  # another setting: not kept
    build_only(first)
    notebook = copy / f"{first}.ipynb"
    notebook.write_text(notebook.read_text().replace("## Overview", "## Overview, edited", 1))
    assert build_only(second)[first] is None  # its notebook changed: rendered unexecuted
    assert (
        f"rendered unexecuted (executed neither now nor, unchanged, last time): {first}"
        in capsys.readouterr().out
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_cell_id_is_unique_in_its_chapter(path):
    # nbformat renames a repeated id when it reads the notebook, so a link to it would break.
    ids = [cell.get("id") for cell in json.loads(path.read_text())["cells"]]
    assert not sorted({i for i in ids if ids.count(i) > 1}), path.name
