"""The page in a real browser: Debian's headless Chromium driven by Selenium through Debian's chromedriver.

Opens the served page and drags a box of the scene twice. Each release in-paints the RGB: the page sends
the RGB it shows (the scene's, then the last answer) as ``tok_rgb`` with a mask blanking the box's old and
new places, plus the caption and the moved boxes; the test reads the request the page sent
(``window.fetch`` wrapped) — the shown RGB, the moved box in ``det``, the mask over exactly those two
places — waits for the shown RGB to change, and checks that it changed inside the tokens of those places
and not one pixel elsewhere. Then RGB → all must show every output but the
caption as a picture (palette swatches, metadata bars). The screenshot is kept in
``out/test-artifacts/serve_page.png``. Without chromium the test is skipped, unless
``OMNIMASK_REQUIRE_BROWSER=1`` (CI sets it: there a missing browser is a failure).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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
CELL = 8  # pixels of one token of the shipped 64 px model (an 8 x 8 token grid)
#: Keeps the body of every request the page sends, in window.sent.
SPY = """window.sent = []; const original = window.fetch;
window.fetch = (url, options) => {
  if (options && options.body) window.sent.push(options.body);
  return original(url, options);
};"""


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


def decoded(data: str) -> np.ndarray:
    """A base64 PNG (or data URL) → (H, W, C) int array."""
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data.split(",")[-1])))).astype(int)


def blanked(boxes: list[list[float]], side: int = 64) -> np.ndarray:
    """(side, side) bool: the pixels of the boxes ([x0, y0, x1, y1] in [0, 1]), rounded outwards like the page."""
    out = np.zeros((side, side), bool)
    for x0, y0, x1, y1 in boxes:
        rows, cols = slice(int(np.floor(y0 * side)), int(np.ceil(y1 * side))), slice(int(np.floor(x0 * side)),
                                                                                      int(np.ceil(x1 * side)))
        out[rows, cols] = True
    return out


def test_dragging_a_box_inpaints_the_rgb_at_its_old_and_new_place_only(server, browser):
    browser.get(server)
    wait = WebDriverWait(browser, 120)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
    assert "error" not in browser.find_element(By.ID, "status").get_attribute("class")
    browser.execute_script(SPY)
    canvas = browser.find_element(By.ID, "box-canvas")
    assert browser.execute_script("return boxes"), "the scene has boxes to drag"
    side = canvas.size["width"]

    def shown() -> np.ndarray:
        return decoded(browser.find_element(By.ID, "box-rgb").get_attribute("src") or "")

    def drag(dx: int) -> None:
        before, boxes = shown(), browser.execute_script("return boxes")
        x0, y0, x1, y1 = old = boxes[0]["box"]
        cx, cy = ((x0 + x1) / 2 - 0.5) * side, ((y0 + y1) / 2 - 0.5) * side
        browser.execute_script("document.getElementById('status').textContent = ''")
        ActionChains(browser).move_to_element_with_offset(canvas, int(cx), int(cy)).click_and_hold() \
            .move_by_offset(dx, 0).release().perform()
        wait.until(lambda d: d.find_element(By.ID, "status").text.startswith(("done", "error")))
        assert "error" not in browser.find_element(By.ID, "status").get_attribute("class"), \
            browser.find_element(By.ID, "status").text
        wait.until(lambda d: not np.array_equal(shown(), before))
        now = browser.execute_script("return boxes")
        new = now[0]["box"]
        assert new != old and [b["box"] for b in now[1:]] == [b["box"] for b in boxes[1:]], "the drag moved box 0"
        sent = json.loads(browser.execute_script("return window.sent[window.sent.length - 1]"))
        assert [b["box"] for b in sent["conditions"]["det"]] == [b["box"] for b in now], "the page sent the moved box"
        assert sent["targets"] == ["tok_rgb"] and np.array_equal(decoded(sent["conditions"]["tok_rgb"]), before)
        area = blanked([old, new])
        assert np.array_equal(decoded(sent["masks"]["tok_rgb"])[..., 0] < 128, area), "it blanks the old and new place"
        redone = np.kron(area.reshape(8, CELL, 8, CELL).any(axis=(1, 3)), np.ones((CELL, CELL), bool))
        change = np.abs(shown() - before).max(axis=-1)
        assert change[~redone].max() == 0, "outside the box's old and new tokens the picture is kept"
        assert change[redone].mean() > 2, "inside them it is generated again"

    first = browser.execute_script("return boxes")[0]["box"]
    drag(40 if first[0] < 0.5 else -40)
    drag(-30 if browser.execute_script("return boxes")[0]["box"][0] > 0.3 else 30)  # goes on from the answer
    browser.find_element(By.ID, "rgb-to-all").click()  # chained RGB -> all: every output but the caption a picture
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rgb-outputs figure")) >= 9)
    figures = browser.execute_script("""return [...document.querySelectorAll('#rgb-outputs figure')].map((f) => {
        const pic = f.querySelector('img, canvas, svg');
        return [f.querySelector('figcaption').textContent.split(' ')[0], pic ? pic.tagName.toLowerCase() : null,
                f.querySelectorAll('svg rect').length];});""")
    kinds = {role: tag for role, tag, _ in figures}
    assert kinds.pop("caption") is None and None not in kinds.values(), figures
    assert kinds["color_palette"] == "canvas" and kinds["metadata"] == "svg"
    assert next(rects for role, _, rects in figures if role == "metadata") >= 10, "a bar per metadata key"
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
