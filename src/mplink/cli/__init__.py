"""The ``mplink`` command line (Typer)."""

from __future__ import annotations

import sys

import typer

from mplink import __version__
from mplink.cli.admin import catalog_app, db_app, demo, events_app, tenant_app, tenants_app
from mplink.cli.common import err_console
from mplink.cli.metering import metering_app
from mplink.cli.sandbox import sandbox
from mplink.cli.server import apikey_app, serve, worker
from mplink.move.cli import move_app

app = typer.Typer(
    name="mplink",
    help="Change the AWS account that pays for an AWS Marketplace SaaS subscription, safely.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db_app, name="db")
app.add_typer(catalog_app, name="catalog")
app.add_typer(tenant_app, name="tenant")
app.add_typer(tenants_app, name="tenants")
app.add_typer(events_app, name="events")
app.command("demo")(demo)
app.command("sandbox")(sandbox)
app.command("serve")(serve)
app.command("worker")(worker)
app.add_typer(apikey_app, name="apikey")
app.add_typer(move_app, name="move")
app.add_typer(metering_app, name="metering")


def _version(value: bool) -> None:
    if value:
        print(f"mplink {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """mplink: registration, linking, events, metering and the buyer's account change for AWS Marketplace SaaS."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: usage errors become one line on stderr and exit code 2, never a stack trace."""
    try:
        result = app(args=argv, prog_name="mplink", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        err_console.print("mplink: aborted", markup=False)
        return 130
    except typer.TyperException as exc:  # usage errors and other command-line exceptions
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if type(exc).__name__ == "NoArgsIsHelpError":
            print(message)
            return 0
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "mplink"
        err_console.print(f"mplink: error: {message} (see '{where} --help')", markup=False)
        return int(getattr(exc, "exit_code", 2))
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
