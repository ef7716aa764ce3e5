"""
The outbox drain loop: backoff, claims, passes that never overlap, and what each kind of
answer does to a row.
"""

from __future__ import annotations

from datetime import timedelta

from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase

from juego.outbox import (
    ADD_NOTIFICATION,
    CAP,
    SAVE_SCORE,
    Deliveries,
    OutboxDrainer,
    Outcome,
    backoff,
    recordMessage,
)
from juego.web.clock import utcnow
from tests.websupport import WebTestCase


class BackoffTests(SynchronousTestCase):
    def test_exponentialCappedJittered(self):
        self.assertEqual(backoff(1, lambda: 1.0), 0.5)
        self.assertEqual(backoff(1, lambda: 0.0), 0.25)
        self.assertEqual(backoff(2, lambda: 1.0), 1.0)
        self.assertEqual(backoff(3, lambda: 1.0), 2.0)
        self.assertEqual(backoff(5, lambda: 1.0), CAP)
        self.assertEqual(backoff(50, lambda: 1.0), CAP)
        self.assertEqual(backoff(50, lambda: 0.0), CAP / 2)
        self.assertEqual(CAP, 5.0)

    def test_recordMessage(self):
        self.assertEqual(recordMessage(120), "¡Nuevo récord personal: 120 puntos!")


class Stuck:
    """
    Deliveries whose calls never answer.
    """

    def __init__(self):
        self.sent = []

    def send(self, kind, payload):
        self.sent.append((kind, payload))
        return Deferred()


