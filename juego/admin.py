"""
C{juego-admin}: operators' commands.

  juego-admin create-admin EMAIL [--name NOMBRE] [--password CONTRASEÑA] [--database URL]
      Make the account with EMAIL an admin; if there is none, create it (asking for the
      name and the password unless given).
  juego-admin db upgrade [--database URL]
      Bring the database schema to this code's version (PostgreSQL is never migrated
      on start-up).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from argon2 import PasswordHasher
from sqlalchemy import Engine

from juego import config
from juego.store import Store
from juego.store.migrate import SchemaOutOfDate, currentRevision, ensureSchema, upgrade
from juego.store.pool import (
    DBThreadPool,
    DriverMissing,
    SynchronousReactorThreads,
    SynchronousThreadPool,
    makeEngine,
)
from juego.store.users import InvalidField, checkEmail, checkNombre, checkPassword


class CommandError(Exception):
    """
    The command cannot go on; the message says why (Spanish, for the operator).
    """


def _result(d: Any) -> Any:
    """
    The result of a Deferred from a synchronous store (it has fired already).
    """
    results: list[Any] = []
    d.addBoth(results.append)
    [result] = results
    if hasattr(result, "raiseException"):
        result.raiseException()
    return result


def synchronousStore(engine: Engine) -> Store:
    threads: Any = SynchronousReactorThreads()
    return Store(DBThreadPool(engine, threads, SynchronousThreadPool()))


def createAdmin(
    store: Store,
    email: str,
    nombre: str | None,
    password: str | None,
    ask: Callable[[str], str],
    askSecret: Callable[[str], str],
    out: TextIO,
    hasher: PasswordHasher | None = None,
) -> None:
    try:
        email = checkEmail(email)
    except InvalidField as e:
        raise CommandError(str(e)) from None
    found = _result(store.users.byEmail(email))
    if found is not None:
        user, _ = found
        _result(store.users.setAdmin(user.id))
        out.write(f"{user.email} (id {user.id}) es ahora administrador.\n")
        return
    try:
        nombre = checkNombre(nombre if nombre is not None else ask("Nombre: "))
        if password is None:
            password = askSecret("Contraseña: ")
            if askSecret("Repite la contraseña: ") != password:
                raise CommandError("Las contraseñas no coinciden.")
        password = checkPassword(password)
    except InvalidField as e:
        raise CommandError(str(e)) from None
    passwordHash = (hasher or PasswordHasher()).hash(password)
    user = _result(store.users.create(nombre, email, passwordHash, esAdmin=True))
    out.write(f"Creado el administrador {user.email} (id {user.id}).\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="juego-admin", description="Tareas de administración de juego."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser(
        "create-admin", help="hacer administrador a una cuenta (o crearla)"
    )
    create.add_argument("email")
    create.add_argument("--name", "--nombre", dest="nombre", help="nombre de la cuenta nueva")
    create.add_argument("--password", help="contraseña de la cuenta nueva (si no, se pregunta)")
    create.add_argument("--database", "-d", help="URL de SQLAlchemy de la base de datos")
    db = commands.add_parser("db", help="esquema de la base de datos")
    dbCommands = db.add_subparsers(dest="dbCommand", required=True)
    up = dbCommands.add_parser("upgrade", help="migrar el esquema a la versión actual")
    up.add_argument("--database", "-d", help="URL de SQLAlchemy de la base de datos")
    return parser


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    ask: Callable[[str], str] = input,
    askSecret: Callable[[str], str] = getpass.getpass,
    err: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    options = _parser().parse_args(argv)
    try:
        engine = makeEngine(config.databaseURL(options.database))
    except DriverMissing as e:
        err.write(f"juego-admin: {e}\n")
        return 1
    try:
        if options.command == "db":
            upgrade(engine)
            out.write(f"Esquema en la versión {currentRevision(engine)}.\n")
            return 0
        ensureSchema(engine)
        createAdmin(
            synchronousStore(engine),
            options.email,
            options.nombre,
            options.password,
            ask,
            askSecret,
            out,
        )
        return 0
    except (CommandError, SchemaOutOfDate) as e:
        err.write(f"juego-admin: {e}\n")
        return 1
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
