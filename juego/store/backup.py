"""
Backups and restores of the database, for C{juego-admin db backup} and C{db restore}.

SQLite: SQLite's online backup API (Python's C{sqlite3.Connection.backup}), a consistent
copy while the services run, written next to the target and renamed into place only when
complete. PostgreSQL: C{pg_dump --format=custom} to a file beside the target, renamed
into place only when C{pg_dump} succeeded (a failed dump leaves no file, never an empty
one), and C{pg_restore --no-owner --exit-on-error --single-transaction} into a fresh,
empty database (one error and nothing is restored). The password never goes on a command
line: it is handed to C{pg_dump}/C{pg_restore} in C{PGPASSWORD}.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import URL, make_url

from juego.store.schema import metadata


class BackupError(Exception):
    """
    The backup or restore did not happen; the message says why (Spanish, for the operator).
    """


def rowCounts(engine: Engine) -> dict[str, int]:
    """
    Rows in each of juego's tables that exist in the database, by table name.
    """
    present = set(inspect(engine).get_table_names())
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in present:
                counts[table.name] = conn.execute(
                    text(f'SELECT count(*) FROM "{table.name}"')
                ).scalar_one()
    return counts


def backup(url: str, destination: str) -> None:
    """
    Write a backup of the database at C{url} to C{destination}, which must not exist.
    """
    target = Path(destination)
    if target.exists():
        raise BackupError(f"{destination} ya existe: elige otro nombre")
    if not target.parent.is_dir():
        raise BackupError(f"no existe la carpeta {target.parent}")
    parsed = make_url(url)
    partial = target.with_name(target.name + ".partial")
    try:
        if parsed.get_backend_name() == "sqlite":
            _sqliteBackup(_sqlitePath(parsed), partial)
        elif parsed.get_backend_name() == "postgresql":
            _run(
                ["pg_dump", "--format=custom", f"--file={partial}", "--dbname", _libpq(parsed)],
                parsed,
            )
        else:
            raise BackupError(f"no sé copiar una base {parsed.get_backend_name()}")
        # A backup holds every player's email and password hash: its owner's only.
        os.chmod(partial, 0o600)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def restore(source: str, url: str) -> None:
    """
    Restore the backup C{source} into the database at C{url}: for SQLite a file that must
    not exist yet, for PostgreSQL a database that must be empty (C{createdb} one).
    """
    if not Path(source).is_file():
        raise BackupError(f"no existe la copia {source}")
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        target = _sqlitePath(parsed)
        if target.exists():
            raise BackupError(f"{target} ya existe: restaura en un archivo nuevo")
        partial = target.with_name(target.name + ".partial")
        try:
            _sqliteBackup(Path(source), partial)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    elif parsed.get_backend_name() == "postgresql":
        _requireEmpty(url)
        _run(
            [
                "pg_restore",
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                "--dbname",
                _libpq(parsed),
                source,
            ],
            parsed,
        )
    else:
        raise BackupError(f"no sé restaurar en una base {parsed.get_backend_name()}")


def _sqlitePath(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("la base SQLite debe ser un archivo")
    return Path(url.database)


def _sqliteBackup(source: Path, destination: Path) -> None:
    if not source.is_file():
        raise BackupError(f"no existe la base {source}")
    # Read-only: a backup never changes (or creates) the database it copies.
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        check = src.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise BackupError(f"{source} está dañada: {check}")
        dst = sqlite3.connect(destination)
        try:
            src.backup(dst)
            # The copy is a plain file: a WAL-mode one (the services' databases are) would
            # grow -wal and -shm files beside it whenever it is read, the backup included.
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    except sqlite3.Error as e:
        raise BackupError(f"SQLite: {e}") from None
    finally:
        src.close()


def _libpq(url: URL) -> str:
    """
    A libpq connection URI for C{url}, without its password (see L{_run}).
    """
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)


def _run(command: list[str], url: URL) -> None:
    program = shutil.which(command[0])
    if program is None:
        raise BackupError(f"falta {command[0]} (Debian: apt-get install postgresql-client)")
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    result = subprocess.run(
        [program, *command[1:]], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(
            f"{command[0]} terminó con el estado {result.returncode}: {result.stderr.strip()}"
        )


def _requireEmpty(url: str) -> None:
    from juego.store.pool import makeEngine

    engine = makeEngine(url)
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                text(
                    "SELECT count(*) FROM information_schema.tables"
                    " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    if tables:
        raise BackupError(
            "la base de destino no está vacía: restaura en una base nueva "
            "(createdb --owner=juego_owner juego_restaurada)"
        )
