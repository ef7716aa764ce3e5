"""
The server side of the line protocol, over StringTransport and iosim.
"""

from __future__ import annotations

import json
import os

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError
from twisted.internet.defer import Deferred, fail
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import Logger, LogLevel, formatEvent
from twisted.python.failure import Failure
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase

from juego.serialization import encode_wire_pickle
from juego.wire import WireError, WireFactory, auth
from juego.wire.client import LineClientProtocol, decodeReply
from juego.wire.errors import NOT_FOUND
from juego.wire.protocol import DRAIN_GRACE, MAX_LINE, LineProtocol

SECRET = b"s3cret-for-tests"


class Boom:
    """
    Pickling this runs a side effect when loaded; nothing may ever load it.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def handlers(pending=None):
    def echo(request):
        return {"success": True, "got": request.int("n")}

    def later(request):
        d = Deferred()
        pending.append((request.int("n"), d))
        return d

    def missing(request):
        raise WireError(NOT_FOUND, "no existe")

    def crash(request):
        raise RuntimeError("bug")

    def noDatabase(request):
        return fail(OperationalError("SELECT 1", {}, Exception("connection refused\nIs it up?")))

    return {
        "echo": echo,
        "later": later,
        "missing": missing,
        "crash": crash,
        "noDatabase": noDatabase,
    }


class Connection:
    def __init__(self, case, secret=None, pending=None, clock=None):
        self.clock = clock or Clock()
        self.factory = WireFactory(handlers(pending), secret, self.clock)
        self.protocol = self.factory.buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)

    def send(self, data: bytes) -> None:
        self.protocol.dataReceived(data)

    def replies(self):
        lines = self.transport.value().split(b"\n")
        self.transport.clear()
        assert lines[-1] == b"", lines
        return [json.loads(line) for line in lines[:-1]]

    def ask(self, **fields):
        self.send(json.dumps(fields).encode() + b"\n")
        [reply] = self.replies()
        return reply


class ProtocolTests(SynchronousTestCase):
    def test_ping(self):
        c = Connection(self)
        self.assertEqual(c.ask(action="ping"), {"success": True, "message": "pong"})

    def test_idEchoAndCRLF(self):
        c = Connection(self)
        c.send(b'{"action": "echo", "n": 3, "id": "abc"}\r\n')
        self.assertEqual(c.replies(), [{"success": True, "got": 3, "id": "abc"}])

    def test_unknownFieldsIgnored(self):
        c = Connection(self)
        self.assertEqual(c.ask(action="echo", n=1, rid="x-1", extra=[1])["got"], 1)

    def test_errors(self):
        c = Connection(self)
        c.send(b"{not json\n")
        c.send(b"\xff\xfe\n")
        c.send(b"[1, 2]\n")
        c.send(b'{"id": 7}\n')
        c.send(b'{"action": "nope", "id": 8}\n')
        c.send(b'{"action": "echo", "n": "3"}\n')
        c.send(b'{"action": "echo", "n": true}\n')
        c.send(b'{"action": "echo"}\n')
        c.send(b'{"action": "missing"}\n')
        c.send(b'{"action": "ping", "format": "xml"}\n')
        codes = [(r["success"], r["code"]) for r in c.replies()]
        self.assertEqual(
            [code for _, code in codes],
            [
                "invalid_json",
                "invalid_json",
                "invalid_request",
                "invalid_request",
                "unknown_action",
                "invalid_request",
                "invalid_request",
                "invalid_request",
                "not_found",
                "invalid_request",
            ],
        )
        self.assertTrue(all(not ok for ok, _ in codes))
        self.assertFalse(c.transport.disconnecting)
        self.assertEqual(c.ask(action="ping")["message"], "pong")

    def test_internalError(self):
        c = Connection(self)
        reply = c.ask(action="crash")
        self.assertEqual(reply["code"], "internal")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(c.ask(action="ping")["message"], "pong")

    def test_databaseUnavailable(self):
        """
        A handler failing because the database is out of reach: an C{internal} reply that
        says so, and one warning line, not a logged traceback (an outage is no bug).
        """
        events = []
        self.patch(LineProtocol, "log", Logger(observer=events.append))
        c = Connection(self)
        reply = c.ask(action="noDatabase")
        self.assertEqual(
            (reply["code"], reply["error"]), ("internal", "Base de datos no disponible")
        )
        self.assertEqual(self.flushLoggedErrors(), [])
        [event] = events
        self.assertEqual(event["log_level"], LogLevel.warn)
        self.assertIn("connection refused Is it up?", formatEvent(event))

    def test_pipelinedRepliesInOrder(self):
        pending = []
        c = Connection(self, pending=pending)
        c.send(
            b"".join(
                json.dumps({"action": "later", "n": n, "id": n}).encode() + b"\n" for n in range(3)
            )
        )
        c.send(b'{"action": "echo", "n": 9, "id": 9}\n')
        self.assertEqual(c.replies(), [])
        pending[2][1].callback({"success": True, "n": 2})
        pending[1][1].callback({"success": True, "n": 1})
        self.assertEqual(c.replies(), [])  # reply 0 still owed
        pending[0][1].callback({"success": True, "n": 0})
        self.assertEqual([r["id"] for r in c.replies()], [0, 1, 2, 9])

    def test_lineTooLong(self):
        pending = []
        c = Connection(self, pending=pending)
        c.send(b'{"action": "later", "n": 1}\n')
        c.send(b"x" * (MAX_LINE + 10))
        self.assertFalse(c.transport.disconnecting)  # still owes the first reply
        pending[0][1].callback({"success": True})
        replies = c.replies()
        self.assertEqual(replies[0], {"success": True})
        self.assertEqual(replies[1]["code"], "line_too_long")
        self.assertTrue(c.transport.disconnecting)

    def test_lineJustUnderLimit(self):
        c = Connection(self)
        line = b'{"action": "ping", "pad": "' + b"a" * (MAX_LINE - 40) + b'"}\n'
        self.assertLessEqual(len(line) - 1, MAX_LINE)
        c.send(line)
        self.assertEqual(c.replies()[0]["message"], "pong")

    def test_idleTimeout(self):
        clock = Clock()
        c = Connection(self, clock=clock)
        clock.advance(299)
        c.ask(action="ping")
        clock.advance(299)
        self.assertFalse(c.transport.disconnecting)
        clock.advance(2)
        self.assertTrue(c.transport.disconnecting)

    def test_pickleReply(self):
        c = Connection(self, secret=SECRET)
        self.assertEqual(c.ask(action="echo", n=1)["code"], "unauthorized")
        self.authenticate(c)
        reply = c.ask(action="echo", n=5, format="pickle_base64", id=1)
        self.assertEqual(reply["format"], "pickle_base64")
        self.assertIn("sig", reply)
        self.assertEqual(decodeReply(reply, SECRET), {"success": True, "got": 5, "id": 1})

    def authenticate(self, c, secret=SECRET):
        challenge = c.ask(action="auth_challenge")
        clientNonce = auth.newNonce()
        proof = auth.clientProof(secret, challenge["nonce"], clientNonce)
        reply = c.ask(action="auth", client_nonce=clientNonce, proof=proof)
        return challenge, clientNonce, proof, reply

    def test_authHandshake(self):
        c = Connection(self, secret=SECRET)
        self.assertEqual(c.ask(action="ping")["message"], "pong")
        self.assertEqual(c.ask(action="echo", n=1)["code"], "unauthorized")
        challenge, clientNonce, proof, reply = self.authenticate(c)
        self.assertTrue(reply["success"])
        self.assertEqual(reply["proof"], auth.serverProof(SECRET, challenge["nonce"], clientNonce))
        self.assertEqual(c.ask(action="echo", n=1)["got"], 1)
        # The secret never crossed the wire.
        self.assertNotIn(SECRET, c.transport.value())

    def test_wrongSecretRefused(self):
        c = Connection(self, secret=SECRET)
        _, _, _, reply = self.authenticate(c, secret=b"guess")
        self.assertEqual(reply["code"], "unauthorized")
        self.assertEqual(c.ask(action="echo", n=1)["code"], "unauthorized")
        self.flushLoggedErrors()

    def test_replayedHandshakeRefused(self):
        first = Connection(self, secret=SECRET)
        challenge, clientNonce, proof, reply = self.authenticate(first)
        self.assertTrue(reply["success"])
        # A recording of that handshake, played to a new connection (new nonce) ...
        second = Connection(self, secret=SECRET)
        second.ask(action="auth_challenge")
        replay = second.ask(action="auth", client_nonce=clientNonce, proof=proof)
        self.assertEqual(replay["code"], "unauthorized")
        # ... or again on the same connection (the nonce is spent).
        again = first.ask(action="auth", client_nonce=clientNonce, proof=proof)
        self.assertEqual(again["code"], "unauthorized")

    def test_pickleRequestWithoutSecretRefused(self):
        c = Connection(self)
        data, _ = encode_wire_pickle({"n": 4}, None)
        reply = c.ask(action="echo", pickle=data)
        self.assertEqual(reply["code"], "unauthorized")

    def test_signedPickleRequest(self):
        c = Connection(self, secret=SECRET)
        self.authenticate(c)
        data, sig = encode_wire_pickle({"n": 4}, SECRET)
        self.assertEqual(c.ask(action="echo", pickle=data, sig=sig)["got"], 4)
        badData, badSig = encode_wire_pickle({"n": 4}, b"other")
        self.assertEqual(c.ask(action="echo", pickle=badData, sig=badSig)["code"], "unauthorized")
        self.assertEqual(c.ask(action="echo", pickle=data)["code"], "unauthorized")

    def test_hostilePickleNeverLoaded(self):
        marker = os.path.abspath(self.mktemp())
        for secret in (None, SECRET):
            c = Connection(self, secret=secret)
            if secret:
                self.authenticate(c)
            data, sig = encode_wire_pickle({"n": Boom(marker)}, SECRET)
            reply = c.ask(action="echo", pickle=data, sig=sig)
            self.assertFalse(reply["success"])
            self.assertIn(reply["code"], ("unauthorized", "invalid_request"))
        self.assertFalse(os.path.exists(marker))


class IOSimTests(SynchronousTestCase):
    def test_clientServer(self):
        factory = WireFactory(handlers([]), SECRET, Clock())
        client, server, pump = connectedServerAndClient(
            lambda: factory.buildProtocol(None), LineClientProtocol
        )
        ping = client.request("ping", id=1)
        pump.flush()
        self.assertEqual(self.successResultOf(ping), {"success": True, "message": "pong", "id": 1})
        authd = Deferred.fromCoroutine(client.authenticate(SECRET))
        pump.flush()
        pump.flush()
        self.successResultOf(authd)
        replies = [client.request("echo", n=n) for n in range(20)]
        pump.flush()
        self.assertEqual([self.successResultOf(r)["got"] for r in replies], list(range(20)))


class FuzzTests(SynchronousTestCase):
    @given(st.binary(max_size=2000))
    def test_randomBytes(self, data):
        c = Connection(self)
        c.send(data)
        out = c.transport.value()
        complete = [line for line in data.split(b"\n")[:-1] if line.rstrip(b"\r").strip()]
        replies = [json.loads(line) for line in out.split(b"\n")[:-1]]
        self.assertEqual(len(replies), len(complete))
        for reply in replies:
            self.assertIn("success", reply)
        self.flushLoggedErrors()

    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
            lambda children: (
                st.lists(children, max_size=4)
                | st.dictionaries(st.text(max_size=8), children, max_size=4)
            ),
            max_leaves=12,
        ),
        st.sampled_from(["echo", "ping", "missing", "later2", "auth", "auth_challenge"]),
    )
    def test_randomJSON(self, value, action):
        c = Connection(self, secret=None)
        for payload in (value, {"action": action, "n": value}, {"action": action, "id": value}):
            c.send(json.dumps(payload).encode() + b"\n")
            [reply] = c.replies()
            self.assertIn(reply["success"], (True, False))
            if not reply["success"]:
                self.assertIsInstance(reply["code"], str)
                self.assertIsInstance(reply["error"], str)
        self.assertFalse(c.transport.disconnecting)

    @given(st.integers(min_value=MAX_LINE + 1, max_value=MAX_LINE * 2))
    def test_oversized(self, size):
        c = Connection(self)
        c.send(b"a" * size + b"\n")
        [reply] = c.replies()
        self.assertEqual(reply["code"], "line_too_long")
        self.assertTrue(c.transport.disconnecting)


class DrainTests(SynchronousTestCase):
    """
    A graceful stop (L{WireFactory.drainConnections}): every connection reads no more
    requests, sends the replies it owes, then closes.
    """

    def test_owedRepliesLeaveThenTheConnectionCloses(self):
        pending = []
        c = Connection(self, pending=pending)
        c.send(b'{"action": "later", "n": 1, "id": 1}\n{"action": "later", "n": 2, "id": 2}\n')
        drained = c.factory.drainConnections()
        self.assertEqual(c.transport.producerState, "paused")
        self.assertFalse(c.transport.disconnecting)
        # A request that comes after the stop began is not read (the client sees the
        # connection close without its reply, so it knows it was not done).
        c.send(b'{"action": "later", "n": 3, "id": 3}\n{"action": "ping", "id": 4}\n')
        self.assertEqual(len(pending), 2)
        pending[1][1].callback({"success": True, "n": 2})
        self.assertEqual(c.replies(), [])
        pending[0][1].callback({"success": True, "n": 1})
        self.assertEqual([r["id"] for r in c.replies()], [1, 2])
        self.assertTrue(c.transport.disconnecting)
        self.assertNoResult(drained)
        c.protocol.connectionLost(Failure(ConnectionDone()))
        self.assertIsNone(self.successResultOf(drained))
        self.assertEqual(c.factory.connections, set())
        self.assertEqual(c.factory.clock.getDelayedCalls(), [])

    def test_idleConnectionsCloseAtOnce(self):
        pending = []
        c = Connection(self, pending=pending)
        idle = c.factory.buildProtocol(None)
        idleTransport = StringTransport()
        idle.makeConnection(idleTransport)
        c.send(b'{"action": "later", "n": 1}\n')
        drained = c.factory.drainConnections()
        self.assertTrue(idleTransport.disconnecting)
        self.assertFalse(c.transport.disconnecting)
        idle.connectionLost(Failure(ConnectionDone()))
        self.assertNoResult(drained)
        pending[0][1].callback({"success": True})
        self.assertTrue(c.transport.disconnecting)
        c.protocol.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(drained)

    def test_nothingOpen(self):
        factory = WireFactory(handlers(), None, Clock())
        self.successResultOf(factory.drainConnections())
        self.assertEqual(factory.clock.getDelayedCalls(), [])

    def test_laggardsAreCutOff(self):
        pending = []
        c = Connection(self, pending=pending)
        c.send(b'{"action": "later", "n": 1}\n')
        drained = c.factory.drainConnections()
        c.factory.clock.advance(DRAIN_GRACE - 0.1)
        self.assertFalse(c.transport.disconnecting)
        c.factory.clock.advance(0.1)
        self.assertTrue(c.transport.disconnected)  # aborted
        c.protocol.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(drained)
