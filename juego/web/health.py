"""
Health: C{GET /api/salud} for load balancers and operators, and the outbox depth gauge.

C{/api/salud} answers 200 C{{"success": true, "database": "ok", "tcp": "ok", "dist":
"ok"}} when a trivial query runs and both services answer a C{ping}, each within
L{TIMEOUT} seconds (checked together); otherwise 503 with the same fields (C{"error"},
C{"down"}) plus the usual C{error} and C{code}. While the process stops (SIGTERM,
L{juego.web.drain}) it answers 503 C{{"success": false, "deteniendo": true, ...}} at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest

from juego.clients.protocols import DistService, ScoreService
from juego.metrics import Metrics
from juego.store import Store
from juego.web.errors import RETRY_AFTER, jsonBody

log = Logger()

#: Seconds each check may take.
TIMEOUT = 1.0
OK, ERROR, DOWN = "ok", "error", "down"


class Health:
    """
    @param scores: the juego-tcp client, and C{dist} the juego-dist one (each with
        C{ping()}).
    """

    def __init__(
        self,
        store: Store,
        scores: ScoreService,
        dist: DistService,
        clock: IReactorTime,
        timeout: float = TIMEOUT,
    ) -> None:
        self._store = store
        self._scores = scores
        self._dist = dist
        self._clock = clock
        self._timeout = timeout
        #: Set when the process is stopping (L{juego.web.drain}): the check answers 503
        #: at once, so a balancer that polls it sends no more work here.
        self.draining = False

    def _database(self) -> Deferred[bool]:
        d = self._store.pool.read(lambda conn: conn.execute(text("SELECT 1")).scalar() == 1)
        return self._bounded(d, "the database")

    def _ping(self, client: Any, name: str) -> Deferred[bool]:
        d = maybeDeferred(client.ping).addCallback(
            lambda reply: isinstance(reply, dict) and reply.get("success") is True
        )
        return self._bounded(d, name)

    def _bounded(self, d: Deferred[bool], name: str) -> Deferred[bool]:
        def failed(failure: Failure) -> bool:
            log.warn("health check: {name} failed: {error}", name=name, error=failure.value)
            return False

        return d.addTimeout(self._timeout, self._clock).addErrback(failed)

    async def check(self) -> dict[str, str]:
        """
        C{{"database": "ok" | "error", "tcp": "ok" | "down", "dist": "ok" | "down"}}.
        """
        results = await DeferredList(
            [
                self._database(),
                self._ping(self._scores, "juego-tcp"),
                self._ping(self._dist, "juego-dist"),
            ]
        )
        database, tcp, dist = (ok and value for ok, value in results)
        return {
            "database": OK if database else ERROR,
            "tcp": OK if tcp else DOWN,
            "dist": OK if dist else DOWN,
        }

    async def reply(self, request: IRequest) -> bytes:
        if self.draining:
            body = {
                "success": False,
                "error": "El servicio se está deteniendo.",
                "code": "servicio_no_disponible",
                "deteniendo": True,
            }
            return jsonBody(request, body, 503)
        parts = await self.check()
        if all(value == OK for value in parts.values()):
            return jsonBody(request, {"success": True, **parts})
        body = {
            "success": False,
            "error": "Algún componente del servicio no está disponible.",
            "code": "servicio_no_disponible",
            **parts,
        }
        request.setHeader(b"Retry-After", str(RETRY_AFTER).encode("ascii"))
        return jsonBody(request, body, 503)


class OutboxDepth:
    """
    Keeps the C{juego_outbox_depth} gauge: L{update} runs on a timer (L{juego.tap.web}).
    """

    def __init__(self, store: Store, metrics: Metrics) -> None:
        self._store = store
        self._gauge = metrics.outboxDepth

    def update(self) -> Deferred[None]:
        def failed(failure: Failure) -> None:
            # The gauge keeps its last value; the timer keeps running.
            log.warn("could not count the outbox: {error}", error=failure.value)

        return self._store.partidas.outboxDepth().addCallback(self._gauge.set).addErrback(failed)
