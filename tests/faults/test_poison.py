"""Fault 5: a reading that passes validation but PostgreSQL refuses."""

import orjson
from sqlalchemy import text

from tests.support.factories import meter
from tests.support.helpers import stored_readings, wait_until

# Validation lets kWh up to MAX_KWH_PER_READING through; raised here past what the column holds
# (numeric(10,6): below 10,000), so PostgreSQL, not the schema, refuses the reading.
POISON_KWH = 50_000


def _letters(service):
    out = service.flask("dead-letters", "list").stdout
    return [orjson.loads(line) for line in out.splitlines()]


def _metric(service, name):
    body = service.http.request("GET", service.url + "/metrics").data.decode()
    values = [line.split()[-1] for line in body.splitlines() if line.startswith(name + " ")]
    return float(values[0]) if values else 0.0


def _widen(engine, precision):
    with engine.begin() as conn:
        for table in ("meter_readings", "meter_current_state"):
            conn.execute(
                text(
                    f"ALTER TABLE {table} ALTER COLUMN kwh_consumed_ac TYPE numeric({precision}, 6)"
                )
            )


def test_poison_reading_is_dead_lettered_listed_and_replayed(service, clean_db, report):
    service.env["MAX_KWH_PER_READING"] = str(POISON_KWH * 2)
    service.start("web")
    service.start("worker")
    good = [meter(f"PG{i}") for i in range(10)]
    body = [*good[:5], meter("PBAD", kwh=POISON_KWH), *good[5:]]
    reply = service.post(body)
    assert reply.status == 202
    assert orjson.loads(reply.data)["accepted"] == 11

    wait_until(lambda: stored_readings(clean_db) == 10, what="the rest of the batch stored")
    wait_until(lambda: len(_letters(service)) == 1, what="the poison reading dead-lettered")
    (letter,) = _letters(service)
    assert letter["record"][2] == "PBAD"
    assert "numeric field overflow" in letter["error"]
    wait_until(lambda: _metric(service, "ev_readings_dead_lettered_total") == 1, what="the metric")
    assert _metric(service, "ev_dead_letters") == 1
    assert letter["position"] == 5

    # The worker moved on: later readings are stored, the poison is not retried.
    assert service.post([meter("PLATER")]).status == 202
    wait_until(lambda: stored_readings(clean_db) == 11, what="a later reading stored")

    # Replayed before the cause is fixed: refused again, dead-lettered once more, no loop.
    assert "replayed 1" in service.flask("dead-letters", "replay", str(letter["id"])).stdout
    wait_until(
        lambda: _metric(service, "ev_readings_dead_lettered_total") == 2,
        what="the replay refused again",
    )
    assert len(_letters(service)) == 1
    assert _metric(service, "ev_dead_letters") == 1

    try:
        _widen(clean_db, 12)  # the operator's fix
        assert "replayed 1" in service.flask("dead-letters", "replay", "--all").stdout
        wait_until(lambda: stored_readings(clean_db) == 12, what="the replayed reading stored")
        assert _letters(service) == []
        with clean_db.connect() as conn:
            stored = conn.execute(
                text("SELECT kwh_consumed_ac FROM meter_readings WHERE meter_id = 'PBAD'")
            ).scalar_one()
        assert stored == POISON_KWH
        figures = {
            "sent": len(body) + 1,
            "acknowledged": len(body) + 1,
            "stored": stored_readings(clean_db),
            "dead_lettered": _metric(service, "ev_readings_dead_lettered_total"),
        }
    finally:
        with clean_db.begin() as conn:
            conn.execute(text("DELETE FROM meter_readings WHERE meter_id = 'PBAD'"))
            conn.execute(text("DELETE FROM meter_current_state WHERE meter_id = 'PBAD'"))
        _widen(clean_db, 10)
    report(**figures, replays=2)
