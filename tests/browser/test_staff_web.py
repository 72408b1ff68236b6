"""The staff web in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`) driven by Selenium, against the app served by real uvicorn on loopback.

A roads officer signs in and opens their team's queue; a resident's request arrives; it appears
on the open queue page without a reload (server-sent events); the officer acknowledges and
closes it from the request page, by keyboard, then records the customer's rating there; the SLA
dashboard shows the breach, then not.
Screenshots of each step go to `test-artifacts/browser/`."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from infra.http.app import create_app
from infra.runtime import Runtime
from infra.settings import PROJECT_ROOT
from tests.conftest import TEST_ADMIN, add_staff, make_settings
from tests.fakes import FakeClock
from tests.http_support import COUNCIL, PASSWORD

pytestmark = pytest.mark.browser
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "browser"
WAIT = 30.0  # seconds: the most any step may take on a busy machine


@contextmanager
def uvicorn_on_loopback(rt: Runtime) -> Iterator[str]:
    """The app served by uvicorn in a thread, on a free loopback port; its base URL. The socket
    listens before the server starts, so a client never finds the port closed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(rt, [COUNCIL]),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        # blocks until served (the listening socket holds the connection meanwhile)
        assert httpx.get(f"{base}/staff/sign-in", timeout=WAIT).status_code == 200
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=WAIT)
        sock.close()


@contextmanager
def chromium() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--disable-gpu",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Runtime, FakeClock]]:
    settings = make_settings(tmp_path / "data")
    add_staff(
        settings,
        COUNCIL,
        {"o.field": ["officer"], "portal": ["customer-service"], "an.alyst": ["analyst"]},
        {"o.field": ["roads"]},
    )
    clock = FakeClock(datetime.now(UTC))
    rt = Runtime(settings, clock=clock)
    try:
        for user in (TEST_ADMIN, "o.field", "portal", "an.alyst"):
            rt.credentials.set_password(COUNCIL, user, PASSWORD, TEST_ADMIN, clock())
        with uvicorn_on_loopback(rt) as base:
            yield base, rt, clock
    finally:
        rt.close()


def resident_lodges(base: str, credential: str) -> str:
    """A resident's pothole report arrives from the council's portal app through Open311's
    `POST requests.json` (form-encoded, with the app's API key); its `service_request_id`."""
    got = httpx.post(
        f"{base}/open311/v2/requests.json",
        timeout=WAIT,
        data={
            "api_key": credential,
            "service_code": "pothole",
            "description": "Deep pothole outside 12 Spring St, Crookwell",
            "address_string": "12 Spring St, Crookwell NSW 2583",
            "first_name": "Ann",
            "last_name": "Lee",
            "phone": "0400 000 000",
        },
    )
    assert got.status_code in (200, 201), got.text
    [answer] = got.json()
    return str(answer["service_request_id"])


def portal_credential(rt: Runtime, clock: FakeClock) -> str:
    """The portal app's Open311 API key, as `crm apikeys add` makes it."""
    return rt.credentials.add_api_key(
        COUNCIL, f"portal-{clock().timestamp()}", "web-portal", TEST_ADMIN, clock()
    )


def sign_in_as(driver: WebDriver, base: str, user: str) -> None:
    driver.get(f"{base}/staff/sign-in")
    WebDriverWait(driver, WAIT).until(ec.presence_of_element_located((By.ID, "username")))
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(PASSWORD + Keys.ENTER)
    WebDriverWait(driver, WAIT).until(ec.url_contains("/staff/queue"))


