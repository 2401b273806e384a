"""What every command shares: settings, the store, JSON or Rich output, and one-line errors.

Nothing here imports the database layer at module level, so ``mplink --help`` and ``mplink --version``
start without loading SQLAlchemy or Alembic; ``open_store`` loads them when a command needs the database.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

from mplink.config import Settings
from mplink.domain.errors import DomainError, InvalidValue

if TYPE_CHECKING:
    from mplink.adapters.store.uow import Store
    from mplink.bootstrap import Wiring

console = Console(soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

JsonOption = typer.Option(False, "--json", help="Print the result as JSON (for scripts).")


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr saying what to fix; exit 2 for bad input."""
    err_console.print(f"mplink: error: {message}", markup=False)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def settings() -> Settings:
    """The MPLINK_* settings; a value that is not right stops the command with one line saying which."""
    try:
        return Settings.from_env()
    except InvalidValue as exc:
        fail(exc.message)


def database_error_reason(exc: BaseException) -> str | None:
    """The first line of a database driver's complaint, or None when ``exc`` is not a database error.

    SQLAlchemy is looked up only when it is already loaded: if it is not, no database error can have happened.
    """
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is None or not isinstance(exc, sa_exc.OperationalError | sa_exc.ProgrammingError):
        return None
    orig = getattr(exc, "orig", None)
    return str(orig).strip().splitlines()[0] if orig is not None else str(exc)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn domain and database errors into one clear line instead of a stack trace."""
    try:
        yield
    except DomainError as exc:
        fail(exc.message)
    except Exception as exc:
        reason = database_error_reason(exc)
        if reason is None:
            raise
        fail(f"database error: {reason}", code=1)


def missing_sqlite_file(database_url: str) -> str | None:
    """The path of a SQLite database file that does not exist yet (opening it would create an empty one)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    path = url.database
    if url.get_backend_name() != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return None
    return None if Path(path).exists() else path


@contextmanager
def open_wiring(require_schema: bool = True, create: bool = False) -> Iterator[Wiring]:
    """The process's dependencies from ``bootstrap``, after checking the database is there and migrated.

    Only ``create`` (``mplink db upgrade``) may open a SQLite file that is not there: anything else would leave
    an empty database behind."""
    with friendly_errors():
        from sqlalchemy.exc import OperationalError

        from mplink.adapters.store.migrate import current_revision, head_revision
        from mplink.bootstrap import bootstrap

        cfg = settings()
        if not create and (missing := missing_sqlite_file(cfg.database_url)):
            fail(f"there is no database yet ({missing}): run 'mplink db upgrade' first, or set MPLINK_DATABASE_URL")
        wiring = bootstrap(cfg)
        store = wiring.store
        try:
            if require_schema:
                try:
                    current = current_revision(store.engine)
                except OperationalError as exc:
                    reason = database_error_reason(exc) or str(exc)
                    fail(f"cannot open the database ({reason}); check MPLINK_DATABASE_URL", code=1)
                if current != head_revision(store.url):
                    fail("the database schema is not up to date: run 'mplink db upgrade' first")
            yield wiring
        finally:
            wiring.close()


@contextmanager
def open_store(require_schema: bool = True, create: bool = False) -> Iterator[Store]:
    with open_wiring(require_schema, create) as wiring:
        yield wiring.store
