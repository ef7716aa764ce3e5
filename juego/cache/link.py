"""
One reconnecting connection to Redis, for the optional shared cache and pub/sub.

The Redis protocol and its commands are txredisapi's; the connecting is ours, so that it
fits the rest of juego: the reactor is a constructor argument (tests step it), a lost
server is retried with the backoff of every link (L{juego.reconnect}: exponential, capped
at 5 s, the contract), a command while the server is away fails at once with L{RedisUnavailable} (callers fall
back to the database), and an outage is logged once (L{Health}), not at every retry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import attrs
import txredisapi
from twisted.internet import endpoints
from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from juego.config import ConfigError
from juego.reconnect import Link, PreparationFailed

DEFAULT_PORT = 6379
#: Prefix of every key and channel juego uses (C{?prefix=} in the URL changes it).
DEFAULT_PREFIX = "juego:"
#: Seconds a command may wait for its reply before the connection is dropped (and the
#: caller falls back to the database).
REPLY_TIMEOUT = 0.5
#: Seconds a connection attempt may take.
CONNECT_TIMEOUT = 3.0


class RedisUnavailable(txredisapi.ConnectionError):
    """
    No connection to Redis right now: use the database.
    """


#: Failures that only mean "Redis is away": expected during an outage, never logged
#: one by one.
UNAVAILABLE = (txredisapi.ConnectionError, txredisapi.TimeoutError)


@attrs.frozen
class RedisSettings:
    """
    Where Redis is, from a URL: C{redis://[[user]:password@]host[:port][/db]}, C{rediss://}
    (TLS) or C{unix:///path/to/redis.sock[?db=N]}; C{?prefix=} sets the key prefix.
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    db: int = 0
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    tls: bool = False
    path: str | None = None
    prefix: str = DEFAULT_PREFIX

    @classmethod
    def fromURL(cls, url: str) -> RedisSettings:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        query = parse_qs(parts.query)
        prefix = query.get("prefix", [DEFAULT_PREFIX])[-1]
        if scheme == "unix":
            if not parts.path:
                raise ConfigError(f"a unix:// Redis URL needs a socket path: {url!r}")
            return cls(
                path=unquote(parts.path),
                db=_db(query.get("db", ["0"])[-1], url),
                password=unquote(parts.password) if parts.password else None,
                prefix=prefix,
            )
        if scheme not in ("redis", "rediss"):
            raise ConfigError(
                f"JUEGO_REDIS_URL must be redis://, rediss:// or unix://, not {url!r}"
            )
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError:
            raise ConfigError(f"bad port in the Redis URL {url!r}") from None
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=port,
            db=_db(parts.path.strip("/") or "0", url),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=scheme == "rediss",
            prefix=prefix,
        )

    @property
    def where(self) -> str:
        """
        The server, for logs (never the password).
        """
        if self.path is not None:
            return f"unix:{self.path}/{self.db}"
        return f"{'rediss' if self.tls else 'redis'}://{self.host}:{self.port}/{self.db}"

    def endpoint(self, reactor: Any) -> IStreamClientEndpoint:
        if self.path is not None:
            return endpoints.UNIXClientEndpoint(reactor, self.path, timeout=CONNECT_TIMEOUT)
        endpoint: IStreamClientEndpoint = endpoints.HostnameEndpoint(
            reactor, self.host, self.port, timeout=CONNECT_TIMEOUT
        )
        if self.tls:
            from twisted.internet.ssl import optionsForClientTLS

            endpoint = endpoints.wrapClientTLS(optionsForClientTLS(self.host), endpoint)
        return endpoint


def _db(text: str, url: str) -> int:
    try:
        db = int(text)
    except ValueError:
        raise ConfigError(f"bad database number in the Redis URL {url!r}") from None
    if db < 0:
        raise ConfigError(f"bad database number in the Redis URL {url!r}")
    return db


class SubscriberProtocol(txredisapi.SubscriberProtocol):
    """
    A connection in pub/sub mode: each message goes to C{onMessage(channel, message)}.
    """

    onMessage: Callable[[str, Any], None] | None = None

    def messageReceived(self, pattern: Any, channel: Any, message: Any) -> None:
        if self.onMessage is not None:
            self.onMessage(channel, message)


class Health:
    """
    Whether the Redis links of one process are up, logged once per outage: a warning when
    the first goes down, a note when all are back.
    """

    log = Logger()

    def __init__(self, where: str) -> None:
        self.where = where
        self._down: set[str] = set()
        self._announced = False

    @property
    def ok(self) -> bool:
        return not self._down

    def wentDown(self, name: str, why: str) -> None:
        if not self._down:
            self.log.warn(
                "Redis at {where} is unavailable ({why}): working from the database alone "
                "until it is back",
                where=self.where,
                why=why,
            )
        self._down.add(name)

    def cameUp(self, name: str) -> None:
        if not self._announced and not self._down:
            self._announced = True
            self.log.info("using Redis at {where}", where=self.where)
        if name in self._down:
            self._down.discard(name)
            if not self._down:
                self.log.info("Redis at {where} is back", where=self.where)


class _Factory(Factory):
    """
    What txredisapi's protocols expect of their factory.
    """

    noisy = False
    #: Not lazy: txredisapi then leaves the logging of refused connections to us.
    isLazy = False

    def __init__(self, link: RedisLink) -> None:
        self.link = link

    def buildProtocol(self, addr: Any) -> Any:
        link = self.link
        settings = link.settings
        protocol = link.protocolClass(
            charset="utf-8",
            replyTimeout=link.replyTimeout,
            password=settings.password,
            dbid=settings.db or None,
            convertNumbers=False,
            username=settings.username,
        )
        protocol.factory = self
        protocol.callLater = link.reactor.callLater
        return protocol

    def stopTrying(self) -> None:
        # Called by txredisapi when the server refuses AUTH or SELECT: we keep trying
        # (with backoff), the password may be fixed on the server's side.
        pass

    def connectionError(self, why: str) -> None:
        if self.link.running:
            self.link.health.wentDown(self.link.label, why)


class RedisLink(Link):
    """
    One connection to Redis, kept open for as long as the service runs (a
    L{juego.reconnect.Link}: ready once AUTH and SELECT went through).

    @ivar up: whether commands can be sent now.
    """

    log = Logger()

    def __init__(
        self,
        settings: RedisSettings,
        reactor: Any,
        health: Health | None = None,
        name: str = "redis",
        protocolClass: Any = None,
        replyTimeout: float | None = REPLY_TIMEOUT,
        pingInterval: float | None = None,
    ) -> None:
        super().__init__(settings.endpoint(reactor), _Factory(self), reactor, CONNECT_TIMEOUT)
        self.settings = settings
        self.reactor = reactor
        self.health = health or Health(settings.where)
        self.label = name
        self.protocolClass = protocolClass or txredisapi.RedisProtocol
        self.replyTimeout = replyTimeout
        self.pingInterval = pingInterval
        self._onUp: list[Callable[[Any], object]] = []
        self._pinger: LoopingCall | None = None

    @property
    def up(self) -> bool:
        return self.protocol is not None

    def onUp(self, callback: Callable[[Any], object]) -> None:
        """
        Call C{callback(protocol)} each time a connection is ready (at start and after
        every outage).
        """
        self._onUp.append(callback)

    def call(self, command: str, *args: Any, **kw: Any) -> Deferred[Any]:
        """
        Run a txredisapi command (C{"eval"}, C{"publish"}, C{"delete"}, ...): its reply, or
        a failure (L{RedisUnavailable} at once while there is no connection).
        """
        protocol = self.protocol
        if protocol is None:
            return fail(RedisUnavailable(f"no connection to Redis at {self.settings.where}"))
        try:
            result: Deferred[Any] = getattr(protocol, command)(*args, **kw)
        except Exception:
            return fail()
        return result

    def stopService(self) -> Deferred[None]:
        self._stopPinging()
        return super().stopService()

    # Link

    def prepare(self, protocol: Any) -> Deferred[Any]:
        # Ready once AUTH and SELECT (if any) went through; a refusal closes it instead.
        ready: Deferred[Any] = protocol.whenConnected()
        return ready

    def linkReady(self, protocol: Any) -> None:
        self.health.cameUp(self.label)
        if self.pingInterval:
            self._pinger = LoopingCall(self._ping)
            self._pinger.clock = self.reactor
            self._pinger.start(self.pingInterval, now=False)
        for callback in list(self._onUp):
            try:
                callback(protocol)
            except Exception:
                self.log.failure("a Redis connection callback failed")

    def linkFailed(self, failure: Failure) -> None:
        if failure.check(PreparationFailed):
            self.health.wentDown(self.label, "connection refused")
        else:
            self.health.wentDown(self.label, failure.getErrorMessage() or failure.type.__name__)

    def linkLost(self, protocol: Any, reason: Failure) -> None:
        self._stopPinging()
        self.health.wentDown(
            self.label, "connection lost: " + (reason.getErrorMessage() or "closed")
        )

    def _ping(self) -> None:
        # A half-open connection (a server gone without a word) is noticed by the reply
        # timeout, which drops the connection; we then reconnect.
        self.call("ping").addErrback(lambda _: None)

    def _stopPinging(self) -> None:
        if self._pinger is not None and self._pinger.running:
            self._pinger.stop()
        self._pinger = None
