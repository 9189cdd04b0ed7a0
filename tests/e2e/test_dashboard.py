"""The dashboard in a real browser (Debian's chromium, driven by selenium through chromedriver):
it loads, lists the vehicles, highlights the low one, draws its charts, and leaves a screenshot
in tests/artifacts/dashboard.png."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from devices import availability
from efficiency import refresh
from readings.writer import write_batch
from tests.support.constants import ANALYST_TOKEN, ROOT
from tests.support.factories import meter_rec, vehicle_rec

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACT = ROOT / "tests" / "artifacts" / "dashboard.png"
# Efficiency of each vehicle: DC 0.90, 0.92 and 0.70 per kWh of AC.
FLEET = {"BV1": 0.90, "BV2": 0.92, "BV3": 0.70}


@pytest.fixture
def browser():
    for binary in (CHROMIUM, CHROMEDRIVER):
        assert shutil.which(binary), f"{binary} missing: `make system-tools` installs it"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=ChromeService(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def seeded(clean_db):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    records = []
    for k, (vehicle_id, eff) in enumerate(FLEET.items()):
        for minute in range(1, 40):
            moment = now - timedelta(minutes=minute, seconds=-10)
            records.append(meter_rec(f"BM{k}", moment, kwh=1.0))
            records.append(vehicle_rec(vehicle_id, f"BM{k}", moment, kwh=eff, soc=50 + k))
    with clean_db.begin() as conn:
        write_batch(conn, records)
        refresh.refresh(conn, now)


def test_dashboard_lists_the_fleet_and_highlights_the_low_vehicle(service, seeded, browser):
    service.start("web")
    browser.get(f"{service.url}/dashboard#token={ANALYST_TOKEN}")
    wait = WebDriverWait(browser, 20)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#fleet tbody tr")))

    rows = browser.find_elements(By.CSS_SELECTOR, "#fleet tbody tr")
    assert [r.get_attribute("data-vehicle") for r in rows] == ["BV3", "BV1", "BV2"]  # by efficiency
    low = browser.find_elements(By.CSS_SELECTOR, "#fleet tbody tr.low")
    assert [r.get_attribute("data-vehicle") for r in low] == ["BV3"]
    assert "0.700" in low[0].text
    assert "#token" not in browser.current_url  # the fragment is dropped at once
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#histogram .main-svg")))
    assert "Refreshed" in browser.find_element(By.ID, "age").text

    # The threshold is adjustable on the page.
    threshold = browser.find_element(By.ID, "threshold")
    threshold.clear()
    threshold.send_keys("0.91")
    low = browser.find_elements(By.CSS_SELECTOR, "#fleet tbody tr.low")
    assert sorted(r.get_attribute("data-vehicle") for r in low) == ["BV1", "BV3"]

    # Sorting by a column, then the drill-down chart of one vehicle.
    browser.find_element(By.CSS_SELECTOR, "th[data-key=vehicleId]").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#fleet tbody tr")
    assert [r.get_attribute("data-vehicle") for r in rows] == ["BV1", "BV2", "BV3"]
    rows[2].click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#drilldown .main-svg")))
    assert "BV3: efficiency by hour" in browser.find_element(By.ID, "drilldown").text
    # Its raw readings download as CSV, fetched with the typed token.
    button = browser.find_element(By.ID, "download")
    assert button.is_displayed()
    assert "BV3" in button.text
    csv_text = browser.execute_async_script(
        "readingsCsv(arguments[0]).then(arguments[1], (e) => arguments[1](String(e)))", "BV3"
    )
    assert csv_text.startswith("vehicleId,timestamp,meterId,kwhDeliveredDc,soc,batteryTemp")
    assert len(csv_text.splitlines()) > 1, "the vehicle's readings, not just the header"

    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACT))
    # The token was typed into the page only: the server never saw it outside the header.
    assert ANALYST_TOKEN not in service.log("web")
    assert _blocked(browser) == [], "the page's Content-Security-Policy lets everything it needs"


def test_the_chargers_tab_lists_the_meters_worst_first(service, seeded, browser):
    service.env["EFFICIENCY_ALERT_BELOW"] = "0.8"
    service.start("web")
    browser.get(f"{service.url}/dashboard#token={ANALYST_TOKEN}")
    wait = WebDriverWait(browser, 20)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#fleet tbody tr[data-vehicle]")))
    # The highlight starts at the operator's EFFICIENCY_ALERT_BELOW.
    assert browser.find_element(By.ID, "threshold").get_attribute("value") == "0.8"

    browser.find_element(By.CSS_SELECTOR, ".tabs button[data-tab=meters]").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#fleet tbody tr[data-meter]")))
    rows = browser.find_elements(By.CSS_SELECTOR, "#fleet tbody tr")
    assert [r.get_attribute("data-meter") for r in rows] == ["BM2", "BM0", "BM1"]
    low = browser.find_elements(By.CSS_SELECTOR, "#fleet tbody tr.low")
    assert [r.get_attribute("data-meter") for r in low] == ["BM2"]
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#fleet th")]
    assert "Vehicles" in headers
    assert "Avg SOC %" not in headers
    assert "3 chargers charged" in browser.find_element(By.ID, "status").text

    rows[0].click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#drilldown .main-svg")))
    assert "BM2: efficiency by hour" in browser.find_element(By.ID, "drilldown").text
    # Its sessions in the date range (the last 7 days by default), and its figures over them.
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#sessions tbody tr")))
    (row,) = browser.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")
    assert "BV3" in row.text
    assert "0.700" in row.text
    assert "low" in row.get_attribute("class")
    assert "efficiency 0.700" in browser.find_element(By.ID, "range-figures").text
    csv_text = browser.execute_async_script(
        "readingsCsv(arguments[0], 'meters').then(arguments[1], (e) => arguments[1](String(e)))",
        "BM2",
    )
    assert csv_text.startswith("meterId,timestamp,kwhConsumedAc")
    assert len(csv_text.splitlines()) > 1

    # And back: the vehicles again.
    browser.find_element(By.CSS_SELECTOR, ".tabs button[data-tab=vehicles]").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#fleet tbody tr[data-vehicle]")))
    assert _blocked(browser) == []


@pytest.fixture
def one_point(clean_db):
    """SV1 charged one minute alone on SM1, then, two hours later, one minute on SM2 beside SV2
    (a shared meter: that session counts nothing)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    alone, shared = now - timedelta(hours=3, seconds=-10), now - timedelta(hours=1, seconds=-10)
    records = [
        meter_rec("SM1", alone, kwh=1.0),
        vehicle_rec("SV1", "SM1", alone, kwh=0.9),
        meter_rec("SM2", shared, kwh=1.0),
        vehicle_rec("SV1", "SM2", shared, kwh=0.4),
        vehicle_rec("SV2", "SM2", shared, kwh=0.4),
    ]
    with clean_db.begin() as conn:
        write_batch(conn, records)
        refresh.refresh(conn, now)


