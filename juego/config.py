"""
Settings: command-line flags beat environment variables, which beat defaults (SPEC.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
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


def isLoopbackEndpoint(description: str) -> bool:
    """
    Whether a server endpoint string only listens on this machine.

    UNIX sockets count as local; a TCP or SSL endpoint is local only with an explicit
    loopback C{interface}.
    """
    kind, _, rest = description.partition(":")
    kind = kind.strip().lower()
    if kind == "unix":
        return True
    if kind not in ("tcp", "tcp6", "ssl"):
        return False
    interface = None
    for part in rest.replace(r"\:", "\0").split(":"):
        key, sep, value = part.partition("=")
        if sep and key == "interface":
            interface = value.replace("\0", ":")
    return interface is not None and (interface in LOOPBACK_HOSTS or interface.startswith("127."))


def serviceSecret(environ: Mapping[str, str] | None = None) -> bytes | None:
    secret = _environ(environ).get("JUEGO_SERVICE_SECRET")
    return secret.encode("utf-8") if secret else None


def databaseURL(
    flag: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    makeFolder: bool = True,
) -> str:
    """
    The SQLAlchemy URL of the database.

    The flag, else C{JUEGO_DATABASE_URL}, else C{instance/usuarios.db} under the working
    directory if it exists, else C{usuarios.db} there if that exists, else a new
    C{instance/usuarios.db} (its folder is made, unless C{makeFolder} is false).
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
        if makeFolder:
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
