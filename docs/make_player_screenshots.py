"""Photograph the interactive apple page at three moments for the README (run by hand, once).

    python docs/make_player_screenshots.py     # writes docs/player-start.png, -backward.png, -end.png

Needs chromium, chromedriver and selenium (as tests/test_browser.py does).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from chainrule.draw import draw_graph
from chainrule.expr import build_graph

DOCS = Path(__file__).resolve().parent
MOMENTS = {"start": 0, "backward": 4, "end": 6}  # step 4: the tax node's backward


def main() -> None:
    price = build_graph("apple")
    price.backward()
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=900,520", "--hide-scrollbars"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            page = draw_graph(price, format="html").save(Path(tmp) / "apple.html")
            driver.get(page.resolve().as_uri())
            player = driver.find_element(By.CSS_SELECTOR, ".chainrule-player")
            player.click()
            step = 0
            for name, at in MOMENTS.items():
                while step < at:
                    player.send_keys(Keys.ARROW_RIGHT)
                    step += 1
                player.screenshot(str(DOCS / f"player-{name}.png"))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
