"""The paths of the OpenAPI document (web/openapi/document.py assembles it): each operation's
parameters, bodies and answers, from the schemas the views use."""

from __future__ import annotations

from typing import Any

from apispec import APISpec

from models.kinds import METER, VEHICLE, Kind
from readings.fields import ID_PATTERN, ID_RULE
from web import routes
from web.api.availability import AvailabilityQuery, ConnectorsQuery
from web.api.history import HistoryQuery
from web.api.meters import MeterListQuery
from web.api.sessions import SessionsQuery
from web.api.vehicles import DailyQuery, ListQuery, WindowQuery
from web.openapi import device_answers


def json_answer(schema: str | dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


def device_id(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": ID_RULE,
        "schema": {"type": "string", "pattern": f"^{ID_PATTERN}$"},
    }


def _query(schema: type[Any]) -> dict[str, Any]:
    """The parameters a view loads with this marshmallow schema (the plugin lists its fields)."""
    return {"in": "query", "schema": schema}


def errors(*statuses: int) -> dict[str, Any]:
    meaning = {
        400: "Malformed request: bad JSON or gzip, body shape or id.",
        401: "No token, or an unknown one.",
        403: "A token of the other role.",
        408: "The body did not arrive within BODY_TIMEOUT_SECONDS; nothing of it was kept.",
        413: "Body over the byte limit (uncompressed), or too many readings.",
        415: "Not Content-Type: application/json, or a Content-Encoding other than gzip.",
        429: "More requests a minute than this token may send; nothing of this one was queued.",
        503: "A backing service is unavailable, the ingest buffer is full, unsafe or not "
        "replicated, or a history query ran past HISTORY_TIMEOUT_SECONDS.",
    }
    out = {str(s): json_answer("Error", meaning[s]) for s in statuses}
    for status in (429, 503):
        if status in statuses:
            out[str(status)]["headers"] = {
                "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
            }
    # The HTTP server answers this itself, before the app, for a request line too long.
    out["414"] = {"description": "Request line too long (answered by the HTTP server)."}
    return out


_NOT_MODIFIED = {"304": {"description": "Unchanged since the ETag given in If-None-Match."}}
_NO_DATA = json_answer(
    {"anyOf": [{"$ref": "#/components/schemas/NoData"}, {"$ref": "#/components/schemas/Error"}]},
    "No data for this device (or no such path).",
)


def _get(summary: str, parameters: list[Any], ok: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An analyst's GET: `extra` are its answers besides 200 and the common errors."""
    return {
        "get": {
            "summary": summary,
            "security": [{"analyst": []}],
            "parameters": parameters,
            "responses": {"200": ok, **extra, **errors(400, 401, 403, 503)},
        }
    }


def _history_description() -> str:
    return (
        "With Accept: text/csv, every reading in [from, to) as one streamed CSV (no limit, no "
        "cursor; a text cell starting with =, +, -, @, a tab or a carriage return gets a leading "
        "'). History is indexed by time: a page reads the readings of every device in the time "
        "it spans, so [from, to) spans at most HISTORY_MAX_DAYS (400 window_too_long past it) "
        "and a query runs at most HISTORY_TIMEOUT_SECONDS (503 query_timeout)."
    )


def kind_paths(spec: APISpec, kind: Kind) -> None:
    """A kind's routes: its devices' newest reading and their history."""
    spec.components.schema(f"{kind.title}State", schema=device_answers.state_schema(kind))
    row = f"{kind.title}ReadingRow"
    row_schema = device_answers.reading_row_schema(kind)
    spec.components.schema(row, schema=row_schema)
    page = f"{kind.title}History"
    spec.components.schema(page, schema=device_answers.history_schema(kind, row_schema))
    device = routes.device(kind)
    summary = f"A {kind.name}'s newest reading"
    spec.path(
        path=device,
        operations=_get(
            summary,
            [device_id(kind.id_wire)],
            json_answer(f"{kind.title}State", summary),
            **{"404": _NO_DATA},
        ),
    )
    history = _get(
        f"A {kind.name}'s raw readings, oldest first: JSON pages, or CSV streamed",
        [device_id(kind.id_wire), _query(HistoryQuery)],
        {
            "description": f"The {kind.name}'s readings ({row} items).",
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{page}"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
    )
    history["get"]["description"] = _history_description()
    spec.path(path=routes.readings(kind), operations=history)


def analytics_paths(spec: APISpec) -> None:
    """A vehicle's and a meter's figures (24 h or any window, hourly, daily) and the listings."""
    for noun, wire, listing, query, plural in (
        ("vehicle", "vehicleId", routes.VEHICLES, ListQuery, "fleet's vehicles"),
        ("meter (charger)", "meterId", routes.METERS, MeterListQuery, "meters"),
    ):
        one = f"{listing}/{{{wire}}}"
        prefix = "" if wire == "vehicleId" else "Meter"
        for path, summary, queries, answer in (
            (
                one,
                f"A {noun}'s charging efficiency over the last 24 hours, or any window",
                [_query(WindowQuery)],
                f"{prefix}Performance",
            ),
            (
                f"{one}/hourly",
                f"A {noun}'s charging efficiency by hour over the last 24 hours",
                [],
                f"{prefix}Hourly",
            ),
            (
                f"{one}/daily",
                f"A {noun}'s charging efficiency by UTC day, over the last `days` days",
                [_query(DailyQuery)],
                f"{prefix}Daily",
            ),
        ):
            spec.path(
                path=path,
                operations=_get(
                    summary,
                    [device_id(wire), *queries],
                    json_answer(answer, summary),
                    **_NOT_MODIFIED,
                    **{"404": _NO_DATA},
                ),
            )
        spec.path(
            path=listing,
            operations=_get(
                f"The {plural}' 24 h efficiency, page by page",
                [_query(query)],
                json_answer(f"{prefix or 'Fleet'}Page", f"A page of the {plural}."),
                **_NOT_MODIFIED,
                **{"404": json_answer("Error", "The table has not been refreshed yet.")},
            ),
        )


def session_paths(spec: APISpec) -> None:
    """A vehicle's and a meter's charging sessions."""
    spec.components.schema("Session", schema=device_answers.Session)
    for kind in (VEHICLE, METER):
        page = f"{kind.title}Sessions"
        spec.components.schema(page, schema=device_answers.sessions_schema(kind))
        sessions = _get(
            f"A {kind.name}'s charging sessions, oldest first: JSON pages, or CSV",
            [device_id(kind.id_wire), _query(SessionsQuery)],
            {
                "description": f"The {kind.name}'s sessions starting in [from, to).",
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{page}"}},
                    "text/csv": {"schema": {"type": "string"}},
                },
            },
        )
        sessions["get"]["description"] = (
            "A session is a vehicle's readings naming one meter, none more than "
            "SESSION_GAP_SECONDS after the one before; its energy is what the vehicle's kept "
            "minutes on that meter within it sum to (the efficiency rule). With Accept: "
            "text/csv, every session of [from, to) (no limit, no cursor)."
        )
        spec.path(path=routes.sessions(kind), operations=sessions)


def samples_paths(spec: APISpec) -> None:
    """What a charger's connector measured besides energy (web/api/samples.py)."""
    answer = {
        "description": "The meter's samples in [from, to), oldest first.",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/SamplesPage"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
    operation = _get(
        "What a charger's connector measured besides energy: power, current, voltage, "
        "frequency, SoC, temperature",
        [device_id(METER.id_wire), _query(HistoryQuery)],
        answer,
    )
    spec.path(path=routes.samples(METER), operations=operation)


def signed_values_paths(spec: APISpec) -> None:
    """A meter's signed meter values (web/api/signed_values.py)."""
    answer = {
        "description": "The meter's signed values in [from, to), oldest first, each judged "
        "against its key now.",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/SignedValuesPage"}}
        },
    }
    operation = _get(
        "A charger's connector's signed meter values (OCMF verified), byte for byte",
        [device_id(METER.id_wire), _query(HistoryQuery)],
        answer,
    )
    spec.path(path=routes.signed_values(METER), operations=operation)


def availability_paths(spec: APISpec) -> None:
    """A connector's or a charger's availability (web/api/availability.py)."""
    answer = {
        "description": "The availability over [from, to); outages as CSV with Accept: text/csv.",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Availability"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
    operation = _get(
        "A charger's connector's (<chargePointId>:<n>) or a charger's (<chargePointId>) "
        "availability: uptime ratio, seconds per state, outages",
        [device_id(METER.id_wire), _query(AvailabilityQuery)],
        answer,
        **{"404": json_answer("Error", "The charger never said a status nor connected.")},
    )
    operation["get"]["description"] = (
        "Up while the charger is connected and the connector's last status (or the charger's, "
        "connector 0, when Faulted or Unavailable) is neither Faulted nor Unavailable; offline "
        "while the charger has no connection (a forwarded charger: silent for two heartbeat "
        "intervals). Before the connector's first known status the state is unknown and left "
        'out of the ratio (docs/OCPP.md, "Availability").'
    )
    spec.path(path=routes.availability(METER), operations=operation)
    listing = _get(
        "Every charger's connector by its availability over [from, to), worst first, with the "
        "status it last sent",
        [_query(ConnectorsQuery)],
        json_answer({"$ref": "#/components/schemas/ConnectorsPage"}, "A page of connectors."),
    )
    listing["get"]["description"] = (
        "Ordered by uptimeRatio, lowest first (connectors whose state is not known at all "
        "last), then meterId; nextCursor gives the next page."
    )
    spec.path(path=routes.CONNECTORS, operations=listing)
