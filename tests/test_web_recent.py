"""
L{juego.web.recent.Recent}: the global stats reused for a moment, one fetch at a time.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from juego.web.recent import GLOBAL_STATS_TTL, Recent
from tests.websupport import WebTestCase


class Boom(Exception):
    pass


class RecentTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.pending: list[Deferred[Any]] = []
        self.recent: Recent[Any] = Recent(self.fetch, self.clock, 0.25)

    async def fetch(self) -> Any:
        d: Deferred[Any] = Deferred()
        self.pending.append(d)
        return await d

    def test_reusedWithinTTL(self) -> None:
        first = self.recent.get()
        self.pending[0].callback(1)
        self.assertEqual(self.successResultOf(first), 1)
        self.clock.advance(0.2)
        self.assertEqual(self.successResultOf(self.recent.get()), 1)
        self.assertEqual(len(self.pending), 1)

    def test_fetchedAgainAfterTTL(self) -> None:
        self.recent.get()
        self.pending[0].callback(1)
        self.clock.advance(0.25)
        again = self.recent.get()
        self.assertEqual(len(self.pending), 2)
        self.pending[1].callback(2)
        self.assertEqual(self.successResultOf(again), 2)

    def test_concurrentCallersShareOneFetch(self) -> None:
        a, b = self.recent.get(), self.recent.get()
        self.assertEqual(len(self.pending), 1)
        self.pending[0].callback("x")
        self.assertEqual((self.successResultOf(a), self.successResultOf(b)), ("x", "x"))

    def test_failureNotKept(self) -> None:
        a, b = self.recent.get(), self.recent.get()
        self.pending[0].errback(Boom())
        self.failureResultOf(a, Boom)
        self.failureResultOf(b, Boom)
        c = self.recent.get()
        self.assertEqual(len(self.pending), 2)
        self.pending[1].callback(3)
        self.assertEqual(self.successResultOf(c), 3)

    def test_forget(self) -> None:
        self.recent.get()
        self.pending[0].callback(1)
        self.recent.forget()
        d = self.recent.get()
        self.assertEqual(len(self.pending), 2)
        self.pending[1].callback(2)
        self.assertEqual(self.successResultOf(d), 2)

    def test_forgetDuringFetch(self) -> None:
        """
        A fetch that began before L{Recent.forget} answers its own callers but is not
        kept, and callers after the forget do not wait for it.
        """
        early = self.recent.get()
        self.recent.forget()
        late = self.recent.get()
        self.assertEqual(len(self.pending), 2)
        self.pending[0].callback("old")
        self.assertEqual(self.successResultOf(early), "old")
        self.assertNoResult(late)
        self.pending[1].callback("new")
        self.assertEqual(self.successResultOf(late), "new")
        self.assertEqual(self.successResultOf(self.recent.get()), "new")
        self.assertEqual(len(self.pending), 2)


class GlobalStatsTests(WebTestCase):
    """
    C{GET /api/stats/global} asks juego-dist once per L{GLOBAL_STATS_TTL}, and a save
    through this process shows at once.
    """

    def setUp(self) -> None:
        super().setUp()
        self.calls = 0
        original = self.dist.get_global_stats

        def counted() -> Any:
            self.calls += 1
            return original()

        self.dist.get_global_stats = counted

    def stats(self) -> dict[str, Any]:
        reply = self.client().get("/api/stats/global")
        self.assertEqual(reply.status, 200, reply.body)
        return reply.json["stats"]

    def test_askedOncePerTTL(self) -> None:
        for _ in range(3):
            self.stats()
        self.assertEqual(self.calls, 1)
        self.clock.advance(GLOBAL_STATS_TTL)
        self.stats()
        self.assertEqual(self.calls, 2)

    def test_ownSaveShowsAtOnce(self) -> None:
        client, _ = self.signUp()
        self.assertEqual(self.stats()["partidas_totales"], 0)
        partida = self.newPartida(client)
        word = partida["palabras"][0]
        # A one-word game, sent without the clock moving (within the 2 s of slack).
        d = 30 * len(word) + 50
        events = [{"t": d, "ok": True, "errores": 0, "teclas": [d // 2, d]}]
        reply = client.post(
            "/api/guardar_puntaje", {"partida_id": partida["id"], "eventos": events}
        )
        self.assertEqual(reply.status, 200, reply.body)
        self.assertEqual(self.stats()["partidas_totales"], 1)
