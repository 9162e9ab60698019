"""End to end: the viewer on a store built here, driven by headless Chromium.

Needs Debian's ``chromium`` + ``chromium-driver`` and the ``selenium`` package (no browser is
ever downloaded); skipped with the reason otherwise. Screenshots go to ``tests/artifacts/``;
with ``RNNSCOPE_SCREENSHOTS=docs`` the hypothesis-view tests write the two screenshots of
``docs/viewer.md`` to ``docs/figures/`` instead (palette PNGs, each under 300 KB).
"""
from __future__ import annotations

import io
import os
import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

ARTIFACTS = Path(__file__).parent / "artifacts"
# The docs' screenshots are rewritten only when asked (RNNSCOPE_SCREENSHOTS=docs), so a test
# run never dirties tracked files; by default they go to tests/artifacts/ like the others.
FIGURES = (Path(__file__).resolve().parent.parent / "docs" / "figures"
           if os.environ.get("RNNSCOPE_SCREENSHOTS") == "docs" else Path(__file__).parent / "artifacts")
MAX_PNG = 300_000
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000"]


def chromium_driver(profile_dir: Path):
    """A headless Chromium WebDriver with a fresh profile; ``pytest.skip`` if unavailable."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium)")
    chromium = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    driver = shutil.which("chromedriver") or (CHROMEDRIVER if Path(CHROMEDRIVER).exists() else None)
    if not chromium or not driver:
        pytest.skip("headless Chromium not found (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS + [f"--user-data-dir={profile_dir}"]:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture
def served_viewer(tmp_path):
    """The viewer on a planted store, served by a real HTTP server on a free port."""
    from werkzeug.serving import make_server

    from rnnscope.viewer import create_app
    from test_viewer import viewer_store

    _, starts = viewer_store(tmp_path / "store")
    server = make_server("127.0.0.1", 0, create_app(tmp_path / "store"), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/", starts
    server.shutdown()
    thread.join(timeout=5)


def test_select_a_span_and_see_its_matches(served_viewer, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    url, starts = served_viewer
    driver = chromium_driver(tmp_path / "profile")
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 20)
        first = wait.until(ec.presence_of_element_located(
            (By.CSS_SELECTOR, f'.tok[data-row="{starts[0]}"]')))
        last = driver.find_element(By.CSS_SELECTOR, f'.tok[data-row="{starts[0] + 2}"]')
        ActionChains(driver).click_and_hold(first).move_to_element(last).release().perform()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#matches li.match")) >= len(starts) - 1)
        items = driver.find_elements(By.CSS_SELECTOR, "#matches li.match")
        top = items[:len(starts) - 1]
        assert all(li.find_element(By.TAG_NAME, "b").text == "kick the bucket" for li in top)
        assert sorted(int(li.get_attribute("data-row")) for li in top) == starts[1:]
        assert "kick the bucket" in driver.find_element(By.ID, "selection").text
        # matches inside the window are highlighted in the text
        marked = {int(e.get_attribute("data-row")) for e in driver.find_elements(By.CSS_SELECTOR, ".tok.match")}
        visible = [s for s in starts[1:] if s + 3 <= 200]
        assert {s + k for s in visible for k in range(3)} <= marked
        # clicking a selected unit opens its card
        driver.find_element(By.CSS_SELECTOR, '#selunits .unitlink[data-unit="9"]').click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "cardtitle"), "unit 9"))
        assert "kick" in driver.find_element(By.ID, "card").text
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "viewer_matches.png"))
        assert driver.find_element(By.ID, "status").text == ""
    finally:
        driver.quit()


# -- the hypothesis view (parallel coordinates), the match view, permalinks -------------------------
def plot_point(driver, row: int, dy: float = 100) -> list[float]:
    """Viewport coordinates of ``row``'s column in the plot, ``dy`` pixels below its top."""
    return driver.execute_script(
        "const s = document.getElementById('pcp'), r = s.getBoundingClientRect();"
        "return [r.left + (arguments[0] - S.start + 0.5) * Number(s.dataset.col), r.top + arguments[1]];",
        row, dy)


