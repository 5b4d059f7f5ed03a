"""The built book in headless Chromium, offline: every page loads without console errors, its
figures load, its explorers switch their picture when a control moves, its math renders, and no
script comes from a CDN.

Chromium and its driver are found on PATH (Debian's chromium and chromium-driver; `make test`
installs them); Selenium is given the driver's path, so its selenium-manager never downloads a
browser. Where they are missing the tests are skipped with the reason, except under `make test`
(CI), which sets AUHEAT_BROWSER_REQUIRED and fails instead.
"""

import functools
import importlib
import os
import re
import shutil
import threading
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

from auheat import api

pytestmark = [pytest.mark.book, pytest.mark.browser]

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER_NAMES = ("chromedriver",)
FLAGS = [
    "--headless=new",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers have a small /dev/shm
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,1024",
    # Offline: every host but the local server fails to resolve, so the test shows what the site
    # serves itself, whatever the machine's network.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
SPHINX_PAGES = {"search.html", "genindex.html"}  # Sphinx's own pages, no book content
CHAPTER = re.compile(r"\d\d_.*\.html")
# Widget views and state a page could embed; the book shows its explorers' page versions instead.
WIDGET_VIEWS = "script[type^='application/vnd.jupyter.widget']"
# An explorer's page version (auheat.figures.switcher_html): HTML controls over precomputed pictures.
SWITCHER = ".auheat-switcher"
# Sphinx's math, inline and display; MathJax puts its output, an mjx-container, inside each.
MATH = ".math"
TYPESET_MATH = f"{MATH}:has(mjx-container):not(:has(mjx-merror))"  # without a TeX error
# What the pages fetch from other sites, each with its reason; any other URL outside the local
# server fails the tests. Offline, these fail to load: their console errors are allowed below.
EXTERNAL = {
    # The "Open in Colab" badge at the top of each chapter (chapter content), a link out anyway.
    "https://colab.research.google.com/assets/colab-badge.svg",
}
# Console errors known to be harmless, each with its reason; any other SEVERE message fails.
ALLOWED_ERRORS = [
    *(
        re.compile(re.escape(url) + " - Failed to load resource: net::ERR_NAME_NOT_RESOLVED")
        for url in EXTERNAL
    ),
    # Sphinx 7 writes inline scripts added before the build twice (a None and a '' file name,
    # sphinx-doc/sphinx#13402, fixed in Sphinx 8, which Jupyter Book 1 does not allow): the second
    # copy of sphinx-thebe's identical configuration fails to redeclare its constants.
    re.compile(r"Uncaught SyntaxError: Identifier 'THEBE_JS_URL' has already been declared"),
]


# What runs past the text column: a printed or displayed output block whose lines need a sideways
# scroll, and any element whose right edge passes the column's outside a box that scrolls (a wide
# table scrolls inside its own box, which is allowed). Code cells' sources keep their scroll.
TOO_WIDE = """(() => {
    const column = document.querySelector("article.bd-article") || document.querySelector("main");
    const edge = column.getBoundingClientRect().right + 1;
    const scrolls = el => {
        for (let a = el.parentElement; a && a !== column; a = a.parentElement) {
            const x = getComputedStyle(a).overflowX;
            if (x === "auto" || x === "scroll") return true;
        }
        return false;
    };
    const blocks = [...column.querySelectorAll(".cell_output pre")]
        .filter(p => p.scrollWidth > p.clientWidth + 1)
        .map(p => "output block: " + p.textContent.trim().slice(0, 60));
    const past = [...column.querySelectorAll("*")]
        .filter(e => {
            const box = e.getBoundingClientRect();
            return box.width > 0 && box.right > edge && !scrolls(e);
        })
        .map(e => e.tagName + "." + e.className.toString().slice(0, 40));
    return [...blocks, ...past];
})()"""


# How far the page may shrink a figure to fit the column: a figure's smallest type, 8 pt
# (tests/test_figures.py), is 11.1 pixels at the book's 100 dpi, and stays at 8 CSS pixels or more
# at this scale. The column is 676 pixels wide at the test's window, so a figure may be about
# 9 inches wide.
LEGIBLE_SCALE = 0.72
SHRUNK = f"""return [...document.querySelectorAll(".cell_output img")]
    .filter(i => i.naturalWidth > 0 && i.clientWidth < {LEGIBLE_SCALE} * i.naturalWidth)
    .map(i => {{
        const section = i.closest("section");
        return `${{section ? section.id : "?"}}: ${{i.naturalWidth}} px shown at ${{i.clientWidth}}`;
    }})"""


@dataclass
class Page:
    errors: list[str]  # SEVERE console messages, less the allowed ones
    images: list[tuple[str, bool]]  # every <img>: its source (data: URLs cut short), whether it loaded
    figures: int  # images in cell outputs (explorers' pictures included) that loaded
    widget_views: int  # widget views or widget state embedded in the page
    explorers: int  # explorers' page versions in the page
    math: int  # math elements in the page
    typeset_math: int  # of them, those MathJax typeset without a TeX error
    urls: list[str]  # every script and resource the page asked for
    too_wide: list[str]  # output blocks that need a sideways scroll, elements past the text column
    shrunk: list[str]  # figures shown at less than LEGIBLE_SCALE of their width, by section


@pytest.fixture(scope="module")
def site(built_book):
    """The built HTML over http on 127.0.0.1, as a reader's browser gets it from a server."""
    html = built_book / "_build" / "html"

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output to failures
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(html)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield html, f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    chromium = next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    chromedriver = next(filter(None, map(shutil.which, CHROMEDRIVER_NAMES)), None)
    if chromium is None or chromedriver is None:
        reason = (
            f"{'chromium' if chromium is None else 'chromedriver'} is not on PATH: install the browser "
            "and its driver (Debian: `apt-get install chromium chromium-driver`; `make test` does it)"
        )
        if os.environ.get("AUHEAT_BROWSER_REQUIRED"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def visit(driver, url: str) -> Page:
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)  # returns once the page and its images loaded
    loading = "return [...document.images].some(i => !i.complete)"
    untypeset = f'return document.querySelectorAll("{MATH}:not(:has(mjx-container))").length'
    try:
        # MathJax typesets after it loaded. A timeout shows in the facts below.
        WebDriverWait(driver, 30).until(lambda d: not d.execute_script(loading))
        WebDriverWait(driver, 30).until(lambda d: not d.execute_script(untypeset))
    except TimeoutException:
        pass
    facts = driver.execute_script(f"""
    const loaded = i => i.complete && i.naturalWidth > 0;
    return {{
        images: [...document.images].map(i => [i.src.slice(0, 100), loaded(i)]),
        figures: [...document.querySelectorAll(".cell_output img")].filter(loaded).length,
        views: document.querySelectorAll("{WIDGET_VIEWS}").length,
        explorers: document.querySelectorAll("{SWITCHER}").length,
        math: document.querySelectorAll("{MATH}").length,
        typeset: document.querySelectorAll("{TYPESET_MATH}").length,
        urls: [...[...document.scripts].map(s => s.src).filter(s => s),
               ...performance.getEntriesByType("resource").map(e => e.name)],
        tooWide: {TOO_WIDE},
    }}""")
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return Page(
        errors=[m for m in errors if not any(p.search(m) for p in ALLOWED_ERRORS)],
        images=[tuple(i) for i in facts["images"]],
        figures=facts["figures"],
        widget_views=facts["views"],
        explorers=facts["explorers"],
        math=facts["math"],
        typeset_math=facts["typeset"],
        urls=facts["urls"],
        too_wide=facts["tooWide"],
        shrunk=driver.execute_script(SHRUNK),
    )


@pytest.fixture(scope="module")
def pages(browser, site) -> dict[str, Page]:
    """Every page of the built book, as the browser saw it (listed from the build, so new
    chapters are covered without a change here)."""
    html, base = site
    names = sorted(p.name for p in html.glob("*.html") if p.name not in SPHINX_PAGES)
    assert "intro.html" in names, f"no landing page in {html}"
    return {name: visit(browser, base + name) for name in names}


def test_pages_log_no_console_errors(pages):
    errors = {name: page.errors for name, page in pages.items() if page.errors}
    assert not errors, f"console errors: {errors}"


def test_chapter_figures_load(pages):
    chapters = [name for name in pages if CHAPTER.fullmatch(name)]
    assert chapters, "no chapter pages"
    without = [name for name in chapters if not pages[name].figures]
    assert not without, f"chapter pages without a figure that loaded: {without}"
    broken = {
        name: [src for src, ok in page.images if not ok and src not in EXTERNAL]
        for name, page in pages.items()
    }
    broken = {name: srcs for name, srcs in broken.items() if srcs}
    assert not broken, f"images that did not load: {broken}"


# The chapters built around an interactive explorer; each must show its page version.
EXPLORER_CHAPTERS = ("01_heatmap_targets.html", "02_synthetic_faces.html", "09_photo_to_heatmaps.html")

# The explorer's picture: its source (data: URLs differ with the picture), whether it loaded, and
# the range of its pixels' brightness (0 for a blank picture), read through a canvas.
PICTURE = f"""
const i = document.querySelector("{SWITCHER} img");
if (!(i.complete && i.naturalWidth > 0)) return [i.src, false, 0];
const c = document.createElement("canvas");
c.width = i.naturalWidth; c.height = i.naturalHeight;
const g = c.getContext("2d");
g.drawImage(i, 0, 0);
const d = g.getImageData(0, 0, c.width, c.height).data;
let lo = 255, hi = 0;
for (let k = 0; k < d.length; k += 4 * 7) {{
    const v = (d[k] + d[k + 1] + d[k + 2]) / 3;
    lo = Math.min(lo, v); hi = Math.max(hi, v);
}}
return [i.src, true, hi - lo];
"""
# Move control number arguments[0] to its next value (the first after the last), as a reader
# would, and return what it then shows.
MOVE = f"""
const c = document.querySelectorAll("{SWITCHER} [data-control]")[arguments[0]];
if (c.tagName === "SELECT") c.selectedIndex = (c.selectedIndex + 1) % c.options.length;
else c.value = Number(c.value) < Number(c.max) ? Number(c.value) + 1 : 0;
c.dispatchEvent(new Event(c.tagName === "SELECT" ? "change" : "input"));  // what each sends on commit
const readout = c.parentElement.querySelector("output");
return c.tagName === "SELECT" ? c.options[c.selectedIndex].text : readout.textContent;
"""


def picture(driver) -> tuple[str, bool, float]:
    try:
        WebDriverWait(driver, 10).until(lambda d: d.execute_script(PICTURE)[1])
    except TimeoutException:
        pass
    return tuple(driver.execute_script(PICTURE))


@pytest.mark.parametrize("name", EXPLORER_CHAPTERS)
def test_explorer_pages_switch_their_picture_when_a_control_moves(browser, site, pages, name):
    assert pages[name].explorers >= 1, f"{name} shows no explorer"
    browser.get(site[1] + name)
    controls = browser.execute_script(f'return document.querySelectorAll("{SWITCHER} [data-control]").length')
    assert controls >= 2, f"{name}: its explorer has {controls} controls"
    source, loaded, spread = picture(browser)
    assert loaded and spread > 30, f"{name}: the explorer's first picture is missing or blank"
    changed = []
    for number in range(controls):
        shown = browser.execute_script(MOVE, number)
        after, loaded, spread = picture(browser)
        assert loaded and spread > 30, (
            f"{name}: control {number} at {shown!r} shows a missing or blank picture"
        )
        changed.append(after != source)
        source = after
    # The first control (the AU, or the photo) always changes the picture; the others may not
    # where the model drew nothing (Chapter 9's threshold, in the quick setting).
    assert changed[0], f"{name}: moving the first control did not change the picture"
    if name == "01_heatmap_targets.html":
        assert all(changed), f"{name}: controls that left the picture as it was: {changed}"


# Choose the option of control 0 whose text is arguments[0], as a reader would, and return the alt
# text of the picture then shown.
CHOOSE = f"""
const c = document.querySelectorAll("{SWITCHER} [data-control]")[0];
c.selectedIndex = [...c.options].findIndex((o) => o.text === arguments[0]);
c.dispatchEvent(new Event("change"));
return document.querySelector("{SWITCHER} img").alt;
"""


def test_the_synthetic_face_explorer_page_switches_to_the_au_pairs_the_text_names(browser, site):
    browser.get(site[1] + "02_synthetic_faces.html")
    for pair, shown in (
        ("AU06 + AU12 together", ("AU06=", "AU12=")),
        ("AU01 + AU04 together", ("AU01=", "AU04=")),
    ):
        alt = browser.execute_script(CHOOSE, pair)
        assert all(au in alt for au in shown) and alt.count("=") == 2, f"{pair}: the picture shows {alt!r}"


def test_no_output_or_element_runs_past_the_text_column(pages):
    wide = {name: page.too_wide[:3] for name, page in pages.items() if page.too_wide}
    assert not wide, f"pages with content past the text column: {wide}"


def test_figures_are_not_shrunk_below_legible_type(pages):
    shrunk = {name: page.shrunk for name, page in pages.items() if page.shrunk}
    assert not shrunk, f"figures too wide for the column (draw them narrower): {shrunk}"


def test_pages_embed_no_widget_state(pages):
    # A widget view on a page without a kernel shows controls that do nothing.
    embedded = {name: page.widget_views for name, page in pages.items() if page.widget_views}
    assert not embedded, f"pages that embed widget views or state: {embedded}"


# What a reader of each chapter page sees of its teaching frame: the headings, and whether the
# self-check's answers start folded and open when their button is pressed (sphinx-togglebutton).
TEACHING = """
const headings = [...document.querySelectorAll("h3")].map(h => h.textContent.replace("#", "").trim());
const check = document.querySelector("section#self-check");
const folds = check ? [...check.querySelectorAll(".admonition.dropdown")] : [];
// sphinx-togglebutton folds an answer by hiding what follows its title (visibility: hidden).
const shown = f => getComputedStyle(f.querySelector(".admonition-title ~ *")).visibility !== "hidden";
const before = folds.map(shown);
if (folds.length) folds[0].querySelector("button.toggle-button").click();
return [headings, before, folds.length ? shown(folds[0]) : false];
"""


def test_chapter_pages_show_outcomes_takeaways_and_a_self_check_with_folded_answers(browser, site, pages):
    for name in (n for n in pages if CHAPTER.fullmatch(n)):
        browser.get(site[1] + name)
        WebDriverWait(browser, 10).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
        headings, folded, opened = browser.execute_script(TEACHING)
        for heading in ("Learning outcomes", "Key takeaways", "Self-check"):
            assert heading in headings, f"{name} has no {heading!r} heading"
        assert len(folded) >= 3 and not any(folded), (
            f"{name}: self-check answers shown before asked: {folded}"
        )
        assert opened, f"{name}: the first answer did not open when its button was pressed"


def test_math_renders(pages):
    with_math = {name: page for name, page in pages.items() if page.math}
    assert with_math, "no page has math"
    untypeset = {
        name: f"{page.typeset_math} of {page.math} typeset"
        for name, page in with_math.items()
        if page.typeset_math < page.math
    }
    assert not untypeset, f"math not typeset by MathJax (or with a TeX error): {untypeset}"


def test_pages_load_from_the_site_only(pages, site):
    _, base = site
    mathjax = base + "_static/mathjax/tex-chtml.js"  # mathjax_path in _config.yml
    for name, page in pages.items():
        if page.math:
            assert any(u.startswith(mathjax) for u in page.urls), f"{name} lacks {mathjax}"
        outside = {u for u in page.urls if not u.startswith((base, "data:")) and u not in EXTERNAL}
        assert not outside, f"{name} loads from other sites (a CDN?): {sorted(outside)}"


# Display equations wider than the text column scroll sideways, and a reader misses their end.
WIDE_EQUATIONS = """return [...document.querySelectorAll("div.math mjx-container[display='true']")]
    .filter(m => m.scrollWidth > m.clientWidth + 2).map(m => m.parentElement.textContent.slice(0, 50))"""


UNTYPESET = f'return document.querySelectorAll("{MATH}:not(:has(mjx-container))").length'


def test_display_equations_fit_the_text_column(browser, site, pages):
    wide = {}
    for name in (n for n, page in pages.items() if page.math):
        browser.get(site[1] + name)
        WebDriverWait(browser, 30).until(lambda d: not d.execute_script(UNTYPESET))
        wide[name] = browser.execute_script(WIDE_EQUATIONS)
    wide = {name: found for name, found in wide.items() if found}
    assert not wide, f"display equations wider than the column: {wide}"


def test_chapter_4_typesets_the_equations_of_its_scores(pages):
    # ICC(3,1), MAE and PCC are defined by formula in Chapter 4, before the tables that use them.
    page = pages["04_finetuning.html"]
    assert page.math >= 10, f"Chapter 4 has {page.math} math elements; its metrics section has more"
    assert page.typeset_math >= page.math, f"{page.typeset_math} of {page.math} typeset"


def documented_object(entry_id: str):
    """The module-level object a reference entry (``id="auheat.aus.ACTION_UNITS"``) documents, or
    None for an entry inside a class."""
    module, _, name = entry_id.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None


def test_api_reference_shows_an_entry_for_every_public_name(browser, site):
    _, base = site
    visit(browser, base + "api.html")
    entries = browser.execute_script(
        'return [...document.querySelectorAll("dt.sig-object[id]")]'
        ".filter(e => e.offsetHeight > 0).map(e => e.id)"
    )
    # Functions and classes are entered under auheat.api, constants where they are defined.
    public = {name: getattr(api, name) for name in api.__all__}
    shown = {
        name
        for entry_id in entries
        if (obj := documented_object(entry_id)) is not None
        for name, value in public.items()
        if value is obj and entry_id.endswith("." + name)
    }
    missing = [name for name in api.__all__ if name not in shown]
    assert not missing, f"api.html shows no entry for {missing}"
