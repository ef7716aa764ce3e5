"""
juego-tcp: the group-commit writer and the save_score action.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from juego.model import SaveResult
from juego.scores import GroupCommitWriter, RecordNotices, ScoreService
from juego.store.scores import SaveRequest, UserNotFound
from juego.tap import SequentialMultiService, StoreService
from juego.tap import tcp as tcpTap
from juego.wire import WireFactory
from tests.support import PostgresMixin, SQLiteMixin, synchronousStore


class ControlledScores:
    """
    A ScoresStore whose commits finish when the test says.
    """

    def __init__(self):
        self.batches: list[tuple[list[SaveRequest], Deferred]] = []
        self.outbox = None
        self.onNotices = None

    def saveBatch(self, requests, now=None):
        d = Deferred()
        self.batches.append((list(requests), d))
        return d

    def commit(self, index=-1):
        requests, d = self.batches[index]
        d.callback([SaveResult(i, True, r.puntaje) for i, r in enumerate(requests)])


class GroupCommitTests(SynchronousTestCase):
    def test_savesWhileCommittingGoTogether(self):
        scores = ControlledScores()
        writer = GroupCommitWriter(scores)
        first = writer.save(SaveRequest(1, 10))
        self.assertEqual(len(scores.batches), 1)  # the first goes at once
        later = [writer.save(SaveRequest(2, p)) for p in (1, 2, 3)]
        self.assertEqual(len(scores.batches), 1)  # the rest wait for the commit
        self.assertNoResult(first)
        scores.commit(0)
        self.assertEqual(self.successResultOf(first).puntaje_maximo, 10)
        self.assertEqual(len(scores.batches), 2)
        self.assertEqual([r.puntaje for r in scores.batches[1][0]], [1, 2, 3])
        for d in later:
            self.assertNoResult(d)  # no reply before its own commit
        scores.commit(1)
        self.assertEqual([self.successResultOf(d).puntaje_maximo for d in later], [1, 2, 3])
        self.assertEqual(writer.batchSizes, [1, 3])

    def test_failedBatchFailsItsSavesOnly(self):
        scores = ControlledScores()
        writer = GroupCommitWriter(scores)
        a = writer.save(SaveRequest(1, 1))
        b = writer.save(SaveRequest(1, 2))
        scores.batches[0][1].errback(RuntimeError("disk"))
        self.failureResultOf(a, RuntimeError)
        scores.commit(1)
        self.assertEqual(self.successResultOf(b).puntaje_maximo, 2)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_flushWaitsForQueue(self):
        scores = ControlledScores()
        writer = GroupCommitWriter(scores)
        self.successResultOf(writer.flush())
        writer.save(SaveRequest(1, 1))
        writer.save(SaveRequest(1, 2))
        flushed = writer.flush()
        scores.commit(0)
        self.assertNoResult(flushed)
        scores.commit(1)
        self.successResultOf(flushed)

    def test_maxBatch(self):
        scores = ControlledScores()
        writer = GroupCommitWriter(scores, maxBatch=2)
        writer.save(SaveRequest(1, 0))
        for p in range(5):
            writer.save(SaveRequest(1, p))
        scores.commit(0)
        self.assertEqual(len(scores.batches[1][0]), 2)


class ScoreServiceMixin:
    def setUp(self):
        self.store = synchronousStore(self, self.databaseURL())
        self.user = self.successResultOf(self.store.users.create("ana", "ana@example.com", "h"))
        writer = GroupCommitWriter(self.store.scores)
        factory = WireFactory(ScoreService(writer).handlers(), None, Clock())
        self.protocol = factory.buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)

    def ask(self, line: bytes):
        self.protocol.dataReceived(line + b"\n")
        out = self.transport.value()
        self.transport.clear()
        return json.loads(out)

    def test_seedLine(self):
        line = json.dumps(
            {"action": "save_score", "user_id": self.user.id, "puntaje": 100}
        ).encode()
        reply = self.ask(line)
        self.assertEqual(
            {k: reply[k] for k in ("success", "nuevo_record", "puntaje_maximo")},
            {"success": True, "nuevo_record": True, "puntaje_maximo": 100},
        )
        self.assertIsInstance(reply["score_id"], int)
        reply = self.ask(line)
        self.assertEqual((reply["nuevo_record"], reply["puntaje_maximo"]), (False, 100))

    def test_badInputs(self):
        uid = self.user.id
        cases = {
            b'{"action": "save_score", "user_id": 999999, "puntaje": 1}': "not_found",
            b'{"action": "save_score", "puntaje": 1}': "invalid_request",
            b'{"action": "save_score", "user_id": "1", "puntaje": 1}': "invalid_request",
            b'{"action": "save_score", "user_id": %d, "puntaje": -1}' % uid: "invalid_request",
            b'{"action": "save_score", "user_id": %d, "puntaje": 1.5}' % uid: "invalid_request",
            b'{"action": "save_score", "user_id": %d, "puntaje": 99999999999999999999}'
            % uid: "invalid_request",
            b'{"action": "save_score", "user_id": %d}' % uid: "invalid_request",
            b'{"action": "save_score", "user_id": %d, "puntaje": true}' % uid: "invalid_request",
            b'{"action": "save_score", "user_id": %d, "puntaje": 1, "idempotency_key": 5}'
            % uid: "invalid_request",
        }
        for line, code in cases.items():
            reply = self.ask(line)
            self.assertEqual((reply["success"], reply["code"]), (False, code), line)
        stats = self.successResultOf(self.store.stats.userStats(uid))
        self.assertEqual(stats.partidas_jugadas, 0)

    def test_batchStoresWhatSQLAlchemyWould(self):
        """
        The batch writes through the DB-API (C{_Many}), with its values converted once:
        every column holds what SQLAlchemy's own insert and update would have stored
        (the same text for a SQLite datetime, microseconds included even when 0).
        """
        from datetime import UTC, datetime

        from sqlalchemy import insert, select, text, update

        from juego.store import schema as s

        other = self.successResultOf(self.store.users.create("eva", "eva@example.com", "h"))
        when = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
        saved = self.successResultOf(
            self.store.scores.saveBatch(
                [SaveRequest(self.user.id, 40, "k-1"), SaveRequest(self.user.id, 30)], now=when
            )
        )
        self.assertEqual(
            [(r.nuevo_record, r.puntaje_maximo) for r in saved], [(True, 40), (False, 40)]
        )
        agg = s.user_aggregates
        with self.store.engine.begin() as conn:
            conn.execute(
                insert(s.scores),
                [
                    {
                        "user_id": other.id,
                        "puntaje": p,
                        "fecha": when,
                        "clave": k,
                        "nuevo_record": n,
                        "puntaje_maximo": 40,
                    }
                    for p, k, n in ((40, "k-2", True), (30, None, False))
                ],
            )
            conn.execute(
                update(agg)
                .where(agg.c.user_id == other.id)
                .values(
                    puntaje_maximo=40,
                    fecha_maximo=when,
                    partidas_jugadas=2,
                    puntaje_total=70,
                    fecha_ultimo_juego=when,
                    dia_ultimo_juego=(when.date() - datetime(1970, 1, 1).date()).days,
                )
            )
            columns = "puntaje, fecha, clave, nuevo_record, puntaje_maximo"
            scores = {
                u: [
                    tuple(r)
                    for r in conn.execute(
                        text(f"SELECT {columns} FROM scores WHERE user_id = :u ORDER BY id"),
                        {"u": u},
                    )
                ]
                for u in (self.user.id, other.id)
            }
            aggregates = {
                u: tuple(
                    conn.execute(
                        text(
                            "SELECT puntaje_maximo, fecha_maximo, partidas_jugadas, puntaje_total, fecha_ultimo_juego, dia_ultimo_juego FROM user_aggregates WHERE user_id = :u"
                        ),
                        {"u": u},
                    ).one()
                )
                for u in (self.user.id, other.id)
            }
            ids = (
                conn.execute(
                    select(s.scores.c.id)
                    .where(s.scores.c.user_id == self.user.id)
                    .order_by(s.scores.c.id)
                )
                .scalars()
                .all()
            )
        self.assertEqual(
            [(p, c) for p, _, c, _, _ in scores[self.user.id]], [(40, "k-1"), (30, None)]
        )
        self.assertEqual(
            [row[:2] + row[3:] for row in scores[self.user.id]],
            [row[:2] + row[3:] for row in scores[other.id]],
        )
        self.assertEqual(
            [row[1] for row in scores[self.user.id]], [row[1] for row in scores[other.id]]
        )
        self.assertEqual(aggregates[self.user.id], aggregates[other.id])
        self.assertEqual([r.score_id for r in saved], ids)

    def test_idempotencyKey(self):
        line = json.dumps(
            {
                "action": "save_score",
                "user_id": self.user.id,
                "puntaje": 50,
                "idempotency_key": "p-1",
            }
        ).encode()
        first, again = self.ask(line), self.ask(line)
        self.assertEqual(first, again)
        self.assertEqual(
            self.successResultOf(self.store.stats.userStats(self.user.id)).partidas_jugadas, 1
        )

    def closing(self, partidaID: str, puntaje: int, primera: bool = False, **partida):
        fields = {
            "id": partidaID,
            "idioma": "es",
            "seed": 7,
            "emitida": "2026-11-30T12:00:00.250000+00:00",
            "modo": "normal",
            "wpm": 61.5,
            "precision": 0.97,
            "duracion_ms": 4200,
            "eventos": '[{"t":900,"ok":true,"errores":0,"teclas":[300,600,900]}]',
            **partida,
        }
        request = {"action": "save_score", "user_id": self.user.id, "puntaje": puntaje}
        request["partida"] = fields
        if primera:
            request["primera"] = True
        return self.ask(json.dumps(request).encode())

    def test_closesThePartida(self):
        """
        A save with its partida writes the partida closed with the verified result, the
        score keyed by the partida, and a record's notification in juego-tcp's outbox,
        in one commit; the same hand-over again is answered by the key, but a first
        hand-over of a partida stored already is a conflict.
        """
        notices = []
        self.store.scores.onNotices = notices.extend
        first = self.closing("tok-1", 50, primera=True)
        self.assertEqual((first["success"], first["nuevo_record"]), (True, True))
        partida = self.successResultOf(self.store.partidas.get("tok-1"))
        self.assertEqual((partida.user_id, partida.seed, partida.modo), (self.user.id, 7, "normal"))
        self.assertEqual(partida.emitida.microsecond, 250000)
        [game] = self.successResultOf(self.store.partidas.games(self.user.id))
        self.assertEqual(
            (game.puntaje, game.wpm, game.precision, game.estado), (50, 61.5, 0.97, "publica")
        )
        self.assertEqual(len(self.successResultOf(self.store.partidas.eventos("tok-1"))), 1)
        [notice] = notices
        self.assertEqual(notice.payload["idempotency_key"], "record:tok-1")
        self.assertEqual(
            [n.id for n in self.successResultOf(self.store.scores.outbox.pending())], [notice.id]
        )
        self.assertEqual(self.closing("tok-1", 50), first)  # the outbox's retry: by key
        refused = self.closing("tok-1", 60, primera=True)
        self.assertEqual(refused["code"], "conflict")
        # Not a record: nothing queued.
        self.closing("tok-2", 10, primera=True)
        self.assertEqual(len(notices), 1)
        stats = self.successResultOf(self.store.stats.userStats(self.user.id))
        self.assertEqual((stats.partidas_jugadas, stats.puntaje_maximo), (2, 50))

    def test_closedOtherwise(self):
        """
        A partida closed otherwise (refused, held) is a conflict: no score.
        """
        from juego.model import Partida
        from juego.store.partidas import Verified

        issued = Partida("tok-3", self.user.id, "es", 7, datetime(2026, 11, 30, tzinfo=UTC))
        held = Verified(80, 200.0, 1.0, 4000)
        when = datetime(2026, 11, 30, 12, tzinfo=UTC)
        self.assertTrue(
            self.successResultOf(self.store.partidas.closeHeld(issued, when, held, "revision", "r"))
        )
        for primera in (True, False):
            self.assertEqual(self.closing("tok-3", 80, primera)["code"], "conflict")
        stats = self.successResultOf(self.store.stats.userStats(self.user.id))
        self.assertEqual(stats.partidas_jugadas, 0)

    def test_badPartida(self):
        for bad in (
            {"emitida": "ayer"},
            {"emitida": "2026-11-30T12:00:00"},  # no zone
            {"wpm": "rápido"},
            {"precision": float("inf")},
            {"eventos": ["no", "texto"]},
            {"idioma": "fr"},
            {"seed": 2**64},
        ):
            reply = self.closing("tok-9", 5, **bad)
            self.assertEqual(reply["code"], "invalid_request", bad)
        line = {"action": "save_score", "user_id": self.user.id, "puntaje": 5, "partida": "x"}
        self.assertEqual(self.ask(json.dumps(line).encode())["code"], "invalid_request")
        mismatched = dict(line, partida={"id": "a"}, idempotency_key="b")
        self.assertEqual(self.ask(json.dumps(mismatched).encode())["code"], "invalid_request")
        self.assertIsNone(self.successResultOf(self.store.partidas.get("tok-9")))


class SQLiteScoreServiceTests(SQLiteMixin, ScoreServiceMixin, SynchronousTestCase):
    def test_restartKeepsData(self):
        """
        A new store on the same file (a restarted service) sees every save.
        """
        for p in (5, 9):
            self.ask(
                json.dumps({"action": "save_score", "user_id": self.user.id, "puntaje": p}).encode()
            )
        url = str(self.store.engine.url)
        self.store.engine.dispose()
        reopened = synchronousStore(self, url)
        stats = self.successResultOf(reopened.stats.userStats(self.user.id))
        self.assertEqual((stats.partidas_jugadas, stats.puntaje_maximo), (2, 9))


class PostgresScoreServiceTests(PostgresMixin, ScoreServiceMixin, SynchronousTestCase):
    pass


class UnknownUserInBatch(SynchronousTestCase):
    def test_notFoundDoesNotSpoilBatch(self):
        scores = ControlledScores()
        writer = GroupCommitWriter(scores)
        writer.save(SaveRequest(1, 1))
        a, b = writer.save(SaveRequest(404, 1)), writer.save(SaveRequest(1, 3))
        scores.commit(0)
        scores.batches[1][1].callback([UserNotFound(404), SaveResult(7, True, 3)])
        self.assertIsInstance(self.successResultOf(a), UserNotFound)
        self.assertEqual(self.successResultOf(b).score_id, 7)


class GracefulStopTests(SynchronousTestCase):
    """
    juego-tcp stopping (SIGTERM) while saves are in flight: the listener closes, each
    connection sends the replies it owes (each after its commit) and closes, then the
    queue is flushed and the store goes. (The reactor's shutdown drops every open
    connection at once: without the drain, the last batch's replies never left, and
    committed saves went unanswered.)
    """

    def test_saveInFlightIsAnsweredBeforeTheConnectionCloses(self):
        scores = ControlledScores()
        writer = GroupCommitWriter(scores)
        factory = WireFactory(ScoreService(writer).handlers(), None, Clock())
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(b'{"action": "save_score", "user_id": 1, "puntaje": 5, "id": 1}\n')
        drained = factory.drainConnections()
        protocol.dataReceived(b'{"action": "save_score", "user_id": 1, "puntaje": 6, "id": 2}\n')
        self.assertEqual(len(scores.batches), 1)  # the second was not read: never stored
        self.assertFalse(transport.disconnecting)
        scores.commit(0)
        [reply] = [json.loads(line) for line in transport.value().splitlines()]
        self.assertEqual((reply["id"], reply["success"]), (1, True))
        self.assertTrue(transport.disconnecting)
        protocol.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(drained)
        self.successResultOf(writer.flush())

    def test_stopOrder(self):
        order: list[str] = []
        self.patch(WireFactory, "drainConnections", lambda factory: order.append("drain"))
        self.patch(GroupCommitWriter, "flush", lambda writer: order.append("flush"))
        self.patch(RecordNotices, "flush", lambda notices: order.append("notices"))
        self.patch(RecordNotices, "drain", lambda notices: None)
        store = SimpleNamespace(
            scores=ControlledScores(), start=lambda: None, stop=lambda: order.append("store")
        )
        reactor = MemoryReactorClock()
        parent = SequentialMultiService()
        StoreService(store).setServiceParent(parent)  # type: ignore[arg-type]
        tcpTap.addTo(parent, store, "tcp:0:interface=127.0.0.1", None, reactor)  # type: ignore[arg-type]
        parent.startService()
        self.assertEqual(len(reactor.tcpServers), 1)
        self.successResultOf(parent.stopService())
        self.assertEqual(order, ["drain", "flush", "notices", "store"])