def drag_between(driver, p0, p1) -> None:
    """Press the mouse at viewport point ``p0``, move to ``p1`` and release."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(round(p0[0]), round(p0[1])).pointer_down()
    actions.pointer_action.move_to_location(round((p0[0] + p1[0]) / 2), round(p1[1]))
    actions.pointer_action.move_to_location(round(p1[0]), round(p1[1])).pointer_up()
    actions.perform()


def drag_threshold(driver, dy: int) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    handle = driver.find_element(By.ID, "thrhandle")
    ActionChains(driver).click_and_hold(handle).move_by_offset(0, dy).release().perform()


def _units_of(driver, selector: str) -> list[int]:
    """data-unit of every element matching ``selector``, read in one script (the plot is redrawn
    often: element handles would go stale between reads)."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((e) => Number(e.dataset.unit));", selector)


def plotted(driver) -> list[int]:
    """The plotted units in legend order; [] while the lines and the legend disagree (mid-redraw)."""
    lines = _units_of(driver, "#pcp polyline.unit")
    chips = _units_of(driver, "#pcplegend .unitchip")
    return chips if sorted(lines) == sorted(chips) else []


def emphasised(driver) -> set[int]:
    return set(_units_of(driver, "#pcp polyline.unit.on"))


def on_units(states: np.ndarray, units: list[int], a: int, b: int, threshold: float) -> set[int]:
    """LSTMVis's rule, computed here: units above the threshold at every row of a..b-1."""
    return {u for u in units if (states[a:b, u] > threshold).all()}


def save_small_png(driver, path: Path) -> int:
    """The viewport as a palette PNG (PIL, where installed) so the docs' figures stay small."""
    png = driver.get_screenshot_as_png()
    try:
        from PIL import Image
    except ImportError:
        pass
    else:
        buf = io.BytesIO()
        Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128).save(buf, format="PNG", optimize=True)
        png = buf.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return len(png)


