"""
Connections kept up: Twisted's L{ClientService}, with the one backoff policy of every link
(juego-web's to juego-tcp and juego-dist, every process's to Redis) and the preparation of
each new connection (a handshake, a subscription) before it is used.

ClientService's own C{prepareConnection} is not used: it leaves a connection it rejects
open, and a connection that closes before it was handed over (a refused handshake) finds
its state machine in a state with no way out (Twisted 26.10). Here the attempt itself
connects and prepares; ClientService is handed only prepared connections, and a
connection that fails, times out or closes while being prepared is closed first, then
counted as a failed attempt (the next waits longer).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from twisted.application.internet import ClientService
from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import (
    IDelayedCall,
    IProtocolFactory,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import ILogObserver, LogEvent, Logger
from twisted.python.failure import Failure
from zope.interface import implementer, provider

#: The longest wait between two connection attempts (the contract: capped at 5 s).
MAX_BACKOFF = 5.0
#: The wait before the first retry.
INITIAL_BACKOFF = 0.1


def backoffDelay(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """
    The backoff of every link, as L{ClientService}'s C{retryPolicy}: seconds to wait
    before the next connection attempt after C{attempt} failures in a row (a lost
    connection counts as one). Exponential from L{INITIAL_BACKOFF}, doubling, capped at
    L{MAX_BACKOFF}, with "equal jitter" (between half the step and the step) so that the
    clients that lost the same service do not come back in step.
    """
    step = min(MAX_BACKOFF, INITIAL_BACKOFF * 2 ** min(max(attempt - 1, 0), 32))
    return step / 2 + rand() * step / 2


class PreparationFailed(Exception):
    """
    A connection was made but could not be prepared for use.

    @ivar failure: why: the preparation's failure (a refused handshake, a timeout).
    @ivar closedBy: the reason of the connection's loss when the peer closed it meanwhile.
    """

    def __init__(self, failure: Failure, closedBy: Failure | None) -> None:
        super().__init__(failure.getErrorMessage())
        self.failure = failure
        self.closedBy = closedBy


class _Connection:
    """
    One attempt's connection, and what to do when it is lost.
    """

    def __init__(self) -> None:
        self.lostReason: Failure | None = None
        self.onLost: Callable[[Failure], object] | None = None

    def watch(self, protocol: Any) -> None:
        connectionLost = protocol.connectionLost

        def lost(reason: Failure) -> None:
            self.lostReason = reason
            try:
                connectionLost(reason)
            finally:
                if self.onLost is not None:
                    self.onLost(reason)

        protocol.connectionLost = lost


class _Watching(Factory):
    """
    The link's protocol factory, noting when each connection it built is lost.
    """

    noisy = False

    def __init__(self, factory: IProtocolFactory, connection: _Connection) -> None:
        self.factory = factory
        self.connection = connection

    def buildProtocol(self, addr: Any) -> Any:
        protocol = self.factory.buildProtocol(addr)
        if protocol is not None:
            self.connection.watch(protocol)
        return protocol


class _Handle(Protocol):
    """
    What ClientService holds of a prepared connection (it only ever closes it).
    """


@implementer(IStreamClientEndpoint)
class _Attempts:
    """
    The endpoint ClientService connects through: one of the link's attempts.
    """

    def __init__(self, link: Link) -> None:
        self.link = link

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[Any]:
        return self.link._attempt(protocolFactory)


@provider(ILogObserver)
def _discard(event: LogEvent) -> None:
    pass


class _QuietClientService(ClientService):
    # ClientService logs every retry; a link's owner logs an outage once instead.
    _log = Logger(observer=_discard)


class Link(Service):
    """
    One connection to C{endpoint} kept open for as long as the service runs. Subclasses
    say how a new connection is prepared and what follows each event.

    @ivar protocol: the prepared connection's protocol while it is up, else L{None}.
    @ivar connecting: whether an attempt (connecting, then preparing) is under way.
    @ivar failures: attempts that failed in a row (0 while a connection is up).
    """

    log = Logger()

    def __init__(
        self, endpoint: IStreamClientEndpoint, factory: IProtocolFactory, clock: Any, timeout: float
    ) -> None:
        self.endpoint = endpoint
        self.factory = factory
        self.clock = clock
        #: Seconds a connection attempt, then its preparation, may take; and a polite
        #: close at stop before the connection is aborted.
        self.timeout = timeout
        self.protocol: Any = None
        self.connecting = False
        self.failures = 0
        self._service = _QuietClientService(
            _Attempts(self), Factory.forProtocol(_Handle), retryPolicy=backoffDelay, clock=clock
        )

    # What subclasses say

    def prepare(self, protocol: Any) -> object:
        """
        Make a new connection ready for use: may return a L{Deferred}; a failure rejects it.
        """
        return None

    def linkReady(self, protocol: Any) -> None:
        """
        A prepared connection is up (C{self.protocol}).
        """

    def linkFailed(self, failure: Failure) -> None:
        """
        An attempt failed: no connection (a L{PreparationFailed} when it was made but not
        prepared); the next is scheduled.
        """

    def linkLost(self, protocol: Any, reason: Failure) -> None:
        """
        The prepared connection was lost (not at stop); the next attempt is scheduled.
        """

    # Service

    def startService(self) -> None:
        Service.startService(self)
        self._service.startService()

    def stopService(self) -> Deferred[None]:
        Service.stopService(self)
        stopped: Deferred[None] = self._service.stopService()
        protocol = self.protocol
        if protocol is not None and not stopped.called:
            # A peer that does not read would keep a polite close waiting forever.
            abort: IDelayedCall = self.clock.callLater(
                self.timeout, protocol.transport.abortConnection
            )

            def closed(result: None) -> None:
                if abort.active():
                    abort.cancel()
                return result

            stopped.addBoth(closed)
        return stopped

    # One attempt

    def _attempt(self, serviceFactory: IProtocolFactory) -> Deferred[Any]:
        self.connecting = True
        connection = _Connection()
        attempt: Deferred[Any] = self.endpoint.connect(_Watching(self.factory, connection))
        attempt.addTimeout(self.timeout, self.clock)
        attempt.addCallback(self._prepare, connection)
        attempt.addCallbacks(
            self._handOver,
            self._failed,
            callbackArgs=(connection, serviceFactory),
        )
        return attempt

    def _prepare(self, protocol: Any, connection: _Connection) -> Deferred[Any]:
        if connection.lostReason is not None:  # gone before its preparation began
            return defer.fail(PreparationFailed(Failure(ConnectionLost()), connection.lostReason))
        preparing = defer.maybeDeferred(self.prepare, protocol)
        preparing.addTimeout(self.timeout, self.clock)
        connection.onLost = lambda reason: preparing.cancel()

        def rejected(failure: Failure) -> Deferred[Any] | Failure:
            error = Failure(PreparationFailed(failure, connection.lostReason))
            if connection.lostReason is not None:
                return error
            # Closed (and gone) before ClientService tries again.
            gone: Deferred[None] = Deferred()
            connection.onLost = lambda reason: gone.callback(None)
            protocol.transport.abortConnection()
            return gone.addCallback(lambda _: error)

        return preparing.addCallbacks(lambda _: protocol, rejected)

    def _handOver(
        self, protocol: Any, connection: _Connection, serviceFactory: IProtocolFactory
    ) -> Any:
        handle = serviceFactory.buildProtocol(protocol.transport.getPeer())
        assert handle is not None
        handle.makeConnection(protocol.transport)
        connection.onLost = lambda reason: self._lost(protocol, handle, reason)
        self.connecting = False
        self.failures = 0
        self.protocol = protocol
        try:
            self.linkReady(protocol)
        except Exception:
            # The connection is ClientService's now: a failing owner must not undo that.
            self.log.failure("a link's owner failed on a ready connection")
        return handle

    def _failed(self, failure: Failure) -> Failure:
        self.connecting = False
        if self.running:
            self.failures += 1
            self.linkFailed(failure)
        return failure  # ClientService counts it and waits before the next

    def _lost(self, protocol: Any, handle: Any, reason: Failure) -> None:
        self.protocol = None
        handle.connectionLost(reason)  # ClientService schedules the next attempt
        if self.running:
            self.linkLost(protocol, reason)