def _layout(browser, chart: str, path: str):
    return browser.execute_script(f"return document.getElementById('{chart}')._fullLayout.{path};")


def test_one_data_point_makes_readable_charts_and_an_empty_session_says_why(
    service, one_point, browser
):
    service.start("web")
    browser.get(f"{service.url}/dashboard#token={ANALYST_TOKEN}")
    wait = WebDriverWait(browser, 20)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#fleet tbody tr")))
    assert "1 vehicle charged" in browser.find_element(By.ID, "status").text
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#histogram .main-svg")))
    # One efficiency, one narrow bar where it stands (not a bar from 0 to 1), counted in ones.
    bars = browser.execute_script("return document.getElementById('histogram').data[0];")
    assert bars["y"] == [1]
    assert bars["x"][0] == pytest.approx(0.91)
    low, high = _layout(browser, "histogram", "xaxis.range")
    assert high - low < 0.5
    assert _layout(browser, "histogram", "yaxis.dtick") >= 1

    browser.find_element(By.CSS_SELECTOR, "#fleet tbody tr").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#drilldown .main-svg")))
    # One hour of data: ticks an hour apart, not a millisecond.
    assert _layout(browser, "drilldown", "xaxis.dtick") >= 3_600_000
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#sessions tbody tr")))
    rows = browser.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")
    assert len(rows) == 2
    empty = next(r for r in rows if "SM2" in r.text)
    assert "\u2013 *" in empty.text  # an en dash, then the mark of the reason below
    reason = browser.find_element(By.ID, "uncounted")
    assert reason.is_displayed()
    assert "shared meter" in reason.text

    browser.find_element(By.CSS_SELECTOR, ".tabs button[data-tab=meters]").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#fleet tbody tr[data-meter]")))
    assert "1 charger charged" in browser.find_element(By.ID, "status").text
    assert _blocked(browser) == []


