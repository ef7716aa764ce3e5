"""
juego-tcp: the score service. C{save_score} goes through a group-commit writer: saves
that arrive while a commit runs are stored together in the next transaction, and each
reply leaves only after its own commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from time import perf_counter
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from juego.clients.protocols import DistService
from juego.game import IDIOMAS
from juego.logging import REQUEST_ID_FIELD, validRequestID
from juego.outbox import ADD_NOTIFICATION, Deliveries, OutboxDrainer, Outcome
from juego.store.outbox import OutboxStore
from juego.store.pool import databaseUnavailable, oneLine
from juego.store.scores import (
    ClosedPartida,
    Notice,
    PartidaClosed,
    SaveAnswer,
    SaveRequest,
    ScoresStore,
    UserNotFound,
)
from juego.wire import Request, WireError
from juego.wire.errors import CONFLICT, NOT_FOUND, invalid
from juego.wire.protocol import Handler

if TYPE_CHECKING:
    from juego.metrics import Metrics

#: The largest value an integer column holds on every engine.
MAX_INT = 2**31 - 1
#: Saves in one transaction at most.
MAX_BATCH = 1024
#: The longest C{save_score} line taken: a verified game's events with their keystrokes
#: (at most juego-web's 64 KiB body, re-encoded and quoted once more).
MAX_LINE = 256 * 1024
#: The longest events text of a closed partida.
MAX_EVENTOS = 200 * 1024


class GroupCommitWriter:
    """
    Queues saves; one batch at a time is committed, holding every save that arrived while
    the previous batch was committing.

    @ivar batchSizes: the sizes of the last batches committed (for tests and metrics).
    @param metrics: where to record each batch's size and each save's latency.
    @param clock: where a batch's time comes from (the real time without one).
    """

    log = Logger()

    def __init__(
        self,
        scores: ScoresStore,
        maxBatch: int = MAX_BATCH,
        metrics: Metrics | None = None,
        clock: IReactorTime | None = None,
    ) -> None:
        self._scores = scores
        #: A batch's time comes from here (the real time without one).
        self._clock = clock
        self._maxBatch = maxBatch
        self._metrics = metrics
        self._queue: list[tuple[SaveRequest, Deferred[SaveAnswer]]] = []
        self._committing = False
        self._idleWaiters: list[Deferred[None]] = []
        self.batchSizes: list[int] = []

    @property
    def pending(self) -> int:
        return len(self._queue)

    def save(self, request: SaveRequest) -> Deferred[SaveAnswer]:
        d: Deferred[SaveAnswer] = Deferred()
        self._queue.append((request, d))
        if self._metrics is not None:
            d.addBoth(self._timed, perf_counter())
        if not self._committing:
            self._commitNext()
        return d

    def _timed(self, result: Any, started: float) -> Any:
        assert self._metrics is not None
        self._metrics.saveLatency.observe(perf_counter() - started)
        return result

    def flush(self) -> Deferred[None]:
        """
        Fire when everything queued so far is committed (for a graceful stop).
        """
        if not self._committing and not self._queue:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._idleWaiters.append(d)
        return d

    def _commitNext(self) -> None:
        if not self._queue:
            self._committing = False
            waiters, self._idleWaiters = self._idleWaiters, []
            for waiter in waiters:
                waiter.callback(None)
            return
        batch = self._queue[: self._maxBatch]
        del self._queue[: self._maxBatch]
        self._committing = True
        self.batchSizes = self.batchSizes[-99:] + [len(batch)]
        if self._metrics is not None:
            self._metrics.batchSize.observe(len(batch))

        def committed(results: Sequence[SaveAnswer]) -> None:
            for (_, d), result in zip(batch, results, strict=True):
                d.callback(result)

        def failed(failure: Any) -> None:
            if databaseUnavailable(failure.value):
                self.log.warn(
                    "a batch of {n} saves failed, database unavailable: {error}",
                    n=len(batch),
                    error=oneLine(failure.value),
                )
            else:
                self.log.failure("a batch of {n} saves failed", failure, n=len(batch))
            for _, d in batch:
                d.errback(failure)

        now = None if self._clock is None else datetime.fromtimestamp(self._clock.seconds(), UTC)
        commit = self._scores.saveBatch([request for request, _ in batch], now)
        commit.addCallbacks(committed, failed)
        commit.addBoth(lambda _: self._commitNext())


def closedPartida(request: Request, clave: str | None) -> ClosedPartida | None:
    """
    The verified partida a C{save_score} closes (its C{partida} field), if it has one.
    """
    fields = request.object("partida", default=None)
    if fields is None:
        return None
    partidaID = fields.str("id", maxLength=64, minLength=1)
    if clave is not None and clave != partidaID:
        raise invalid("El campo 'idempotency_key' debe ser el id de la partida")
    raw = fields.str("emitida", maxLength=40)
    try:
        emitida = datetime.fromisoformat(raw)
    except ValueError:
        emitida = None
    if emitida is None or emitida.tzinfo is None:
        raise invalid("El campo 'emitida' debe ser una fecha ISO 8601 con zona horaria")
    return ClosedPartida(
        id=partidaID,
        idioma=fields.choice("idioma", IDIOMAS),
        seed=fields.int("seed", minimum=-(2**63), maximum=2**63 - 1),
        emitida=emitida,
        modo=fields.str("modo", maxLength=16, minLength=1),
        wpm=fields.number("wpm", minimum=0, maximum=100_000),
        precision=fields.number("precision", minimum=0, maximum=100),
        duracion_ms=fields.int("duracion_ms", minimum=0, maximum=MAX_INT),
        eventos=fields.str("eventos", maxLength=MAX_EVENTOS),
    )


class ScoreService:
    """
    The actions of juego-tcp.
    """

    def __init__(self, writer: GroupCommitWriter) -> None:
        self.writer = writer

    def handlers(self) -> dict[str, Handler]:
        return {"save_score": self.saveScore}

    def saveScore(self, request: Request) -> Deferred[dict[str, Any]]:
        clave = request.str("idempotency_key", default=None, maxLength=64, minLength=1)
        partida = closedPartida(request, clave)
        save = SaveRequest(
            user_id=request.int("user_id", minimum=0, maximum=MAX_INT),
            puntaje=request.int("puntaje", minimum=0, maximum=MAX_INT),
            clave=partida.id if partida is not None else clave,
            partida=partida,
            primera=request.bool("primera", default=False),
            rid=validRequestID(request.fields.get(REQUEST_ID_FIELD)),
        )

        def answer(result: SaveAnswer) -> dict[str, Any]:
            if isinstance(result, UserNotFound):
                raise WireError(NOT_FOUND, f"Usuario {save.user_id} no encontrado")
            if isinstance(result, PartidaClosed):
                raise WireError(CONFLICT, "La partida ya está cerrada")
            return {
                "success": True,
                "score_id": result.score_id,
                "nuevo_record": result.nuevo_record,
                "puntaje_maximo": result.puntaje_maximo,
            }

        return self.writer.save(save).addCallback(answer)


class RecordNotices:
    """
    juego-tcp's outbox (C{score_outbox}): the record notifications its group commit
    queued, handed to juego-dist. Each is sent as soon as its batch is committed (the
    batch claimed the row for L{CLAIM}) and its row deleted on juego-dist's confirmation;
    one juego-dist could not take is left to the drain (L{drain}, on a timer), which tries
    again once the claim lapses, with backoff. juego-dist stores a notification once by
    its key (C{record:<partida>}), so a second delivery changes nothing.
    """

    log = Logger()

    def __init__(self, outbox: OutboxStore, dist: DistService, clock: IReactorTime) -> None:
        self._outbox = outbox
        self._deliveries = Deliveries(None, dist)
        self._drainer = OutboxDrainer(outbox, self._deliveries, clock)
        #: Deliveries under way (for tests and a clean stop).
        self.sending: set[Deferred[None]] = set()
        self._confirmed: list[int] = []
        self._deleting: Deferred[None] | None = None

    def queued(self, notices: Sequence[Notice]) -> None:
        """
        A batch queuing C{notices} was committed: send them now.
        """
        for notice in notices:
            d = Deferred.fromCoroutine(self._send(notice))
            self.sending.add(d)
            d.addBoth(self._sent, d)

    def _sent(self, result: Any, d: Deferred[None]) -> None:
        self.sending.discard(d)
        if isinstance(result, Failure):
            self.log.failure("sending a record notification failed", result)

    async def _send(self, notice: Notice) -> None:
        outcome, _ = await self._deliveries.send(ADD_NOTIFICATION, notice.payload)
        if outcome is Outcome.RETRY:
            return  # the drain sends it once the batch's claim lapses
        self._confirmed.append(notice.id)
        if self._deleting is None:
            self._deleting = Deferred.fromCoroutine(self._deleteConfirmed())
        await self._deleting

    async def _deleteConfirmed(self) -> None:
        """
        Delete the confirmed rows, those confirmed meanwhile in one transaction more.
        """
        try:
            while self._confirmed:
                ids, self._confirmed = self._confirmed, []
                try:
                    await self._outbox.completeMany(ids)
                except Exception as e:
                    # Left in the outbox: the drain sends them again, and juego-dist
                    # answers by their key.
                    self.log.warn(
                        "{n} delivered record notifications not cleared: {error}",
                        n=len(ids),
                        error=oneLine(e),
                    )
        finally:
            self._deleting = None

    def drain(self) -> Deferred[int]:
        """
        Send the rows whose claim lapsed (a failed delivery, or a process stopped before
        it sent them).
        """
        return self._drainer.drain()

    def flush(self) -> Deferred[Any]:
        """
        Fire when the deliveries under way are over (for a clean stop).
        """
        return DeferredList(list(self.sending))
