"""
Distributed logging: JSON log lines, and the request id that ties together the lines one
HTTP request leaves in juego-web, juego-tcp and juego-dist.

  - L{jsonLogger} is a twistd C{--logger} factory: C{twistd --logger
    juego.logging.jsonLogger juego-tcp} writes every log event as one JSON object per line
    (L{twisted.logger.jsonFileLogObserver}'s format, without the record separator).
  - The request id (C{rid}): juego-web takes a valid C{X-Request-Id} from the request or
    makes one (L{juego.web.tracing}) and holds it in a context variable while it works on
    that request; the Deferred clients (L{juego.clients}) send it as C{"rid"} in every line
    request they make in that context, and the outbox keeps it in its payloads, so work
    sent later still carries it. juego-tcp and juego-dist log it with each action they
    answer (L{juego.wire.observe}).

The context variable travels with the request's coroutines: Twisted runs each coroutine
(C{Deferred.fromCoroutine}, Klein's C{async def} handlers) in a copy of the context it
was started in. Callbacks added to a Deferred do not capture it.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

from twisted.logger import FileLogObserver, jsonFileLogObserver
from twisted.python.logfile import LogFile

T = TypeVar("T")

#: The HTTP header that carries a request id in and out of juego-web.
REQUEST_ID_HEADER = b"X-Request-Id"
#: The line-protocol field that carries it between the services.
REQUEST_ID_FIELD = "rid"
#: Where L{jsonLogger} writes, when set ("-" is standard output).
LOG_FILE_ENV = "JUEGO_LOG_FILE"

_VALID = re.compile(r"[A-Za-z0-9._-]{1,64}")

_current: ContextVar[str | None] = ContextVar("juego_request_id", default=None)


def validRequestID(value: object) -> str | None:
    """
    C{value} as a request id if it is one (1 to 64 characters of C{[A-Za-z0-9._-]}, as
    text or ASCII bytes), else L{None}.
    """
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    if isinstance(value, str) and _VALID.fullmatch(value):
        return value
    return None


def newRequestID() -> str:
    return uuid.uuid4().hex


def currentRequestID() -> str | None:
    """
    The id of the request being worked on in this context, if any.
    """
    return _current.get()


def requestIDFields() -> dict[str, str]:
    """
    C{{"rid": id}} in a request's context, C{{}} outside one: for payloads kept for later.
    """
    rid = _current.get()
    return {} if rid is None else {REQUEST_ID_FIELD: rid}


def callWithRequestID(rid: str | None, f: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """
    Call C{f} with C{rid} as the current request id (coroutines it starts keep it);
    with L{None}, just call C{f}, in the current context.
    """
    if rid is None:
        return f(*args, **kwargs)
    token = _current.set(rid)
    try:
        return f(*args, **kwargs)
    finally:
        _current.reset(token)


def _twistdLogfile(argv: Sequence[str]) -> str | None:
    """
    The C{--logfile} given to twistd, if any: with C{--logger} twistd itself ignores it.
    (Only the long form: C{-l} is also a plugin's C{--listen}.)
    """
    found = None
    for i, arg in enumerate(argv):
        if arg == "--logfile" and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith("--logfile="):
            found = arg[len("--logfile=") :]
    return found


def jsonLogger(
    environ: Mapping[str, str] | None = None, argv: Sequence[str] | None = None
) -> FileLogObserver:
    """
    A log observer for C{twistd --logger juego.logging.jsonLogger}: one JSON event per
    line, to C{JUEGO_LOG_FILE} if set, else to the C{--logfile} given to twistd, else to
    standard output (C{-} is standard output too). A file rotates every megabyte, as
    twistd's own log file does.
    """
    environ = os.environ if environ is None else environ
    path = environ.get(LOG_FILE_ENV) or _twistdLogfile(sys.argv if argv is None else argv)
    if not path or path == "-":
        # Bound now: twistd redirects sys.stdout into the log once logging begins.
        return jsonFileLogObserver(sys.stdout, recordSeparator="")
    return jsonFileLogObserver(LogFile.fromFullPath(path), recordSeparator="")