def test_hypothesis_view_brush_threshold_and_matches(served_viewer, tmp_path):
    """One polyline per plotted unit; brushing a span emphasises LSTMVis's selected units;
    dragging the threshold changes its value; matches come on request, as aligned rows with
    annotation tracks; the annotation filter fades/hides; legends everywhere; numbers short."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from rnnscope.store import ActivationStore
    from test_viewer import PHRASE

    url, starts = served_viewer
    states = ActivationStore.open(tmp_path / "store").get("layer1.h")
    driver = chromium_driver(tmp_path / "profile")
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 20)
        wait.until(lambda d: plotted(d))
        units = [int(u) for u in driver.find_element(By.ID, "units").get_attribute("value").split(",")]
        assert plotted(driver) == units and {2, 9} <= set(units)
        assert len(_units_of(driver, "#pcp polyline.unit")) == len(units)   # one polyline per unit
        # legends: a chip per unit, the heatmap's and the text's colour bars
        chips = driver.find_elements(By.CSS_SELECTOR, "#pcplegend .unitchip")
        assert [int(c.get_attribute("data-unit")) for c in chips] == units
        assert driver.find_elements(By.CSS_SELECTOR, "#pcplegend .legend-bar")
        assert driver.find_elements(By.CSS_SELECTOR, "#textlegend .legend-bar")
        # the component picker lists every key of the store
        assert [o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, "#key option")] == \
            ["layer1.h", "layer1.c"]

        # brush a span in the plot, with matching on request only
        driver.find_element(By.ID, "automatch").click()
        a = starts[1]
        drag_between(driver, plot_point(driver, a), plot_point(driver, a + 2))
        wait.until(ec.text_to_be_present_in_element((By.ID, "brushinfo"), "kick the bucket"))
        assert driver.find_elements(By.ID, "brushband")
        assert f"brush={a}-{a + 3}" in driver.current_url
        assert not driver.find_elements(By.CSS_SELECTOR, "#matches li.match")
        assert emphasised(driver) == on_units(states, units, a, a + 3, 0.3) and {2, 9} <= emphasised(driver)

        # drag the threshold line up by 40 px (0.4 on a 200 px plot of [-1, 1])
        assert driver.find_element(By.ID, "threshold").get_attribute("value") == "0.3"
        drag_threshold(driver, -40)
        after = float(driver.find_element(By.ID, "threshold").get_attribute("value"))
        assert after == pytest.approx(0.7, abs=0.03)
        assert float(driver.find_element(By.ID, "thrlabel").text) == after
        assert f"t={after:g}" in driver.current_url
        assert emphasised(driver) == on_units(states, units, a, a + 3, after)

        # request the matches: aligned rows of heatmap cells, with upos and depth tracks
        driver.find_element(By.ID, "matchbtn").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#matches li.match .mgrid")) >= len(starts) - 1)
        rows = driver.find_elements(By.CSS_SELECTOR, "#matches li.match")[:len(starts) - 1]
        assert sorted(int(li.get_attribute("data-row")) for li in rows) == sorted(set(starts) - {a})
        ref = driver.find_element(By.CSS_SELECTOR, "#selrow .mrow.ref")
        lefts = set()
        for row in rows + [ref]:
            assert row.find_element(By.TAG_NAME, "b").text == "kick the bucket"
            core = row.find_elements(By.CSS_SELECTOR, ".tokcell.core")
            assert [c.text for c in core] == PHRASE
            lefts.add(core[0].location["x"])
            tracks = [c.get_attribute("data-track") for c in row.find_elements(By.CSS_SELECTOR, ".cell.track")]
            assert set(tracks) == {"upos", "depth"}
        assert len(lefts) == 1                                     # the spans are aligned
        assert driver.find_elements(By.CSS_SELECTOR, "#matchlegend .legend-bar")
        assert "kick the bucket" in driver.find_element(By.ID, "selection").text
        driver.execute_script("window.scrollTo(0, 0)")
        assert save_small_png(driver, FIGURES / "viewer_brushed.png") < MAX_PNG

        # the annotation filter: tokens without upos = NOUN fade, the count says what is shown
        Select(driver.find_element(By.ID, "filtercol")).select_by_value("upos")
        Select(driver.find_element(By.ID, "filterval")).select_by_value("NOUN")
        wait.until(ec.text_to_be_present_in_element((By.ID, "matchinfo"), "shown with upos = NOUN"))
        assert "filter=upos:NOUN" in driver.current_url
        for row in driver.find_elements(By.CSS_SELECTOR, "#matches li.match:not([hidden])")[:5]:
            for cell in row.find_elements(By.CSS_SELECTOR, '.cell.track[data-track="upos"]'):
                assert ("dim" in cell.get_attribute("class")) == (cell.text != "NOUN")
        assert driver.find_elements(By.CSS_SELECTOR, ".tok.dim")

        # unit search: type a unit number to plot it; a chip opens the unit's card
        new = min(set(range(16)) - set(units))
        driver.find_element(By.ID, "unitsearch").send_keys(str(new), Keys.ENTER)
        wait.until(lambda d: len(plotted(d)) == len(units) + 1)
        assert plotted(driver)[-1] == new and f"units={','.join(map(str, units + [new]))}" in driver.current_url
        driver.find_element(By.CSS_SELECTOR, '#pcplegend .unitchip[data-unit="9"]').click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "cardtitle"), "unit 9"))
        card = driver.find_element(By.ID, "card")
        assert "kick" in card.text and card.find_elements(By.CSS_SELECTOR, "svg.hist rect")
        assert card.find_elements(By.CSS_SELECTOR, ".legend")
        # numbers: 3 significant digits, no float noise anywhere on the page
        shown = driver.execute_script(
            "return [fmt(-0.9345999956130981), fmt(-0.00004), fmt(12345), fmt(-1e-12 * 0)]")
        assert shown == ["-0.935", "-4e-5", "12300", "0"]
        assert not re.search(r"\d\.\d{4,}", driver.find_element(By.TAG_NAME, "body").text)
        assert driver.find_element(By.ID, "status").text == ""
    finally:
        driver.quit()


def test_a_permalink_restores_the_view(served_viewer, tmp_path):
    """The URL hash holds key, units, window, threshold, brushed span, filter and card; opening
    it restores them (and matches the span again), and the hash follows every change."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    url, starts = served_viewer
    a = starts[1]
    driver = chromium_driver(tmp_path / "profile")

    def restored(units, threshold):
        wait = WebDriverWait(driver, 20)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#matches li.match .mgrid")) >= len(starts) - 1)
        wait.until(ec.text_to_be_present_in_element((By.ID, "cardtitle"), "layer1.c unit 9"))
        assert Select(driver.find_element(By.ID, "key")).first_selected_option.get_attribute("value") == "layer1.c"
        assert plotted(driver) == units
        assert driver.find_element(By.ID, "units").get_attribute("value") == ",".join(map(str, units))
        assert float(driver.find_element(By.ID, "threshold").get_attribute("value")) == threshold
        assert float(driver.find_element(By.ID, "thrlabel").text) == threshold
        assert driver.find_elements(By.ID, "brushband")
        assert "kick the bucket" in driver.find_element(By.ID, "brushinfo").text
        assert Select(driver.find_element(By.ID, "filterval")).first_selected_option.text == "NOUN"
        top = driver.find_elements(By.CSS_SELECTOR, "#matches li.match")[:len(starts) - 1]
        assert sorted(int(li.get_attribute("data-row")) for li in top) == sorted(set(starts) - {a})

    try:
        driver.get(f"{url}#key=layer1.c&units=2,9,3&start=0&t=0.45&brush={a}-{a + 3}&filter=upos:NOUN&card=9")
        restored([2, 9, 3], 0.45)
        # change the view: the hash follows; reopening the new link restores the new view
        driver.find_element(By.ID, "unitsearch").send_keys("5", Keys.ENTER)
        WebDriverWait(driver, 20).until(lambda d: len(plotted(d)) == 4)
        drag_threshold(driver, 20)
        threshold = float(driver.find_element(By.ID, "threshold").get_attribute("value"))
        assert threshold == pytest.approx(0.25, abs=0.03)
        link = driver.current_url
        assert "key=layer1.c" in link and "units=2,9,3,5" in link and f"t={threshold:g}" in link
        assert f"brush={a}-{a + 3}" in link and "filter=upos:NOUN" in link and "card=9" in link
        driver.get("about:blank")
        driver.get(link)
        restored([2, 9, 3, 5], threshold)
        driver.execute_script("document.getElementById('card').scrollIntoView({block: 'end'})")
        assert save_small_png(driver, FIGURES / "viewer_card.png") < MAX_PNG
        assert driver.find_element(By.ID, "status").text == ""
    finally:
        driver.quit()


