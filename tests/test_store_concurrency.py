"""
Score nodes sharing one PostgreSQL database commit their batches at the same time: every
shared counter must be changed in one lock order, or two batches can deadlock (and the
loser waits for PostgreSQL's deadlock_timeout, then is retried or fails).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from sqlalchemy import Connection, insert, select
from twisted.trial.unittest import SynchronousTestCase

from juego.store import schema as s
from juego.store.migrate import upgrade
from juego.store.pool import makeEngine
from juego.store.scores import _bump
from tests.support import postgresURL


class PauseAfterFirstStatement:
    """
    A connection that, after its first statement, waits (a little) for the other
    transaction to have run its own first statement: the interleaving that lets two
    transactions each take a lock the other needs next.
    """

    def __init__(self, conn: Connection, rendezvous: threading.Barrier) -> None:
        self._conn = conn
        self._rendezvous = rendezvous
        self._paused = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def execute(self, *a: Any, **kw: Any) -> Any:
        result = self._conn.execute(*a, **kw)
        if not self._paused:
            self._paused = True
            try:
                self._rendezvous.wait()
            except threading.BrokenBarrierError:
                pass  # the other one is waiting for a lock we hold: go on
        return result


class CounterLockOrderTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.engine = makeEngine(postgresURL(self))
        self.addCleanup(self.engine.dispose)
        upgrade(self.engine)

    def bump(
        self, deltas: dict[int, int], rendezvous: threading.Barrier, errors: list[BaseException]
    ) -> None:
        try:
            with self.engine.begin() as conn:
                # Never hang the suite, whatever the order.
                conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
                paused: Any = PauseAfterFirstStatement(conn, rendezvous)
                _bump(paused, s.best_counts, "puntaje", Counter(deltas))
        except BaseException as e:
            errors.append(e)

    def test_crossingBestChangesDoNotDeadlock(self) -> None:
        """
        Two score nodes commit at once: on one a player's best goes from 10 to 20; on the
        other a new player scores 10 and another's best goes from 20 to 30. Each batch
        raises one bucket the other lowers.
        """
        with self.engine.begin() as conn:
            conn.execute(
                insert(s.best_counts),
                [{"puntaje": 10, "jugadores": 1}, {"puntaje": 20, "jugadores": 1}],
            )
        rendezvous = threading.Barrier(2, timeout=1.0)
        errors: list[BaseException] = []
        threads = [
            threading.Thread(target=self.bump, args=(deltas, rendezvous, errors))
            for deltas in ({10: -1, 20: +1}, {10: +1, 20: -1, 30: +1})
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertEqual(errors, [])
        with self.engine.connect() as conn:
            counts = dict(
                conn.execute(select(s.best_counts.c.puntaje, s.best_counts.c.jugadores)).all()
            )
        self.assertEqual(counts, {10: 1, 20: 1, 30: 1})

    def test_emptiedBucketsGo(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(s.best_counts),
                [{"puntaje": 10, "jugadores": 1}, {"puntaje": 20, "jugadores": 2}],
            )
            _bump(conn, s.best_counts, "puntaje", Counter({10: -1, 20: -1, 30: 2, 40: 0}))
            counts = dict(
                conn.execute(select(s.best_counts.c.puntaje, s.best_counts.c.jugadores)).all()
            )
        self.assertEqual(counts, {20: 1, 30: 2})
