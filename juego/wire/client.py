"""
The client side of the line protocol: one connection, pipelined requests answered in
order, pushed events, and the service-auth handshake. Pools, reconnection and the
blocking script clients are built on it in L{juego.clients}.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet import defer
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from juego.serialization import decode_wire_pickle
from juego.wire import auth
from juego.wire.protocol import encodeLine

#: Replies may carry many notifications or a pickle: allow more than requests get.
MAX_REPLY = 16 * 1024 * 1024


class AuthenticationFailed(Exception):
    """
    The service refused our proof, or could not prove it knows the secret.
    """


class ConnectionClosed(Exception):
    """
    The connection closed before the reply came.
    """


def decodeReply(reply: Mapping[str, Any], secret: bytes | None) -> dict[str, Any]:
    """
    A reply as the caller sees it: a C{pickle_base64} reply's data loaded through the
    allow-list (its signature checked when we have the secret) and merged in.

    @raise juego.serialization.PickleRefused: for data we will not load.
    """
    if reply.get("format") != "pickle_base64":
        return dict(reply)
    data = reply.get("data")
    if not isinstance(data, str):
        raise ValueError("pickle_base64 reply without data")
    loaded = decode_wire_pickle(data, reply.get("sig"), secret)
    if not isinstance(loaded, dict):
        raise ValueError("pickle_base64 reply is not a dict")
    merged = {k: v for k, v in reply.items() if k not in ("format", "data", "sig")}
    merged.update(loaded)
    return merged


class LineClientProtocol(LineReceiver):
    """
    @ivar onEvent: called with each pushed event (a line with C{"event"}).
    """

    delimiter = b"\n"
    MAX_LENGTH = MAX_REPLY
    onEvent: Callable[[dict[str, Any]], None] | None = None

    def __init__(self) -> None:
        self._waiting: deque[defer.Deferred[dict[str, Any]]] = deque()
        self.closed = False

    @property
    def inFlight(self) -> int:
        return len(self._waiting)

    def request(self, action: str, **fields: Any) -> defer.Deferred[dict[str, Any]]:
        """
        Send one request; the Deferred fires with its reply (a dict, maybe a failure
        reply), or fails with L{ConnectionClosed}.
        """
        if self.closed or self.transport is None:
            return defer.fail(ConnectionClosed("not connected"))
        d: defer.Deferred[dict[str, Any]] = defer.Deferred()
        self._waiting.append(d)
        self.transport.write(encodeLine({"action": action, **fields}))
        return d

    def lineReceived(self, line: bytes) -> None:
        try:
            message = json.loads(line.decode("utf-8"))
        except ValueError:
            self._drop()
            return
        if not isinstance(message, dict):
            self._drop()
            return
        if "event" in message and "success" not in message:
            if self.onEvent is not None:
                self.onEvent(message)
            return
        if not self._waiting:
            # A reply we did not ask for: the peer is not speaking our protocol.
            self._drop()
            return
        self._waiting.popleft().callback(message)

    def _drop(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection()

    def lineLengthExceeded(self, line: bytes) -> None:
        self._drop()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.closed = True
        why = str(reason.value) if reason is not None else "connection lost"
        waiting, self._waiting = self._waiting, deque()
        for d in waiting:
            d.errback(ConnectionClosed(why))

    async def authenticate(self, secret: bytes) -> None:
        """
        Prove we know C{secret}, and have the service prove it too.
        """
        challenge = await self.request("auth_challenge")
        nonce = challenge.get("nonce")
        if not challenge.get("success") or not isinstance(nonce, str):
            raise AuthenticationFailed("el servicio no tiene secreto compartido")
        clientNonce = auth.newNonce()
        answer = await self.request(
            "auth", client_nonce=clientNonce, proof=auth.clientProof(secret, nonce, clientNonce)
        )
        if not answer.get("success"):
            raise AuthenticationFailed(answer.get("error", "autenticación rechazada"))
        if not auth.check(auth.serverProof(secret, nonce, clientNonce), answer.get("proof")):
            raise AuthenticationFailed("el servicio no demostró conocer el secreto")
