"""
juego-tcp: the score service. C{save_score} goes through a group-commit writer: saves
that arrive while a commit runs are stored together in the next transaction, and each
reply leaves only after its own commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from juego.model import SaveResult
from juego.store.pool import databaseUnavailable, oneLine
from juego.store.scores import SaveRequest, ScoresStore, UserNotFound
from juego.wire import Request, WireError
from juego.wire.errors import NOT_FOUND
from juego.wire.protocol import Handler

if TYPE_CHECKING:
    from juego.metrics import Metrics

#: The largest value an integer column holds on every engine.
MAX_INT = 2**31 - 1
#: Saves in one transaction at most.
MAX_BATCH = 1024


class GroupCommitWriter:
    """
    Queues saves; one batch at a time is committed, holding every save that arrived while
    the previous batch was committing.

    @ivar batchSizes: the sizes of the last batches committed (for tests and metrics).
    @param metrics: where to record each batch's size and each save's latency.
    """

    log = Logger()

    def __init__(
        self, scores: ScoresStore, maxBatch: int = MAX_BATCH, metrics: Metrics | None = None
    ) -> None:
        self._scores = scores
        self._maxBatch = maxBatch
        self._metrics = metrics
        self._queue: list[tuple[SaveRequest, Deferred[SaveResult | UserNotFound]]] = []
        self._committing = False
        self._idleWaiters: list[Deferred[None]] = []
        self.batchSizes: list[int] = []

    @property
    def pending(self) -> int:
        return len(self._queue)

    def save(self, request: SaveRequest) -> Deferred[SaveResult | UserNotFound]:
        d: Deferred[SaveResult | UserNotFound] = Deferred()
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

        def committed(results: Sequence[SaveResult | UserNotFound]) -> None:
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

        commit = self._scores.saveBatch([request for request, _ in batch])
        commit.addCallbacks(committed, failed)
        commit.addBoth(lambda _: self._commitNext())


class ScoreService:
    """
    The actions of juego-tcp.
    """

    def __init__(self, writer: GroupCommitWriter) -> None:
        self.writer = writer

    def handlers(self) -> dict[str, Handler]:
        return {"save_score": self.saveScore}

    def saveScore(self, request: Request) -> Deferred[dict[str, Any]]:
        save = SaveRequest(
            user_id=request.int("user_id", minimum=0, maximum=MAX_INT),
            puntaje=request.int("puntaje", minimum=0, maximum=MAX_INT),
            clave=request.str("idempotency_key", default=None, maxLength=64, minLength=1),
        )

        def answer(result: SaveResult | UserNotFound) -> dict[str, Any]:
            if isinstance(result, UserNotFound):
                raise WireError(NOT_FOUND, f"Usuario {save.user_id} no encontrado")
            return {
                "success": True,
                "score_id": result.score_id,
                "nuevo_record": result.nuevo_record,
                "puntaje_maximo": result.puntaje_maximo,
            }

        return self.writer.save(save).addCallback(answer)
