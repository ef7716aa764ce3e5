"""
The game through the HTTP API: issuing partidas and the verified-score path, including
every way a result is refused and the outbox when juego-tcp or juego-dist is down.
"""

from __future__ import annotations

import json
import unicodedata

from sqlalchemy import select
from twisted.internet.defer import fail

from juego.clients import ServiceUnavailable
from juego.game import limite_ms, minimo_humano_ms, reglas
from juego.outbox import ADD_NOTIFICATION, SAVE_SCORE
from juego.store import schema as s
from juego.web.tokens import PartidaTokens
from tests.support import PostgresMixin
from tests.websupport import T0, WebTestCase, playedEvents, score


class PartidaTests(WebTestCase):
    def test_issue(self):
        client, user = self.signUp()
        partida = self.newPartida(client)
        self.assertEqual(set(partida), {"id", "idioma", "modo", "palabras", "vidas", "reglas"})
        self.assertEqual(partida["modo"], "normal")
        self.assertEqual(partida["idioma"], "es")
        self.assertEqual(partida["vidas"], 3)
        self.assertEqual(partida["reglas"], reglas())
        for key, value in {
            "ms_base": 1000,
            "ms_por_letra": 450,
            "paso_nivel": 50,
            "ms_minimo_por_letra": 100,
            "palabras_por_nivel": 10,
            "ms_humano_por_letra": 30,
            "vidas": 3,
        }.items():
            self.assertEqual(partida["reglas"][key], value)
        words = partida["palabras"]
        self.assertEqual(len(words), 200)
        for a, b in zip(words, words[1:], strict=False):
            self.assertNotEqual(a, b)
        for w in words:
            self.assertEqual(w, unicodedata.normalize("NFC", w.lower()))
        self.assertEqual(self.words(partida["id"]), words)
        # A signed token: the player and the seed are in it, and nothing is written.
        self.assertEqual(self.issued(partida["id"]).user_id, user["id"])
        self.assertIsNone(self.successResultOf(self.store.partidas.get(partida["id"])))

    def test_forgedToken(self):
        """
        A partida id that is not a token this server signed (one letter changed, one
        signed with another key) is no partida: 404, and nothing is written.
        """
        client, _ = self.signUp()
        partida = self.newPartida(client)
        events = playedEvents(partida["palabras"], 3)
        self.clock.advance(events[-1]["t"] / 1000 + 1)
        token = partida["id"]
        changed = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
        other = PartidaTokens(b"otra clave").issue(1, "es", "normal", T0).id
        for forged in (changed, other):
            reply = client.post("/api/guardar_puntaje", {"partida_id": forged, "eventos": events})
            self.assertEqual((reply.status, reply.json["code"]), (404, "no_encontrado"), forged)
        self.assertEqual(self.scores.calls, [])

    def test_english(self):
        client, _ = self.signUp()
        partida = self.newPartida(client, "en")
        self.assertEqual(partida["idioma"], "en")
        self.assertEqual(self.words(partida["id"]), partida["palabras"])

    def test_badIdioma(self):
        client, _ = self.signUp()
        for idioma in ["fr", 3, ""]:
            reply = client.post("/api/partidas", {"idioma": idioma})
            self.assertEqual((reply.status, reply.json["code"]), (400, "invalid_request"))

    def test_seedsDiffer(self):
        client, _ = self.signUp()
        self.assertNotEqual(
            self.newPartida(client)["palabras"], self.newPartida(client)["palabras"]
        )


