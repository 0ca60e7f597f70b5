"""The dashboard in a real headless Chromium, mounted in an app served by real uWSGI with a
spooler: refused without credentials, logs in, finds the failed task, opens its detail (the
traceback, the ``<script>`` argument as text), presses retry and sees it run, filters by name
and reloads the URL to the same view, cancels a scheduled task, and sees a task that finishes
while its page is open appear without a reload (live refresh). Screenshots of the overview
and a detail page are saved in the test's tmp dir (their paths are printed).

Chromium and chromedriver come from the system packages (``.ci/run`` installs them); selenium
is given that driver and never downloads one.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.support.uwsgi import APPS, UwsgiInstance, wait_for

OPERATOR_PASSWORD = "op-secret-0123"
VIEWER_PASSWORD = "view-secret-0123"
ARGUMENT = "<script>alert('x')</script>"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[UwsgiInstance]:
    instance = UwsgiInstance(
        "basic.ini",
        tmp_path,
        app_dir=APPS / "dashboard",
        app="dashapp",
        tasks="dashtasks",
        env={
            "DASHBOARD_OPERATOR_PASSWORD": OPERATOR_PASSWORD,
            "DASHBOARD_VIEWER_PASSWORD": VIEWER_PASSWORD,
        },
    )
    with instance:
        yield instance


@pytest.fixture
def browser() -> Iterator[Any]:
    chromedriver = shutil.which("chromedriver")
    assert chromedriver, "chromedriver is missing: apt-get install chromium chromium-driver"
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,900")
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    # A click that submits a form returns before the next page is there: look-ups wait for
    # what they name (up to 5 s) instead of reading the page being left.
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()  # stops chromedriver and the browser it started


def log_in(driver: Any, user: str, password: str) -> None:
    """Send basic-auth credentials with every request from now on (what the login prompt does,
    which headless Chromium cannot show)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}}
    )


def test_the_dashboard_in_a_browser(
    served: UwsgiInstance, browser: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = f"http://127.0.0.1:{served.port}/spoolrt"
    for n in range(3):
        served.get(f"/enqueue/greet?arg=friend{n}")
    failed_id = served.get("/enqueue/flaky?" + "arg=" + "%3Cscript%3Ealert('x')%3C/script%3E")["id"]
    later_id = served.get("/enqueue/greet?arg=later&postpone=3600")["id"]
    wait_for(lambda: served.area("failed"), 30, what="the flaky task in the failed area")

    browser.get(base + "/")  # Chromium gets the 401 challenge: it shows nothing of the page
    assert not browser.find_elements(By.TAG_NAME, "h1")
    assert served.request("/spoolrt/")[0] == 401

    log_in(browser, "ops", OPERATOR_PASSWORD)
    browser.get(base + "/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Overview"
    overview = tmp_path / "overview.png"
    browser.save_screenshot(str(overview))

    browser.find_element(By.LINK_TEXT, "failed").click()
    assert "Tasks: failed" in browser.find_element(By.TAG_NAME, "h1").text
    browser.find_element(By.LINK_TEXT, failed_id).click()
    traceback = browser.find_element(By.ID, "traceback").text
    assert "RuntimeError: first run of" in traceback
    detail_text = browser.find_element(By.ID, "detail").text
    assert ARGUMENT in detail_text  # shown as text...
    scripts = browser.find_elements(By.TAG_NAME, "script")  # ...never as a script: the one
    assert [s.get_attribute("src") for s in scripts] == [f"{base}/live.js"]  # is the dashboard's
    assert all(not s.get_attribute("innerHTML").strip() for s in scripts)
    detail = tmp_path / "detail.png"
    browser.save_screenshot(str(detail))

    browser.find_element(By.ID, "retry").click()
    assert browser.current_url.endswith(f"/task/{failed_id}")

    def done() -> bool:
        browser.refresh()
        cells = browser.find_elements(By.CSS_SELECTOR, "#detail td.done")
        return bool(cells)

    wait_for(done, 30, 0.2, "the retried task to be done")

    filtered = f"{base}/tasks?status=done&name=flaky"
    browser.get(filtered)
    first = browser.find_element(By.ID, "tasks").text
    assert failed_id in first and "greet" not in first
    browser.refresh()
    assert browser.current_url == filtered
    assert browser.find_element(By.ID, "tasks").text == first

    browser.get(f"{base}/task/{later_id}")
    assert browser.find_element(By.CSS_SELECTOR, "#detail td.scheduled").text == "scheduled"
    browser.find_element(By.ID, "cancel").click()
    assert browser.find_element(By.CSS_SELECTOR, "#detail td.cancelled").text == "cancelled"
    assert "cancelled" in browser.find_element(By.ID, "detail").text
    assert not browser.find_elements(By.ID, "cancel")

    for shot in (overview, detail):
        assert shot.stat().st_size > 1000
    with capsys.disabled():
        print(f"\nscreenshots: {overview} {detail}")


def test_a_task_finishing_while_its_page_is_open_shows_up_without_a_reload(
    served: UwsgiInstance, browser: Any
) -> None:
    base = f"http://127.0.0.1:{served.port}/spoolrt"
    log_in(browser, "eve", VIEWER_PASSWORD)
    browser.get(f"{base}/tasks?status=done")
    assert browser.find_element(By.TAG_NAME, "main").get_attribute("data-api")
    wait_for(lambda: browser.find_element(By.ID, "live").text == "live", 10, 0.1, "live.js polling")
    browser.execute_script("window.spoolrtNotReloaded = true;")  # gone if the page reloads
    task_id = served.get("/enqueue/greet?arg=live")["id"]

    def shown() -> bool:
        try:  # live.js may swap <main> out between the look-up and the read
            return task_id in browser.find_element(By.TAG_NAME, "main").text
        except StaleElementReferenceException:
            return False

    wait_for(shown, 30, 0.2, "the finished task to appear on the open page")
    assert browser.execute_script("return window.spoolrtNotReloaded === true;")
    assert browser.current_url == f"{base}/tasks?status=done"


def test_a_viewer_in_the_browser_sees_no_retry_button(served: UwsgiInstance, browser: Any) -> None:
    failed_id = served.get("/enqueue/flaky?arg=viewer")["id"]
    wait_for(lambda: served.area("failed"), 30, what="the flaky task in the failed area")
    log_in(browser, "eve", VIEWER_PASSWORD)
    page = f"http://127.0.0.1:{served.port}/spoolrt/task/{failed_id}"

    def traceback_shown() -> bool:
        # the failed area is written just before the store's record, which holds the traceback
        browser.get(page)
        return any(e.text for e in browser.find_elements(By.ID, "traceback"))

    wait_for(traceback_shown, 30, 0.2, "the failed task's page with its traceback")
    assert not browser.find_elements(By.ID, "retry")
