"""The seed note's sample (shared/seed/000_a97cdfd88e0634ab.txt): its input and published output."""

from __future__ import annotations

from typing import Any

VEHICLE_ROWS = [
    ("V1", "M1", 0.4227, 20.70, 30.10, "2026-02-10T14:47:24.841+00:00"),
    ("V1", "M1", 0.4037, 21.38, 30.20, "2026-02-10T14:48:24.843+00:00"),
    ("V1", "M1", 0.4670, 22.16, 30.30, "2026-02-10T14:49:24.843+00:00"),
    ("V1", "M1", 0.5588, 23.09, 30.40, "2026-02-10T14:50:24.843+00:00"),
    ("V1", "M1", 0.5986, 24.08, 30.50, "2026-02-10T14:51:24.843+00:00"),
    ("V2", "M1", 0.5568, 45.93, 30.60, "2026-02-10T14:52:24.843+00:00"),
    ("V2", "M1", 0.4347, 46.65, 30.70, "2026-02-10T14:53:24.843+00:00"),
    ("V2", "M1", 0.5990, 47.65, 30.80, "2026-02-10T14:54:24.843+00:00"),
    ("V2", "M1", 0.4371, 48.38, 30.90, "2026-02-10T14:55:24.843+00:00"),
    ("V2", "M1", 0.5218, 49.25, 31.00, "2026-02-10T14:56:24.843+00:00"),
]

METER_ROWS = [
    ("M1", 0.4796, 232.00, "2026-02-10T14:47:24.841+00:00"),
    ("M1", 0.4457, 232.34, "2026-02-10T14:48:24.843+00:00"),
    ("M1", 0.5210, 231.43, "2026-02-10T14:49:24.843+00:00"),
    ("M1", 0.6093, 233.92, "2026-02-10T14:50:24.843+00:00"),
    ("M1", 0.6646, 231.93, "2026-02-10T14:51:24.843+00:00"),
    ("M1", 0.6258, 230.90, "2026-02-10T14:52:24.843+00:00"),
    ("M1", 0.4910, 229.87, "2026-02-10T14:53:24.843+00:00"),
    ("M1", 0.6636, 230.17, "2026-02-10T14:54:24.843+00:00"),
    ("M1", 0.4867, 228.26, "2026-02-10T14:55:24.843+00:00"),
    ("M1", 0.5904, 231.85, "2026-02-10T14:56:24.843+00:00"),
]

AS_OF = "2026-02-10T15:00:00Z"

EXPECTED = {
    "V1": {
        "vehicleId": "V1",
        "timeWindowHours": 24,
        "totalAcConsumedKwh": 2.7202,
        "totalDcDeliveredKwh": 2.4508,
        "chargingEfficiency": 0.900963164473201,
        "averageSoc": 22.282,
        "averageBatteryTemp": 30.3,
    },
    "V2": {
        "vehicleId": "V2",
        "timeWindowHours": 24,
        "totalAcConsumedKwh": 2.8575,
        "totalDcDeliveredKwh": 2.5494,
        "chargingEfficiency": 0.892178477690289,
        "averageSoc": 47.572,
        "averageBatteryTemp": 30.8,
    },
}
NOT_FOUND = {"vehicleId": "V3", "message": "No charging data found in last 24 hours"}


def readings() -> list[dict[str, Any]]:
    """The sample as wire-format readings, vehicles then meters."""
    vehicles = [
        {
            "vehicleId": v,
            "meterId": m,
            "kwhDeliveredDc": kwh,
            "soc": soc,
            "batteryTemp": temp,
            "timestamp": ts,
        }
        for v, m, kwh, soc, temp, ts in VEHICLE_ROWS
    ]
    meters = [
        {"meterId": m, "kwhConsumedAc": kwh, "voltage": volts, "timestamp": ts}
        for m, kwh, volts, ts in METER_ROWS
    ]
    return vehicles + meters
