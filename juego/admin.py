"""
C{juego-admin}: operators' commands.

  juego-admin create-admin EMAIL [--name NOMBRE] [--password-stdin] [--database URL]
                                 [--create]
      Make the account with EMAIL an admin; if there is none, create it (asking for the
      name, and for the password at a prompt that does not echo, or reading it from
      standard input with --password-stdin, which needs --name for a new account:
      never from the command line, where C{ps} and the shell's history would keep it).
  juego-admin db upgrade [--database URL] [--create]
      Bring the database schema to this code's version (PostgreSQL is never migrated
      on start-up).
  juego-admin db backup FILE [--database URL]
      A consistent backup while the services run (L{juego.store.backup}); FILE must not
      exist, and appears only once the backup is complete. Prints each table's rows.
  juego-admin db restore FILE [--database URL]
      Restore a backup into a new SQLite file or an empty PostgreSQL database, then
      print each table's rows (compare them with the backup's).

Both say which database they opened, and refuse to make a new SQLite file (a command run
from the wrong folder would otherwise quietly create an empty database there) unless
given C{--create}.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from argon2 import PasswordHasher
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from juego import config
from juego.store import Store
from juego.store.backup import BackupError, backup, restore, rowCounts
from juego.store.migrate import SchemaOutOfDate, currentRevision, ensureSchema, upgrade
from juego.store.pool import (
    DBThreadPool,
    DriverMissing,
    SynchronousReactorThreads,
    SynchronousThreadPool,
    makeEngine,
    normaliseURL,
    oneLine,
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
    if nombre is None and password is not None:
        # The password came from standard input (a script): nobody is there to answer
        # a prompt, and standard input is spent.
        raise CommandError(
            f"no existe la cuenta {email}: para crearla con --password-stdin, "
            "pon su nombre con --name."
        )
    try:
        nombre = checkNombre(nombre if nombre is not None else ask("Nombre: "))
        if password is None:
            password = askSecret("Contraseña: ")
            if askSecret("Repite la contraseña: ") != password:
                raise CommandError("Las contraseñas no coinciden.")
        password = checkPassword(password, [nombre, email])
    except InvalidField as e:
        raise CommandError(str(e)) from None
    except EOFError:
        # Standard input ended before an answer (run with no terminal, say).
        raise CommandError(
            f"no existe la cuenta {email} y la entrada estándar se terminó antes de dar "
            "su nombre y contraseña: pon el nombre con --name y la contraseña con "
            "--password-stdin."
        ) from None
    passwordHash = (hasher or PasswordHasher()).hash(password)
    user = _result(store.users.create(nombre, email, passwordHash, esAdmin=True))
    out.write(f"Creado el administrador {user.email} (id {user.id}).\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="juego-admin", description="Tareas de administración de juego."
    )
    parser.add_argument(
        "--config",
        "-c",
        help="archivo de configuración TOML (por defecto: JUEGO_CONFIG; ver docs/OPERATIONS.md)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser(
        "create-admin", help="hacer administrador a una cuenta (o crearla)"
    )
    create.add_argument("email")
    create.add_argument("--name", "--nombre", dest="nombre", help="nombre de la cuenta nueva")
    create.add_argument(
        "--password-stdin",
        dest="passwordStdin",
        action="store_true",
        help="leer la contraseña de la cuenta nueva de la entrada estándar (si no, se pregunta)",
    )
    # Refused with an explanation: a password in argv is visible in ps and kept in the
    # shell's history.
    create.add_argument("--password", dest="passwordArgument", help=argparse.SUPPRESS)
    db = commands.add_parser("db", help="esquema de la base de datos")
    dbCommands = db.add_subparsers(dest="dbCommand", required=True)
    up = dbCommands.add_parser("upgrade", help="migrar el esquema a la versión actual")
    for command in (create, up):
        command.add_argument("--database", "-d", help="URL de SQLAlchemy de la base de datos")
        command.add_argument(
            "--create",
            action="store_true",
            help="crear la base de datos SQLite si no existe (si no, es un error)",
        )
    save = dbCommands.add_parser("backup", help="copia de seguridad con los servicios en marcha")
    save.add_argument("file", help="archivo de la copia (no debe existir)")
    save.add_argument("--database", "-d", help="URL de SQLAlchemy de la base de datos")
    load = dbCommands.add_parser(
        "restore", help="restaurar una copia en un archivo SQLite nuevo o una base vacía"
    )
    load.add_argument("file", help="archivo de la copia")
    load.add_argument("--database", "-d", help="URL de SQLAlchemy de la base de destino")
    return parser


def _printCounts(engine: Engine, out: TextIO) -> None:
    for table, rows in rowCounts(engine).items():
        out.write(f"  {table}: {rows}\n")


def displayURL(url: str) -> str:
    """
    The database URL as the operator may see it (any password hidden).
    """
    return make_url(normaliseURL(url)).render_as_string(hide_password=True)


def newSQLiteFile(url: str) -> str | None:
    """
    The path of the SQLite file C{url} names, if it does not exist yet.
    """
    parsed = make_url(normaliseURL(url))
    if parsed.get_backend_name() != "sqlite":
        return None
    path = parsed.database
    if not path or path == ":memory:" or os.path.exists(path):
        return None
    return path


def readPasswordLine(stdin: TextIO) -> str:
    """
    The password on the first line of C{stdin} (without its line ending).
    """
    line = stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise CommandError("No se ha recibido ninguna contraseña por la entrada estándar.")
    return password


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    ask: Callable[[str], str] = input,
    askSecret: Callable[[str], str] = getpass.getpass,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        return _run(argv, out, ask, askSecret, err, stdin)
    except DriverMissing as e:
        # A database URL whose driver is not installed: one line naming the extra.
        err.write(f"juego-admin: {e}\n")
        return 1


def _run(
    argv: Sequence[str] | None,
    out: TextIO,
    ask: Callable[[str], str],
    askSecret: Callable[[str], str],
    err: TextIO,
    stdin: TextIO | None,
) -> int:
    options = _parser().parse_args(argv)
    try:
        config.applyConfigFile(options.config)
        if options.command == "db" and options.dbCommand in ("backup", "restore"):
            return _backupOrRestore(options, out)
        password = _passwordFromStdin(options, stdin)
        url = _existingDatabase(options)
        out.write(f"Base de datos: {displayURL(url)}\n")
    except (config.ConfigError, BackupError, CommandError) as e:
        err.write(f"juego-admin: {e}\n")
        return 1
    engine = makeEngine(url)
    try:
        if options.command == "db":
            upgrade(engine)
            out.write(f"Esquema en la versión {currentRevision(engine)}.\n")
            return 0
        ensureSchema(engine)
        createAdmin(
            synchronousStore(engine), options.email, options.nombre, password, ask, askSecret, out
        )
        return 0
    except (CommandError, SchemaOutOfDate) as e:
        err.write(f"juego-admin: {e}\n")
        return 1
    except DBAPIError as e:
        # The database refused (a role without the rights to migrate, say): its own words,
        # in one line, not a traceback.
        err.write(f"juego-admin: la base de datos lo rechazó: {oneLine(e)}\n")
        return 1
    finally:
        engine.dispose()


def _backupOrRestore(options: argparse.Namespace, out: TextIO) -> int:
    """
    C{db backup} and C{db restore}: do it, then print each table's rows and the schema.
    """
    url = config.databaseURL(options.database, create=False)
    if options.dbCommand == "backup":
        backup(url, options.file)
        if make_url(url).get_backend_name() == "sqlite":
            out.write(f"Copia completa en {options.file}. Filas en la copia:\n")
            # Read-only, with none of the services' settings (WAL would grow -wal and
            # -shm files beside the backup).
            url = f"sqlite:///file:{os.path.abspath(options.file)}?mode=ro&uri=true"
        else:
            out.write(
                f"Copia completa en {options.file}. Filas en la base al terminar "
                "(con los servicios en marcha, la copia puede tener menos):\n"
            )
    else:
        restore(options.file, url)
        out.write(f"Copia {options.file} restaurada. Filas:\n")
    engine = create_engine(url) if url.startswith("sqlite:///file:") else makeEngine(url)
    try:
        _printCounts(engine, out)
        out.write(f"Esquema en la versión {currentRevision(engine)}.\n")
    finally:
        engine.dispose()
    return 0


def _passwordFromStdin(options: argparse.Namespace, stdin: TextIO | None) -> str | None:
    """
    C{create-admin}'s password from standard input, if asked (never from argv).
    """
    if options.command != "create-admin":
        return None
    if options.passwordArgument is not None:
        raise CommandError(
            "--password ya no se admite: la contraseña quedaría a la vista en `ps` "
            "y en el historial de la shell. Escríbela cuando se pida, o pásala por "
            "la entrada estándar con --password-stdin."
        )
    return readPasswordLine(stdin or sys.stdin) if options.passwordStdin else None


def _existingDatabase(options: argparse.Namespace) -> str:
    """
    The database's URL; a SQLite file that does not exist yet is made only with
    C{--create} (a command run from the wrong folder must not make an empty one).
    """
    url = config.databaseURL(options.database, create=False)
    missing = newSQLiteFile(url)
    if missing is not None:
        if not options.create:
            raise CommandError(
                f"no existe la base de datos {missing} (¿estás en la carpeta correcta? "
                "¿falta --database o JUEGO_DATABASE_URL?). Para crear una nueva, "
                "añade --create."
            )
        os.makedirs(os.path.dirname(missing) or ".", exist_ok=True)
    return url


if __name__ == "__main__":
    sys.exit(main())
