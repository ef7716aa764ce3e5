"""
Helpers for the web tests: fake juego-tcp / juego-dist clients (over the real store, so
stats and ranking agree), the application on a synchronous store and a Clock, and a
small JSON client over treq's StubTreq.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import attrs
from argon2 import PasswordHasher
from treq.testing import StubTreq
from twisted.internet import _producer_helpers
from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.internet.task import Clock, Cooperator
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from juego.clients import ServiceUnavailable
from juego.clients.protocols import DistService, ScoreService, Stoppable
from juego.game import draw_words, puntos
from juego.logging import REQUEST_ID_FIELD, currentRequestID
from juego.model import Notification, Partida, to_json
from juego.scores import GroupCommitWriter, RecordNotices
from juego.scores import ScoreService as ScoreServiceImpl
from juego.store import Store
from juego.web import openapi
from juego.web.app import Application
from juego.web.hosts import AllowedHosts
from juego.web.passwords import Passwords
from juego.wire import Request, WireError
from tests.keystrokes import playedEvents
from tests.support import sqliteURL, synchronousStore

__all__ = ["playedEvents"]  # re-exported: the web tests' usual human game

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
HOST = "juego.test"
BASE = f"http://{HOST}"
PASSWORD = "contraseña-segura"


def cheapPasswords() -> Passwords:
    return Passwords.synchronous(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


class FakeScores:
    """
    A ScoreServiceClient in front of juego-tcp's real service (L{juego.scores}) over the
    test's store, or down. The record notifications it queues go to C{dist}, as juego-tcp
    sends them.
    """

    def __init__(self, store: Store, dist: DistService, clock: Clock) -> None:
        self.store = store
        self.down = False
        self.calls: list[tuple[int, int, str | None]] = []
        self.reply: dict[str, Any] | None = None
        self.service = ScoreServiceImpl(GroupCommitWriter(store.scores, clock=clock))
        self.notices = RecordNotices(store.scores.outbox, dist, clock)
        store.scores.onNotices = self.notices.queued

    def ping(self) -> Deferred[dict[str, Any]]:
        if self.down:
            return fail(ServiceUnavailable("juego-tcp caído"))
        return succeed({"success": True, "message": "pong"})

    def save_score(
        self,
        user_id: int,
        puntaje: int,
        idempotency_key: str | None = None,
        partida: dict[str, Any] | None = None,
        primera: bool = False,
    ) -> Deferred[dict[str, Any]]:
        self.calls.append((user_id, puntaje, idempotency_key))
        if self.down:
            return fail(ServiceUnavailable("juego-tcp caído"))
        if self.reply is not None:
            return succeed(self.reply)
        fields: dict[str, Any] = {"action": "save_score", "user_id": user_id, "puntaje": puntaje}
        if idempotency_key is not None:
            fields["idempotency_key"] = idempotency_key
        if partida is not None:
            fields["partida"] = partida
        if primera:
            fields["primera"] = True
        rid = currentRequestID()
        if rid is not None:  # as the real client sends it
            fields[REQUEST_ID_FIELD] = rid
        # Through JSON, as on the wire.
        request = Request(json.loads(json.dumps(fields)))
        d = maybeDeferred(self.service.saveScore, request)

        def refused(failure: Failure) -> dict[str, Any]:
            failure.trap(WireError)
            return failure.value.reply()

        return d.addErrback(refused)


class FakeDist:
    """
    A DistServiceClient with notifications in memory and stats from the real store.
    """

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.down = False
        self.notifications: list[Notification] = []
        self.notificationKeys: dict[str, Notification] = {}
        self.subscribers: list[Any] = []
        self.sessionSubscribers: list[Callable[[dict[str, Any]], None]] = []
        self.drops: list[dict[str, Any]] = []

    def _up(self) -> Deferred[Any] | None:
        return fail(ServiceUnavailable("juego-dist caído")) if self.down else None

    def ping(self) -> Deferred[dict[str, Any]]:
        return self._up() or succeed({"success": True, "message": "pong"})

    def get_user_stats(self, user_id: int, **extra: Any) -> Deferred[dict[str, Any]]:
        down = self._up()
        if down is not None:
            return down
        return self.store.stats.userStats(user_id).addCallback(
            lambda stats: (
                {"success": True, "stats": to_json(stats)}
                if stats is not None
                else {"success": False, "code": "not_found", "error": "no existe"}
            )
        )

    def get_global_stats(self, **extra: Any) -> Deferred[dict[str, Any]]:
        return self._up() or self.store.stats.globalStats(T0).addCallback(
            lambda stats: {"success": True, "stats": to_json(stats)}
        )

    def add_notification(
        self,
        user_id: int,
        message: str,
        notif_type: str = "info",
        idempotency_key: str | None = None,
        **extra: Any,
    ) -> Deferred[dict[str, Any]]:
        down = self._up()
        if down is not None:
            return down
        if idempotency_key is not None and idempotency_key in self.notificationKeys:
            n = self.notificationKeys[idempotency_key]
            return succeed({"success": True, "notification": to_json(n)})
        n = Notification(len(self.notifications) + 1, user_id, message, notif_type, T0)
        self.notifications.append(n)
        if idempotency_key is not None:
            self.notificationKeys[idempotency_key] = n
        for subscriber in list(self.subscribers):
            subscriber(to_json(n))
        return succeed({"success": True, "notification": to_json(n)})

    def get_notifications(
        self, user_id: int, limit: int | None = None, unread_only: bool = False, **extra: Any
    ) -> Deferred[dict[str, Any]]:
        down = self._up()
        if down is not None:
            return down
        mine = [n for n in reversed(self.notifications) if n.user_id == user_id]
        if unread_only:
            mine = [n for n in mine if not n.leida]
        return succeed({"success": True, "notifications": to_json(mine[:limit])})

    def mark_notifications_read(
        self, user_id: int, ids: Iterable[int] | None = None, **extra: Any
    ) -> Deferred[dict[str, Any]]:
        ids = None if ids is None else list(ids)
        down = self._up()
        if down is not None:
            return down
        self.notifications = [
            attrs.evolve(n, leida=True)
            if n.user_id == user_id and (ids is None or n.id in ids)
            else n
            for n in self.notifications
        ]
        return succeed({"success": True})

    def drop_sessions(
        self, user_id: int | None = None, sesiones: Iterable[str] = (), **extra: Any
    ) -> Deferred[dict[str, Any]]:
        down = self._up()
        if down is not None:
            return down
        event = {"event": "sesiones", "user_id": user_id, "sesiones": list(sesiones)}
        self.drops.append(event)
        for subscriber in list(self.sessionSubscribers):
            subscriber(event)
        return succeed({"success": True, "avisados": len(self.sessionSubscribers)})

    def subscribe(
        self,
        onNotification: Callable[[dict[str, Any]], None],
        user_id: int | None = None,
        onSubscribed: Callable[[], None] | None = None,
        onSessions: Callable[[dict[str, Any]], None] | None = None,
    ) -> Stoppable:
        self.subscribers.append(onNotification)
        if onSessions is not None:
            self.sessionSubscribers.append(onSessions)
        fake = self

        class Subscription:
            def stop(self) -> None:
                fake.subscribers.remove(onNotification)
                if onSessions is not None:
                    fake.sessionSubscribers.remove(onSessions)

        return Subscription()

    def messages(self, user_id: int) -> list[str]:
        return [n.message for n in self.notifications if n.user_id == user_id]


_described: Any = None


def checkAgainstDocument(case: SynchronousTestCase, method: str, path: str, reply: Reply) -> None:
    """
    Fail the test if a JSON reply of a described C{/api} route does not match the OpenAPI
    document (L{juego.web.openapi}): its status must be listed and its body must fit the
    schema. Undescribed routes and methods (405) are left to C{tests/test_openapi.py}.
    """
    global _described
    contentType = reply.header("content-type") or ""
    if not path.startswith("/api/") or not contentType.startswith("application/json"):
        return
    if _described is None:
        from openapi_core import OpenAPI

        _described = OpenAPI.from_dict(openapi.document())
    from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
    from openapi_core.testing import MockRequest, MockResponse

    url, _, query = path.partition("?")
    request = MockRequest(BASE, method.lower(), url, args=dict(parse_qsl(query)))
    response = MockResponse(reply.body, status_code=reply.status, content_type="application/json")
    errors = [
        e
        for e in _described.unmarshal_response(request, response).errors
        if not isinstance(e, PathNotFound | OperationNotFound)
    ]
    if errors:
        detail = "; ".join(f"{e!r}: {e.__cause__!r}" for e in errors)
        case.fail(
            f"{method} {path} -> {reply.status} {reply.body[:300]!r} breaks the document: {detail}"
        )


@attrs.frozen
class Reply:
    status: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name)
        return values[0] if values else None


class Client:
    """
    One browser: its own cookie jar, over the application's resource, in memory.
    """

    def __init__(self, case: SynchronousTestCase, resource: Any, pump: Clock) -> None:
        self.case = case
        self.treq = StubTreq(resource)
        self._pump = pump

    def _settle(self, d: Deferred[Any]) -> Any:
        # Static files are pulled by a cooperator (see WebTestCase.setUp): run it and
        # move the bytes until the answer is in.
        results: list[Any] = []

        def keep(result: Any) -> Any:
            results.append(result)
            return result

        d.addBoth(keep)
        for _ in range(100):
            self.treq.flush()
            if results:
                break
            self._pump.advance(0)
        return self.case.successResultOf(d)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> Reply:
        kw: dict[str, Any] = {"headers": headers or {}, "allow_redirects": False}
        if body is not None:
            kw["json"] = body
        elif data is not None:
            kw["data"] = data
        elif method == "POST":
            kw["json"] = {}
        # StubTreq builds its methods at run time: mypy cannot see them.
        response = self._settle(self.treq.request(method, BASE + path, **kw))  # type: ignore[attr-defined]
        content = self._settle(response.content())
        reply = Reply(response.code, response.headers, content)
        checkAgainstDocument(self.case, method, path, reply)
        return reply

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("POST", path, body, **kw)


def score(words: list[str], n: int) -> int:
    return sum(puntos(i, words[i]) for i in range(n))


class WebTestCase(SynchronousTestCase):
    """
    The application over a fresh SQLite store, fake services and a Clock at T0.
    """

    def databaseURL(self) -> str:
        return sqliteURL(self)

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(T0.timestamp())
        self.store = synchronousStore(self, self.databaseURL())
        self.dist = FakeDist(self.store, self.clock)
        self.scores = FakeScores(self.store, self.dist, self.clock)
        self.app = self.buildApplication()
        self.addCleanup(self.app.close)
        self.resource = self.app.resource()
        # twisted.web pulls static files through the global cooperator, which needs a
        # running reactor: use one on a Clock instead.
        self.pump = Clock()
        cooperator = Cooperator(scheduler=lambda f: self.pump.callLater(0, f))
        self.patch(_producer_helpers, "cooperate", cooperator.cooperate)

    #: The factor on the API's per-node rate limits (0: none; L{juego.web.ratelimit}).
    rateLimits = 0.0

    def buildApplication(self, **kw: Any) -> Application:
        """
        The application over this test's store, fakes and clock, serving C{BASE}'s host.
        """
        kw.setdefault("hosts", AllowedHosts([HOST]))
        # The per-node rate limits are off unless a test is about them (rateLimits):
        # a test plays far faster than a person would.
        kw.setdefault("rateLimits", self.rateLimits)
        return Application.build(
            self.store, self.scores, self.dist, self.clock, cheapPasswords(), **kw
        )

    def client(self) -> Client:
        return Client(self, self.resource, self.pump)

    def signUp(
        self, nombre: str = "Ana", email: str | None = None
    ) -> tuple[Client, dict[str, Any]]:
        client = self.client()
        reply = client.post(
            "/api/registro",
            {
                "nombre": nombre,
                "email": email or f"{nombre.lower()}@example.com",
                "password": PASSWORD,
            },
        )
        self.assertEqual(reply.status, 201, reply.body)
        return client, reply.json["user"]

    def makeAdmin(self, userID: int) -> None:
        """
        Make an admin, as C{juego-admin create-admin} does (straight in the database), and
        forget the cached sessions so the next request sees it at once (the command
        reaches every web node only within the cache's bound).
        """
        self.successResultOf(self.store.users.setAdmin(userID))
        self.app.api.auth.sessions.cache.dropLocal(userID)

    def newPartida(self, client: Client, idioma: str | None = None) -> dict[str, Any]:
        reply = client.post("/api/partidas", {} if idioma is None else {"idioma": idioma})
        self.assertEqual(reply.status, 201, reply.body)
        return reply.json["partida"]

    def issued(self, partidaID: str) -> Partida:
        """
        A partida as issued: read from its token, or (a race's) from its row.
        """
        partida = self.app.games.tokens.read(partidaID) or self.successResultOf(
            self.store.partidas.get(partidaID)
        )
        assert partida is not None, partidaID
        return partida

    def words(self, partidaID: str) -> list[str]:
        partida = self.issued(partidaID)
        return draw_words(partida.seed, partida.idioma)

    def play(self, client: Client, n: int = 5) -> tuple[dict[str, Any], Reply]:
        """
        Issue a partida, let the game's time pass, and send a result typing C{n} words.
        """
        partida = self.newPartida(client)
        events = playedEvents(partida["palabras"], n)
        self.clock.advance((events[-1]["t"] if events else 0) / 1000 + 1)
        reply = client.post(
            "/api/guardar_puntaje", {"partida_id": partida["id"], "eventos": events}
        )
        return partida, reply


def _fakesConform(store: Store, clock: Clock) -> tuple[ScoreService, DistService]:
    """
    Never called: C{make typecheck} checks here that the fakes are still what the web
    process uses (L{juego.clients.protocols}); a fake that drifts from the real client
    fails the type check.
    """
    dist = FakeDist(store, clock)
    return FakeScores(store, dist, clock), dist