class SaveTests(WebTestCase):
    def setUp(self):
        super().setUp()
        self.player, self.user = self.signUp("Ana")

    def save(self, partida, events, client=None, **extra):
        client = client or self.player
        return client.post(
            "/api/guardar_puntaje", {"partida_id": partida["id"], "eventos": events, **extra}
        )

    def partidaRow(self, partidaID):
        with self.store.engine.connect() as conn:
            return conn.execute(select(s.partidas).where(s.partidas.c.id == partidaID)).one()

    def outbox(self):
        return self.successResultOf(self.store.partidas.pending())

    def scoreOutbox(self):
        return self.successResultOf(self.store.scores.outbox.pending())

    def test_saved(self):
        partida, reply = self.play(self.player, 12)
        self.assertEqual(reply.status, 200, reply.body)
        words = partida["palabras"]
        body = reply.json
        self.assertIs(body["success"], True)
        self.assertEqual(body["puntaje"], score(words, 12))
        self.assertIs(body["nuevo_record"], True)
        self.assertEqual(body["puntaje_maximo"], body["puntaje"])
        self.assertEqual(body["message"], f"¡Nuevo récord personal: {body['puntaje']} puntos!")
        self.assertEqual(body["precision"], 1.0)
        self.assertGreater(body["wpm"], 0)
        self.assertEqual(self.scores.calls, [(self.user["id"], body["puntaje"], partida["id"])])
        row = self.partidaRow(partida["id"])
        self.assertEqual(
            (row.estado, row.puntaje, row.wpm, row.precision),
            ("publica", body["puntaje"], body["wpm"], 1.0),
        )
        # The verified events are kept with their keystrokes, for replays.
        self.assertEqual(
            self.successResultOf(self.store.partidas.eventos(partida["id"])),
            playedEvents(words, 12),
        )
        self.assertEqual(row.duracion_ms, playedEvents(words, 12)[-1]["t"])
        self.assertIsNotNone(row.cerrada)
        self.assertEqual(self.outbox(), [])
        self.assertEqual(
            self.dist.messages(self.user["id"]),
            [f"¡Nuevo récord personal: {body['puntaje']} puntos!"],
        )
        self.assertEqual(self.dist.notifications[0].type, "success")

    def test_notARecord(self):
        _, first = self.play(self.player, 8)
        _, second = self.play(self.player, 2)
        self.assertEqual(second.status, 200)
        self.assertIs(second.json["nuevo_record"], False)
        self.assertEqual(second.json["puntaje_maximo"], first.json["puntaje"])
        self.assertEqual(
            second.json["message"], f"Puntuación guardada: {second.json['puntaje']} puntos."
        )
        self.assertEqual(len(self.dist.notifications), 1)

    def test_clientScoreIgnored(self):
        partida = self.newPartida(self.player)
        events = playedEvents(partida["palabras"], 3)
        self.clock.advance(10)
        reply = self.save(partida, events, puntaje=999999)
        self.assertEqual(reply.json["puntaje"], score(partida["palabras"], 3))
        self.assertEqual(self.scores.calls[0][1], score(partida["palabras"], 3))

    def test_emptyGameDiscarded(self):
        """
        A game stopped before any word ended counts nowhere: 200 descartada, no score sent,
        no game played in the stats or the profile, and the partida is closed (409 after).
        """
        partida = self.newPartida(self.player)
        reply = self.save(partida, [])
        self.assertEqual(reply.status, 200)
        self.assertEqual((reply.json["descartada"], reply.json["puntaje"]), (True, 0))
        self.assertEqual(self.scores.calls, [])
        self.assertEqual(self.outbox(), [])
        stats = self.successResultOf(self.store.stats.userStats(self.user["id"]))
        self.assertEqual(stats.partidas_jugadas, 0)
        self.assertEqual(self.player.get("/api/perfil").json["partidas"], [])
        self.assertEqual(self.save(partida, []).status, 409)

    def test_missedWordsAndLostLives(self):
        partida = self.newPartida(self.player)
        words = partida["palabras"]
        events, t = [], 0
        for i in range(3):
            t += limite_ms(i, words[i])
            events.append({"t": t, "ok": False, "errores": 2, "teclas": [300, 420]})
        self.clock.advance(t / 1000)
        reply = self.save(partida, events)
        self.assertEqual((reply.status, reply.json["puntaje"]), (200, 0))
        self.assertEqual(reply.json["precision"], 0.0)

    def assertRefused(self, partida, events, fragment, elapsed=600.0):
        self.clock.advance(elapsed)
        reply = self.save(partida, events)
        self.assertEqual(reply.status, 422, reply.body)
        self.assertEqual(reply.json["code"], "resultado_invalido")
        self.assertIn(fragment, reply.json["error"])
        self.assertIn(fragment, reply.json["motivo"])
        row = self.partidaRow(partida["id"])
        self.assertEqual(row.estado, "invalida")
        self.assertIn(fragment, row.motivo)
        self.assertEqual(self.scores.calls, [])
        # No second try.
        again = self.save(partida, playedEvents(partida["palabras"], 1))
        self.assertEqual((again.status, again.json["code"]), (409, "partida_cerrada"))
        return reply

    def test_superhuman(self):
        partida = self.newPartida(self.player)
        words = partida["palabras"]
        t = minimo_humano_ms(words[0]) - 1
        events = [{"t": t, "ok": True, "errores": 0, "teclas": [t]}]
        self.assertRefused(partida, events, "más rápido que un humano")

    def test_forgedAfterLimit(self):
        partida = self.newPartida(self.player)
        words = partida["palabras"]
        t = limite_ms(0, words[0]) + 1
        events = [{"t": t, "ok": True, "errores": 0, "teclas": [400, t]}]
        self.assertRefused(partida, events, "después de su tiempo límite")

    def test_missedTooEarly(self):
        partida = self.newPartida(self.player)
        events = [{"t": 100, "ok": False, "errores": 0, "teclas": []}]
        self.assertRefused(partida, events, "antes de agotar su tiempo límite")

    def test_outOfOrder(self):
        partida = self.newPartida(self.player)
        events = playedEvents(partida["palabras"], 3)
        events[2]["t"] = events[0]["t"]
        self.assertRefused(partida, events, "termina antes que la anterior")

    def test_tooLong(self):
        partida = self.newPartida(self.player)
        events = playedEvents(partida["palabras"], 20)
        self.assertRefused(
            partida, events, "posterior al tiempo real", elapsed=events[-1]["t"] / 1000 - 2.5
        )

    def test_afterGameOver(self):
        partida = self.newPartida(self.player)
        words = partida["palabras"]
        events, t = [], 0
        for i in range(3):
            t += limite_ms(i, words[i])
            events.append({"t": t, "ok": False, "errores": 0, "teclas": []})
        d = minimo_humano_ms(words[3]) + 100
        t += d
        events.append({"t": t, "ok": True, "errores": 0, "teclas": [d]})
        self.assertRefused(partida, events, "después de perder la última vida")

    def test_replayed(self):
        partida, first = self.play(self.player, 4)
        self.assertEqual(first.status, 200)
        events = playedEvents(partida["palabras"], 4)
        again = self.save(partida, events)
        self.assertEqual((again.status, again.json["code"]), (409, "partida_cerrada"))
        # juego-tcp refused the second hand-over: one game stored.
        stats = self.successResultOf(self.store.stats.userStats(self.user["id"]))
        self.assertEqual(stats.partidas_jugadas, 1)

    def test_malformedKeepsPartidaOpen(self):
        partida = self.newPartida(self.player)
        for events in [
            "x",
            [{"t": "1", "ok": True, "errores": 0, "teclas": [1]}],
            [{"t": 5, "ok": 1, "errores": 0, "teclas": [5]}],
            [{"t": 5, "ok": True, "errores": -1, "teclas": [5]}],
            [{"t": -5, "ok": True, "errores": 0, "teclas": [1]}],
            [3],
            None,
            [{"t": 5, "ok": True, "errores": 0, "teclas": [5]}] * 201,
            # keystrokes: missing, not a list, not integers, out of order, none for a typed
            # word, beyond the bounds
            [{"t": 900, "ok": True, "errores": 0}],
            [{"t": 900, "ok": True, "errores": 0, "teclas": 5}],
            [{"t": 900, "ok": True, "errores": 0, "teclas": [1.5]}],
            [{"t": 900, "ok": True, "errores": 0, "teclas": [True]}],
            [{"t": 900, "ok": True, "errores": 0, "teclas": [500, 400]}],
            [{"t": 900, "ok": True, "errores": 0, "teclas": []}],
            [{"t": 900, "ok": True, "errores": 0, "teclas": [-1, 900]}],
            [{"t": 900, "ok": True, "errores": 0, "teclas": list(range(1001))}],
            [{"t": 900, "ok": True, "errores": 10**4000, "teclas": [900]}],
            [{"t": 10**30, "ok": True, "errores": 0, "teclas": [900]}],
            [{"t": 900, "ok": True, "errores": 0, "teclas": [10**30]}],
        ]:
            reply = self.save(partida, events)
            # A number beyond what JSON numbers hold here (int64) is refused with the body.
            code = "invalid_json" if beyondInt64(events) else "invalid_request"
            self.assertEqual((reply.status, reply.json["code"]), (400, code), events)
        # Still open: nothing was written.
        self.assertIsNone(self.successResultOf(self.store.partidas.get(partida["id"])))
        self.clock.advance(10)
        self.assertEqual(self.save(partida, playedEvents(partida["palabras"], 2)).status, 200)

    def test_missingPartida(self):
        reply = self.player.post("/api/guardar_puntaje", {"eventos": []})
        self.assertEqual((reply.status, reply.json["code"]), (400, "invalid_request"))
        reply = self.save({"id": "no-existe"}, [])
        self.assertEqual((reply.status, reply.json["code"]), (404, "no_encontrado"))

    def test_anotherPlayersPartida(self):
        partida = self.newPartida(self.player)
        other, _ = self.signUp("Eve")
        reply = self.save(partida, [], client=other)
        self.assertEqual((reply.status, reply.json["code"]), (403, "prohibido"))
        self.assertIsNone(self.successResultOf(self.store.partidas.get(partida["id"])))

    def test_expired(self):
        partida = self.newPartida(self.player)
        self.clock.advance(3600 + 1)
        reply = self.save(partida, [])
        self.assertEqual((reply.status, reply.json["code"]), (410, "partida_caducada"))

    def test_withinTheHour(self):
        partida = self.newPartida(self.player)
        self.clock.advance(3600)
        self.assertEqual(self.save(partida, []).status, 200)

    def test_scoreServiceDown(self):
        self.scores.down = True
        partida, reply = self.play(self.player, 5)
        self.assertEqual(reply.status, 202)
        body = reply.json
        self.assertIs(body["success"], True)
        self.assertIs(body["pendiente"], True)
        self.assertEqual(body["puntaje"], score(partida["palabras"], 5))
        self.assertIn("wpm", body)
        self.assertIn("precision", body)
        [row] = self.outbox()
        self.assertEqual(row.kind, SAVE_SCORE)
        # The request's id goes with the work, for the later delivery's log lines, and
        # the partida with its verified result, for juego-tcp to close.
        closing = row.payload.pop("partida")
        self.assertEqual(
            row.payload,
            {
                "user_id": self.user["id"],
                "puntaje": body["puntaje"],
                "partida_id": partida["id"],
                "rid": reply.header("X-Request-Id"),
            },
        )
        self.assertEqual(
            (closing["id"], closing["wpm"], closing["precision"]),
            (partida["id"], body["wpm"], body["precision"]),
        )
        self.assertEqual(len(json.loads(closing["eventos"])), 5)
        self.assertEqual(self.partidaRow(partida["id"]).estado, "publica")
        # The result is kept: the partida is closed, a second try is refused.
        self.assertEqual(self.save(partida, []).status, 409)
        # Claimed by the request for a few seconds: the loop leaves it alone until then.
        self.assertEqual(self.successResultOf(self.app.drainer.drain()), 0)
        self.clock.advance(2)
        self.assertEqual(self.successResultOf(self.app.drainer.drain()), 0)
        self.assertEqual(len(self.scores.calls), 1)
        # Still down: retried with backoff.
        self.clock.advance(4)
        self.successResultOf(self.app.drainer.drain())
        self.assertEqual(len(self.scores.calls), 2)
        [row] = self.outbox()
        self.assertEqual(row.intentos, 1)
        # Back: handed over; juego-tcp queues the record notification and sends it.
        self.scores.down = False
        self.clock.advance(5)
        self.assertEqual(self.successResultOf(self.app.drainer.drain()), 1)
        self.assertEqual(self.outbox(), [])
        self.assertEqual(self.scoreOutbox(), [])
        self.assertEqual(
            self.dist.messages(self.user["id"]),
            [f"¡Nuevo récord personal: {body['puntaje']} puntos!"],
        )
        stats = self.successResultOf(self.store.stats.userStats(self.user["id"]))
        self.assertEqual((stats.puntaje_maximo, stats.partidas_jugadas), (body["puntaje"], 1))
        self.assertEqual({c[2] for c in self.scores.calls}, {partida["id"]})

    def test_distDownAtSave(self):
        """
        juego-tcp queued the record notification with the score; while juego-dist is down
        it stays in juego-tcp's outbox, and its drain delivers it once juego-dist is back.
        juego-web wrote nothing.
        """
        self.dist.down = True
        partida, reply = self.play(self.player, 5)
        self.assertEqual(reply.status, 200)
        self.assertIs(reply.json["nuevo_record"], True)
        self.assertEqual(self.outbox(), [])
        [row] = self.scoreOutbox()
        self.assertEqual(row.kind, ADD_NOTIFICATION)
        self.assertEqual(
            row.payload,
            {
                "user_id": self.user["id"],
                "message": reply.json["message"],
                "type": "success",
                "idempotency_key": f"record:{partida['id']}",
                "rid": reply.header("X-Request-Id"),
            },
        )
        self.dist.down = False
        self.clock.advance(6)
        self.assertEqual(self.successResultOf(self.scores.notices.drain()), 1)
        self.assertEqual(self.dist.messages(self.user["id"]), [reply.json["message"]])
        self.assertEqual(self.scoreOutbox(), [])

    def test_scoreServiceRefusesForGood(self):
        self.scores.reply = {"success": False, "code": "not_found", "error": "no existe"}
        _, reply = self.play(self.player, 2)
        self.assertEqual((reply.status, reply.json["code"]), (500, "internal"))
        self.assertEqual(self.outbox(), [])

    def test_scoreServiceFailsForNow(self):
        self.scores.reply = {"success": False, "code": "internal", "error": "ups"}
        _, reply = self.play(self.player, 2)
        self.assertEqual(reply.status, 202)
        self.assertEqual([r.kind for r in self.outbox()], [SAVE_SCORE])

    def test_scoreServiceAnswerLost(self):
        """
        juego-tcp stored the save, but its answer never came (a connection cut): the
        player gets 202, the partida is queued in juego-web's outbox, and the drain's
        second hand-over is answered by the key: one score, one notification.
        """
        save = self.scores.save_score

        def storedThenLost(*a, **kw):
            save(*a, **kw)
            return fail(ServiceUnavailable("conexión cortada"))

        self.patch(self.scores, "save_score", storedThenLost)
        partida, reply = self.play(self.player, 5)
        self.assertEqual(reply.status, 202, reply.json)
        self.assertEqual([r.kind for r in self.outbox()], [SAVE_SCORE])
        self.patch(self.scores, "save_score", save)
        self.clock.advance(6)
        self.assertEqual(self.successResultOf(self.app.drainer.drain()), 1)
        self.assertEqual(self.outbox(), [])
        self.assertEqual(
            self.dist.messages(self.user["id"]),
            [f"¡Nuevo récord personal: {reply.json['puntaje']} puntos!"],
        )
        stats = self.successResultOf(self.store.stats.userStats(self.user["id"]))
        self.assertEqual(stats.partidas_jugadas, 1)
        self.assertEqual(self.partidaRow(partida["id"]).estado, "publica")
        self.assertEqual(self.save(partida, []).status, 409)
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_closedMeanwhile(self):
        """
        Two tabs send results for one partida: a public result that reaches juego-tcp after
        the partida was closed otherwise (held, say) is refused, 409, with no score; so
        is a second public result after the first was stored, and nothing changes.
        """
        partida = self.newPartida(self.player)
        events = playedEvents(partida["palabras"], 5)
        self.clock.advance(events[-1]["t"] / 1000 + 1)
        closed = self.issued(partida["id"])
        self.successResultOf(self.store.partidas.closeInvalid(closed, T0, "otra pestaña"))
        reply = self.save(partida, events)
        self.assertEqual((reply.status, reply.json["code"]), (409, "partida_cerrada"))
        stats = self.successResultOf(self.store.stats.userStats(self.user["id"]))
        self.assertEqual(stats.partidas_jugadas, 0)
        self.assertEqual(self.partidaRow(partida["id"]).estado, "invalida")

        other, first = self.play(self.player, 5)
        self.assertEqual(first.status, 200)
        again = self.save(other, playedEvents(other["palabras"], 7))
        self.assertEqual((again.status, again.json["code"]), (409, "partida_cerrada"))
        stats = self.successResultOf(self.store.stats.userStats(self.user["id"]))
        self.assertEqual((stats.partidas_jugadas, stats.puntaje_maximo), (1, first.json["puntaje"]))
        self.assertEqual(self.partidaRow(other["id"]).puntaje, first.json["puntaje"])


class PostgresSaveTests(PostgresMixin, SaveTests):
    """
    The verified-score path on PostgreSQL.
    """


def beyondInt64(value: object) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return not -(2**63) <= value < 2**63
    if isinstance(value, list):
        return any(beyondInt64(v) for v in value)
    if isinstance(value, dict):
        return any(beyondInt64(v) for v in value.values())
    return False
