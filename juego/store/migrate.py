"""
Schema migrations (Alembic), found relative to the package, never the working directory.
"""

from __future__ import annotations

from importlib.resources import as_file, files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


class SchemaOutOfDate(RuntimeError):
    """
    The database is not at the schema this code needs.
    """


def _config(connection: object | None = None) -> Config:
    config = Config()
    location = files("juego.store") / "migrations"
    config.set_main_option("script_location", str(location))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def headRevision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def currentRevision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """
    Bring the database to C{revision}, in one transaction (holding the write lock on
    SQLite, so that services starting together migrate once).
    """
    with as_file(files("juego.store") / "migrations"):
        writer = engine.execution_options(juego_begin="BEGIN IMMEDIATE")
        with writer.begin() as connection:
            command.upgrade(_config(connection), revision)


def ensureSchema(engine: Engine) -> None:
    """
    Start-up check: migrate SQLite in place; on other engines refuse to run against an
    old schema (they are migrated by C{juego-admin db upgrade}).
    """
    if engine.dialect.name == "sqlite":
        upgrade(engine)
        return
    current, head = currentRevision(engine), headRevision()
    if current != head:
        raise SchemaOutOfDate(
            f"database schema is at {current}, this code needs {head}: "
            "run `juego-admin db upgrade` first"
        )
