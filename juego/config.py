"""
Settings: command-line flags beat environment variables, which beat the configuration
file, which beats the defaults.

The configuration file (TOML, read with the standard library's C{tomllib}) is named by
C{--config PATH} on every command, else by C{JUEGO_CONFIG}. Each of its settings stands for
one environment variable (L{FILE_SETTINGS}); L{applyConfigFile} fills in the variables the
environment does not set, so every reader of a setting sees the file without knowing of it.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping, MutableMapping
from pathlib import Path

import attrs

#: service name -> (host variable, port variable, default host, default port)
SERVICES: dict[str, tuple[str, str, str, int]] = {
    "web": ("MAIN_SERVER_HOST", "MAIN_SERVER_PORT", "127.0.0.1", 5000),
    "tcp": ("TCP_PERSIST_HOST", "TCP_PERSIST_PORT", "127.0.0.1", 6000),
    "dist": ("DISTRIBUTED_HOST", "DISTRIBUTED_PORT", "127.0.0.1", 7000),
}

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class ConfigError(ValueError):
    """
    A setting has a value that cannot be used.
    """


@attrs.frozen
class Address:
    host: str
    port: int

    def serverEndpoint(self) -> str:
        """
        A Twisted server endpoint string listening on this address.
        """
        host = self.host.strip("[]")
        interface = host.replace(":", r"\:")
        return f"tcp:{self.port}:interface={interface}"

    def clientEndpoint(self) -> str:
        host = self.host.strip("[]").replace(":", r"\:")
        return f"tcp:host={host}:port={self.port}"


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def serviceAddress(service: str, environ: Mapping[str, str] | None = None) -> Address:
    """
    Where C{service} (C{"web"}, C{"tcp"} or C{"dist"}) listens, from the environment.
    """
    env = _environ(environ)
    hostVar, portVar, host, port = SERVICES[service]
    host = env.get(hostVar) or host
    rawPort = env.get(portVar)
    if rawPort:
        try:
            port = int(rawPort)
        except ValueError:
            raise ConfigError(f"{portVar} must be a port number, not {rawPort!r}") from None
        if not 0 <= port <= 65535:
            raise ConfigError(f"{portVar} out of range: {port}")
    return Address(host, port)


#: service name -> the variable that overrides how other processes reach it
CLIENT_ENDPOINT_VARS = {"tcp": "TCP_PERSIST_ENDPOINT", "dist": "DISTRIBUTED_ENDPOINT"}


def clientEndpoint(service: str, environ: Mapping[str, str] | None = None) -> str:
    """
    How other processes reach C{service}: a Twisted client endpoint string from
    C{TCP_PERSIST_ENDPOINT} / C{DISTRIBUTED_ENDPOINT} (e.g. C{tls:host=scores.internal:
    port=6000:trustRoots=/etc/juego/ca} for TLS between machines), else plain TCP to the
    service's host and port.
    """
    override = _environ(environ).get(CLIENT_ENDPOINT_VARS.get(service, ""))
    if override:
        return override
    return serviceAddress(service, environ).clientEndpoint()


def listenEndpoint(service: str, flag: str | None, environ: Mapping[str, str] | None = None) -> str:
    """
    The server endpoint string for C{service}: the flag if given, else the environment.
    """
    if flag:
        return flag
    return serviceAddress(service, environ).serverEndpoint()


def splitEndpoint(description: str) -> tuple[str, list[str], dict[str, str]]:
    """
    An endpoint string's parts: its kind (lower case), its positional arguments and its
    named ones (C{\\:} is a colon inside an argument).
    """
    kind, _, rest = description.partition(":")
    positional: list[str] = []
    named: dict[str, str] = {}
    for part in rest.replace(r"\:", "\0").split(":") if rest else []:
        key, sep, value = part.partition("=")
        if sep:
            named[key] = value.replace("\0", ":")
        else:
            positional.append(part.replace("\0", ":"))
    return kind.strip().lower(), positional, named


def isLoopbackEndpoint(description: str) -> bool:
    """
    Whether a server endpoint string only listens on this machine.

    UNIX sockets count as local; a TCP or SSL endpoint is local only with an explicit
    loopback C{interface}.
    """
    kind, _, named = splitEndpoint(description)
    if kind == "unix":
        return True
    if kind not in ("tcp", "tcp6", "ssl"):
        return False
    interface = named.get("interface")
    return interface is not None and (interface in LOOPBACK_HOSTS or interface.startswith("127."))


def databaseURL(
    flag: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    create: bool = True,
) -> str:
    """
    The SQLAlchemy URL of the database.

    The flag, else C{JUEGO_DATABASE_URL}, else C{instance/usuarios.db} under the working
    directory if it exists, else C{usuarios.db} there if that exists, else a new
    C{instance/usuarios.db} (its folder is made when C{create}).
    """
    if flag:
        return flag
    env = _environ(environ)
    if env.get("JUEGO_DATABASE_URL"):
        return env["JUEGO_DATABASE_URL"]
    base = Path.cwd() if cwd is None else cwd
    preferred = base / "instance" / "usuarios.db"
    legacy = base / "usuarios.db"
    if preferred.exists():
        path = preferred
    elif legacy.exists():
        path = legacy
    else:
        if create:
            preferred.parent.mkdir(parents=True, exist_ok=True)
        path = preferred
    return f"sqlite:///{path.resolve()}"


def redisURL(flag: str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """
    The URL of the optional Redis (shared ranking cache, pub/sub between juego-dist nodes):
    the flag, else C{JUEGO_REDIS_URL}; L{None} (no Redis) when neither is set, or when
    either is C{"none"}.
    """
    url = flag or _environ(environ).get("JUEGO_REDIS_URL") or None
    if url is None or url.strip().lower() in ("", "none"):
        return None
    return url.strip()


#: Names the configuration file when no C{--config} flag does.
CONFIG_FILE_VAR = "JUEGO_CONFIG"

#: (table, key) in the configuration file -> the environment variable it stands for.
FILE_SETTINGS: dict[tuple[str, str], str] = {
    ("database", "url"): "JUEGO_DATABASE_URL",
    ("services", "secret"): "JUEGO_SERVICE_SECRET",
    ("web", "host"): "MAIN_SERVER_HOST",
    ("web", "port"): "MAIN_SERVER_PORT",
    ("web", "allowed_hosts"): "JUEGO_ALLOWED_HOSTS",
    ("web", "trusted_proxies"): "JUEGO_TRUSTED_PROXIES",
    ("web", "metrics_allow"): "JUEGO_METRICS_ALLOW",
    ("tcp", "host"): "TCP_PERSIST_HOST",
    ("tcp", "port"): "TCP_PERSIST_PORT",
    ("tcp", "endpoint"): "TCP_PERSIST_ENDPOINT",
    ("dist", "host"): "DISTRIBUTED_HOST",
    ("dist", "port"): "DISTRIBUTED_PORT",
    ("dist", "endpoint"): "DISTRIBUTED_ENDPOINT",
    ("redis", "url"): "JUEGO_REDIS_URL",
    ("log", "file"): "JUEGO_LOG_FILE",
}


def _settingText(where: str, value: object) -> str:
    # Lists are the variables' comma-separated lists; numbers are written as text.
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected text, a number or a list, not true/false")
    if isinstance(value, str | int):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise ConfigError(f"{where}: expected text, a number or a list of text, not {value!r}")


def readConfigFile(path: str | os.PathLike[str]) -> dict[str, str]:
    """
    The settings of the configuration file at C{path}, by environment variable name.

    @raise ConfigError: the file cannot be read, is not TOML, names a setting that does
        not exist (a typo must not pass silently), has a value of the wrong type, or holds
        the service secret while other users may read it.
    """
    try:
        with open(path, "rb") as f:
            info = os.fstat(f.fileno())
            document = tomllib.load(f)
    except OSError as e:
        raise ConfigError(
            f"cannot read the configuration file {str(path)!r}: {e.strerror}"
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    known = {table for table, _ in FILE_SETTINGS}
    values: dict[str, str] = {}
    for table, settings in document.items():
        if table not in known or not isinstance(settings, dict):
            raise ConfigError(
                f"{path}: unknown table [{table}] (known: {', '.join(sorted(known))})"
            )
        for key, value in settings.items():
            variable = FILE_SETTINGS.get((table, key))
            if variable is None:
                names = sorted(k for t, k in FILE_SETTINGS if t == table)
                raise ConfigError(
                    f"{path}: unknown setting {table}.{key} (known in [{table}]: {', '.join(names)})"
                )
            values[variable] = _settingText(f"{path}: {table}.{key}", value)
    if "JUEGO_SERVICE_SECRET" in values and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path} holds the service secret but other users may read it: chmod 600 {path}"
        )
    return values


def applyConfigFile(
    path: str | None = None, environ: MutableMapping[str, str] | None = None
) -> dict[str, str]:
    """
    Read the configuration file (C{path}, else C{JUEGO_CONFIG}; none: nothing to do) and
    set each of its settings in C{environ} (the process environment by default) unless the
    environment already sets it: the environment beats the file. Commands read their flags
    after this, so flags beat both.

    @return: the file's settings, by variable name.
    @raise ConfigError: see L{readConfigFile}.
    """
    env = os.environ if environ is None else environ
    path = path or env.get(CONFIG_FILE_VAR) or None
    if path is None:
        return {}
    values = readConfigFile(path)
    for variable, value in values.items():
        env.setdefault(variable, value)
    env[CONFIG_FILE_VAR] = str(path)
    return values


def rateLimits(environ: Mapping[str, str] | None = None) -> float:
    """
    C{JUEGO_RATE_LIMITS}: a factor on juego-web's per-node rate limits (bursts and rates,
    L{juego.web.ratelimit}); C{off} or C{0} turns them off (load tests and benchmarks
    only: the database's login and sign-up throttles stay on). Default 1.
    """
    raw = _environ(environ).get("JUEGO_RATE_LIMITS", "").strip().lower()
    if not raw:
        return 1.0
    if raw == "off":
        return 0.0
    try:
        factor = float(raw)
    except ValueError:
        raise ConfigError(f"JUEGO_RATE_LIMITS must be a number or 'off', not {raw!r}") from None
    if not factor >= 0:
        raise ConfigError(f"JUEGO_RATE_LIMITS out of range: {raw}")
    return factor


def hashing(environ: Mapping[str, str] | None = None) -> tuple[int | None, int | None]:
    """
    juego-web's password hashing pool: C{JUEGO_HASH_THREADS} (threads; default one per
    core, at least two) and C{JUEGO_HASH_QUEUE} (requests that may wait for a thread, per
    lane, before the rest are answered 503; default eight per thread). L{None}: the default.
    """
    env = _environ(environ)
    values: list[int | None] = []
    for name in ("JUEGO_HASH_THREADS", "JUEGO_HASH_QUEUE"):
        raw = env.get(name, "").strip()
        if not raw:
            values.append(None)
            continue
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
        if value < (1 if name == "JUEGO_HASH_THREADS" else 0):
            raise ConfigError(f"{name} out of range: {value}")
        values.append(value)
    return values[0], values[1]
