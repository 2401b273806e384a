"""``mplink metering status``: where hourly metering stands, for the operator on call.

It shows what ``services.metering.metering_status`` returns (the same JSON as ``GET /api/v1/metering/status``):
the metered-through hour, the pending records against what the quota sends in an hour, hours AWS no longer
took, and late or unbilled usage per tenant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mplink.cli.common import JsonOption, console, friendly_errors, open_wiring, print_json

if TYPE_CHECKING:
    from mplink.services.metering import MeteringStatus

metering_app = typer.Typer(help="Hourly metering to AWS Marketplace.", no_args_is_help=True)

#: how the send order's keys read in the summary line
ORDER_WORDS = {"final_window": "final window", "usage": "usage", "zeros": "zeros"}


@metering_app.command("status")
def metering_status_command(as_json: bool = JsonOption) -> None:
    """Metered-through hour, pending load against the hourly capacity, missed hours, late and unbilled usage."""
    from mplink.services.metering import metering_status

    with open_wiring() as wiring, friendly_errors():
        status = metering_status(wiring.uow(), wiring.settings.metering_rate)
    if as_json:
        print_json(status.as_dict())
        return
    print_status(status)


def print_status(status: MeteringStatus) -> None:
    from rich.table import Column, Table

    from mplink.services.metering import LATE_BILLED

    through = status.metered_through
    console.print(
        f"metered through: {through.strftime('%Y-%m-%d %H:00 UTC') if through else 'nothing metered yet'}",
        markup=False,
    )
    order = ", ".join(ORDER_WORDS.get(k, k) for k in status.send_order)
    line = (
        f"pending {status.pending_total:,} of {status.hourly_capacity:,} records/hour; order when over: {order}"
        f" (final window {status.pending.final_window:,}, usage {status.pending.usage:,},"
        f" zeros {status.pending.zeros:,})"
    )
    console.print(f"[yellow]{line}[/]" if status.over_capacity else line, markup=status.over_capacity)

    if status.missed_hours:
        table = Table(
            Column("hour", no_wrap=True, min_width=19),
            Column("reason", no_wrap=True),
            Column("events", justify="right"),
            Column("quantity", justify="right"),
            "reported",
            title="hours AWS no longer took",
        )
        for m in status.missed_hours:
            table.add_row(
                m.hour.strftime("%Y-%m-%d %H:00 UTC"),
                m.reason,
                f"{m.usage_events:,}",
                f"{m.quantity:,}",
                m.reported_at.strftime("%Y-%m-%d %H:%M UTC"),
            )
        _print_table(table)
    else:
        console.print("missed hours: none")

    if status.usage_issues:
        table = Table(
            Column("tenant", no_wrap=True, min_width=36),  # the whole id: operators copy it
            Column("reason", no_wrap=True),
            "billed",
            Column("events", justify="right"),
            Column("quantity", justify="right"),
            title="late and unbilled usage",
        )
        for i in status.usage_issues:
            billed = "later hour" if i.reason == LATE_BILLED else "no"
            table.add_row(i.tenant_id, i.reason, billed, f"{i.events:,}", f"{i.quantity:,}")
        _print_table(table)
    else:
        console.print("late or unbilled usage: none")


def _print_table(table: object) -> None:
    """Whole lines when the output goes to a file or another program (no terminal to fit): ids and reasons
    are read by scripts and grep, so they are never folded; a terminal gets the table fitted to its width."""
    console.print(table, width=None if console.is_terminal else max(console.width, 160))
