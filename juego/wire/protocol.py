"""
The server side of the line protocol, shared by juego-tcp and juego-dist.

The protocol knows framing, parsing, ordering, authentication and encoding; the work is
done by handlers, plain callables from a L{Request} to a reply (a dict of Python values,
model objects included) or a Deferred of one. Replies leave in request order, so clients
may pipeline.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Mapping
from time import perf_counter
from typing import Any, cast

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure

from juego.logging import REQUEST_ID_FIELD, validRequestID
from juego.model import to_json
from juego.serialization import (
    ForbiddenGlobal,
    PickleRefused,
    decode_wire_pickle,
    encode_wire_pickle,
)
from juego.store.pool import databaseUnavailable, oneLine
from juego.wire import auth
from juego.wire.errors import (
    INTERNAL,
    INVALID_JSON,
    LINE_TOO_LONG,
    UNAUTHORIZED,
    UNKNOWN_ACTION,
    WireError,
    errorReply,
    invalid,
)
from juego.wire.observe import RequestLog
from juego.wire.request import Request

Reply = dict[str, Any]
Handler = Callable[[Request], "Reply | defer.Deferred[Reply]"]

#: Bytes in one line, delimiter excluded.
MAX_LINE = 64 * 1024
#: Seconds a connection may stay silent (no request, no reply) before it is closed.
IDLE_TIMEOUT = 300
#: Requests in flight on one connection before it stops reading (back-pressure).
MAX_IN_FLIGHT = 256
#: Seconds a graceful stop waits for open connections to send the replies they owe
#: before cutting them off (a peer that does not read).
DRAIN_GRACE = 5.0
#: Actions allowed before a peer has proven it knows the secret.
OPEN_ACTIONS = frozenset({"ping", "auth_challenge", "auth"})
FORMATS = ("json", "pickle_base64")


_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encodeLine(reply: Mapping[str, Any]) -> bytes:
    return _encoder.encode(reply).encode("utf-8") + b"\n"


class _Slot:
    __slots__ = ("line", "close", "action", "rid", "started")

    def __init__(self) -> None:
        self.line: bytes | None = None
        self.close = False
        # for the request's log line: "-" until the request is read
        self.action = "-"
        self.rid: str | None = None
        self.started = perf_counter()


class LineProtocol(LineReceiver, TimeoutMixin):
    """
    One peer's connection.
    """

    delimiter = b"\n"
    MAX_LENGTH = MAX_LINE
    factory: WireFactory
    log = Logger()

    def connectionMade(self) -> None:
        self.MAX_LENGTH = getattr(self.factory, "maxLine", MAX_LINE)
        self._slots: deque[_Slot] = deque()
        self._closing = False
        self._draining = False
        self.lost = False
        self._closedWaiters: list[defer.Deferred[None]] = []
        self.factory.connections.add(self)
        self.authenticated = self.factory.secret is None
        self._nonce: str | None = None
        self.setTimeout(self.factory.idleTimeout)
        self.factory.observer.connected()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.setTimeout(None)
        self._closing = True
        self.lost = True
        self.factory.connections.discard(self)
        self.factory.observer.disconnected()
        waiters, self._closedWaiters = self._closedWaiters, []
        for d in waiters:
            d.callback(None)

    def whenClosed(self) -> defer.Deferred[None]:
        """
        Fires once the connection is closed.
        """
        if self.lost:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._closedWaiters.append(d)
        return d

    def drain(self) -> None:
        """
        For a graceful stop: read no more requests, send the replies owed for those
        already read (each after its work is done), then close.
        """
        if self.lost or self._draining:
            return
        self._draining = True
        self._closing = True
        self.pauseProducing()
        self._flush()

    def callLater(self, *a: Any, **kw: Any) -> Any:  # TimeoutMixin's clock
        return self.factory.clock.callLater(*a, **kw)

    def timeoutConnection(self) -> None:
        assert self.transport is not None
        self.log.info("closing idle connection from {peer}", peer=self.transport.getPeer())
        self.transport.loseConnection()

    # framing

    def lineLengthExceeded(self, line: bytes) -> Any:
        """
        Answer C{line_too_long} after the replies already owed, then close.
        """
        if self._closing:
            return None
        slot = self._enqueue()
        slot.line = encodeLine(
            errorReply(LINE_TOO_LONG, f"Línea demasiado larga (máximo {self.MAX_LENGTH} bytes)")
        )
        slot.close = True
        self._closing = True
        self.pauseProducing()
        self.factory.observer.answered(
            "-", None, {"success": False, "code": LINE_TOO_LONG}, slot.started
        )
        self._flush()
        return None

    def lineReceived(self, line: bytes) -> None:
        if self._closing:
            return
        self.resetTimeout()
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line.strip():
            return
        slot = self._enqueue()
        requestID: Any = None
        try:
            fields = self._parse(line)
            requestID = fields.get("id")
            slot.action = self._actionLabel(fields["action"])
            slot.rid = validRequestID(fields.get(REQUEST_ID_FIELD))
            result = self._dispatch(fields)
        except WireError as e:
            self._fill(slot, e.reply(), requestID)
            return
        except Exception:
            self.log.failure("handler failed before answering")
            self._fill(slot, errorReply(INTERNAL, "Error interno del servicio"), requestID)
            return
        if isinstance(result, defer.Deferred):
            result.addErrback(self._failed)
            result.addCallback(self._fill_cb, slot, requestID, fields)
        else:
            self._fill(slot, self._encode(result, fields), requestID)

    def _enqueue(self) -> _Slot:
        slot = _Slot()
        self._slots.append(slot)
        if len(self._slots) >= MAX_IN_FLIGHT and not self.paused:
            self.pauseProducing()
        return slot

    def _parse(self, line: bytes) -> dict[str, Any]:
        try:
            fields = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            # RecursionError: a line nested past the parser's recursion limit ("[" ×
            # 60,000), which is no JSON this protocol takes either.
            raise WireError(INVALID_JSON, "JSON inválido") from None
        if not isinstance(fields, dict):
            raise invalid("La petición debe ser un objeto JSON")
        action = fields.get("action")
        if not isinstance(action, str):
            raise invalid("Falta el campo 'action'")
        fmt = fields.get("format", "json")
        if fmt not in FORMATS:
            raise invalid(f"Formato desconocido: debe ser uno de {', '.join(FORMATS)}")
        if "pickle" in fields:
            fields = self._unpickleRequest(fields)
        return fields

    def _unpickleRequest(self, fields: dict[str, Any]) -> dict[str, Any]:
        """
        A request's pickled fields: accepted only signed with the shared secret, and
        loaded only through the allow-list.
        """
        secret = self.factory.secret
        if secret is None:
            raise WireError(UNAUTHORIZED, "No se aceptan datos pickle sin un secreto compartido")
        data, sig = fields.get("pickle"), fields.get("sig")
        if not isinstance(data, str) or not (sig is None or isinstance(sig, str)):
            raise invalid("Los campos 'pickle' y 'sig' deben ser textos")
        try:
            loaded = decode_wire_pickle(data, sig, secret, require_signature=True)
        except ForbiddenGlobal as e:
            raise invalid(f"Datos pickle no permitidos: {e}") from None
        except PickleRefused as e:
            raise WireError(UNAUTHORIZED, f"Datos pickle rechazados: {e}") from None
        if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
            raise invalid("Los datos pickle deben ser un diccionario")
        merged = {k: v for k, v in fields.items() if k not in ("pickle", "sig")}
        merged.update(loaded)
        merged["action"] = fields["action"]
        return merged

    def _actionLabel(self, action: str) -> str:
        """
        C{action} as logged and counted: a peer's unknown action names are not kept.
        """
        if action in self.factory.handlers or action in OPEN_ACTIONS:
            return action
        return "unknown"

    def _dispatch(self, fields: dict[str, Any]) -> Reply | defer.Deferred[Reply]:
        action = fields["action"]
        if action == "auth_challenge":
            return self._challenge()
        if action == "auth":
            return self._authenticate(Request(fields))
        if not self.authenticated and action not in OPEN_ACTIONS:
            raise WireError(UNAUTHORIZED, "Autenticación de servicio requerida")
        handler = self.factory.handlers.get(action)
        if handler is None:
            raise WireError(UNKNOWN_ACTION, f"Acción desconocida: {action[:80]}")
        return handler(Request(fields, self))

    # authentication

    def _challenge(self) -> Reply:
        if self.factory.secret is None:
            return {"success": True, "auth_required": False}
        self._nonce = auth.newNonce()
        return {"success": True, "auth_required": True, "nonce": self._nonce}

    def _authenticate(self, request: Request) -> Reply:
        secret = self.factory.secret
        if secret is None:
            return {"success": True, "auth_required": False}
        nonce, self._nonce = self._nonce, None
        clientNonce = request.str("client_nonce", maxLength=256, minLength=16)
        proof = request.str("proof", maxLength=256)
        if nonce is None or not auth.check(auth.clientProof(secret, nonce, clientNonce), proof):
            peer = self.transport.getPeer() if self.transport is not None else None
            self.log.warn("failed service authentication from {peer}", peer=peer)
            raise WireError(UNAUTHORIZED, "Autenticación de servicio fallida")
        self.authenticated = True
        return {"success": True, "proof": auth.serverProof(secret, nonce, clientNonce)}

    # replies

    def _failed(self, failure: Failure) -> Reply:
        if failure.check(WireError):
            return failure.value.reply()
        if databaseUnavailable(failure.value):
            # An outage, not a bug: one line, no traceback; the caller retries.
            self.log.warn("database unavailable: {error}", error=oneLine(failure.value))
            return errorReply(INTERNAL, "Base de datos no disponible")
        self.log.failure("handler failed", failure)
        return errorReply(INTERNAL, "Error interno del servicio")

    def _encode(self, reply: Reply, fields: Mapping[str, Any]) -> Reply:
        """
        Map a handler's reply to the wire: JSON values, or a base64 pickle of the Python
        objects (signed when there is a secret) when the request asked for it.
        """
        if not reply.get("success", True) or fields.get("format") != "pickle_base64":
            return to_json(reply)
        payload = {k: v for k, v in reply.items() if k != "success"}
        data, sig = encode_wire_pickle(payload, self.factory.secret)
        encoded: Reply = {"success": True, "format": "pickle_base64", "data": data}
        if sig is not None:
            encoded["sig"] = sig
        return encoded

    def _fill_cb(
        self, reply: Reply, slot: _Slot, requestID: Any, fields: Mapping[str, Any]
    ) -> None:
        try:
            encoded = self._encode(reply, fields)
        except Exception:
            self.log.failure("could not encode a reply")
            encoded = errorReply(INTERNAL, "Error interno del servicio")
        self._fill(slot, encoded, requestID)

    def _fill(self, slot: _Slot, reply: Reply, requestID: Any) -> None:
        if requestID is not None:
            reply = {**reply, "id": requestID}
        try:
            slot.line = encodeLine(reply)
        except (TypeError, ValueError):
            self.log.failure("reply is not JSON-safe")
            reply = errorReply(INTERNAL, "Error interno del servicio")
            slot.line = encodeLine(reply)
        self.factory.observer.answered(slot.action, slot.rid, reply, slot.started)
        self._flush()

    def _flush(self) -> None:
        while self._slots and self._slots[0].line is not None:
            slot = self._slots.popleft()
            if self.transport is None:
                return
            self.transport.write(slot.line)  # type: ignore[arg-type]
            if slot.close:
                self._slots.clear()
                self._close()
                return
        if self._draining:
            if not self._slots and self.transport is not None:
                self._close()
            return
        self.resetTimeout()
        if self.paused and not self._closing and len(self._slots) < MAX_IN_FLIGHT // 2:
            self.resumeProducing()

    def _close(self) -> None:
        """
        Close once the replies written have left. Reading resumes first (lines that come
        now are ignored, as C{_closing} is set): over TLS the close completes only when
        the peer's close_notify, or its end of the connection, is read, and a paused
        reader would wait out the drain's grace for it.
        """
        assert self.transport is not None
        if self.paused:
            self.resumeProducing()
        self.transport.loseConnection()

    def push(self, event: Mapping[str, Any]) -> None:
        """
        Send an unsolicited line (an event for a subscriber), between replies.
        """
        if not self._closing and self.transport is not None:
            self.transport.write(encodeLine(to_json(dict(event))))


class WireFactory(Factory):
    """
    Serves the line protocol with a table of handlers.

    @ivar handlers: action name → handler.
    @ivar secret: the shared service secret, or L{None} for an open service.
    @ivar observer: logs (and counts) each request answered.
    """

    protocol = LineProtocol  # type: ignore[assignment]
    log = Logger()

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        secret: bytes | None = None,
        clock: IReactorTime | None = None,
        idleTimeout: float | None = IDLE_TIMEOUT,
        observer: RequestLog | None = None,
        maxLine: int = MAX_LINE,
    ) -> None:
        #: The longest request line taken (longer: C{line_too_long}, and the line closes).
        self.maxLine = maxLine
        if clock is None:
            from twisted.internet import reactor

            clock = cast(IReactorTime, reactor)
        self.handlers = dict(handlers)
        self.handlers.setdefault("ping", lambda request: {"success": True, "message": "pong"})
        self.secret = secret
        self.clock: IReactorTime = clock
        self.idleTimeout = idleTimeout
        self.observer = RequestLog("line") if observer is None else observer
        #: The open connections.
        self.connections: set[LineProtocol] = set()

    def drainConnections(self, grace: float = DRAIN_GRACE) -> defer.Deferred[None]:
        """
        For a graceful stop, once the listener is closed: every open connection reads
        no more requests, sends the replies it owes, and closes. Fires when all are
        closed; those still open after C{grace} seconds are cut off.

        Without this, the reactor's shutdown drops every connection at once, and the
        replies to the last saves committed never leave.
        """
        protocols = list(self.connections)
        for protocol in protocols:
            protocol.drain()
        closed = defer.DeferredList([protocol.whenClosed() for protocol in protocols])

        def abortRemaining() -> None:
            for protocol in protocols:
                if not protocol.lost and protocol.transport is not None:
                    self.log.warn(
                        "cutting off {peer}: its replies were not read within {grace} s",
                        peer=protocol.transport.getPeer(),
                        grace=grace,
                    )
                    protocol.transport.abortConnection()  # type: ignore[attr-defined]

        laggards = self.clock.callLater(grace, abortRemaining)

        def done(result: object) -> None:
            if laggards.active():
                laggards.cancel()

        return closed.addBoth(done)
