"""End to end: the viewer on a store built here, driven by headless Chromium.

Needs Debian's ``chromium`` + ``chromium-driver`` and the ``selenium`` package (no browser is
ever downloaded); skipped with the reason otherwise. Screenshots go to ``tests/artifacts/``.
"""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).parent / "artifacts"
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
