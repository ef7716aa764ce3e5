"""
L{juego.reconnect.Link} on its own: a fake endpoint and a L{Clock}, so each connection's
fate is the test's choice.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from juego.reconnect import MAX_BACKOFF, Link, PreparationFailed, backoffDelay


class Transport(StringTransport):
    def __init__(self) -> None:
        super().__init__()
        self.protocol: Any = None

    def loseConnection(self) -> None:
        super().loseConnection()
        self.lose()

    def abortConnection(self) -> None:
        self.lose()

    def lose(self) -> None:
        if self.protocol is not None:
            protocol, self.protocol = self.protocol, None
            protocol.connectionLost(Failure(ConnectionDone()))


@implementer(IStreamClientEndpoint)
class Endpoint:
    """
    Connects at once (or refuses while C{down}); C{lostAtOnce}: the connection is gone
    before the attempt hears of it.
    """

    def __init__(self) -> None:
        self.down = False
        self.lostAtOnce = False
        self.transports: list[Transport] = []

    def connect(self, factory: Any) -> Deferred[Any]:
        if self.down:
            return fail(ConnectionRefusedError())
        protocol = factory.buildProtocol(None)
        transport = Transport()
        transport.protocol = protocol
        protocol.makeConnection(transport)
        self.transports.append(transport)
        if self.lostAtOnce:
            transport.lose()
        return succeed(protocol)


class Recording(Link):
    def __init__(self, endpoint: Endpoint, clock: Clock) -> None:
        super().__init__(endpoint, Factory.forProtocol(Protocol), clock, 3.0)
        self.events: list[str] = []
        self.failuresSeen: list[Failure] = []
        self.boom = False

    def linkReady(self, protocol: Any) -> None:
        self.events.append("ready")
        if self.boom:
            raise RuntimeError("owner bug")

    def linkFailed(self, failure: Failure) -> None:
        self.events.append("failed")
        self.failuresSeen.append(failure)

    def linkLost(self, protocol: Any, reason: Failure) -> None:
        self.events.append("lost")


class LinkTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.endpoint = Endpoint()
        self.link = Recording(self.endpoint, self.clock)

    def test_readyLostAndBack(self) -> None:
        self.link.startService()
        self.assertEqual(self.link.events, ["ready"])
        self.endpoint.transports[-1].lose()
        self.assertEqual(self.link.events, ["ready", "lost"])
        self.assertIsNone(self.link.protocol)
        self.clock.advance(backoffDelay(1, lambda: 1.0))
        self.assertEqual(self.link.events, ["ready", "lost", "ready"])
        self.successResultOf(self.link.stopService())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_failuresBackOff(self) -> None:
        self.endpoint.down = True
        self.link.startService()
        waits = []
        for _ in range(8):
            [retry] = self.clock.getDelayedCalls()
            waits.append(retry.getTime() - self.clock.seconds())
            self.clock.advance(waits[-1])
        self.assertEqual(self.link.failures, 9)
        self.assertLess(waits[0], waits[-1])
        self.assertLessEqual(max(waits), MAX_BACKOFF)
        self.endpoint.down = False
        [retry] = self.clock.getDelayedCalls()
        self.clock.advance(retry.getTime() - self.clock.seconds())
        self.assertEqual((self.link.events[-1], self.link.failures), ("ready", 0))
        self.successResultOf(self.link.stopService())

    def test_ownerFailingOnReady(self) -> None:
        """
        An owner's bug on a ready connection is logged; the link stays usable, and
        reconnects after a loss (ClientService holds the connection all the same).
        """
        self.link.boom = True
        self.link.startService()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertIsNotNone(self.link.protocol)
        self.endpoint.transports[-1].lose()
        self.clock.advance(MAX_BACKOFF)
        self.assertEqual(self.link.events, ["ready", "lost", "ready"])
        self.flushLoggedErrors(RuntimeError)
        self.successResultOf(self.link.stopService())

    def test_lostBeforePreparation(self) -> None:
        self.endpoint.lostAtOnce = True
        self.link.startService()
        self.assertEqual(self.link.events, ["failed"])
        failure = self.link.failuresSeen[0]
        self.assertTrue(failure.check(PreparationFailed))
        self.assertIsNotNone(failure.value.closedBy)
        self.assertFalse(self.link.connecting)
        self.successResultOf(self.link.stopService())
