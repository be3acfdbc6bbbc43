"""The documentation site in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by Selenium through an explicit chromedriver path (no driver download).

The site is built (``docs/build.py``, warnings as errors), served on 127.0.0.1, and the home page,
the gallery and three surrogate pages are visited. On each: no console errors, every same-site
link resolves (pages and their anchors), every image has loaded (natural width > 0), and every
formula is typeset by MathJax (no raw ``\\(`` or ``$$`` left, no TeX error). The search page finds
a surrogate's page by a name another library gives it. The gallery's screenshot is saved as
``docs/_build/screenshots/gallery.png``.

Run with ``make docs-test`` (the marker ``browser`` is deselected by default).
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.reference import ROOT, SPEC_NAMES, SPECS

pytestmark = pytest.mark.browser

HTML = ROOT / "docs" / "_build" / "html"
SCREENSHOTS = ROOT / "docs" / "_build" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", shutil.which("chromedriver") or "")
WAIT_S = 20


def _visited_surrogates() -> list[str]:
    """Three surrogate pages, whatever specs/ holds: the first, the middle and the last."""
    names = SPEC_NAMES
    return sorted({names[0], names[len(names) // 2], names[-1]})


PAGES = ["index.html", "surrogates/gallery.html"]
PAGES += [f"surrogates/{n}.html" for n in _visited_surrogates()]


@pytest.fixture(scope="module")
def site() -> Path:
    run = subprocess.run(
        [sys.executable, "docs/build.py"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return HTML


@pytest.fixture(scope="module")
def base_url(site: Path):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (CHROMEDRIVER and Path(CHROMEDRIVER).exists() and Path(CHROMIUM).exists()):
        pytest.fail(
            f"no Chromium ({CHROMIUM}) or chromedriver ({CHROMEDRIVER or 'not on PATH'}):"
            " apt-get install chromium chromium-driver"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT_S)
    driver.set_script_timeout(WAIT_S)
    yield driver
    driver.quit()


# --- what a page must satisfy -------------------------------------------------------------------

_AWAIT_IMAGES = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach((img) => { img.loading = "eager"; });
Promise.all(images.map((img) => img.decode().catch(() => null))).then(() => done(
  images.filter((img) => !(img.complete && img.naturalWidth > 0)).map((img) => img.src)));
"""

_AWAIT_MATH = """
const done = arguments[arguments.length - 1];
const report = () => {
  const math = Array.from(document.querySelectorAll("span.math, div.math"));
  done({
    count: math.length,
    untypeset: math.filter((m) => !m.querySelector("mjx-container")).map((m) => m.textContent),
    errors: document.querySelectorAll("mjx-merror").length,
    raw: /\\\\\\(|\\$\\$/.test(document.body.innerText),
  });
};
if (!document.querySelector("span.math, div.math")) { report(); }
else if (window.MathJax && MathJax.startup) { MathJax.startup.promise.then(report, report); }
else { done({count: -1, untypeset: ["MathJax did not load"], errors: 0, raw: true}); }
"""


def _console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


class _Anchors(html.parser.HTMLParser):
    """The ids of a page and its links."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"] or "")
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")


@functools.cache
def _fetch(url: str) -> _Anchors | None:
    try:
        with urllib.request.urlopen(url, timeout=WAIT_S) as response:
            body = response.read().decode("utf-8", "replace")
    except urllib.error.URLError:
        return None
    parsed = _Anchors()
    parsed.feed(body)
    return parsed


def _broken_links(page_url: str, base_url: str) -> list[str]:
    page = _fetch(page_url)
    assert page is not None, page_url
    broken = []
    for href in page.links:
        url = urllib.parse.urljoin(page_url, href)
        if not url.startswith(base_url):
            continue  # the theme's credits point outside; nothing of ours does
        target, _, fragment = url.partition("#")
        found = _fetch(target)
        if found is None or (fragment and urllib.parse.unquote(fragment) not in found.ids):
            broken.append(href)
    return broken


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_cleanly(browser, base_url, page):
    url = base_url + page
    browser.get(url)
    assert browser.title and "404" not in browser.title, page
    unloaded = browser.execute_async_script(_AWAIT_IMAGES)
    assert not unloaded, f"{page}: images that did not load: {unloaded}"
    assert browser.execute_script("return document.images.length") > 0, f"{page}: no image"
    math = browser.execute_async_script(_AWAIT_MATH)
    assert not math["untypeset"], f"{page}: formulas left untypeset: {math['untypeset'][:3]}"
    assert math["errors"] == 0, f"{page}: {math['errors']} MathJax errors"
    assert not math["raw"], f"{page}: raw TeX delimiters in the visible text"
    if page != "surrogates/gallery.html":
        assert math["count"] > 0, f"{page}: no formula"
    assert not _broken_links(url, base_url), f"{page}: broken links"
    assert not _console_errors(browser), page


def _alias_queries() -> list[tuple[str, str]]:
    """(query, the spec whose page it must find): the first alias of the first two specs that
    have one, by its last word (``surrogate.fast_sigmoid`` -> ``fast_sigmoid``)."""
    found = []
    for name in SPEC_NAMES:
        if SPECS[name].aliases:
            found.append((re.findall(r"\w+", SPECS[name].aliases[0].name)[-1], name))
    return found[:2]


@pytest.mark.parametrize("query, name", _alias_queries())
def test_search_finds_a_surrogate_by_its_library_alias(browser, base_url, query, name):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{base_url}search.html?q={urllib.parse.quote(query)}")
    WebDriverWait(browser, WAIT_S).until(
        lambda d: (
            "found" in d.find_element(By.CSS_SELECTOR, "#search-results").text
            or "did not match" in d.find_element(By.CSS_SELECTOR, "#search-results").text
        )
    )
    results = [
        a.get_attribute("href") or ""
        for a in browser.find_elements(By.CSS_SELECTOR, "#search-results ul.search li a")
    ]
    assert any(f"surrogates/{name}.html" in href for href in results), (query, results)
    assert not _console_errors(browser)


def test_gallery_screenshot(browser, base_url):
    """The gallery as a person sees it, every card, for a look before a release."""
    browser.get(base_url + "surrogates/gallery.html")
    browser.execute_script("window.localStorage.clear(); window.sessionStorage.clear();")
    browser.refresh()  # without the highlighted words an earlier search left behind
    assert not browser.execute_async_script(_AWAIT_IMAGES)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(height, 6000))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / "gallery.png"
    assert browser.save_screenshot(str(target))
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cards = browser.execute_script("return document.querySelectorAll('.sd-card').length")
    assert cards == len(SPEC_NAMES)
    browser.set_window_size(1280, 1000)
