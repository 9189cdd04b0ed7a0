"""`python -m simulator`: a realistic fleet sent to a running service, with a progress bar, and
at the end the efficiency each vehicle should get, to check the service against. A client of the
service like any device: it reads PORT and DEVICE_TOKENS for its defaults, nothing of the app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from efficiency.reference import efficiency
from settings import get_settings
from simulator import ocpp as chargers
from simulator import resume
from simulator.fleet import Fleet, FleetSpec
from simulator.send import Sent, send


@click.command("simulate")
@click.option("--meters", default=20, show_default=True, help="Chargers' smart meters.")
@click.option("--vehicles", default=20, show_default=True, help="Vehicles.")
@click.option("--minutes", default=120, show_default=True, help="Minutes of readings, ending now.")
@click.option("--rate", default=0.0, help="Readings a second at most (default: as fast as taken).")
@click.option("--batch", default=100, show_default=True, help="Readings per POST (1: one each).")
@click.option("--target", help="The service's URL (default: this host, $PORT).")
@click.option("--token", help="A device token (default: the first of DEVICE_TOKENS).")
@click.option("--seed", default=1, show_default=True, help="Same seed, same fleet.")
@click.option("--show", default=20, show_default=True, help="Vehicles listed at the end.")
@click.option("--expected-out", type=click.Path(path_type=Path), help="All expected figures, JSON.")
@click.option(
    "--ocpp",
    is_flag=True,
    help="Meters as OCPP 1.6J chargers sending their registers (vehicles still POST).",
)
@click.option("--ocpp-target", help="The chargers' URL (default: ws://127.0.0.1:$OCPP_PORT/ocpp).")
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"]),
    help="End of the simulated time, with a zone (default: now).",
)
def simulate(
    meters: int,
    vehicles: int,
    minutes: int,
    rate: float,
    batch: int,
    target: str | None,
    token: str | None,
    seed: int,
    show: int,
    expected_out: Path | None,
    ocpp: bool,
    ocpp_target: str | None,
    until: datetime | None,
) -> None:
    """Simulate a fleet: charging sessions, vehicles moving between meters, shared meters,
    jittered clocks, retries and offline buffers flushed late; a few faulty vehicles. Run again,
    it goes on with the same fleet and sends only the minutes since (simulator/resume.py)."""
    settings = get_settings()
    target = target or f"http://127.0.0.1:{settings.port}"
    url = ocpp_target or f"ws://127.0.0.1:{settings.ocpp_port}/ocpp"
    token = token or (settings.device_tokens[0] if settings.device_tokens else "")
    end = (until or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    console = Console(stderr=True)
    key = f"meters={meters} vehicles={vehicles} seed={seed} ocpp={ocpp}"
    earliest = end - timedelta(minutes=minutes)
    previous = resume.load(settings.data_dir, target)
    plan = previous.plan(key, earliest, end) if previous else resume.Plan(earliest, 0, False)
    if plan.start >= end:
        console.print(f"nothing to send: minutes up to {plan.start:%H:%M} UTC were sent already")
        return
    if plan.continued:
        console.print(f"going on with the fleet sent since {plan.start:%Y-%m-%d %H:%M} UTC")
    spec = FleetSpec(
        meters=meters,
        vehicles=vehicles,
        minutes=int((end - plan.start).total_seconds() // 60),
        seed=seed,
        start=plan.start,
    )
    fleet = Fleet(spec)
    arrivals = list(fleet.minutes())
    readings = [r for _, arrived in arrivals for r in arrived]
    new = [r for minute, arrived in arrivals if minute >= plan.first_new_minute for r in arrived]
    posted = [r for r in new if not (ocpp and r.kind == "meter")]
    bodies = [[r.wire() for r in posted[i : i + batch]] for i in range(0, len(posted), batch)]

    stored = [r.record() for r in readings]
    charged = None
    if ocpp:
        # The chargers first, as at a depot: a vehicle's reading names a connector that spoke.
        held = chargers.registers(readings)
        charged = chargers.send(url, token, [r for r in new if r.kind == "meter"], held)
        console.print(
            f"chargers: {charged.confirmed} of {sum(r.kind == 'meter' for r in new)} "
            "MeterValues confirmed"
        )
        for message in charged.errors[:10]:
            console.print(f"[red]{message}")
        stored = chargers.records(readings, held)
    columns = (
        TextColumn("[bold]sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "{task.fields[rate]:>8.0f}/s  accepted {task.fields[accepted]}  "
            "errors {task.fields[errors]}  retries {task.fields[retries]}"
        ),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("send", total=len(posted), rate=0, accepted=0, errors=0, retries=0)

        def update(sent: Sent, count: int) -> None:
            elapsed = progress.tasks[0].elapsed or 1e-9
            errors = sum(n for status, n in sent.statuses.items() if status not in (202,))
            progress.update(
                task,
                advance=count,
                rate=sent.readings / elapsed,
                accepted=sent.accepted,
                errors=errors - sent.retries,
                retries=sent.retries,
            )

        sent = send(bodies, target, token, rate, on_progress=update)

    complete = sent.accepted >= len(posted) - sent.rejected and not (charged and charged.errors)
    if complete:  # what a rerun need not send again
        resume.save(settings.data_dir, target, resume.Sent(key, plan.start, end))
    expected = efficiency(stored, datetime.now(UTC))
    _report(console, sent, expected, fleet.efficiencies, show, settings.efficiency_alert_below)
    if expected_out:
        expected_out.write_bytes(orjson.dumps(expected, option=orjson.OPT_INDENT_2))
        console.print(f"all expected figures: {expected_out}")
    if charged and charged.errors:
        raise click.ClickException(f"{len(charged.errors)} OCPP messages were not confirmed")
    if sent.accepted < len(posted) - sent.rejected:
        raise click.ClickException(f"{len(posted) - sent.accepted} readings were not accepted")


def _report(
    console: Console,
    sent: Sent,
    expected: dict,
    given: dict[str, float],
    show: int,
    below: float,
) -> None:
    console.print(
        f"sent {sent.readings} readings: {sent.accepted} accepted, {sent.rejected} rejected, "
        f"{sent.retries} retries; statuses {dict(sent.statuses)}",
        soft_wrap=True,
    )
    for message in sent.errors:
        console.print(f"[red]{message}")
    table = Table(title="What the service should report (GET /v1/analytics/performance/<id>)")
    for column in ("vehicle", "expected efficiency", "AC kWh", "DC kWh", "given efficiency"):
        table.add_column(column, justify="right")
    ranked = sorted(expected.values(), key=lambda f: f["chargingEfficiency"] or 0)
    for figures in ranked[:show]:
        eff = figures["chargingEfficiency"]
        style = "red" if eff is not None and eff < below else ""
        table.add_row(
            figures["vehicleId"],
            f"{eff:.6f}" if eff is not None else "-",
            f"{figures['totalAcConsumedKwh']:.4f}",
            f"{figures['totalDcDeliveredKwh']:.4f}",
            f"{given[figures['vehicleId']]:.3f}",
            style=style,
        )
    Console().print(table)
    low = sum(1 for f in expected.values() if (f["chargingEfficiency"] or 1) < below)
    console.print(
        f"{len(expected)} vehicles with charging in the window, {low} under {below}"
        " (EFFICIENCY_ALERT_BELOW). "
        "Figures are as of now, once the refresh has run (every REFRESH_SECONDS, or "
        "`make flask ARGS=refresh-performance`)."
    )