class DrainTests(WebTestCase):
    def setUp(self):
        super().setUp()
        _, self.user = self.signUp("Ana")
        self.now = utcnow(self.clock)

    def enqueue(self, kind, payload):
        return self.successResultOf(self.store.partidas.enqueue(kind, payload, self.now, self.now))

    def notification(self, message="hola"):
        return self.enqueue(
            ADD_NOTIFICATION, {"user_id": self.user["id"], "message": message, "type": "info"}
        )

    def pending(self):
        return self.successResultOf(self.store.partidas.pending())

    def drain(self):
        return self.successResultOf(self.app.drainer.drain())

    def test_deliversInOrder(self):
        self.notification("uno")
        self.notification("dos")
        self.assertEqual(self.drain(), 2)
        self.assertEqual(self.dist.messages(self.user["id"]), ["uno", "dos"])
        self.assertEqual(self.pending(), [])

    def test_backlogDrainsInOneTick(self):
        """
        A backlog larger than a batch goes in one drain, batch after batch.
        """
        for i in range(120):
            self.notification(f"n{i}")
        self.assertEqual(self.drain(), 120)
        self.assertEqual(self.pending(), [])

    def test_downServiceSkipsItsKindThisPass(self):
        self.dist.down = True
        self.notification("uno")
        self.notification("dos")
        self.enqueue(SAVE_SCORE, {"user_id": self.user["id"], "puntaje": 0, "partida_id": "p1"})
        self.assertEqual(self.drain(), 1)
        # One call to the down service, and the score went through.
        self.assertEqual(len(self.scores.calls), 1)
        rows = self.pending()
        self.assertEqual([(r.kind, r.intentos) for r in rows], [(ADD_NOTIFICATION, 1)] * 2)
        self.assertEqual(self.drain(), 0)
        self.dist.down = False
        self.clock.advance(CAP)
        self.assertEqual(self.drain(), 2)
        self.assertEqual(self.dist.messages(self.user["id"]), ["uno", "dos"])

    def test_backoffGrows(self):
        self.dist.down = True
        self.notification()
        drainer = OutboxDrainer(
            self.store.partidas, Deliveries(self.scores, self.dist), self.clock, rand=lambda: 1.0
        )
        tries = []
        for _ in range(8):
            self.successResultOf(drainer.drain())
            [row] = self.pending()
            tries.append(row.intentos)
            self.clock.advance(CAP)
        self.assertEqual(tries, list(range(1, 9)))
        # Not due before its backoff.
        self.successResultOf(drainer.drain())
        self.clock.advance(CAP - 0.5)
        self.successResultOf(drainer.drain())
        [row] = self.pending()
        self.assertEqual(row.intentos, 9)

    def test_passesDoNotOverlap(self):
        self.notification()
        stuck = Stuck()
        drainer = OutboxDrainer(self.store.partidas, stuck, self.clock)
        first = drainer.drain()
        self.assertNoResult(first)
        self.assertEqual(self.successResultOf(drainer.drain()), 0)
        self.assertEqual(len(stuck.sent), 1)

    def test_claimedRowsAreNotTakenTwice(self):
        self.notification()
        stuck = Stuck()
        OutboxDrainer(self.store.partidas, stuck, self.clock).drain()
        other = Stuck()
        OutboxDrainer(self.store.partidas, other, self.clock).drain()
        self.assertEqual((len(stuck.sent), len(other.sent)), (1, 0))

    def test_permanentRefusalDropsRow(self):
        self.enqueue(SAVE_SCORE, {"user_id": 999, "puntaje": 5, "partida_id": "p1"})
        self.assertEqual(self.drain(), 0)
        self.assertEqual(self.pending(), [])

    def test_confirmedRecordQueuesNotification(self):
        self.enqueue(SAVE_SCORE, {"user_id": self.user["id"], "puntaje": 40, "partida_id": "p1"})
        self.assertEqual(self.drain(), 1)
        [row] = self.pending()
        self.assertEqual(row.payload["message"], recordMessage(40))
        self.assertEqual(row.payload["idempotency_key"], "record:p1")
        self.assertEqual(self.drain(), 1)
        self.assertEqual(self.dist.messages(self.user["id"]), [recordMessage(40)])

    def test_redeliveredRecordNotificationStoredOnce(self):
        """
        A notification delivered, then delivered again (its row outlived the delivery,
        as after a crash), is stored once: it carries the partida's key.
        """
        self.enqueue(SAVE_SCORE, {"user_id": self.user["id"], "puntaje": 40, "partida_id": "p1"})
        self.drain()
        [row] = self.pending()
        self.enqueue(ADD_NOTIFICATION, dict(row.payload))
        self.drain()
        self.assertEqual(self.pending(), [])
        self.assertEqual(self.dist.messages(self.user["id"]), [recordMessage(40)])

    def test_unexpectedErrorIsRetried(self):
        class Broken:
            def add_notification(self, *a, **kw):
                raise RuntimeError("bug")

        self.notification()
        drainer = OutboxDrainer(self.store.partidas, Deliveries(self.scores, Broken()), self.clock)
        self.assertEqual(self.successResultOf(drainer.drain()), 0)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        [row] = self.pending()
        self.assertEqual(row.intentos, 1)


class DeliveriesTests(SynchronousTestCase):
    def test_outcomes(self):
        class Scores:
            def __init__(self, reply):
                self.reply = reply

            def save_score(
                self, user_id, puntaje, idempotency_key=None, partida=None, primera=False
            ):
                return succeed(self.reply)

        payload = {"user_id": 1, "puntaje": 3, "partida_id": "p"}
        for reply, outcome in [
            ({"success": True, "nuevo_record": False}, Outcome.DONE),
            ({"success": False, "code": "not_found"}, Outcome.DROP),
            ({"success": False, "code": "invalid_request"}, Outcome.DROP),
            ({"success": False, "code": "conflict"}, Outcome.DROP),
            ({"success": False, "code": "internal"}, Outcome.RETRY),
            ({"success": False, "code": "unauthorized"}, Outcome.RETRY),
        ]:
            got, _ = self.successResultOf(
                Deferred.fromCoroutine(Deliveries(Scores(reply), None).send(SAVE_SCORE, payload))
            )
            self.assertIs(got, outcome, reply)

    def test_timing(self):
        self.assertEqual(timedelta(seconds=5).total_seconds(), CAP)
