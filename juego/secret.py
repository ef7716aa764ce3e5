"""
Which service secret: the one place that answers it (README, "JUEGO_SERVICE_SECRET").

C{JUEGO_SERVICE_SECRET} wins when set. Unset, the processes of one install share a secret
generated on first start and kept in a file beside the SQLite database (C{instance/} under
the working directory for any other database), readable by its owner only. Every reader
of the secret (the twistd plugins, the web process's clients, the blocking script
clients, L{juego.serialization.secret_from_env}) comes here, so a script run from the
install's folder finds the same secret as the services.

The file holds the secret as text (64 hex digits and a newline): its contents can be
copied into C{JUEGO_SERVICE_SECRET} for processes on other machines.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from juego import config

#: The variable that sets the secret explicitly (every machine of a multi-host install).
ENV_VAR = "JUEGO_SERVICE_SECRET"
#: The generated secret's file, in the folder of the SQLite database.
FILE_NAME = "service-secret"
#: Random bytes in a generated secret (written as twice as many hex digits).
SECRET_BYTES = 32
#: The longest secret file we read (a secret is a line, not a document).
MAX_FILE_BYTES = 4096


class SecretError(config.ConfigError):
    """
    The secret file cannot be trusted or used: readable by others, not ours, not a plain
    file, empty, or it cannot be written.
    """


def environmentSecret(environ: Mapping[str, str] | None = None) -> bytes | None:
    """
    C{JUEGO_SERVICE_SECRET} as UTF-8 bytes, or L{None} when it is unset or empty.
    """
    value = (os.environ if environ is None else environ).get(ENV_VAR)
    return value.encode("utf-8") if value else None


def secretFolder(
    database: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Path:
    """
    The folder that holds the generated secret: the folder of the SQLite database that
    the flag C{database}, else the environment, else the working directory chooses
    (L{config.databaseURL}); C{instance/} under the working directory for an in-memory
    SQLite or any other database. Nothing is created.
    """
    # Imported here: a script's blocking client need not load SQLAlchemy's engine for this.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    base = Path.cwd() if cwd is None else cwd
    url = config.databaseURL(database, environ, base, create=False)
    try:
        parsed = make_url(url)
    except ArgumentError:
        return base / "instance"
    path = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or path in ("", ":memory:"):
        return base / "instance"
    if path.startswith("file:"):  # a SQLite URI filename (?uri=true)
        path = path[len("file:") :].split("?", 1)[0]
        if path in ("", ":memory:"):
            return base / "instance"
    return (base / path).parent


def secretPath(
    database: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Path:
    """
    The generated secret's file for this install (see L{secretFolder}).
    """
    return secretFolder(database, environ, cwd) / FILE_NAME


def serviceSecret(
    database: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    create: bool = True,
) -> bytes | None:
    """
    The secret the services share: C{JUEGO_SERVICE_SECRET} if set, else the install's
    generated secret (L{secretPath}), made on first use when C{create} (the services do;
    a client only looks, and gets L{None} when there is none yet).

    @param database: the process's C{--database} flag, if any.
    @raise SecretError: the secret file is unsafe or unusable.
    """
    explicit = environmentSecret(environ)
    if explicit is not None:
        return explicit
    path = secretPath(database, environ, cwd)
    # Three rounds at most: read, else create, else (lost the race) read the winner's.
    for _ in range(3):
        found = readSecretFile(path)
        if found is not None or not create:
            return found
        made = _createSecretFile(path)
        if made is not None:
            return made
    raise SecretError(f"{path}: the service secret file keeps disappearing")


def readSecretFile(path: Path) -> bytes | None:
    """
    The secret in C{path}, or L{None} if there is no such file.

    @raise SecretError: the file is not a plain file owned by this user and readable by
        nobody else, or it is empty.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise SecretError(f"{path}: the service secret file is a symbolic link") from None
        raise SecretError(f"{path}: cannot read the service secret file: {e.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SecretError(f"{path}: the service secret file is not a regular file")
        if info.st_uid != os.geteuid():
            raise SecretError(
                f"{path}: the service secret file belongs to uid {info.st_uid}, not to this "
                f"user (uid {os.geteuid()})"
            )
        if info.st_mode & 0o077:
            raise SecretError(
                f"{path}: the service secret file is readable or writable by others (mode "
                f"{stat.S_IMODE(info.st_mode):04o}); make a new secret or run chmod 600 {path}"
            )
        data = os.read(fd, MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise SecretError(f"{path}: the service secret file is too long")
    value = data.strip()
    if not value:
        raise SecretError(f"{path}: the service secret file is empty")
    return value


def _createSecretFile(path: Path) -> bytes | None:
    """
    Make the install's secret: the whole value goes to a private temporary file, which is
    then hard-linked to C{path}. The link either appears complete or fails because another
    process made C{path} first; then L{None} (read theirs).
    """
    folder = path.parent
    value = secrets.token_hex(SECRET_BYTES).encode("ascii")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkstemp makes the file 0600 whatever the umask.
        fd, temporary = tempfile.mkstemp(prefix=f".{FILE_NAME}-", dir=folder)
    except OSError as e:
        raise SecretError(f"{path}: cannot create the service secret file: {e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(value + b"\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return None
        except OSError as e:
            raise SecretError(
                f"{path}: cannot create the service secret file ({e.strerror}); "
                f"set {ENV_VAR} instead"
            ) from None
    finally:
        try:
            os.unlink(temporary)
        except OSError:
            pass
    _syncFolder(folder)
    return value


def _syncFolder(folder: Path) -> None:
    """
    Make the new file's name durable, so a crash cannot leave the processes that already
    read the secret with one the next start will not find.
    """
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
