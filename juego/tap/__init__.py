"""
twistd plugins. Each plugin's module here (C{tcp}, C{dist}, C{web}, C{all}) holds its
C{Options} and C{makeService}; this module holds what they share. Flags beat environment
variables, which beat defaults (L{juego.config}).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IService, MultiService, Service
from twisted.internet import defer, endpoints
from twisted.logger import Logger
from twisted.python import usage

from juego import config, secret
from juego.logging import useTextLogger
from juego.store import Store
from juego.store.migrate import SchemaOutOfDate
from juego.store.pool import DriverMissing


class SequentialMultiService(MultiService):
    """
    Starts its children in order and stops them in reverse order, each after the one
    before it has finished stopping: the listener closes, then queued work drains, then
    the database goes.
    """

    @defer.inlineCallbacks
    def stopService(self):
        Service.stopService(self)
        for child in reversed(list(self)):
            yield defer.maybeDeferred(child.stopService)


class StoreService(Service):
    """
    Runs the store's thread pool for as long as the service runs.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def startService(self) -> None:
        Service.startService(self)
        self.store.start()

    def stopService(self) -> None:
        Service.stopService(self)
        self.store.stop()


class CallbackService(Service):
    """
    A service whose stop waits on C{onStop()} (draining a queue, say).
    """

    def __init__(self, onStop: Callable[[], Any], onStart: Callable[[], Any] | None = None) -> None:
        self._onStop = onStop
        self._onStart = onStart

    def startService(self) -> None:
        Service.startService(self)
        if self._onStart is not None:
            self._onStart()

    def stopService(self) -> defer.Deferred[Any]:
        Service.stopService(self)
        return defer.maybeDeferred(self._onStop)


def listeningService(reactor: Any, description: str, factory: Any) -> IService:
    service = StreamServerEndpointService(endpoints.serverFromString(reactor, description), factory)
    # A port that cannot be bound stops start-up with the error.
    service._raiseSynchronously = True
    return service


def checkExposure(description: str, insecure: bool) -> None:
    """
    An open service (C{--insecure}, no secret) may listen only on loopback or a UNIX
    socket: on any other interface every machine that reaches it could write scores and
    read users.
    """
    if insecure and not config.isLoopbackEndpoint(description):
        raise usage.UsageError(
            f"refusing --insecure on {description!r}: a service without a secret listens "
            "only on loopback (interface=127.0.0.1 or ::1) or a UNIX socket"
        )


def serviceSecret(database: str | None, insecure: bool) -> bytes | None:
    """
    The secret a process's services and clients use: L{None} with C{--insecure} (an open
    service, clients that skip the handshake), else L{juego.secret.serviceSecret}
    (C{JUEGO_SERVICE_SECRET}, else the install's generated secret, made on first start).
    """
    if insecure:
        return None
    try:
        return secret.serviceSecret(database)
    except secret.SecretError as e:
        raise usage.UsageError(str(e)) from None


class InsecureWarning(Service):
    """
    Says, once the log is running, that a service is open to every local process.
    """

    log = Logger()

    def __init__(self, names: str) -> None:
        self.names = names

    def startService(self) -> None:
        Service.startService(self)
        self.log.warn(
            "{names} started with --insecure: no service secret, any process on this "
            "machine may write scores, read users and subscribe to notifications",
            names=self.names,
        )


#: C{--redis URL}: the optional shared cache and pub/sub (L{juego.cache}).
REDIS_OPTION = [
    "redis",
    None,
    None,
    "Redis URL for the shared ranking cache and pub/sub (default: JUEGO_REDIS_URL; unset: no Redis).",
]
#: The name of the L{juego.cache.Cache} service in a process's service tree.
CACHE_SERVICE = "redis"


class ConfigFileOptions(usage.Options):
    """
    C{--config PATH}: the TOML configuration file (else C{JUEGO_CONFIG}), applied as soon
    as the command line is parsed, before any setting is read (L{config.applyConfigFile}).
    """

    optParameters = [
        [
            "config",
            "c",
            None,
            "TOML configuration file (default: JUEGO_CONFIG; see docs/OPERATIONS.md).",
        ],
    ]

    def postOptions(self) -> None:
        try:
            config.applyConfigFile(self["config"])
        except config.ConfigError as e:
            raise usage.UsageError(str(e)) from None
        # The plugins log through the cheaper classic-text observer (juego.logging).
        useTextLogger(getattr(self, "parent", None))


class ServiceOptions(ConfigFileOptions):
    optParameters = [
        ["listen", "l", None, "Server endpoint string (tcp:, ssl:, unix:)."],
        [
            "database",
            "d",
            None,
            "SQLAlchemy database URL (default: JUEGO_DATABASE_URL, then instance/usuarios.db).",
        ],
        REDIS_OPTION,
    ]
    optFlags = [
        [
            "insecure",
            None,
            "No service secret: juego-tcp/juego-dist answer anyone (loopback only); "
            "juego-web's clients skip the handshake.",
        ],
    ]


def reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def openStore(database: str | None, reactor: Any) -> Store:
    """
    The process's store. What an operator must fix stops start-up with one line, not a
    traceback: a database URL whose driver is not installed (it names the extra), or a
    PostgreSQL database whose schema is older than this code (it names the command).
    """
    try:
        return Store.open(config.databaseURL(database), reactor)
    except (DriverMissing, SchemaOutOfDate) as e:
        raise SystemExit(f"juego: {e}") from None


def openCache(url: str | None, store: Store, reactor: Any, parent: MultiService, dist: bool) -> Any:
    """
    With a Redis URL (the flag, else C{JUEGO_REDIS_URL}), the process's L{juego.cache.Cache}
    as a child of C{parent} (after the store, so it stops before it): the store's ranking
    listener, and for juego-dist the cached ranking and the bus. L{None} without Redis.
    """
    url = config.redisURL(url)
    if url is None:
        return None
    from juego.cache import Cache

    try:
        cache = Cache.fromURL(url, store, reactor, dist=dist)
    except config.ConfigError as e:
        raise usage.UsageError(str(e)) from None
    cache.setName(CACHE_SERVICE)
    cache.setServiceParent(parent)
    return cache


def cacheOf(parent: MultiService) -> Any:
    """
    The L{juego.cache.Cache} that L{openCache} added to C{parent}, or L{None}.
    """
    try:
        return parent.getServiceNamed(CACHE_SERVICE)
    except KeyError:
        return None


#: Adds a service's own parts to a parent: (parent, store, endpoint, secret, reactor).
AddService = Callable[[MultiService, Store, str, "bytes | None", Any], None]


def singleService(options: ServiceOptions, name: str, add: AddService) -> IService:
    """
    One service in its own process: its store, then its parts, stopped in reverse.
    """
    theReactor = reactor()
    insecure = bool(options["insecure"])
    description = config.listenEndpoint(name, options["listen"])
    checkExposure(description, insecure)
    theSecret = serviceSecret(options["database"], insecure)
    store = openStore(options["database"], theReactor)
    top = SequentialMultiService()
    if insecure:
        InsecureWarning(f"juego-{name}").setServiceParent(top)
    StoreService(store).setServiceParent(top)
    openCache(options["redis"], store, theReactor, top, dist=name == "dist")
    add(top, store, description, theSecret, theReactor)
    return top