def shot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def text_of(driver: WebDriver, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def test_an_officer_sees_a_residents_request_arrive_and_works_it_to_closed(
    site: tuple[str, Runtime, FakeClock],
) -> None:
    base, rt, clock = site
    credential = portal_credential(rt, clock)
    with chromium() as driver:
        wait = WebDriverWait(driver, WAIT)
        driver.get(f"{base}/staff/queue")  # not signed in: sent to the sign-in page
        wait.until(ec.url_contains("/staff/sign-in"))
        sign_in_as(driver, base, "o.field")
        wait.until(ec.presence_of_element_located((By.ID, "queue-empty")))
        assert "Work queue: Works and Operations" in text_of(driver, "h1")
        wait.until(
            lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("data-live-ready") == "true"
        )
        driver.execute_script("window.stillTheSamePage = true;")
        shot(driver, "1-queue-empty")

        now = clock()
        clock.set(now - timedelta(days=60))  # the report came in two months ago: breached now
        ref = resident_lodges(base, credential)
        clock.set(now)

        row = (By.CSS_SELECTOR, f'tr[data-reference="{ref}"]')
        wait.until(ec.presence_of_element_located(row))
        assert driver.execute_script("return window.stillTheSamePage === true;")
        shot(driver, "2-queue-request-arrived")

        driver.get(f"{base}/staff/sla")
        wait.until(ec.text_to_be_present_in_element((By.ID, "breached-count"), "1 breached"))
        assert driver.find_elements(By.CSS_SELECTOR, "#chart-team rect.bar-breached")
        shot(driver, "3-sla-breached")

        driver.get(f"{base}/staff/queue")
        wait.until(ec.presence_of_element_located(row))
        assert "Breached" in driver.find_element(*row).text
        driver.find_element(By.LINK_TEXT, ref).click()
        wait.until(ec.presence_of_element_located((By.ID, "form-acknowledge")))
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.TAB)  # keyboard only: the first stop is the skip link
        assert driver.switch_to.active_element.text == "Skip to main content"
        button = driver.find_element(By.CSS_SELECTOR, "#form-acknowledge button")
        button.send_keys(Keys.ENTER)
        wait.until(ec.text_to_be_present_in_element((By.ID, "message"), "Acknowledged."))
        shot(driver, "4-request-acknowledged")

        Select(driver.find_element(By.ID, "close-outcome")).select_by_value("completed")
        text = driver.find_element(By.ID, "close-text")
        text.send_keys("Pothole patched by the roads crew")
        text.send_keys(Keys.TAB, Keys.ENTER)  # from the text to its button, and press it
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "closed"))
        assert "Closed." in text_of(driver, "#message")
        timeline = text_of(driver, "#timeline")
        assert timeline.index("Closed") < timeline.index("Acknowledged") < timeline.index("Lodged")
        shot(driver, "5-request-closed")

        # the customer rang back to rate the service: recorded on the closed request's page
        Select(driver.find_element(By.ID, "satisfaction-score")).select_by_value("5")
        driver.find_element(By.CSS_SELECTOR, "#form-satisfaction button").send_keys(Keys.ENTER)
        wait.until(ec.text_to_be_present_in_element((By.ID, "message"), "Rating recorded."))
        assert text_of(driver, "#timeline").startswith("SatisfactionRecorded")
        shot(driver, "5b-rating-recorded")

        driver.get(f"{base}/staff/sla")
        wait.until(ec.text_to_be_present_in_element((By.ID, "breached-count"), "0 breached"))
        assert not driver.find_elements(By.CSS_SELECTOR, "#chart-team rect.bar-breached")
        shot(driver, "6-sla-clear")

        driver.set_window_size(390, 844)  # a phone, for the officer in the field
        for path, ready, name in (
            (f"/staff/requests/{ref}", "timeline", "7-request-on-a-phone"),
            ("/staff/queue", "queue-empty", "8-queue-on-a-phone"),
        ):
            driver.get(base + path)
            wait.until(ec.presence_of_element_located((By.ID, ready)))
            width = driver.execute_script("return document.documentElement.scrollWidth;")
            inner = driver.execute_script("return window.innerWidth;")
            assert width <= inner, f"{path} scrolls sideways on a phone ({width} > {inner}px)"
            shot(driver, name)


def test_an_analyst_reads_kpi_charts_and_redacted_requests_with_no_forms(
    site: tuple[str, Runtime, FakeClock],
) -> None:
    base, rt, clock = site
    ref = resident_lodges(base, portal_credential(rt, clock))
    with chromium() as driver:
        wait = WebDriverWait(driver, WAIT)
        sign_in_as(driver, base, "an.alyst")
        driver.get(f"{base}/staff/kpi?by=category")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#chart-kpi-counts rect")))
        assert "Pothole in a road" in text_of(driver, "#kpi-table")
        shot(driver, "9-kpi-by-category")
        driver.get(f"{base}/staff/requests/{ref}")
        wait.until(ec.presence_of_element_located((By.ID, "timeline")))
        assert text_of(driver, "#description") == "[redacted]"
        assert "Ann Lee" not in driver.page_source
        assert not driver.find_elements(By.CSS_SELECTOR, "form[id^='form-']")
        shot(driver, "10-request-as-analyst")
