"""The page in a real browser: Debian's headless Chromium driven by Selenium through Debian's chromedriver.

Opens the served page, drags a box on the canvas and waits for the regenerated RGB to change; the
screenshot is kept in ``out/test-artifacts/serve_page.png``. Without chromium the test is skipped,
unless ``OMNIMASK_REQUIRE_BROWSER=1`` (CI sets it: there a missing browser is a failure).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
webdriver = pytest.importorskip("selenium.webdriver")
import uvicorn  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from omnimask.serve.app import create_app, free_port  # noqa: E402
from omnimask.serve.engine import Engine  # noqa: E402
from omnimask.serve.settings import ServeSettings  # noqa: E402

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts"


@pytest.fixture(scope="module")
def server():
    port = free_port()
    config = uvicorn.Config(create_app(Engine.load(settings=ServeSettings(gallery=8))), host="127.0.0.1", port=port,
                            log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        if os.environ.get("OMNIMASK_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium and chromedriver are required (apt-get install chromium chromium-driver)")
        pytest.skip("no chromium / chromedriver (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    flags = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,2400")
    for flag in flags:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def test_dragging_a_box_regenerates_the_rgb_from_the_moved_box(server, browser):
    browser.get(server)
    wait = WebDriverWait(browser, 120)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
    assert "error" not in browser.find_element(By.ID, "status").get_attribute("class")
    canvas = browser.find_element(By.ID, "box-canvas")
    boxes = browser.execute_script("return boxes")
    assert boxes, "the scene has boxes to drag"
    side = canvas.size["width"]

    def drag(box, dx):
        x0, y0, x1, y1 = box["box"]
        cx, cy = ((x0 + x1) / 2 - 0.5) * side, ((y0 + y1) / 2 - 0.5) * side
        ActionChains(browser).move_to_element_with_offset(canvas, int(cx), int(cy)).click_and_hold() \
            .move_by_offset(dx, 0).release().perform()

    drag(boxes[0], 40 if boxes[0]["box"][0] < 0.5 else -40)
    wait.until(lambda d: (d.find_element(By.ID, "box-rgb").get_attribute("src") or "").startswith("data:image/png"))
    moved = browser.execute_script("return boxes")[0]["box"]
    assert moved != boxes[0]["box"], "the drag moved the box"
    # The second drag regenerates from the moved boxes. Whether the picture differs is the model's business
    # (the shipped model follows boxes only weakly; demo figure 3): here the page must send the moved box and
    # show a fresh answer.
    browser.execute_script("document.getElementById('status').textContent = ''")
    drag(browser.execute_script("return boxes")[0], -30 if moved[0] > 0.3 else 30)
    wait.until(lambda d: d.find_element(By.ID, "status").text.startswith("done"))
    assert browser.execute_script("return boxes")[0]["box"] != moved, "the second drag moved the box again"
    assert (browser.find_element(By.ID, "box-rgb").get_attribute("src") or "").startswith("data:image/png")
    browser.find_element(By.ID, "rgb-to-all").click()  # chained RGB -> all: every output a picture
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rgb-outputs figure")) >= 6)
    shown = browser.find_elements(By.CSS_SELECTOR, "#rgb-outputs figure img, #rgb-outputs figure canvas")
    assert len(shown) >= 6
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "serve_page.png"))


def test_the_page_shows_a_server_error_naming_the_field(server, browser):
    browser.get(server)
    WebDriverWait(browser, 120).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
    browser.find_element(By.ID, "top-k").clear()
    browser.find_element(By.ID, "top-k").send_keys("50")
    browser.find_element(By.ID, "retrieve").click()
    WebDriverWait(browser, 60).until(lambda d: "error" in d.find_element(By.ID, "status").get_attribute("class"))
    assert "422: body.top_k" in browser.find_element(By.ID, "status").text
