"""
A graceful stop of juego-web that loses no request (SIGTERM, a rolling restart).

On stop, L{WebListener}:

  1. marks the process down: C{/api/salud} answers 503 from then on;
  2. accepts the connections already waiting in the listen backlog (closing the listening
     socket would reset them, and a balancer would see a request it had sent fail), then
     closes the listener: new connections are refused, so a balancer goes to another node
     (safe for a POST too: nothing was sent);
  3. closes every WebSocket with 1001 (going away), which the page reconnects on;
  4. lets every HTTP connection finish: a request already received, or arriving later on a
     connection that is still open, is answered with C{Connection: close}, and the
     connection closes after its answer. An idle keep-alive connection is left for its
     peer to close (a balancer may be sending a request on it at this very moment; closing
     it under the request would fail it), or used once more as above;
  5. after L{DRAIN_GRACE} seconds cuts off whatever is still open, so the stop is bounded.

Keep the balancer's idle keep-alive timeout below L{DRAIN_GRACE} (nginx: C{keepalive_timeout}
in the C{upstream} block; C{deploy/nginx.conf} says 4 s) so that its idle connections are
closed by the balancer first.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet import defer, endpoints
from twisted.internet.interfaces import IListeningPort, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel

#: Seconds a graceful stop waits for open HTTP connections before cutting them off.
DRAIN_GRACE = 10.0

log = Logger()


class DrainingChannel(HTTPChannel):
    """
    An HTTP/1.1 connection that its site can drain: see L{DrainingChannel.drain}. The site
    (C{factory}) keeps the open ones in C{channels} and says C{draining}.
    """

    factory: Any
    _drainWaiters: list[defer.Deferred[None]]
    _gone = False

    def connectionMade(self) -> None:
        super().connectionMade()
        self._drainWaiters = []
        channels = getattr(self.factory, "channels", None)
        if channels is not None:
            channels.add(self)

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        self._forget()
        super().connectionLost(reason)

    def _forget(self) -> None:
        self._gone = True
        channels = getattr(self.factory, "channels", None)
        if channels is not None:
            channels.discard(self)
        waiters, self._drainWaiters = self._drainWaiters, []
        for d in waiters:
            d.callback(None)

    @property
    def upgraded(self) -> bool:
        """
        Whether the connection became a WebSocket (Twisted then routes C{connectionLost}
        to the socket's protocol instead of this channel's method).
        """
        return "connectionLost" in vars(self)

    def whenClosed(self) -> defer.Deferred[None]:
        if self._gone or self.upgraded:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._drainWaiters.append(d)
        return d

    def checkPersistence(self, request: Any, version: bytes) -> bool:
        if getattr(self.factory, "draining", False):
            request.responseHeaders.setRawHeaders(b"Connection", [b"close"])
            return False
        return bool(super().checkPersistence(request, version))

    def drain(self) -> None:
        """
        Keep alive no more: a request in progress is answered with C{Connection: close}
        (when its headers are not written yet) and the connection closes after it. An idle
        connection stays open; a request arriving on it is answered the same way.
        """
        if not self.requests:
            return
        self.persistent = False
        for request in self.requests:
            if not request.startedWriting:
                request.responseHeaders.setRawHeaders(b"Connection", [b"close"])


class WebListener(Service):
    """
    juego-web's listening port, stopped as the module says.

    @param site: a L{juego.web.tracing.Site} (with C{channels} and C{draining}).
    @param onDraining: called first on stop (marks the health check down, closes the
        WebSockets).
    @param clock: times the grace (default: C{reactor}).
    """

    def __init__(
        self,
        reactor: Any,
        description: str,
        site: Any,
        onDraining: Any = None,
        grace: float = DRAIN_GRACE,
        clock: IReactorTime | None = None,
    ) -> None:
        self._reactor = reactor
        self._clock = reactor if clock is None else clock
        self._description = description
        self._site = site
        self._onDraining = onDraining
        self._grace = grace
        #: The listening port while the service runs.
        self.port: IListeningPort | None = None

    def privilegedStartService(self) -> None:
        # Bind before privileges are dropped, and fail start-up at once on a bad port.
        Service.privilegedStartService(self)
        self._listen()

    def startService(self) -> None:
        Service.startService(self)
        if self.port is None:
            self._listen()

    def _listen(self) -> None:
        endpoint = endpoints.serverFromString(self._reactor, self._description)
        results: list[Any] = []
        endpoint.listen(self._site).addBoth(results.append)
        if not results:
            raise RuntimeError(f"{self._description} did not start listening at once")
        if isinstance(results[0], Failure):
            results[0].raiseException()
        self.port = results[0]

    def stopService(self) -> defer.Deferred[None]:
        Service.stopService(self)
        self._site.draining = True
        if self._onDraining is not None:
            self._onDraining()
        port, self.port = self.port, None
        stopped: defer.Deferred[Any] = defer.succeed(None)
        if port is not None:
            acceptPending(port)
            # It accepts nothing from here on; its socket closes on the next turn.
            stopped = defer.maybeDeferred(port.stopListening)
        drained = drainChannels(self._site, self._clock, self._grace)
        return defer.gatherResults([stopped, drained]).addCallback(lambda _: None)


def acceptPending(port: Any) -> None:
    """
    Accept what is waiting in C{port}'s listen backlog (a TCP or UNIX port), so that
    closing it resets no connection whose peer has already sent a request.
    """
    doRead = getattr(port, "doRead", None)
    if doRead is not None and getattr(port, "connected", False):
        try:
            doRead()
        except Exception:
            log.failure("could not accept the connections waiting on {port}", port=port)


def drainChannels(site: Any, clock: IReactorTime, grace: float) -> defer.Deferred[None]:
    """
    Every open HTTP connection of C{site} finishes as L{DrainingChannel.drain} says; fires
    once all are closed, those left after C{grace} seconds cut off.
    """
    channels = [c for c in list(site.channels) if not c.upgraded]
    for channel in channels:
        channel.drain()
    closed = defer.DeferredList([channel.whenClosed() for channel in channels])

    def cutOff() -> None:
        for channel in channels:
            if not channel._gone and channel.transport is not None:
                log.warn(
                    "closing the HTTP connection from {peer}: still open after {grace} s",
                    peer=channel.transport.getPeer(),
                    grace=grace,
                )
                channel.transport.abortConnection()

    timer = clock.callLater(grace, cutOff)

    def done(_: object) -> None:
        if timer.active():
            timer.cancel()

    return closed.addBoth(done)
