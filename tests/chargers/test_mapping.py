"""What a charger's sampled values mean as meter readings (docs/OCPP.md, "Mapping"): one case
per rule, on the values as the handlers receive them (snake_case keys, exact values); and the
same values refused as `POST /v1/ingest` refuses them (one validation)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from chargers import mapping
from chargers.mapping import Contract
from readings.validation import ReadingValidator
from settings import Settings

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings(max_kwh_per_reading=1000, max_voltage=2000, retention_days=30)
LIMITS = Contract.of(SETTINGS, lambda: NOW)
AT = "2026-06-01T11:59:00Z"


def reading(*samples: dict, v201: bool = False) -> list:
    mapped = mapping.meter_values(
        "CP:1", [{"timestamp": AT, "sampled_value": list(samples)}], LIMITS, v201=v201
    )
    assert mapped.refused == []
    [record] = mapped.records
    return record[3:]  # interval, voltage, register (absent for an interval reading)


def test_connector_zero_is_the_whole_charger():
    assert mapping.meter_id("CP", 0) == "CP"
    assert mapping.meter_id("CP", 2) == "CP:2"


def test_a_bare_value_is_an_import_register_in_wh():
    assert reading({"value": "1234567.8"}) == [None, None, "1234.567800"]


def test_kwh_and_2_0_1_multipliers():
    assert reading({"value": "12.5", "unit": "kWh"}) == [None, None, "12.500000"]
    kilo = {"value": Decimal("12.5"), "unit_of_measure": {"unit": "Wh", "multiplier": 3}}
    assert reading(kilo, v201=True) == [None, None, "12.500000"]


def test_the_inlet_is_the_grid_side_then_no_location_or_outlet_never_the_ev():
    inlet = {"value": "2000", "location": "Inlet"}
    outlet = {"value": "1000", "location": "Outlet"}
    ev = {"value": "9000", "location": "EV"}
    assert reading(outlet, inlet, ev)[-1] == "2.000000"
    assert reading(ev, outlet)[-1] == "1.000000"


def test_the_total_wins_over_phases_and_phases_alone_are_summed():
    phases = [{"value": "1000", "phase": p} for p in ("L1", "L2", "L3")]
    assert reading(*phases)[-1] == "3.000000"
    assert reading(*phases, {"value": "2999"})[-1] == "2.999000"


def test_voltage_is_the_phase_to_neutral_mean_when_no_total_is_given():
    volts = [
        {"value": v, "measurand": "Voltage", "phase": p}
        for v, p in (("231", "L1-N"), ("229", "L2-N"), ("230", "L3-N"), ("400", "L1-L2"))
    ]
    assert reading({"value": "1000"}, *volts)[1] == 230.0


def test_one_value_under_two_contexts_is_one_reading():
    begin = {"value": "1000", "context": "Transaction.Begin"}
    periodic = {"value": "1000", "context": "Sample.Periodic"}
    assert reading(begin, periodic)[-1] == "1.000000"


def test_an_interval_without_a_register_is_the_interval():
    interval = {"value": "250", "measurand": "Energy.Active.Import.Interval"}
    assert reading(interval, {"value": "231", "measurand": "Voltage"}) == [0.25, 231.0]


def test_signed_values_and_other_measurands_make_no_reading():
    signed = {"value": "abcdef", "format": "SignedData"}
    power = {"value": "7000", "measurand": "Power.Active.Import"}
    mapped = mapping.meter_values(
        "CP:1", [{"timestamp": AT, "sampled_value": [signed, power]}], LIMITS, v201=False
    )
    assert mapped.records == []
    assert mapped.refused == []


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({"timestamp": "1970-01-01T00:00:00Z", "sampled_value": [{"value": "1"}]}, "retention"),
        ({"timestamp": "2026-06-01T13:00:00Z", "sampled_value": [{"value": "1"}]}, "ahead"),
        ({"timestamp": "2026-06-01T11:00:00", "sampled_value": [{"value": "1"}]}, "zone"),
        (
            {"timestamp": AT, "sampled_value": [{"value": "-1"}]},
            "kwhRegisterAc: Must be at least 0",
        ),
        ({"timestamp": AT, "sampled_value": [{"value": "1e18"}]}, "below 1,000,000,000,000 kWh"),
        ({"timestamp": AT, "sampled_value": [{"value": "x"}]}, "not a number"),
        ({"timestamp": AT, "sampled_value": [{"value": "1_000"}]}, "not a number"),
        ({"timestamp": AT, "sampled_value": [{"value": " 1"}]}, "not a number"),
        ({"timestamp": AT, "sampled_value": [{"value": "NaN"}]}, "not a number"),
        ({"timestamp": AT, "sampled_value": [{"value": "1", "unit": "W"}]}, "neither Wh nor kWh"),
        # Beyond any decimal arithmetic: refused as a value, never an internal error.
        ({"timestamp": AT, "sampled_value": [{"value": "1e999999999"}]}, "out of any meter's"),
        (
            {"timestamp": "2026-06-01T11:59:00.1234567Z", "sampled_value": [{"value": "1"}]},
            "6 fractional",
        ),
        # An interval reading keeps the seed's contract: its voltage is required.
        (
            {
                "timestamp": AT,
                "sampled_value": [{"value": "1", "measurand": "Energy.Active.Import.Interval"}],
            },
            "voltage: Missing",
        ),
        (
            {
                "timestamp": AT,
                "sampled_value": [{"value": "1"}, {"value": "0.004", "measurand": "Voltage"}],
            },
            "voltage: Must be above",
        ),
    ],
)
def test_values_no_meter_can_mean_are_refused_saying_why(value, why):
    mapped = mapping.meter_values("CP:1", [value], LIMITS, v201=False)
    assert mapped.records == []
    [(_, reason)] = mapped.refused
    assert why in reason


def test_a_2_0_1_multiplier_past_any_meter_is_a_refused_value():
    huge = {"value": Decimal(5), "unit_of_measure": {"unit": "Wh", "multiplier": 1_000_000}}
    good = {"timestamp": "2026-06-01T11:58:00Z", "sampled_value": [{"value": Decimal(5)}]}
    bad = {"timestamp": AT, "sampled_value": [huge]}
    mapped = mapping.meter_values("CP:1", [good, bad], LIMITS, v201=True)
    assert [r[1] for r in mapped.records] == ["2026-06-01T11:58:00+00:00"], "the good one is kept"
    [(_, reason)] = mapped.refused
    assert "out of any meter's range" in reason


def test_phases_are_summed_one_value_each_whatever_the_order():
    phases = [{"value": "1000", "phase": p} for p in ("L1", "L2", "L3")]
    neutral = {"value": "5000", "phase": "L1-N"}
    assert reading(*phases, neutral)[-1] == "3.000000"
    assert reading(neutral, *phases)[-1] == "3.000000"
    # Without L1, its phase-to-neutral value stands for it.
    assert reading(neutral, *phases[1:])[-1] == "7.000000"


@pytest.mark.parametrize("connector", [-1, 1000, 2147483648, True, "1"])
def test_a_connector_no_charger_has_is_refused(connector):
    with pytest.raises(ValueError, match="numbered 0 to 999"):
        mapping.meter_id("CP", connector)


def test_ocpp_and_ingest_take_and_refuse_the_same_values():
    """Each value through both doors: the same record, or a refusal on both."""
    ingest = ReadingValidator(SETTINGS, lambda: NOW)
    for register_wh, volts in [("1234567.4999", "230.005"), ("0.0004", "0.004"), ("5", "2000.004")]:
        samples = [{"value": register_wh}, {"value": volts, "measurand": "Voltage"}]
        mapped = mapping.meter_values(
            "CP:1", [{"timestamp": AT, "sampled_value": samples}], LIMITS, v201=False
        )
        wire = {
            "meterId": "CP:1",
            "kwhRegisterAc": Decimal(register_wh) / 1000,
            "voltage": float(volts),
            "timestamp": AT,
        }
        records, rejected = ingest.validate([wire])
        assert mapped.records == records, (register_wh, volts)
        assert bool(mapped.refused) == bool(rejected), (register_wh, volts)


def kept(*samples: dict, v201: bool = False) -> mapping.Mapped:
    return mapping.meter_values(
        "CP:1", [{"timestamp": AT, "sampled_value": list(samples)}], LIMITS, v201=v201
    )


def test_measurands_besides_energy_are_kept_in_their_units_exactly():
    mapped = kept(
        {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"},
        {"value": "16.1", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
        {"value": "16.3", "measurand": "Current.Import", "unit": "A", "phase": "L2"},
        {"value": "231.4", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
        {"value": "49.98", "measurand": "Frequency"},
        {"value": "63", "measurand": "SoC", "unit": "Percent", "location": "EV"},
        {"value": "300.15", "measurand": "Temperature", "unit": "K", "location": "Body"},
        {"value": "1", "format": "SignedData", "measurand": "SoC"},  # signed: not read
        {"value": "5", "measurand": "Current.Offered"},  # not a measurand kept
    )
    assert mapped.refused == []
    assert mapped.records == []  # no energy: no reading
    assert [(s.measurand, s.phase, s.location, s.value) for s in mapped.samples] == [
        ("Power.Active.Import", "", "", Decimal("7.400")),
        ("Current.Import", "L1", "", Decimal("16.1")),
        ("Current.Import", "L2", "", Decimal("16.3")),
        ("Voltage", "L1-N", "", Decimal("231.4")),
        ("Frequency", "", "", Decimal("49.98")),
        ("SoC", "", "EV", Decimal("63")),
        ("Temperature", "", "Body", Decimal("27.00")),
    ]


def test_a_2_0_1_power_in_kilo_by_its_multiplier_and_a_total_kept_beside_its_phases():
    power = {"unit": "W", "multiplier": 3}
    mapped = kept(
        {"value": Decimal("7.4"), "measurand": "Power.Active.Import", "unit_of_measure": power},
        {"value": Decimal("2.4"), "measurand": "Power.Active.Import", "phase": "L1",
         "unit_of_measure": power},
        v201=True,
    )  # fmt: skip
    assert [(s.phase, s.value) for s in mapped.samples] == [
        ("", Decimal("7.4")),
        ("L1", Decimal("2.4")),
    ]


def test_a_measurand_in_a_unit_it_is_not_kept_in_is_refused_and_the_others_kept():
    mapped = kept(
        {"value": "80", "measurand": "Temperature", "unit": "Fahrenheit"},
        {"value": "abc", "measurand": "SoC"},
        {"value": "50", "measurand": "SoC"},
        {"value": "1000000"},  # the register: a reading as before
    )
    assert [why for _, why in mapped.refused] == [
        "Temperature: in 'Fahrenheit', not Celsius",
        "SoC: 'abc' is not a number",
    ]
    assert [(s.measurand, s.value) for s in mapped.samples] == [("SoC", Decimal("50"))]
    assert len(mapped.records) == 1
