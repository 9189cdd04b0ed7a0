"""A web process answers a vehicle's and a meter's 24 h figures from memory until it sees a
refresh committed, which it asks about at most every READ_CACHE_SECONDS: real PostgreSQL, a clock
the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from efficiency import refresh
from readings.writer import write_batch
from tests.support.constants import ANALYST_TOKEN
from tests.support.factories import meter_rec, vehicle_rec
from web import create_app, services

ANALYST = {"Authorization": f"Bearer {ANALYST_TOKEN}"}
AS_OF = datetime(2026, 2, 10, 15, 0, tzinfo=UTC)
PERIOD = 30.0

pytestmark = pytest.mark.usefixtures("clean_db")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


# Where each device's 24 h figures are: the vehicle's, or those of the meter it charges on.
ROUTES = {
    "vehicle": "/v1/analytics/performance/{}",
    "meter": "/v1/analytics/meters/M-{}",
}


@pytest.fixture(params=sorted(ROUTES))
def route(request):
    return ROUTES[request.param]


@pytest.fixture
def client(settings, clock):
    app = create_app(settings.replace(read_cache_seconds=PERIOD))
    services(app).efficiency_cache.clock = clock
    return app.test_client()


def charge(engine, vehicle: str, minute: int, dc_kwh: float, refresh_at: datetime) -> None:
    """One minute of `vehicle` charging (1 kWh from the grid, dc_kwh into the battery), then a
    refresh as of `refresh_at`."""
    moment = AS_OF - timedelta(hours=1) + timedelta(minutes=minute, seconds=5)
    meter = f"M-{vehicle}"
    with engine.begin() as conn:
        write_batch(
            conn,
            [meter_rec(meter, moment, kwh=1.0), vehicle_rec(vehicle, meter, moment, kwh=dc_kwh)],
        )
        refresh.refresh(conn, refresh_at)


def efficiency(client, vehicle: str, route: str = ROUTES["vehicle"]):
    reply = client.get(route.format(vehicle), headers=ANALYST)
    return reply.status_code, reply.json.get("chargingEfficiency"), reply.headers.get("ETag")


def test_a_refresh_shows_once_the_period_has_passed(client, clock, clean_db, route):
    charge(clean_db, "V1", 0, 0.8, AS_OF)
    status, first, etag = efficiency(client, "V1", route)
    assert (status, first) == (200, pytest.approx(0.8))

    charge(clean_db, "V1", 1, 0.9, AS_OF + timedelta(minutes=1))
    clock.now += PERIOD - 1
    assert efficiency(client, "V1", route) == (200, first, etag), "within the period: as answered"
    clock.now += 1
    status, now, new_etag = efficiency(client, "V1", route)
    assert (status, now) == (200, pytest.approx(0.85))
    assert new_etag != etag


def test_a_device_without_data_gets_its_figures_after_the_refresh_that_brings_them(
    client, clock, clean_db, route
):
    charge(clean_db, "V1", 0, 0.8, AS_OF)
    assert efficiency(client, "V2", route)[0] == 404
    charge(clean_db, "V2", 0, 0.75, AS_OF + timedelta(minutes=1))
    assert efficiency(client, "V2", route)[0] == 404, "within the period: as answered"
    clock.now += PERIOD
    assert efficiency(client, "V2", route)[:2] == (200, pytest.approx(0.75))


def test_answers_from_memory_are_the_database_answers(client, clock, clean_db, settings, route):
    """Same body, ETag and Last-Modified as a process that asks the database every time, and a
    conditional request still gets its 304."""
    charge(clean_db, "V1", 0, 0.8, AS_OF)
    uncached = create_app(settings.replace(read_cache_seconds=0)).test_client()
    url = route.format("V1")
    expected = uncached.get(url, headers=ANALYST)
    for _ in range(2):
        reply = client.get(url, headers=ANALYST)
        assert reply.data == expected.data
        assert reply.headers["ETag"] == expected.headers["ETag"]
        assert reply.headers["Last-Modified"] == expected.headers["Last-Modified"]
    etag = expected.headers["ETag"]
    assert client.get(url, headers={**ANALYST, "If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("listing", ["/v1/analytics/performance", "/v1/analytics/meters"])
def test_a_listing_page_is_kept_until_a_refresh_shows(client, clock, clean_db, listing):
    """A page is built once per refresh and then read from memory: the same bytes and ETag until
    the stamp moves, a new device on it once it has."""
    charge(clean_db, "V1", 0, 0.8, AS_OF)
    first = client.get(listing, headers=ANALYST)
    assert first.status_code == 200
    assert len(first.json["items"]) == 1

    charge(clean_db, "V2", 0, 0.75, AS_OF + timedelta(minutes=1))
    clock.now += PERIOD - 1
    again = client.get(listing, headers=ANALYST)
    assert (again.data, again.headers["ETag"]) == (first.data, first.headers["ETag"])
    other_query = client.get(f"{listing}?limit=5", headers=ANALYST)
    assert len(other_query.json["items"]) == 2, "a page not asked before is built now"
    clock.now += 1
    later = client.get(listing, headers=ANALYST)
    assert [i["chargingEfficiency"] for i in later.json["items"]] == [
        pytest.approx(0.75),
        pytest.approx(0.8),
    ]
    assert later.headers["ETag"] != first.headers["ETag"]