def test_demo_report_renders_every_section_with_its_figures(tmp_path):
    """`rnnscope demo`'s report, opened from disk in Chromium: every section is there with a
    heading, every embedded figure decodes (naturalWidth > 0), nothing is "Not shown". The
    screenshot is docs/figures/demo_report.png (with RNNSCOPE_SCREENSHOTS=docs)."""
    from selenium.webdriver.common.by import By

    from rnnscope.demo import run_demo
    from rnnscope.report.sections import SECTIONS

    driver = chromium_driver(tmp_path / "profile")  # skips before the demo runs without Chromium
    try:
        result = run_demo(tmp_path / "demo", say=lambda m: None, top=3)
        driver.get(result.report_path.resolve().as_uri())
        ids = [s.get_attribute("id") for s in driver.find_elements(By.CSS_SELECTOR, "section")]
        assert ids == [anchor for anchor, _, _ in SECTIONS] + ["cards"]  # neuron cards last
        for section in driver.find_elements(By.CSS_SELECTOR, "section"):
            assert section.find_element(By.TAG_NAME, "h2").text.strip()
            assert "Not shown" not in section.text
        images = driver.find_elements(By.CSS_SELECTOR, "section img")
        assert len(images) >= len(SECTIONS)
        assert all(driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", im)
                   for im in images)
        driver.execute_script("document.getElementById('probe').scrollIntoView()")
        assert save_small_png(driver, FIGURES / "demo_report.png") < MAX_PNG
    finally:
        driver.quit()
