"""The interactive page in a real browser: headless Chromium driven by Selenium.

Skips where Chromium, chromedriver or selenium is missing (CI installs Debian's ``chromium`` and
``chromium-driver``; selenium is in the test extras). One browser for the whole module.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chainrule.draw import draw_graph
from chainrule.expr import build_graph
from chainrule.graph import Variable

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

TAX_TEXT = "× node: d(apple_price) = dout · tax = 1 · 1.1 = 1.1, d(tax) = dout · apple_price = 1 · 200 = 200"


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (name if Path(name).is_file() else None)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    chromium = _find("chromium", "chromium-browser", "/usr/bin/chromium")
    driver_path = _find("chromedriver", "/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip("needs chromium and chromedriver (Debian: apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,800"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
    except Exception as exc:  # a browser that cannot start here (no display libraries, ...) is an absent one
        pytest.skip(f"chromium did not start: {exc}")
    try:
        yield driver
    finally:
        driver.quit()


def open_page(browser, path: Path, text: str):
    path.write_text(text, encoding="utf-8")
    browser.get(path.resolve().as_uri())
    browser.get_log("browser")  # start each page with an empty console log
    return browser.find_element(By.CSS_SELECTOR, ".chainrule-player")


def console_errors(browser):
    return [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def visible_labels(player, kind: str) -> list[str]:
    return [e.text for e in player.find_elements(By.CSS_SELECTOR, f"text.{kind}") if e.is_displayed()]


def explanation(player) -> str:
    return player.find_element(By.CSS_SELECTOR, ".cr-text").text


def step_of(player) -> int:
    return int(player.get_attribute("data-step"))


def button(player, go: str):
    return player.find_element(By.CSS_SELECTOR, f'button[data-go="{go}"]')


@pytest.fixture(scope="module")
def apple_html():
    price = build_graph("apple")
    price.backward()
    return str(draw_graph(price, format="html"))


def test_apple_steps_forward_and_backward(browser, apple_html, tmp_path):
    player = open_page(browser, tmp_path / "apple.html", apple_html)
    player.click()  # focus: keys go to the player
    values, grads = ["100", "2", "1.1"], []
    expected = [  # (values visible, gradients visible) after each step
        (values, grads),
        ([*values, "apple_price = 200"], grads),
        ([*values, "apple_price = 200", "220"], grads),
        ([*values, "apple_price = 200", "220"], ["1"]),
        ([*values, "apple_price = 200", "220"], ["1", "1.1", "200"]),
        ([*values, "apple_price = 200", "220"], ["1", "1.1", "200", "2.2", "110"]),
        ([*values, "apple_price = 200", "220"], ["1", "1.1", "200", "2.2", "110"]),
    ]
    for k, (vals, grs) in enumerate(expected):
        assert step_of(player) == k
        assert sorted(visible_labels(player, "cr-value")) == sorted(vals), k
        assert sorted(visible_labels(player, "cr-grad")) == sorted(grs), k
        if k == 4:
            assert explanation(player) == TAX_TEXT
            current = player.find_elements(By.CSS_SELECTOR, "circle.cr-current")
            assert len(current) == 1 and current[0].get_attribute("data-node") == "4"
        if k < len(expected) - 1:
            player.send_keys(Keys.ARROW_RIGHT if k % 2 else Keys.SPACE)
    assert "Backward done" in explanation(player)
    assert button(player, "next").get_attribute("disabled") and not button(player, "back").get_attribute("disabled")
    player.send_keys(Keys.ARROW_RIGHT)  # past the end: stays
    assert step_of(player) == 6
    player.send_keys(Keys.ARROW_LEFT)
    assert step_of(player) == 5 and "d(apple) = dout · apple_num = 1.1 · 2 = 2.2" in explanation(player)
    player.send_keys(Keys.HOME)
    assert step_of(player) == 0 and visible_labels(player, "cr-grad") == []
    assert console_errors(browser) == []


def test_buttons_step_and_jump(browser, apple_html, tmp_path):
    player = open_page(browser, tmp_path / "apple.html", apple_html)
    assert button(player, "back").get_attribute("disabled")
    for _ in range(4):
        button(player, "next").click()
    assert step_of(player) == 4 and explanation(player) == TAX_TEXT
    live = player.find_element(By.CSS_SELECTOR, ".cr-explain")
    assert live.get_attribute("aria-live") == "polite"
    # Space on a focused button presses it once (not once more as a step key).
    button(player, "next").send_keys(Keys.SPACE)
    assert step_of(player) == 5
    button(player, "back").click()
    assert step_of(player) == 4
    button(player, "end").click()
    assert step_of(player) == 6
    button(player, "first").click()
    assert step_of(player) == 0
    assert player.find_element(By.CSS_SELECTOR, ".cr-count").text == "step 0 of 6"
    assert console_errors(browser) == []


def test_two_players_on_one_page_do_not_interfere(browser, tmp_path):
    price = build_graph("apple")
    price.backward()
    z = build_graph("x * y + x", {"x": 2.0, "y": 3.0})
    z.backward()
    body = draw_graph(price, format="html")._repr_html_() + draw_graph(z, format="html")._repr_html_()
    open_page(browser, tmp_path / "two.html", f"<!DOCTYPE html><html><body>{body}</body></html>")
    first, second = browser.find_elements(By.CSS_SELECTOR, ".chainrule-player")
    first.click()
    for _ in range(3):
        first.send_keys(Keys.ARROW_RIGHT)
    assert (step_of(first), step_of(second)) == (3, 0)
    button(second, "end").click()
    assert (step_of(first), step_of(second)) == (3, 6)
    second.send_keys(Keys.HOME)
    assert (step_of(first), step_of(second)) == (3, 0)
    assert console_errors(browser) == []


def test_fan_out_sum_is_shown(browser, tmp_path):
    z = build_graph("x * y + x", {"x": 2.0, "y": 3.0})
    z.backward()
    player = open_page(browser, tmp_path / "fan.html", str(draw_graph(z, format="html")))
    player.click()
    for _ in range(5):
        player.send_keys(Keys.ARROW_RIGHT)
    details = player.find_element(By.CSS_SELECTOR, ".cr-details").text
    assert "x feeds 2 nodes, so its gradients add up: d(x) = 1 (from +) + 3 (from ×) = 4" in details
    assert console_errors(browser) == []


def test_script_in_names_shows_as_text(browser, tmp_path):
    evil = "<script>window.chainruleHacked = 1</script><img src=x onerror=window.chainruleHacked=2>"
    x = Variable(2.0, name=evil)
    y = x * Variable(3.0, name="</script><b>y")
    y.name = "<!--"
    y.backward()
    player = open_page(browser, tmp_path / "evil.html", str(draw_graph(y, format="html")))
    assert browser.execute_script("return window.chainruleHacked === undefined")
    assert evil in player.find_element(By.CSS_SELECTOR, "svg").text
    player.click()
    player.send_keys(Keys.END)
    player.send_keys(Keys.ARROW_LEFT)
    assert f"d({evil}) = dout · </script><b>y = 1 · 3 = 3" in explanation(player)
    assert browser.execute_script("return window.chainruleHacked === undefined")
    assert console_errors(browser) == []


def test_a_100_node_page_opens_and_steps(browser, tmp_path):
    spec = " + ".join(f"x*{i}" for i in range(2, 52))
    out = build_graph(spec, {"x": 1.5})
    out.backward()
    player = open_page(browser, tmp_path / "big.html", str(draw_graph(out, format="html")))
    player.click()
    player.send_keys(Keys.ARROW_RIGHT)
    assert step_of(player) == 1
    player.send_keys(Keys.END)
    assert step_of(player) == 200 and "d(x) = 1325" in explanation(player)
    assert len(visible_labels(player, "cr-grad")) == len(player.find_elements(By.CSS_SELECTOR, "text.cr-grad"))
    assert console_errors(browser) == []