def test_api_docs_render_under_their_content_security_policy(service, browser):
    service.start("web")
    browser.get(f"{service.url}/docs/")
    wait = WebDriverWait(browser, 20)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path")))
    paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert "/v1/ingest" in {p.replace("\u200b", "") for p in paths}
    assert _blocked(browser) == []


def _blocked(browser) -> list[str]:
    """What the browser refused to run or load because of the page's policy."""
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]
    ]


@pytest.fixture
def chargers_heard(clean_db):
    """CP-A connected for the last 25 hours: connector 1 Available throughout, connector 2
    Faulted (GroundFailure, E12) for the last 2 hours of them."""
    now = datetime.now(UTC).replace(microsecond=0)
    with clean_db.begin() as conn:
        availability.opened(conn, "CP-A", now - timedelta(hours=25))
        availability.seen(conn, "CP-A", now - timedelta(hours=25), now)
        for connector in (1, 2):
            availability.record_status(
                conn, f"CP-A:{connector}", now - timedelta(hours=25), "Available"
            )
        availability.record_status(
            conn,
            "CP-A:2",
            now - timedelta(hours=2),
            "Faulted",
            error_code="GroundFailure",
            vendor_error_code="E12",
        )


def test_the_availability_tab_shows_status_uptime_and_a_connectors_outages(
    service, chargers_heard, browser
):
    service.start("web")
    browser.get(f"{service.url}/dashboard#token={ANALYST_TOKEN}")
    wait = WebDriverWait(browser, 20)
    browser.find_element(By.CSS_SELECTOR, ".tabs button[data-tab=availability]").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#fleet tbody tr[data-meter]")))
    rows = browser.find_elements(By.CSS_SELECTOR, "#fleet tbody tr")
    assert [r.get_attribute("data-meter") for r in rows] == ["CP-A:2", "CP-A:1"]
    assert "Faulted" in rows[0].text
    assert "Available" in rows[1].text
    low = browser.find_elements(By.CSS_SELECTOR, "#fleet tbody tr.low")
    assert [r.get_attribute("data-meter") for r in low] == ["CP-A:2"]  # under 97 % uptime
    assert "1 under 97 % uptime" in browser.find_element(By.ID, "status").text

    rows[0].click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#outages tbody tr")))
    (outage,) = browser.find_elements(By.CSS_SELECTOR, "#outages tbody tr")
    cells = [td.text for td in outage.find_elements(By.TAG_NAME, "td")]
    assert (cells[0], cells[4], cells[5]) == ("faulted", "GroundFailure", "E12")
    assert 119 <= int(cells[3]) <= 121
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#drilldown .main-svg")))
    assert "CP-A:2: uptime" in browser.find_element(By.ID, "drilldown").text
    browser.save_screenshot(str(ARTIFACT.with_name("dashboard-availability.png")))
    assert _blocked(browser) == []
