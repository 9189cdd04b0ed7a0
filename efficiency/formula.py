"""The pieces of the efficiency rule every query and answer shares, written once.

A kept minute contributes its energy and the readings' SOC and temperature (as integer
hundredths); every figure the service gives is a sum of contributions put through `ratio` and
`averages` (or, in SQL, `ratio_sql`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

# What a contribution holds and what the 24 h tables and every window read sum.
SUMMED = (
    "ac_kwh",
    "dc_kwh",
    "soc_hundredths_sum",
    "battery_temp_hundredths_sum",
    "readings",
    "suspect_minutes",
)


def sums(alias: str = "") -> str:
    """SQL: `sum(c.ac_kwh) AS ac_kwh, ...` over a table of contributions."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"sum({prefix}{column}) AS {column}" for column in SUMMED)


def ratio_sql(alias: str) -> str:
    """SQL: DC delivered over AC consumed; NULL without AC."""
    return f"{alias}.dc_kwh / nullif({alias}.ac_kwh, 0)"


def ratio(ac_kwh: Any, dc_kwh: Any) -> float | None:
    """DC delivered over AC consumed, from exact sums; None without AC."""
    ac, dc = Decimal(ac_kwh), Decimal(dc_kwh)
    return float(dc / ac) if ac else None


def averages(row: Any) -> tuple[float, float]:
    """SOC and battery temperature, averaged per reading, from the hundredths sums."""
    readings = row["readings"]
    soc = Decimal(row["soc_hundredths_sum"]) / readings / 100
    temp = Decimal(row["battery_temp_hundredths_sum"]) / readings / 100
    return float(soc), float(temp)
