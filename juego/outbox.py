"""
Handing the web outbox's work to the other services, and the loop that retries it.

A row leaves the outbox only once its service confirmed it. A row whose service is down
is tried again later, with exponential backoff (capped at 5 s) and jitter, per row.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from juego.clients import ServiceUnavailable
from juego.clients.protocols import DistService, ScoreService
from juego.logging import REQUEST_ID_FIELD, callWithRequestID
from juego.store.outbox import (
    ADD_NOTIFICATION,
    CLAIM,
    SAVE_SCORE,
    OutboxItem,
    recordMessage,
    recordNotification,
)
from juego.store.pool import databaseUnavailable, oneLine

__all__ = [
    "ADD_NOTIFICATION",
    "CLAIM",
    "SAVE_SCORE",
    "Deliveries",
    "OutboxDrainer",
    "Outcome",
    "backoff",
    "followUp",
    "recordMessage",
    "recordNotification",
]

log = Logger()

#: Failure codes that no retry will change: the row is dropped.
PERMANENT = frozenset({"not_found", "invalid_request", "conflict"})

#: Backoff: the first retry after about BASE, doubling up to CAP (then jittered).
BASE = 0.5
CAP = 5.0


def backoff(intentos: int, rand: Callable[[], float] = random.random) -> float:
    """
    Seconds before try number C{intentos + 1}: exponential, capped, with jitter.
    """
    ceiling = min(CAP, BASE * 2 ** max(0, intentos - 1))
    return ceiling * (0.5 + 0.5 * rand())


class Outcome(enum.Enum):
    DONE = "done"  # confirmed: delete the row
    RETRY = "retry"  # the service is down (or failed for now): keep the row
    DROP = "drop"  # refused for good: delete the row, log it


class Deliveries:
    """
    Sends one piece of outbox work to its service.
    """

    def __init__(self, scores: ScoreService | None, dist: DistService) -> None:
        self._scores = scores
        self._dist = dist

    def _call(self, kind: str, payload: dict[str, Any]) -> Any:
        if kind == SAVE_SCORE and self._scores is not None:
            return self._scores.save_score(
                payload["user_id"],
                payload["puntaje"],
                idempotency_key=payload["partida_id"],
                partida=payload.get("partida"),
                primera=bool(payload.get("primera")),
            )
        if kind == ADD_NOTIFICATION:
            extra = {}
            if payload.get("idempotency_key"):
                extra["idempotency_key"] = payload["idempotency_key"]
            return self._dist.add_notification(
                payload["user_id"], payload["message"], payload.get("type", "info"), **extra
            )
        raise ValueError(f"unknown outbox kind {kind!r}")

    async def send(
        self, kind: str, payload: dict[str, Any]
    ) -> tuple[Outcome, dict[str, Any] | None]:
        try:
            # sent with the id of the request that queued it, if it has one
            reply = await callWithRequestID(
                payload.get(REQUEST_ID_FIELD), self._call, kind, payload
            )
        except ServiceUnavailable as e:
            log.info("{kind} not delivered, service unavailable: {e}", kind=kind, e=e)
            return Outcome.RETRY, None
        except Exception:
            log.failure("{kind} not delivered", kind=kind)
            return Outcome.RETRY, None
        if not isinstance(reply, dict):
            log.error("{kind}: unexpected reply {reply!r}", kind=kind, reply=reply)
            return Outcome.RETRY, None
        if reply.get("success"):
            return Outcome.DONE, reply
        if reply.get("code") in PERMANENT:
            log.warn("{kind} refused for good: {reply}", kind=kind, reply=reply)
            return Outcome.DROP, reply
        log.warn("{kind} refused, will retry: {reply}", kind=kind, reply=reply)
        return Outcome.RETRY, reply


def followUp(
    kind: str, payload: dict[str, Any], reply: dict[str, Any] | None
) -> tuple[str, dict[str, Any]] | None:
    """
    The work a confirmed row leads to: a saved score that is a new best gets its
    notification, unless the save closed its partida, when juego-tcp queued the
    notification in its own outbox, in the transaction that stored the score.
    """
    if (
        kind == SAVE_SCORE
        and reply is not None
        and reply.get("nuevo_record")
        and payload.get("partida") is None
    ):
        kind, notification = recordNotification(
            payload["user_id"], payload["puntaje"], payload["partida_id"]
        )
        if REQUEST_ID_FIELD in payload:
            notification[REQUEST_ID_FIELD] = payload[REQUEST_ID_FIELD]
        return kind, notification
    return None


class Outbox(Protocol):
    """
    What a drain needs of an outbox table (L{juego.store.outbox.OutboxStore}).
    """

    def claimDue(
        self, now: datetime, leaseUntil: datetime, limit: int = 50
    ) -> Deferred[list[OutboxItem]]: ...

    def complete(
        self,
        outboxID: int,
        followUp: tuple[str, dict[str, Any]] | None = None,
        now: datetime | None = None,
        proximo: datetime | None = None,
    ) -> Deferred[int | None]: ...

    def retryLater(self, outboxID: int, intentos: int, proximo: datetime) -> Deferred[None]: ...


def utcnow(clock: IReactorTime) -> datetime:
    return datetime.fromtimestamp(clock.seconds(), UTC)


#: Batches one drain may go through back to back (at 50 rows each).
MAX_PASSES = 40


class OutboxDrainer:
    """
    Drains the due rows at every tick (see L{juego.tap.web}): batch after batch while the
    services answer; drains never overlap.
    """

    def __init__(
        self,
        partidas: Outbox,
        deliveries: Deliveries,
        clock: IReactorTime,
        rand: Callable[[], float] = random.random,
        batch: int = 50,
    ) -> None:
        self._partidas = partidas
        self._deliveries = deliveries
        self._clock = clock
        self._rand = rand
        self._batch = batch
        self._running = False

    def drain(self) -> Deferred[int]:
        """
        Try every due row once; fires with how many were confirmed (at once with 0 if
        the previous pass is still going).
        """
        if self._running:
            return succeed(0)
        return Deferred.fromCoroutine(self._drain())

    async def _drain(self) -> int:
        self._running = True
        done = 0
        try:
            # After an outage the backlog goes at the services' pace, not one batch per
            # tick: passes follow each other while they find full batches and every
            # service answers.
            for _ in range(MAX_PASSES):
                confirmed, claimed, sawDown = await self._pass()
                done += confirmed
                if sawDown or claimed < self._batch:
                    break
            return done
        except Exception as e:
            if databaseUnavailable(e):
                # An outage: the next tick tries again; one line, no traceback.
                log.warn("outbox drain paused, database unavailable: {error}", error=oneLine(e))
            else:
                log.failure("outbox drain pass failed")
            return done
        finally:
            self._running = False

    async def _pass(self) -> tuple[int, int, bool]:
        """
        One batch of due rows: how many were confirmed, how many were claimed, and
        whether a service was down.
        """
        now = utcnow(self._clock)
        rows = await self._partidas.claimDue(now, now + CLAIM, self._batch)
        down: set[str] = set()
        done = 0
        for row in rows:
            if row.kind in down:
                await self._later(row)
                continue
            outcome, reply = await self._deliveries.send(row.kind, row.payload)
            if outcome is Outcome.RETRY:
                down.add(row.kind)
                await self._later(row)
                continue
            now = utcnow(self._clock)
            following = followUp(row.kind, row.payload, reply) if outcome is Outcome.DONE else None
            await self._partidas.complete(row.id, following, now, now)
            done += outcome is Outcome.DONE
        return done, len(rows), bool(down)

    async def _later(self, row: OutboxItem) -> None:
        intentos = row.intentos + 1
        when = utcnow(self._clock) + timedelta(seconds=backoff(intentos, self._rand))
        await self._partidas.retryLater(row.id, intentos, when)
