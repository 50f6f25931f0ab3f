"""The web console in a real browser: Debian's chromium driven by Selenium through chromedriver.

Browse, search, a name going DOWN on the health page within a second (no reload), an edit with a
write token, the same edit refused with a read token. Skipped, with the reason, where chromium,
chromedriver or selenium is missing. With SKYDNS_SCREENSHOTS=DIR each page is saved as a PNG there
(how docs/console/*.png are made: `make screenshots`).
"""
import json
import os
import shutil
import time

import pytest

from helpers import free_port
from skydns import testing
from skydns.plugin.api.tokens import hashed
from skydns.testing.server import eventually

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)),
                                reason="no chromium and chromedriver (Debian: apt install chromium chromium-driver)")

WRITER, READER = "writer-secret-0123456789", "reader-secret-9876543210"
SHOTS = os.environ.get("SKYDNS_SCREENSHOTS")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-quic", "--window-size=1280,860", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(options=opts, service=Service(DRIVER))
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture
def console(tmp_path, data, browser):
    port = free_port()
    text = (f"skydns.local:0 {{\n api 127.0.0.1:{port} {{\n  console\n"
            f"  token ops {hashed(WRITER)} write web.skydns.local. east.skydns.local.\n  token viewer {READER} read\n }}\n"
            f" etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n  monitor {data.path}-monitor\n }}\n}}\n")
    for i in range(120):
        data.put(f"web{i:03d}.east.skydns.local.", {"host": f"10.1.0.{i + 1}", "port": 8080})
    data.put("db.skydns.local.", {"host": "10.2.0.1", "port": 5432, "text": "primary"})
    data.client.put(f"{data.path}-monitor/10.1.0.1", json.dumps({"status": "UP", "since": int(time.time()) - 3600,
                                                                "by": "scanner-1"}))
    with testing.serve(text, tmp_path) as srv:
        srv.url = f"http://127.0.0.1:{port}/skydns/console/"
        srv.data = data
        browser.delete_all_cookies()
        yield srv


def wait_for(browser, css, text=None, timeout=5.0):
    """The element matching ``css`` (holding ``text``), once the page shows it."""
    def found():
        try:
            for e in browser.find_elements(By.CSS_SELECTOR, css):
                if text is None or text in e.text:
                    return e
        except StaleElementReferenceException:  # redrawn while read: look again
            pass
        return None
    assert eventually(found, timeout=timeout), f"{css} {text or ''} never shown"
    return found()


def click(browser, css, text=None):
    """Click the element matching ``css`` (holding ``text``), again if a live redraw replaced it meanwhile."""
    def clicked():
        try:
            wait_for(browser, css, text).click()
            return True
        except StaleElementReferenceException:
            return False
    assert eventually(clicked)


def login(browser, console, token):
    browser.get(console.url)
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "login").click()
    wait_for(browser, "body[data-ready]")


