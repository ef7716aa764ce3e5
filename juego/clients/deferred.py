"""
Deferred clients for the web process (see L{juego.clients}).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, Self

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import clientFromString
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from juego import config
from juego.clients.common import (
    DEFAULT_TIMEOUT,
    FROM_ENV,
    ReplyRefused,
    ServiceUnavailable,
    describeFailure,
    notificationFields,
    secretFrom,
)
from juego.logging import REQUEST_ID_FIELD, currentRequestID
from juego.reconnect import Link, PreparationFailed
from juego.serialization import PickleRefused
from juego.wire.client import (
    AuthenticationFailed,
    LineClientProtocol,
    decodeReply,
)

# -- Deferred clients ----------------------------------------------------------


class _ClientProtocol(LineClientProtocol):
    @property
    def tcp(self) -> Any:
        """
        The transport, as connected (it has C{abortConnection} and C{setTcpKeepAlive}).
        """
        return self.transport


class _LinkOwner(Protocol):
    reactor: Any
    endpoint: IStreamClientEndpoint
    secret: bytes | None
    timeout: float

    def prepare(self, protocol: _ClientProtocol) -> Deferred[Any]: ...

    def linkReady(self, link: _Link) -> None: ...

    def linkFailed(self, link: _Link, error: ServiceUnavailable) -> None: ...

    def linkLost(self, link: _Link) -> None: ...


class _Link(Link):
    """
    One connection of a pool or a subscription: connected, then the service handshake
    (with a secret) and the owner's preparation, then ready; reconnected with the links'
    backoff (L{juego.reconnect}).

    @ivar lastError: why the last attempt failed (L{None} once ready).
    """

    protocol: _ClientProtocol | None

    def __init__(self, owner: _LinkOwner) -> None:
        super().__init__(
            owner.endpoint, Factory.forProtocol(_ClientProtocol), owner.reactor, owner.timeout
        )
        self.owner = owner
        self.lastError: ServiceUnavailable | None = None

    @property
    def ready(self) -> bool:
        return self.protocol is not None

    async def prepare(self, protocol: _ClientProtocol) -> None:
        keepAlive = getattr(protocol.tcp, "setTcpKeepAlive", None)
        if keepAlive is not None:
            keepAlive(True)
        if self.owner.secret is not None:
            await protocol.authenticate(self.owner.secret)
        await self.owner.prepare(protocol)

    def linkReady(self, protocol: _ClientProtocol) -> None:
        self.lastError = None
        self.owner.linkReady(self)

    def linkFailed(self, failure: Failure) -> None:
        self.lastError = _attemptError(failure)
        self.owner.linkFailed(self, self.lastError)

    def linkLost(self, protocol: _ClientProtocol, reason: Failure) -> None:
        self.owner.linkLost(self)


def _attemptError(failure: Failure) -> ServiceUnavailable:
    """
    Why a connection attempt failed, fit to show.
    """
    if not failure.check(PreparationFailed):
        return ServiceUnavailable(f"Servicio no disponible: {describeFailure(failure)}")
    error = failure.value
    if error.failure.check(AuthenticationFailed):
        return ServiceUnavailable(f"Autenticación de servicio fallida: {error.failure.value}")
    if error.closedBy is not None:
        return ServiceUnavailable(
            f"El servicio cerró la conexión: {describeFailure(error.closedBy)}"
        )
    return ServiceUnavailable(
        f"El servicio no completó la conexión: {describeFailure(error.failure)}"
    )


class _Call:
    __slots__ = ("action", "fields", "result", "timer", "protocol", "done")

    def __init__(
        self, action: str, fields: dict[str, Any], result: Deferred[dict[str, Any]]
    ) -> None:
        self.action = action
        self.fields = fields
        self.result = result
        self.timer: Any = None
        self.protocol: _ClientProtocol | None = None
        self.done = False


class ServiceClient:
    """
    A pool of connections to one line-protocol service.

    @param endpoint: a Twisted client endpoint string (or endpoint).
    @param secret: the shared service secret, or L{None} for an open service.
    """

    #: Which service (L{juego.config.SERVICES}) L{fromEnvironment} finds.
    service = ""
    log = Logger()

    def __init__(
        self,
        reactor: Any,
        endpoint: str | IStreamClientEndpoint,
        secret: bytes | None = None,
        poolSize: int = 2,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if poolSize < 1:
            raise ValueError("poolSize must be at least 1")
        self.reactor = reactor
        self.description = endpoint if isinstance(endpoint, str) else repr(endpoint)
        self.endpoint = (
            clientFromString(reactor, endpoint) if isinstance(endpoint, str) else endpoint
        )
        self.secret = secret
        self.timeout = timeout
        self.running = False
        self._links = [_Link(self) for _ in range(poolSize)]
        self._queue: deque[_Call] = deque()
        self._subscriptions: set[Subscription] = set()

    @classmethod
    def fromEnvironment(
        cls,
        reactor: Any,
        secret: Any = FROM_ENV,
        environ: Mapping[str, str] | None = None,
        **kw: Any,
    ) -> Self:
        """
        A client of the service at C{TCP_PERSIST_*} / C{DISTRIBUTED_*}, with the install's
        secret (L{juego.secret.serviceSecret}: C{JUEGO_SERVICE_SECRET}, else the generated
        one) unless one is given (L{None}: no handshake).

        @raise juego.secret.SecretError: the install's secret file is unsafe.
        """
        endpoint = config.clientEndpoint(cls.service, environ)
        return cls(reactor, endpoint, secretFrom(secret, environ), **kw)

    # lifecycle

    def start(self) -> None:
        if self.running:
            return
        self.running = True
        for link in self._links:
            link.startService()

    def stop(self) -> Deferred[Any]:
        """
        Close every connection (subscriptions included); queued calls fail. Fires when
        all are closed.
        """
        self.running = False
        self._failQueued(ServiceUnavailable("El cliente del servicio se ha detenido"))
        stops = [link.stopService() for link in self._links]
        stops += [subscription.stop() for subscription in list(self._subscriptions)]
        return defer.DeferredList(stops)

    @property
    def available(self) -> bool:
        """
        Whether a connection is ready now.
        """
        return any(link.ready for link in self._links)

    # calls

    def call(self, action: str, **fields: Any) -> Deferred[dict[str, Any]]:
        """
        Send a request; fires with its reply (C{success} true, or a failure reply such as
        C{not_found}), a C{pickle_base64} reply loaded for the caller; fails with
        L{ServiceUnavailable} when the service cannot answer within the timeout. Made
        while a web request is worked on, it carries that request's id as C{rid}.
        """
        if not self.running:
            return defer.fail(ServiceUnavailable("El cliente del servicio no está en marcha"))
        rid = currentRequestID()  # the web request this call is made for (juego.logging)
        if rid is not None:
            fields.setdefault(REQUEST_ID_FIELD, rid)
        result: Deferred[dict[str, Any]] = Deferred(lambda d: self._cancel(call))
        call = _Call(action, fields, result)
        link = self._readyLink()
        if link is not None:
            self._send(link, call)
        elif any(link.connecting for link in self._links):
            self._queue.append(call)
        else:
            return defer.fail(self._downError())
        if not call.done:
            call.timer = self.reactor.callLater(self.timeout, self._timedOut, call)
        return result

    def _downError(self) -> ServiceUnavailable:
        for link in self._links:
            if link.lastError is not None:
                return link.lastError
        return ServiceUnavailable("Servicio no disponible")

    def _readyLink(self) -> _Link | None:
        ready = [link for link in self._links if link.ready]
        if not ready:
            return None
        return min(ready, key=lambda link: link.protocol.inFlight)  # type: ignore[union-attr]

    def _send(self, link: _Link, call: _Call) -> None:
        protocol = link.protocol
        assert protocol is not None
        call.protocol = protocol
        sent = protocol.request(call.action, **call.fields)
        sent.addCallbacks(self._replied, self._lostCall, callbackArgs=(call,), errbackArgs=(call,))

    def _finish(self, call: _Call) -> bool:
        """
        Mark a call answered; L{False} if it already was (timed out, cancelled).
        """
        if call.done:
            return False
        call.done = True
        if call.timer is not None and call.timer.active():
            call.timer.cancel()
        return True

    def _replied(self, reply: dict[str, Any], call: _Call) -> None:
        if not self._finish(call):
            return
        try:
            decoded = decodeReply(reply, self.secret)
        except (PickleRefused, ValueError) as e:
            self.log.warn("refused a reply to {action}: {error}", action=call.action, error=e)
            call.result.errback(ReplyRefused(f"Respuesta del servicio rechazada: {e}"))
            return
        call.result.callback(decoded)

    def _lostCall(self, failure: Failure, call: _Call) -> None:
        if self._finish(call):
            call.result.errback(
                ServiceUnavailable(
                    f"Se perdió la conexión con el servicio: {describeFailure(failure)}"
                )
            )

    def _timedOut(self, call: _Call) -> None:
        call.timer = None
        if not self._finish(call):
            return
        if call in self._queue:
            self._queue.remove(call)
            error = self._downError() if not self.available else None
            call.result.errback(
                ServiceUnavailable(
                    f"Servicio no disponible tras {self.timeout:g} s"
                    + (f": {error.message}" if error is not None else "")
                )
            )
            return
        # No reply in time: the connection is stuck (or the peer gone); drop it, which
        # fails the calls behind this one at once rather than each after its timeout.
        if call.protocol is not None and not call.protocol.closed:
            call.protocol.tcp.abortConnection()
        call.result.errback(ServiceUnavailable(f"El servicio no respondió en {self.timeout:g} s"))

    def _cancel(self, call: _Call) -> None:
        if call in self._queue:
            self._queue.remove(call)
        if call.timer is not None and call.timer.active():
            call.timer.cancel()
        call.done = True

    def _failQueued(self, error: ServiceUnavailable) -> None:
        queued, self._queue = self._queue, deque()
        for call in queued:
            if self._finish(call):
                call.result.errback(error)

    # _LinkOwner

    def prepare(self, protocol: _ClientProtocol) -> Deferred[Any]:
        return defer.succeed(None)

    def linkReady(self, link: _Link) -> None:
        while self._queue:
            ready = self._readyLink()
            if ready is None:
                return
            self._send(ready, self._queue.popleft())

    def linkFailed(self, link: _Link, error: ServiceUnavailable) -> None:
        if not any(other.connecting or other.ready for other in self._links):
            self._failQueued(error)

    def linkLost(self, link: _Link) -> None:
        pass


class ScoreServiceClient(ServiceClient):
    """
    juego-tcp, for the web process.
    """

    service = "tcp"

    def save_score(
        self,
        user_id: int,
        puntaje: int,
        idempotency_key: str | None = None,
        partida: dict[str, Any] | None = None,
        primera: bool = False,
    ) -> Deferred[dict[str, Any]]:
        """
        Store a score; with C{partida} (the verified game, L{juego.web.game}), juego-tcp
        also closes that partida and queues the record notification, in one commit. With
        C{primera}, a partida closed already (or a key stored already) is a C{conflict}.
        """
        fields: dict[str, Any] = {"user_id": user_id, "puntaje": puntaje}
        if idempotency_key is not None:
            fields["idempotency_key"] = idempotency_key
        if partida is not None:
            fields["partida"] = partida
        if primera:
            fields["primera"] = True
        return self.call("save_score", **fields)

    def ping(self) -> Deferred[dict[str, Any]]:
        return self.call("ping")


class DistServiceClient(ServiceClient):
    """
    juego-dist, for the web process.
    """

    service = "dist"

    def ping(self) -> Deferred[dict[str, Any]]:
        return self.call("ping")

    def get_user_stats(self, user_id: int, **extra: Any) -> Deferred[dict[str, Any]]:
        return self.call("get_user_stats", user_id=user_id, **extra)

    def get_global_stats(self, **extra: Any) -> Deferred[dict[str, Any]]:
        return self.call("get_global_stats", **extra)

    def add_notification(
        self, user_id: int, message: str, notif_type: str = "info", **extra: Any
    ) -> Deferred[dict[str, Any]]:
        return self.call(
            "add_notification", user_id=user_id, message=message, type=notif_type, **extra
        )

    def get_notifications(
        self, user_id: int, limit: int | None = None, unread_only: bool = False, **extra: Any
    ) -> Deferred[dict[str, Any]]:
        return self.call(
            "get_notifications", user_id=user_id, **notificationFields(limit, unread_only), **extra
        )

    def mark_notifications_read(
        self, user_id: int, ids: Iterable[int] | None = None, **extra: Any
    ) -> Deferred[dict[str, Any]]:
        if ids is not None:
            extra["ids"] = list(ids)
        return self.call("mark_notifications_read", user_id=user_id, **extra)

    def drop_sessions(
        self, user_id: int | None = None, sesiones: Iterable[str] = (), **extra: Any
    ) -> Deferred[dict[str, Any]]:
        """
        Have juego-dist tell every subscribed web node to drop C{user_id}'s sessions and
        those whose token hashes are C{sesiones} from its cache.
        """
        if user_id is not None:
            extra["user_id"] = user_id
        hashes = list(sesiones)
        if hashes:
            extra["sesiones"] = hashes
        return self.call("drop_sessions", **extra)

    def subscribe(
        self,
        onNotification: Callable[[dict[str, Any]], None],
        user_id: int | None = None,
        onSubscribed: Callable[[], None] | None = None,
        onSessions: Callable[[dict[str, Any]], None] | None = None,
    ) -> Subscription:
        """
        Receive every new notification (of one player with C{user_id}) as it is stored:
        C{onNotification(notification)} with the wire's JSON dict. The subscription
        keeps its own connection and subscribes again by itself after the service
        comes back (C{onSubscribed} is called each time it is subscribed, so the caller
        may catch up on what it missed by polling). Stop it with C{.stop()}. A
        subscription to the whole feed also hears session drops (C{drop_sessions}):
        C{onSessions(event)} with the event's dict.
        """
        subscription = Subscription(self, onNotification, user_id, onSubscribed, onSessions)
        self._subscriptions.add(subscription)
        subscription.start()
        return subscription


class Subscription:
    """
    A live feed of new notifications from juego-dist over one dedicated connection.
    """

    log = Logger()

    def __init__(
        self,
        client: DistServiceClient,
        onNotification: Callable[[dict[str, Any]], None],
        userID: int | None = None,
        onSubscribed: Callable[[], None] | None = None,
        onSessions: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.client = client
        self.reactor = client.reactor
        self.endpoint = client.endpoint
        self.secret = client.secret
        self.timeout = client.timeout
        self.onNotification = onNotification
        self.onSubscribed = onSubscribed
        self.onSessions = onSessions
        self.userID = userID
        self._link = _Link(self)

    @property
    def subscribed(self) -> bool:
        return self._link.ready

    def start(self) -> None:
        self._link.startService()

    def stop(self) -> Deferred[None]:
        self.client._subscriptions.discard(self)
        return self._link.stopService()

    # _LinkOwner

    def prepare(self, protocol: _ClientProtocol) -> Deferred[Any]:
        protocol.onEvent = self._event
        fields = {} if self.userID is None else {"user_id": self.userID}

        def check(reply: dict[str, Any]) -> None:
            if not reply.get("success"):
                raise ServiceUnavailable(f"Suscripción rechazada: {reply.get('error')}")

        return protocol.request("subscribe", **fields).addCallback(check)

    def linkReady(self, link: _Link) -> None:
        if self.onSubscribed is not None:
            try:
                self.onSubscribed()
            except Exception:
                self.log.failure("onSubscribed failed")

    def linkFailed(self, link: _Link, error: ServiceUnavailable) -> None:
        pass

    def linkLost(self, link: _Link) -> None:
        self.log.info("notification feed lost; subscribing again")

    def _event(self, message: dict[str, Any]) -> None:
        if message.get("event") == "sesiones":
            if self.onSessions is not None:
                try:
                    self.onSessions(message)
                except Exception:
                    self.log.failure("onSessions failed")
            return
        notification = message.get("notification")
        if message.get("event") != "notification" or not isinstance(notification, dict):
            return
        try:
            self.onNotification(notification)
        except Exception:
            self.log.failure("onNotification failed")
