"""
Distributed logging: JSON log lines, and the request id that ties together the lines one
HTTP request leaves in juego-web, juego-tcp and juego-dist.

  - L{jsonLogger} is a twistd C{--logger} factory: C{twistd --logger
    juego.logging.jsonLogger juego-tcp} writes every log event as one JSON object per line
    (L{twisted.logger.jsonFileLogObserver}'s format, without the record separator).
  - L{classicLogger} is the default observer of the juego twistd plugins (unless
    C{--logger} or C{--syslog} is given): twistd's classic text lines, to the same place
    twistd would write them, formatted at a fraction of the cost (L{formatClassicText});
    L{textLogger} is the same lines for C{--logger juego.logging.textLogger} (the file
    from C{JUEGO_LOG_FILE} or C{--logfile}). Both rotate as L{logFile} says.
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
import signal
import sys
import uuid
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from contextvars import ContextVar
from functools import partial
from string import Formatter
from typing import IO, Any, TypeVar, cast

from twisted.logger import (
    FileLogObserver,
    formatEventAsClassicLogText,
    formatTime,
    jsonFileLogObserver,
)
from twisted.python.logfile import LogFile

T = TypeVar("T")

#: The HTTP header that carries a request id in and out of juego-web.
REQUEST_ID_HEADER = b"X-Request-Id"
#: The line-protocol field that carries it between the services.
REQUEST_ID_FIELD = "rid"
#: Where L{jsonLogger} writes, when set ("-" is standard output).
LOG_FILE_ENV = "JUEGO_LOG_FILE"
#: Bytes at which a log file rotates (0: never), and rotated files kept (unset: all).
LOG_ROTATE_ENV = "JUEGO_LOG_ROTATE_BYTES"
LOG_KEEP_ENV = "JUEGO_LOG_KEEP"
DEFAULT_ROTATE_BYTES = 1_000_000

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


def logFile(path: str, environ: Mapping[str, str]) -> IO[str]:
    """
    The log file at C{path}, rotated as the environment says: C{JUEGO_LOG_ROTATE_BYTES}
    (default 1,000,000, twistd's own; 0 never rotates, for logrotate's C{copytruncate}) and
    C{JUEGO_LOG_KEEP} rotated files kept (default: all of them, as twistd does).
    """
    try:
        rotate = int(environ.get(LOG_ROTATE_ENV) or DEFAULT_ROTATE_BYTES)
        keepText = environ.get(LOG_KEEP_ENV)
        keep = int(keepText) if keepText else None
    except ValueError:
        raise ValueError(f"{LOG_ROTATE_ENV} and {LOG_KEEP_ENV} must be whole numbers") from None
    if rotate < 0 or (keep is not None and keep < 1):
        raise ValueError(f"{LOG_ROTATE_ENV} must be ≥ 0 and {LOG_KEEP_ENV} ≥ 1")
    # A LogFile is file-like (write, flush), which is all an observer needs.
    return cast(IO[str], LogFile.fromFullPath(path, rotateLength=rotate, maxRotatedFiles=keep))


def _destination(
    environ: Mapping[str, str] | None, argv: Sequence[str] | None
) -> tuple[Mapping[str, str], str | None]:
    environ = os.environ if environ is None else environ
    path = environ.get(LOG_FILE_ENV) or _twistdLogfile(sys.argv if argv is None else argv)
    return environ, None if not path or path == "-" else path


def jsonLogger(
    environ: Mapping[str, str] | None = None, argv: Sequence[str] | None = None
) -> FileLogObserver:
    """
    A log observer for C{twistd --logger juego.logging.jsonLogger}: one JSON event per
    line, to C{JUEGO_LOG_FILE} if set, else to the C{--logfile} given to twistd, else to
    standard output (C{-} is standard output too). A file rotates as L{logFile} says
    (every megabyte by default, as twistd's own log file does).
    """
    environ, path = _destination(environ, argv)
    if path is None:
        # Bound now: twistd redirects sys.stdout into the log once logging begins.
        return jsonFileLogObserver(sys.stdout, recordSeparator="")
    return jsonFileLogObserver(logFile(path, environ), recordSeparator="")


def textLogger(
    environ: Mapping[str, str] | None = None, argv: Sequence[str] | None = None
) -> FileLogObserver:
    """
    twistd's own text log lines, for C{twistd --logger juego.logging.textLogger}, to the
    same place as L{jsonLogger} and rotated as L{logFile} says: twistd's own C{--logfile}
    has no rotation settings (1 MB, every rotated file kept).
    """
    environ, path = _destination(environ, argv)
    if path is None:
        return FileLogObserver(sys.stdout, partial(formatClassicText, clock=_ClassicTime()))
    return FileLogObserver(logFile(path, environ), partial(formatClassicText, clock=_ClassicTime()))


# -- the classic text log, cheaper ----------------------------------------------------

#: A compiled format: (literal text, field name, conversion, format spec) per field;
#: L{None} for a format that only Twisted's own formatter handles (calls, attributes,
#: indexes, positional fields).
_Compiled = tuple[tuple[str, str | None, str | None, str], ...] | None
_compiled: dict[str, _Compiled] = {}
#: Formats kept compiled at most (they are literals in the code, so few).
_MAX_COMPILED = 512
_formatter = Formatter()
_CONVERSIONS: dict[str, Callable[[object], str]] = {"r": repr, "s": str, "a": ascii}


def _compile(template: str) -> _Compiled:
    pieces = []
    try:
        parsed = list(_formatter.parse(template))
    except ValueError:
        return None
    for literal, name, spec, conversion in parsed:
        if name is not None and not name.isidentifier():
            return None
        if spec and "{" in spec:
            return None  # a nested field in the spec
        pieces.append((literal, name, conversion, spec or ""))
    return tuple(pieces)


class _ClassicTime:
    """
    twistd's timestamp (L{formatTime}, RFC 3339, to the second), computed once per second
    rather than per line (Twisted looks up the local time zone on every call).
    """

    def __init__(self) -> None:
        self._second: int | None = None
        self._text = "-"

    def __call__(self, when: float | None) -> str:
        if when is None:
            return "-"
        second = int(when)
        if second != self._second:
            self._text, self._second = formatTime(second), second
        return self._text


def formatClassicText(event: dict[str, Any], clock: _ClassicTime | None = None) -> str | None:
    """
    Exactly L{formatEventAsClassicLogText}'s line (C{"{time} [{system}] {message}\\n"}),
    for the common event (a C{log_format} of plain C{{name}}/C{{name:spec}} fields, no
    failure): the format is parsed once, not with L{string.Formatter} on every line, and
    the timestamp is formatted once per second. Anything else goes to Twisted's function.

    Twisted's observer took 49-56 µs for the access line every HTTP request leaves; this
    one takes 11 µs (docs/PERFORMANCE.md).
    """
    timeText = _defaultTime if clock is None else clock
    template = event.get("log_format")
    if not isinstance(template, str) or "log_failure" in event or "log_flattened" in event:
        return formatEventAsClassicLogText(event, formatTime=timeText)
    if template in _compiled:
        compiled = _compiled[template]
    else:
        compiled = _compile(template)
        if len(_compiled) < _MAX_COMPILED:
            _compiled[template] = compiled
    if compiled is None:
        return formatEventAsClassicLogText(event, formatTime=timeText)
    parts = []
    try:
        for literal, name, conversion, spec in compiled:
            parts.append(literal)
            if name is not None:
                value = event[name]
                if conversion is not None:
                    value = _CONVERSIONS[conversion](value)
                parts.append(format(value, spec))
    except Exception:
        # Twisted's function says what could not be formatted, as it always did.
        return formatEventAsClassicLogText(event, formatTime=timeText)
    text = "".join(parts)
    if not text:
        return None
    system = event.get("log_system")
    if system is None:
        level = event.get("log_level")
        system = f"{event.get('log_namespace', '-')}#{'-' if level is None else level.name}"
    else:
        try:
            system = str(system)
        except Exception:
            system = "UNFORMATTABLE"
    line = f"{timeText(event.get('log_time'))} [{system}] {text}"
    return line.replace("\n", "\n\t") + "\n"


_defaultTime = _ClassicTime()


def classicLogger(twistdOptions: Mapping[str, Any]) -> FileLogObserver:
    """
    twistd's default observer, as C{UnixAppLogger} makes it from twistd's options (to
    C{--logfile}, rotated as L{logFile} says and on C{SIGUSR1}; to standard output with
    C{--nodaemon} and no file, or C{-}; to C{twistd.log} for a daemon with no file), but
    formatting with L{formatClassicText}.
    """
    path = twistdOptions.get("logfile")
    nodaemon = twistdOptions.get("nodaemon", False)
    if path == "-" or (nodaemon and not path):
        if not nodaemon:
            sys.exit("Daemons cannot log to stdout, exiting!")
        out: Any = sys.stdout
    else:
        out = logFile(path or "twistd.log", os.environ)
        if not signal.getsignal(signal.SIGUSR1):

            def rotate(signum: int, frame: object) -> None:
                from twisted.internet import reactor

                reactor.callFromThread(out.rotate)  # type: ignore[attr-defined]

            signal.signal(signal.SIGUSR1, rotate)
    return FileLogObserver(out, partial(formatClassicText, clock=_ClassicTime()))


#: twistd's options, kept by L{useTextLogger} for L{twistdTextLogger}.
_twistdOptions: Mapping[str, Any] = {}


def twistdTextLogger() -> FileLogObserver:
    """
    A twistd C{--logger} factory: L{classicLogger} over the options L{useTextLogger} kept.
    """
    return classicLogger(_twistdOptions)


def useTextLogger(twistdOptions: MutableMapping[str, Any] | None) -> None:
    """
    Make L{classicLogger} twistd's observer, unless C{--logger} or C{--syslog} chose
    another. Called from a plugin's options (C{twistdOptions} is their C{parent}: twistd
    makes its logger from them after the plugin's options are parsed, and takes a
    C{--logger} as the name of a factory of no arguments, hence the module's copy).
    """
    global _twistdOptions
    if twistdOptions is None or twistdOptions.get("logger") or twistdOptions.get("syslog"):
        return
    _twistdOptions = twistdOptions
    twistdOptions["logger"] = f"{__name__}.{twistdTextLogger.__name__}"
