"""
One writer on the save path, in real processes: juego-web writes nothing for a verified
save (it issues partidas as signed tokens, and juego-tcp closes them with their scores and
queues the record notifications, which it hands to juego-dist itself).
"""

from __future__ import annotations

import random
import re
import time
import urllib.request

from sqlalchemy import func, select
from twisted.trial.unittest import SynchronousTestCase

from juego.store import schema as s
from tests.test_reliability import (
    AHEAD_MS,
    Player,
    System,
    Web,
    issue,
    mostWords,
    register,
    typed,
)

PLAYERS = 4
ROUNDS = 5
#: Seconds to wait for juego-tcp to hand its queued notifications to juego-dist.
DELIVERY_TIMEOUT = 30.0


def webWrites(port: int) -> float:
    """
    juego-web's write transactions so far, from its C{/metrics}.
    """
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    match = re.search(r"^juego_db_write_transactions_total (\S+)$", text, re.MULTILINE)
    assert match is not None, text[:2000]
    return float(match.group(1))


class OneWriterTests(SynchronousTestCase):
    def test_noWebWrites(self) -> None:
        """
        Over a batch of verified saves (issue, play, save), juego-web begins no write
        transaction; every result is stored once, its partida closed, and each record's
        notification reaches juego-dist.
        """
        system = System(self)
        system.startAll()
        port = system.ports["web"]
        players = [register(port, Player(i, f"una{i}@example.com")) for i in range(PLAYERS)]
        web = Web(port)
        self.addCleanup(web.close)
        rng = random.Random(11)
        before = webWrites(port)
        saved = []
        for _ in range(ROUNDS):
            issued = [(player, issue(web, player)) for player in players]
            for player, (partida, received) in issued:
                budget = (time.monotonic() - received) * 1000 + AHEAD_MS
                words = max(1, mostWords(partida["palabras"], budget))
                eventos, expected = typed(partida["palabras"], words, rng)
                status, reply, _ = web.post(
                    "/api/guardar_puntaje",
                    {"partida_id": partida["id"], "eventos": eventos},
                    player.cookie,
                )
                self.assertEqual(status, 200, reply)
                self.assertEqual(reply["puntaje"], expected)
                saved.append((player, partida["id"], reply))
                replay = (player, partida, eventos)
        self.assertEqual(webWrites(port) - before, 0, system.logTails())

        # Stored once each, by juego-tcp: the partidas closed, their scores, their events.
        ids = [partidaID for _, partidaID, _ in saved]
        rows = system.query(
            select(s.partidas.c.id, s.partidas.c.estado, s.partidas.c.eventos).where(
                s.partidas.c.id.in_(ids)
            )
        )
        self.assertEqual(sorted(r.id for r in rows), sorted(ids))
        self.assertEqual({r.estado for r in rows}, {"publica"})
        self.assertTrue(all(r.eventos for r in rows))
        [(scores,)] = system.query(
            select(func.count()).select_from(s.scores).where(s.scores.c.clave.in_(ids))
        )
        self.assertEqual(scores, len(ids))
        self.assertEqual(system.outboxRows(), 0)

        # Each new record's notification, queued by juego-tcp, reaches juego-dist once.
        records = sorted(f"record:{partidaID}" for _, partidaID, r in saved if r["nuevo_record"])
        self.assertTrue(records)
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while True:
            stored = system.query(
                select(s.notifications.c.clave).where(s.notifications.c.clave.like("record:%"))
            )
            [(waiting,)] = system.query(select(func.count()).select_from(s.score_outbox))
            if sorted(r.clave for r in stored) == records and waiting == 0:
                break
            if time.monotonic() > deadline:
                self.fail(f"{len(stored)} of {len(records)} notifications, {waiting} queued")
            time.sleep(0.1)
        # A second result for a saved partida is refused by juego-tcp, and juego-web
        # still writes nothing.
        player, partida, eventos = replay
        status, reply, _ = web.post(
            "/api/guardar_puntaje",
            {"partida_id": partida["id"], "eventos": eventos},
            player.cookie,
        )
        self.assertEqual((status, reply.get("code")), (409, "partida_cerrada"))
        self.assertEqual(webWrites(port) - before, 0)
