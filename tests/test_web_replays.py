"""
Replays through the HTTP API and the page (L{juego.web.replays}): what the reply carries
(the stored events with their words, durations and keystrokes), and who sees which
replay: anybody a ranked result, its player any verified result of theirs, and everybody
else the same 404 whatever the reason (held, voided, invalid, discarded, never played,
no such partida).
"""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import update

from juego.game import limite_ms
from juego.store import schema as s
from tests.keystrokes import duration, humanEvents
from tests.support import PostgresMixin
from tests.websupport import Client, WebTestCase, playedEvents

#: A name with markup: the page shows it as text.
NOMBRE = '<b id="inyectado">Ana</b> & "co"'


class ReplayTests(WebTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.player, self.user = self.signUp(NOMBRE, "ana@example.com")
        self.other, _ = self.signUp("Berta")

    def replay(self, partidaID: str, client: Client | None = None) -> Any:
        return (client or self.client()).get(f"/api/repeticion/{partidaID}")

    def assertHidden(self, partidaID: str, client: Client | None = None) -> None:
        """
        The replay answers exactly as one that does not exist: 404, same body.
        """
        reply = self.replay(partidaID, client)
        missing = self.replay("00000000-0000-0000-0000-000000000000", client)
        self.assertEqual(reply.status, 404, reply.body)
        self.assertEqual(reply.json, missing.json)
        self.assertEqual(reply.json["code"], "no_encontrado")
        page = (client or self.client()).get(f"/repeticion/{partidaID}")
        self.assertEqual(page.status, 404)

    def heldGame(self, client: Client) -> str:
        """
        A human-looking game at about 150 wpm: held for certification (uncertified).
        """
        partida = self.newPartida(client)
        events = humanEvents(partida["palabras"], 150, random.Random(1), n=40)
        self.clock.advance(duration(events) / 1000 + 1)
        reply = client.post(
            "/api/guardar_puntaje", {"partida_id": partida["id"], "eventos": events}
        )
        self.assertTrue(reply.json.get("en_revision"), reply.body)
        return partida["id"]

    def admin(self) -> Client:
        client, user = self.signUp("Root", "root@example.com")
        self.makeAdmin(user["id"])
        return client

    def test_publicReplay(self) -> None:
        """
        A ranked result's replay, for anybody: each stored event with its word (the
        partida's, in order), C{d} (ms on screen) and its keystrokes as stored.
        """
        partida, saved = self.play(self.player, 12)
        self.assertEqual(saved.status, 200, saved.body)
        stored = self.successResultOf(self.store.partidas.eventos(partida["id"]))
        self.assertEqual(stored, playedEvents(partida["palabras"], 12))
        for client in (self.client(), self.other):
            reply = self.replay(partida["id"], client)
            self.assertEqual(reply.status, 200, reply.body)
            body = reply.json
            self.assertEqual(body["partida_id"], partida["id"])
            self.assertEqual(body["jugador"], {"id": self.user["id"], "nombre": NOMBRE})
            self.assertIs(body["propia"], False)
            self.assertEqual(body["estado"], "publica")
            self.assertEqual(body["idioma"], "es")
            self.assertEqual(
                (body["puntaje"], body["wpm"], body["precision"]),
                (saved.json["puntaje"], saved.json["wpm"], saved.json["precision"]),
            )
            self.assertEqual(body["duracion_ms"], stored[-1]["t"])
            self.assertEqual([e["palabra"] for e in body["eventos"]], partida["palabras"][:12])
            previous = 0
            for event, original in zip(body["eventos"], stored, strict=True):
                self.assertEqual({k: event[k] for k in ("t", "ok", "errores", "teclas")}, original)
                self.assertEqual(event["d"], original["t"] - previous)
                previous = original["t"]
        mine = self.replay(partida["id"], self.player)
        self.assertIs(mine.json["propia"], True)

    def test_missedWords(self) -> None:
        """
        A missed word is replayed as missed, with the keystrokes it had.
        """
        partida = self.newPartida(self.player)
        words = partida["palabras"]
        events = playedEvents(words, 2)
        limit = limite_ms(2, words[2])
        events.append({"t": events[-1]["t"] + limit, "ok": False, "errores": 1, "teclas": [300]})
        self.clock.advance(duration(events) / 1000 + 1)
        saved = self.player.post(
            "/api/guardar_puntaje", {"partida_id": partida["id"], "eventos": events}
        )
        self.assertEqual(saved.status, 200, saved.body)
        last = self.replay(partida["id"]).json["eventos"][-1]
        self.assertEqual(
            last,
            {
                "palabra": words[2],
                "ok": False,
                "errores": 1,
                "t": events[-1]["t"],
                "d": limit,
                "teclas": [300],
            },
        )

    def test_publicWhileItsDeliveryPends(self) -> None:
        """
        A ranked result juego-tcp has not saved yet (it was down: 202 pendiente) is on
        the period boards already (they read the partidas): its replay is public too.
        """
        self.scores.down = True
        partida, reply = self.play(self.player, 5)
        self.assertEqual(reply.status, 202, reply.body)
        self.assertEqual(self.replay(partida["id"]).status, 200)

    def test_practiceOnlyForItsPlayer(self) -> None:
        """
        A practice game counts on no board, whatever its state: its replay is its
        player's only.
        """
        partida, _ = self.play(self.player, 5)
        with self.store.engine.begin() as conn:
            conn.execute(
                update(s.partidas).where(s.partidas.c.id == partida["id"]).values(modo="practica")
            )
        self.assertEqual(self.replay(partida["id"], self.player).status, 200)
        self.assertHidden(partida["id"])
        self.assertHidden(partida["id"], self.other)

    def test_heldOnlyForItsPlayer(self) -> None:
        """
        A held result: its player sees the replay (marked en_revision); nobody else
        learns that it exists. Approved, it is public.
        """
        partidaID = self.heldGame(self.player)
        mine = self.replay(partidaID, self.player)
        self.assertEqual(mine.status, 200, mine.body)
        self.assertEqual((mine.json["estado"], mine.json["propia"]), ("en_revision", True))
        self.assertEqual(self.player.get(f"/repeticion/{partidaID}").status, 200)
        self.assertHidden(partidaID)
        self.assertHidden(partidaID, self.other)
        admin = self.admin()
        self.assertEqual(admin.post(f"/api/admin/resultados/{partidaID}/aprobar").status, 200)
        public = self.replay(partidaID)
        self.assertEqual(public.status, 200, public.body)
        self.assertEqual(public.json["estado"], "aprobada")

    def test_voidedOnlyForItsPlayer(self) -> None:
        """
        A voided result (it was ranked): its player still sees it, as voided; nobody
        else does.
        """
        partida, _ = self.play(self.player, 5)
        self.assertEqual(self.replay(partida["id"]).status, 200)
        admin = self.admin()
        voided = admin.post(f"/api/admin/resultados/{partida['id']}/anular")
        self.assertEqual(voided.status, 200, voided.body)
        mine = self.replay(partida["id"], self.player)
        self.assertEqual((mine.status, mine.json["estado"]), (200, "anulada"))
        self.assertHidden(partida["id"])
        self.assertHidden(partida["id"], self.other)
        # An admin is not the player: the admin sees no replay of a voided result.
        self.assertHidden(partida["id"], admin)

    def test_noReplayWithoutAVerifiedGame(self) -> None:
        """
        An invalid result, a discarded game and a partida never played have no replay,
        not even for their player.
        """
        invalid = self.newPartida(self.player)
        word = invalid["palabras"][0]
        forged = [{"t": 1, "ok": True, "errores": 0, "teclas": [1]}]
        self.clock.advance(1)
        refused = self.player.post(
            "/api/guardar_puntaje", {"partida_id": invalid["id"], "eventos": forged}
        )
        self.assertEqual(refused.status, 422, (word, refused.body))
        discarded = self.newPartida(self.player)
        gone = self.player.post(
            "/api/guardar_puntaje", {"partida_id": discarded["id"], "eventos": []}
        )
        self.assertIs(gone.json["descartada"], True)
        unplayed = self.newPartida(self.player)
        for partida in (invalid, discarded, unplayed):
            self.assertHidden(partida["id"], self.player)
            self.assertHidden(partida["id"])

    def test_unknownAndMalformedIDs(self) -> None:
        reply = self.replay("no-existe")
        self.assertEqual((reply.status, reply.json["code"]), (404, "no_encontrado"))
        self.assertEqual(reply.json["error"], "No existe esa repetición.")
        for bad in ["x" * 65, "a%20b", "%3Cb%3E", "a.b", "%C3%B1"]:
            reply = self.replay(bad)
            self.assertEqual((reply.status, reply.json["code"]), (400, "invalid_request"), bad)
            self.assertEqual(self.client().get(f"/repeticion/{bad}").status, 404, bad)

    def test_page(self) -> None:
        """
        The page names the player as text and points its script at the replay.
        """
        partida, _ = self.play(self.player, 3)
        page = self.client().get(f"/repeticion/{partida['id']}")
        self.assertEqual(page.status, 200)
        html = page.body.decode("utf-8")
        self.assertNotIn('<b id="inyectado">', html)
        self.assertIn("&lt;b id=&#34;inyectado&#34;&gt;Ana&lt;/b&gt; &amp; &#34;co&#34;", html)
        self.assertIn(f'data-partida-id="{partida["id"]}"', html)
        self.assertRegex(html, r'<script type="module" src="/static/js/repeticion[.\w]*\.js"')
        self.assertIn('id="rep-velocidad"', html)
        # The result's own page links to its replay.
        result = self.client().get(f"/resultado/{partida['id']}").body.decode("utf-8")
        self.assertIn(f'href="/repeticion/{partida["id"]}"', result)

    def test_onlyGET(self) -> None:
        partida, _ = self.play(self.player, 3)
        reply = self.player.post(f"/api/repeticion/{partida['id']}")
        self.assertEqual(reply.status, 405)


class PostgresReplayTests(PostgresMixin, ReplayTests):
    """
    The same on PostgreSQL (skipped when none answers, unless it is required).
    """
