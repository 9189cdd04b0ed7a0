"""Random fleets of register readings for property tests: resets, glitches, gaps, duplicates,
readings of one identity with different registers, any arrival order, in batches."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import strategies as st

from tests.support.factories import T0, meter_rec, meter_reg, vehicle_reg

AS_OF = T0 + timedelta(hours=25)  # the window starts an hour after T0
STEPS = [Decimal("0.01"), Decimal("0.25"), Decimal("0.4"), Decimal("1.5")]


@st.composite
def registers(draw, count: int) -> list[Decimal]:
    """A device's register over `count` readings: rising, with resets and glitches."""
    value = draw(st.sampled_from([Decimal(0), Decimal("1000"), Decimal("999999999900.5")]))
    out = []
    for _ in range(count):
        event = draw(st.sampled_from(["rise"] * 6 + ["reset", "glitch", "same"]))
        if event == "reset":
            value = draw(st.sampled_from(STEPS))
            out.append(value)
        elif event == "glitch":
            out.append(Decimal(0))  # one low reading; the next goes on from before it
            value += draw(st.sampled_from(STEPS))
        else:
            value += 0 if event == "same" else draw(st.sampled_from(STEPS))
            out.append(value)
    return out


@st.composite
def moments(draw, count: int) -> list[float]:
    """Seconds after T0 of `count` readings: mostly within the gap, sometimes past it."""
    at, out = draw(st.integers(3000, 3700)), []  # around the window's start
    for _ in range(count):
        out.append(at)
        at += draw(st.sampled_from([20, 30, 45, 60, 60, 60, 60, 60, 89, 90, 91, 150]))
    return out


@st.composite
def fleets(draw):
    """(readings in arrival order, batch cuts): 2 meters with registers, a vehicle charging at
    each (reporting a few seconds after its meter), and a third that shares meter M0 at times.
    Some fleets' meters send interval readings among their registers; those arrive in order
    (the writer sees an interval reading through the batch and current state's chain only:
    docs/DESIGN.md of this project, "Registers")."""
    readings = []
    mixed = draw(st.booleans())
    for meter_no in range(2):
        count = draw(st.integers(1, 25))
        times, values = draw(moments(count)), draw(registers(count))
        for t, value in zip(times, values, strict=True):
            moment = T0 + timedelta(seconds=t)
            if mixed and draw(st.integers(0, 5)) == 0:
                readings.append(meter_rec(f"M{meter_no}", moment, kwh=0.25))
            else:
                readings.append(meter_reg(f"M{meter_no}", moment, value))
        riders = [f"V{meter_no}"] + (["V2"] if meter_no == 0 else [])
        for vehicle_id in riders:
            charged = draw(registers(count))
            for t, value in zip(times, charged, strict=True):
                if vehicle_id == "V2" and draw(st.integers(0, 3)):
                    continue  # V2 shares M0 now and then
                moment = T0 + timedelta(seconds=t + draw(st.integers(0, 15)))
                soc = draw(st.integers(0, 100))
                readings.append(vehicle_reg(vehicle_id, f"M{meter_no}", moment, value, soc))
    # Resends (the same reading again) and, rarer, a different reading of one identity.
    duplicates = draw(st.lists(st.sampled_from(readings), max_size=8))
    changed = [
        [*r[:-1], f"{Decimal(r[-1]) + draw(st.sampled_from([-1, 1])) * Decimal('0.5'):f}"]
        for r in draw(st.lists(st.sampled_from(readings), max_size=2))
        if isinstance(r[-1], str) and Decimal(r[-1]) >= 1
    ]
    if mixed:
        # In order, a few at a time, resends beside their first delivery.
        arrival = sorted(readings + duplicates + changed, key=lambda r: r[1])
        cuts = list(range(0, len(arrival), draw(st.integers(1, 6))))
    elif draw(st.booleans()):
        # Most fleets' readings arrive in order, a few at a time: the path that takes a
        # device's past from current state (readings/registers.py), with late ones among them.
        arrival = sorted(readings + duplicates + changed, key=lambda r: r[1])
        for _ in range(draw(st.integers(0, 3))):
            late = arrival.pop(draw(st.integers(0, len(arrival) - 1)))
            arrival.insert(draw(st.integers(0, len(arrival))), late)
        cuts = list(range(0, len(arrival), draw(st.integers(1, 6))))
    else:
        arrival = draw(st.permutations(readings + duplicates + changed))
        cuts = sorted(draw(st.lists(st.integers(0, len(arrival)), max_size=4)))
    return arrival, cuts
