"""``opsconsole serve`` in a real browser: Debian's headless Chromium, driven through chromedriver with selenium.

The page loads with the token, its terminal connects (the page marks its first byte from the session), and Enter
typed in the browser opens the first change's record in the served app. xterm.js draws to a canvas, so what the
app shows is read on the server's side, from the access log the served sessions write. The screenshot is kept in
the test's directory. Without chromium and chromedriver (``make test`` installs both with apt, as root) it skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from console.journal.store import RecordStore
from tests.support.review_records import web_success
from tests.support.serve import Served, start_serve, stop

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = [pytest.mark.serial, pytest.mark.slow]  # a browser and its driver: two cores' worth of processes for a while


def wait(condition: Callable[[], object], what: str, timeout: float = 60.0, every: float = 0.1) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        time.sleep(every)


def views(log: Path) -> list[dict]:
    try:
        return [json.loads(line) for line in log.read_text().splitlines() if line.endswith("}")]
    except FileNotFoundError:
        return []


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            pytest.skip(f"{path} is missing: install Debian's {package} (apt-get install chromium chromium-driver; make test does, as root)")
    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium must use the driver given, never fetch one
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
                 "--window-size=1280,900", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER, log_output=subprocess.DEVNULL)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_browser_opens_the_served_reviewer_and_a_key_opens_a_record(browser, tmp_path: Path, records_dir: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    ref = web_success(RecordStore(records_dir))
    access = tmp_path / "access.jsonl"
    proc = start_serve(records_dir, "--access-log", str(access))
    try:
        served = Served(proc)
        browser.get(served.review)
        wait(lambda: browser.execute_script("return document.body.classList.contains('-first-byte')"),
             "the terminal's first byte from the served session")
        wait(lambda: any(v["view"] == "records" for v in views(access)), "the served reviewer showing the list")
        keys = browser.find_element(By.CSS_SELECTOR, "textarea.xterm-helper-textarea")

        def opened() -> bool:
            # Enter opens the row under the cursor once the list has loaded; until then it does nothing, so it is sent again.
            if not any(v["view"] == "record" for v in views(access)):
                keys.send_keys(Keys.ENTER)
                return False
            return True

        wait(opened, "the record opened by Enter typed in the browser", every=1.0)
        (record,) = [v for v in views(access) if v["view"] == "record"]
        assert record["change_id"] == ref.change_id
        wait(lambda: browser.save_screenshot(str(tmp_path / "served-record.png")), "a screenshot")
        assert (tmp_path / "served-record.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        stop(proc)
