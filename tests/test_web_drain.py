"""
juego-web's graceful stop (L{juego.web.drain}) over real loopback connections: a request in
flight is answered (with C{Connection: close}) before the stop completes, a request sent
on an idle keep-alive connection after the stop began is answered too, new connections
are refused, and the stop is bounded.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from juego.web.drain import WebListener
from juego.web.tracing import Site
from tests.processes import freePort


class Slow(Resource):
    """
    C{/slow} answers when the test says; C{/fast} at once.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.waiting: list[Any] = []
        self.arrived: defer.Deferred[None] = defer.Deferred()

    def render_GET(self, request: Any) -> Any:
        if request.path == b"/slow":
            self.waiting.append(request)
            self.arrived.callback(None)
            return NOT_DONE_YET
        return b"fast"


class RawClient(Protocol):
    def connectionMade(self) -> None:
        self.received = b""
        self.closed: defer.Deferred[bytes] = defer.Deferred()
        self.factory.connected.callback(self)

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        waiter, self.factory.waiter = self.factory.waiter, None
        if waiter is not None:
            waiter.callback(self.received)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.closed.callback(self.received)


class RawClientFactory(ClientFactory):
    protocol = RawClient

    def __init__(self) -> None:
        self.connected: defer.Deferred[RawClient] = defer.Deferred()
        self.waiter: defer.Deferred[bytes] | None = None

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.connected.errback(reason)


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


class DrainTests(TestCase):
    timeout = 30

    def setUp(self) -> None:
        self.clock = Clock()
        self.resource = Slow()
        self.site = Site(self.resource, reactor=reactor)
        self.port = freePort()
        self.drained: list[bool] = []
        self.listener = WebListener(
            reactor,
            f"tcp:{self.port}:interface=127.0.0.1",
            self.site,
            onDraining=lambda: self.drained.append(True),
            grace=5.0,
            clock=self.clock,
        )
        self.listener.startService()

    async def connect(self) -> tuple[RawClient, RawClientFactory]:
        factory = RawClientFactory()
        reactor.connectTCP("127.0.0.1", self.port, factory)
        client = await factory.connected
        return client, factory

    async def request(self, client: RawClient, factory: RawClientFactory, path: str) -> bytes:
        factory.waiter = defer.Deferred()
        assert client.transport is not None
        client.transport.write(get(path))
        while True:
            data = await factory.waiter
            if b"\r\n\r\n" in data:
                return data
            factory.waiter = defer.Deferred()

    async def test_inFlightAndIdleConnectionsAreAnswered(self) -> None:
        busy, busyFactory = await self.connect()
        idle, idleFactory = await self.connect()
        # Both kept alive before the stop.
        first = await self.request(idle, idleFactory, "/fast")
        self.assertNotIn(b"connection: close", first.lower())
        idle.received = b""
        assert busy.transport is not None
        busy.transport.write(get("/slow"))
        await self.resource.arrived

        stopped = self.listener.stopService()
        self.assertEqual(self.drained, [True])
        # New connections are refused at once.
        with self.assertRaises(ConnectionRefusedError):
            await self.connect()
        # A request on the idle keep-alive connection is answered, then it closes.
        answer = await self.request(idle, idleFactory, "/fast")
        self.assertIn(b"200 OK", answer)
        self.assertIn(b"connection: close", answer.lower())
        await idle.closed
        # The request in flight is answered too, and the stop waits for it.
        self.assertNoResult(stopped)
        [request] = self.resource.waiting
        request.write(b"slow")
        request.finish()
        answer = await busy.closed
        self.assertIn(b"200 OK", answer)
        self.assertIn(b"connection: close", answer.lower())
        self.assertIn(b"\r\nslow\r\n", answer)
        await stopped
        self.assertEqual(len(self.site.channels), 0)

    async def test_boundedByTheGrace(self) -> None:
        """
        A connection that neither sends nor closes is cut off after the grace.
        """
        silent, _ = await self.connect()
        # The server has seen the connection once a request on another one is answered.
        other, otherFactory = await self.connect()
        await self.request(other, otherFactory, "/fast")
        assert other.transport is not None
        other.transport.loseConnection()
        await other.closed
        stopped = self.listener.stopService()
        self.clock.advance(4.9)
        self.assertNoResult(stopped)
        self.clock.advance(0.1)
        await silent.closed
        await stopped
        self.flushLoggedErrors()