def shot(browser, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        browser.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def test_browse_and_search(browser, console):
    browser.get(console.url)
    shot(browser, "login")
    login(browser, console, READER)
    click(browser, "#tree a", "skydns.local.")
    click(browser, "#children a", "east")
    wait_for(browser, "#children a", "web000")
    assert "1–100 of 120" in wait_for(browser, ".pager").text
    click(browser, "#children a", "web005")
    wait_for(browser, "#answers td", "10.1.0.6")  # the A answer, as the server gives it
    assert "8080" in wait_for(browser, "#answers").text  # and its SRV
    assert browser.find_elements(By.ID, "edit-save") == []  # a read token sees no edit controls
    box = browser.find_element(By.ID, "search")
    box.send_keys("web11")
    wait_for(browser, "#search-results", "10 names contain")
    click(browser, "#search-results a", "web119.east.skydns.local.")
    wait_for(browser, "#detail-name", "web119.east.skydns.local.")
    shot(browser, "names")


def test_a_name_going_down_is_shown_within_a_second(browser, console):
    login(browser, console, READER)
    browser.get(console.url + "#health")
    row = wait_for(browser, "#health-table tr[data-ip='10.1.0.1']")
    assert row.find_element(By.CSS_SELECTOR, ".badge").text == "UP" and "scanner-1" in row.text
    d = console.data
    d.client.put(f"{d.path}-monitor/10.1.0.1", json.dumps({"status": "DOWN", "since": int(time.time()),
                                                          "by": "scanner-2"}))
    written = time.monotonic()
    wait_for(browser, "#health-table tr[data-ip='10.1.0.1'] .badge[data-status='DOWN']", timeout=1.0)
    took = time.monotonic() - written
    assert took < 1.0
    assert "scanner-2" in wait_for(browser, "#health-table tr[data-ip='10.1.0.1']").text
    assert "1 DOWN" in browser.find_element(By.ID, "health-summary").text
    shot(browser, "health")


def test_an_edit_with_a_write_token_shows_up_live(browser, console):
    login(browser, console, WRITER)
    browser.get(console.url + "#names/web007.east.skydns.local.")
    body = wait_for(browser, "#edit-body")
    body.clear()
    body.send_keys('{"host": "10.7.7.7", "port": 8443}')
    browser.find_element(By.ID, "edit-save").click()
    wait_for(browser, "#edit-msg", "Saved.")
    # the page follows the etcd copy: the new answer arrives without a reload
    wait_for(browser, "#answers td", "10.7.7.7")
    wait_for(browser, "#history td", "api:ops")
    stored = console.data.client.get(console.data.key("web007.east.skydns.local."))[0]
    assert json.loads(stored) == {"host": "10.7.7.7", "port": 8443}
    shot(browser, "edit")


def test_the_same_edit_is_refused_with_a_read_token(browser, console):
    login(browser, console, READER)
    browser.get(console.url + "#names/web007.east.skydns.local.")
    wait_for(browser, "#answers td", "10.1.0.8")
    assert browser.find_elements(By.ID, "edit-save") == []
    # what the controls would have sent, sent from the page with its session and CSRF token
    result = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch("data/session").then(r => r.json()).then(s =>
          fetch("../api/records/web007.east.skydns.local.", {method: "PUT", credentials: "same-origin",
                headers: {"X-CSRF-Token": s.csrf, "Content-Type": "application/json"},
                body: JSON.stringify({host: "10.7.7.7"})}))
          .then(r => r.json().then(b => done([r.status, b])));
    """)
    assert result == [403, {"error": "token viewer is read-only"}]
    stored = console.data.client.get(console.data.key("web007.east.skydns.local."))[0]
    assert json.loads(stored)["host"] == "10.1.0.8"


def test_instance_page(browser, console):
    login(browser, console, READER)
    browser.get(console.url + "#instance")
    assert wait_for(browser, "#ready").text == "Ready"
    assert "etcd" in wait_for(browser, "#blocks").text
    assert console.data.server.url in wait_for(browser, "#instance").text
    shot(browser, "instance")


def test_traffic_page(browser, tmp_path, data):
    """An hour's plot needs points: the server runs on a test clock, moved a step at a time."""
    from twisted.internet import task

    from skydns.plugin.api.console.traffic import STEP

    port = free_port()
    text = (f"skydns.local:0 {{\n api 127.0.0.1:{port} {{\n  console\n  token viewer {READER} read\n }}\n"
            f" etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")
    data.put("db.skydns.local.", {"host": "10.2.0.1"})
    with testing.serve(text, tmp_path, clock=task.Clock()) as srv:
        assert eventually(lambda: srv.query("db.skydns.local.").answer)
        for step in range(30):
            for _ in range(5 + step % 7 * 3):
                srv.query("db.skydns.local.")
            if step % 4 == 0:
                srv.query("missing.skydns.local.")
            srv.advance(STEP)
        srv.url = f"http://127.0.0.1:{port}/skydns/console/"
        browser.delete_all_cookies()
        login(browser, srv, READER)
        browser.get(srv.url + "#traffic")
        card = wait_for(browser, ".zone-traffic[data-zone='skydns.local.']")
        assert "NXDOMAIN" in card.text and "NOERROR" in card.text
        assert len(card.find_elements(By.CSS_SELECTOR, "svg.plot polyline")) == 4  # q/s, p50, p90, p99
        shot(browser, "traffic")
