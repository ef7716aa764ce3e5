"""
The certification test through the HTTP API: starting a test, the image that starts the
server's clock, the one answer, expiry, and what passing releases.
"""

from __future__ import annotations

import io
import random
from typing import Any

from PIL import Image
from sqlalchemy import update
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from juego.game.captcha import PRECISION_MINIMA, normalise
from juego.store import schema as s
from juego.web.certification import LIFETIME, PER_HOUR, Grade
from tests.keystrokes import duration, humanEvents
from tests.support import PostgresMixin
from tests.websupport import Client, WebTestCase


def typingSeconds(text: str, wpm: float) -> float:
    """
    How long typing C{text} takes at C{wpm} (5 characters a word).
    """
    return len(normalise(text)) / 5 / wpm * 60


class CertificationTestCase(WebTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.player, self.user = self.signUp("Ana")

    def heldGame(self, client: Client | None = None, wpm: float = 150, seed: int = 1) -> Any:
        """
        Play a jittered, human-looking game at about C{wpm}: uncertified, it is held
        for certification above 125 wpm. The save reply.
        """
        client = client or self.player
        partida = self.newPartida(client)
        events = humanEvents(partida["palabras"], wpm, random.Random(seed), n=40)
        self.clock.advance(duration(events) / 1000 + 1)
        reply = client.post(
            "/api/guardar_puntaje", {"partida_id": partida["id"], "eventos": events}
        )
        self.assertEqual(reply.status, 200, reply.body)
        return reply.json | {"partida_id": partida["id"]}

    def start(self, client: Client | None = None) -> dict[str, Any]:
        reply = (client or self.player).post("/api/certificacion", {})
        self.assertIn(reply.status, (200, 201), reply.body)
        return reply.json

    def secret(self, testID: str) -> str:
        """
        The test's text, as a person reads it from the image (the tests read it from the
        database).
        """
        test = self.successResultOf(self.store.certifications.get(testID))
        return test.texto

    def image(self, test: dict[str, Any], client: Client | None = None):
        return (client or self.player).get(test["imagen"])

    def answer(self, test: dict[str, Any], texto: str, client: Client | None = None):
        return (client or self.player).post(
            f"/api/certificacion/{test['id']}/respuesta", {"texto": texto}
        )

    def ranked(self) -> list[int]:
        return [r["user_id"] for r in self.client().get("/api/ranking").json["ranking"]]


class StateTests(CertificationTestCase):
    def test_needsSession(self):
        client = self.client()
        for method, path in [
            ("GET", "/api/certificacion"),
            ("POST", "/api/certificacion"),
            ("GET", "/api/certificacion/x/imagen"),
            ("POST", "/api/certificacion/x/respuesta"),
        ]:
            reply = client.request(method, path, {} if method == "POST" else None)
            self.assertEqual(reply.status, 401, path)

    def test_nothingHeld(self):
        reply = self.player.get("/api/certificacion")
        self.assertEqual(reply.status, 200)
        self.assertEqual(
            (reply.json["velocidad_certificada"], reply.json["retenidas"], reply.json["prueba"]),
            (None, [], None),
        )
        reply = self.player.post("/api/certificacion", {})
        self.assertEqual((reply.status, reply.json["code"]), (409, "sin_resultados_retenidos"))

    def test_heldListed(self):
        saved = self.heldGame()
        self.assertEqual((saved["en_revision"], saved["motivo"]), (True, "certificacion"))
        state = self.player.get("/api/certificacion").json
        [held] = state["retenidas"]
        self.assertEqual(held["partida_id"], saved["partida_id"])
        self.assertEqual(held["puntaje"], saved["puntaje"])
        self.assertLess(abs(held["wpm"] - saved["wpm"]), 0.1)
        self.assertNotIn(self.user["id"], self.ranked())

    def test_start(self):
        saved = self.heldGame()
        reply = self.player.post("/api/certificacion", {})
        self.assertEqual(reply.status, 201, reply.body)
        test = reply.json
        self.assertEqual(
            set(test) - {"success"},
            {"id", "objetivo_wpm", "velocidad", "imagen", "caduca_en_s", "iniciada"},
        )
        self.assertLess(abs(test["objetivo_wpm"] - 0.75 * saved["wpm"]), 0.1)
        self.assertEqual(test["imagen"], f"/api/certificacion/{test['id']}/imagen")
        self.assertEqual(test["caduca_en_s"], int(LIFETIME.total_seconds()))
        self.assertFalse(test["iniciada"])
        # The text is in no reply.
        words = self.secret(test["id"]).split()
        for body in [reply.body, self.player.get("/api/certificacion").body]:
            text = body.decode()
            self.assertEqual([w for w in words if f" {w} " in f" {text} "], [])
        # One open test: asking again gives the same one.
        again = self.player.post("/api/certificacion", {})
        self.assertEqual((again.status, again.json["id"]), (200, test["id"]))
        self.assertEqual(self.player.get("/api/certificacion").json["prueba"]["id"], test["id"])

    def test_pageHasNoText(self):
        self.heldGame()
        test = self.start()
        html = self.player.get("/juego").body.decode()
        self.assertIn('id="certificacion"', html)
        self.assertNotIn(self.secret(test["id"]), html)

    def test_badIdioma(self):
        self.heldGame()
        reply = self.player.post("/api/certificacion", {"idioma": "fr"})
        self.assertEqual((reply.status, reply.json["code"]), (400, "invalid_request"))

    def test_perHour(self):
        self.heldGame()
        for _ in range(PER_HOUR):
            test = self.start()
            self.image(test)
            self.answer(test, "nada")
        reply = self.player.post("/api/certificacion", {})
        self.assertEqual((reply.status, reply.json["code"]), (429, "demasiados_intentos"))
        self.clock.advance(3601)
        self.assertEqual(self.player.post("/api/certificacion", {}).status, 201)


class ImageTests(CertificationTestCase):
    def test_ownerOnly(self):
        self.heldGame()
        test = self.start()
        other, _ = self.signUp("Bea")
        reply = self.image(test, other)
        self.assertEqual((reply.status, reply.json["code"]), (403, "prohibido"))
        reply = self.answer(test, self.secret(test["id"]), other)
        self.assertEqual((reply.status, reply.json["code"]), (403, "prohibido"))
        # Bea's look did not start Ana's clock.
        self.assertIsNone(self.successResultOf(self.store.certifications.get(test["id"])).vista)
        reply = self.player.get("/api/certificacion/no-existe/imagen")
        self.assertEqual(reply.status, 404)

    def test_firstFetchStartsTheClock(self):
        self.heldGame()
        test = self.start()
        self.clock.advance(30)
        reply = self.image(test)
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.header("content-type"), "image/png")
        self.assertEqual(reply.header("cache-control"), "no-store")
        image = Image.open(io.BytesIO(reply.body))
        self.assertEqual(image.format, "PNG")
        started = self.successResultOf(self.store.certifications.get(test["id"])).vista
        self.assertEqual(started.timestamp(), self.clock.seconds())
        self.clock.advance(10)
        again = self.image(test)
        self.assertEqual(again.body, reply.body)
        self.assertEqual(
            self.successResultOf(self.store.certifications.get(test["id"])).vista, started
        )
        self.assertTrue(self.player.get("/api/certificacion").json["prueba"]["iniciada"])


class AnswerTests(CertificationTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.saved = self.heldGame()
        self.test = self.start()
        self.text = self.secret(self.test["id"])

    def typeAt(self, wpm: float, texto: str | None = None):
        self.image(self.test)
        self.clock.advance(typingSeconds(self.text, wpm))
        return self.answer(self.test, self.text if texto is None else texto)

    def test_passReleasesAndCertifies(self):
        logged: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        self.assertNotIn(self.user["id"], self.ranked())

        reply = self.typeAt(self.test["objetivo_wpm"] * 1.1)
        self.assertEqual(reply.status, 200, reply.body)
        verdict = reply.json
        self.assertTrue(verdict["aprobada"], verdict)
        self.assertEqual(verdict["precision"], 1.0)
        self.assertLess(abs(verdict["wpm"] - self.test["objetivo_wpm"] * 1.1), 0.5)
        self.assertEqual(verdict["velocidad_certificada"], self.test["velocidad"])
        self.assertEqual(verdict["liberadas"], [self.saved["partida_id"]])
        self.assertEqual(
            self.successResultOf(self.store.users.certifiedWpm(self.user["id"])),
            self.test["velocidad"],
        )
        state = self.player.get("/api/certificacion").json
        self.assertEqual((state["retenidas"], state["prueba"]), ([], None))
        self.assertIn(self.user["id"], self.ranked())
        # The text was never logged.
        from twisted.logger import formatEvent

        for event in logged:
            self.assertNotIn(self.text, formatEvent(event))
            self.assertNotIn(self.text, repr(event))

    def test_oneAnswer(self):
        self.assertTrue(self.typeAt(self.test["objetivo_wpm"] * 1.1).json["aprobada"])
        reply = self.answer(self.test, self.text)
        self.assertEqual((reply.status, reply.json["code"]), (409, "prueba_respondida"))
        reply = self.image(self.test)
        self.assertEqual((reply.status, reply.json["code"]), (409, "prueba_respondida"))

    def test_tooSlow(self):
        reply = self.typeAt(self.test["objetivo_wpm"] * 0.9)
        verdict = reply.json
        self.assertFalse(verdict["aprobada"])
        self.assertEqual(verdict["liberadas"], [])
        self.assertIsNone(verdict["velocidad_certificada"])
        self.assertIn("lento", verdict["message"])
        self.assertIsNone(self.successResultOf(self.store.users.certifiedWpm(self.user["id"])))
        self.assertEqual(len(self.player.get("/api/certificacion").json["retenidas"]), 1)
        self.assertNotIn(self.user["id"], self.ranked())
        # A second test, a new text.
        second = self.start()
        self.assertNotEqual(second["id"], self.test["id"])
        self.assertNotEqual(self.secret(second["id"]), self.text)

    def test_wrongText(self):
        words = self.text.split()
        # Every other word wrong: a guess from the word list is not the text.
        wrong = " ".join(w if i % 2 else w[::-1] for i, w in enumerate(words))
        verdict = self.typeAt(self.test["objetivo_wpm"] * 1.2, wrong).json
        self.assertFalse(verdict["aprobada"])
        self.assertLess(verdict["precision"], 0.95)
        self.assertEqual(verdict["liberadas"], [])

    def test_smallSlipsPass(self):
        """
        A slip or two (95 % of the characters right) still passes.
        """
        slipped = "x" + self.text[1:]
        verdict = self.typeAt(self.test["objetivo_wpm"] * 1.3, slipped).json
        self.assertTrue(verdict["aprobada"], verdict)

    def test_inhumanlyFast(self):
        verdict = self.typeAt(400).json
        self.assertFalse(verdict["aprobada"])
        self.assertIn("rápida", verdict["message"])
        self.assertEqual(verdict["liberadas"], [])
        self.assertIsNone(self.successResultOf(self.store.users.certifiedWpm(self.user["id"])))

    def test_answerBeforeImage(self):
        reply = self.answer(self.test, self.text)
        self.assertEqual((reply.status, reply.json["code"]), (409, "imagen_no_vista"))
        # Not a spent test: the player can still take it.
        self.assertTrue(self.typeAt(self.test["objetivo_wpm"] * 1.1).json["aprobada"])

    def test_expires(self):
        self.image(self.test)
        self.clock.advance(LIFETIME.total_seconds() + 1)
        reply = self.answer(self.test, self.text)
        self.assertEqual((reply.status, reply.json["code"]), (410, "prueba_caducada"))
        reply = self.image(self.test)
        self.assertEqual((reply.status, reply.json["code"]), (410, "prueba_caducada"))
        self.assertNotIn(self.user["id"], self.ranked())
        # A new test may start.
        self.assertNotEqual(self.start()["id"], self.test["id"])

    def test_badBody(self):
        self.image(self.test)
        for body in [{}, {"texto": 3}, {"texto": "a" * 2001}]:
            reply = self.player.post(f"/api/certificacion/{self.test['id']}/respuesta", body)
            self.assertEqual((reply.status, reply.json["code"]), (400, "invalid_request"))

    def test_certifiedSpeedRaisesTheBar(self):
        """
        Once certified at the held speed, a game at that speed is ranked at once; one
        more than 25 % faster is held again.
        """
        self.assertTrue(self.typeAt(self.test["objetivo_wpm"] * 1.1).json["aprobada"])
        again = self.heldGame(wpm=150, seed=2)
        self.assertFalse(again.get("en_revision", False), again)


class RoundingTests(CertificationTestCase):
    def test_heldSpeedNotRoundedDown(self):
        """
        The speed certified is the held one exactly: a result at 150.04 wpm is released
        by a test for it (not left behind by a certification at 150.0).
        """
        saved = self.heldGame()
        with self.store.engine.begin() as conn:
            conn.execute(
                update(s.partidas).where(s.partidas.c.id == saved["partida_id"]).values(wpm=150.04)
            )
        test = self.start()
        self.assertEqual(test["velocidad"], 150.0)
        text = self.secret(test["id"])
        self.image(test)
        self.clock.advance(typingSeconds(text, test["objetivo_wpm"] * 1.1))
        verdict = self.answer(test, text).json
        self.assertTrue(verdict["aprobada"], verdict)
        self.assertEqual(verdict["liberadas"], [saved["partida_id"]])
        self.assertEqual(verdict["velocidad_certificada"], 150.0)


class RecoveryTests(CertificationTestCase):
    def test_releaseAfterACrash(self):
        """
        The process stops between recording a pass and releasing the results: the pass
        is applied (certified), and the next start of a test releases what it covers.
        """
        saved = self.heldGame()
        test = self.start()
        text = self.secret(test["id"])
        self.image(test)
        self.clock.advance(typingSeconds(text, test["objetivo_wpm"] * 1.1))
        games = self.app.api.certification.games

        def crash(*a, **kw):
            raise RuntimeError("el proceso se ha parado")

        games.releaseCertified = crash
        self.assertEqual(self.answer(test, text).status, 500)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(
            self.successResultOf(self.store.users.certifiedWpm(self.user["id"])),
            test["velocidad"],
        )
        self.assertNotIn(self.user["id"], self.ranked())
        del games.releaseCertified  # the process is back: the real method again
        reply = self.player.post("/api/certificacion", {})
        self.assertEqual((reply.status, reply.json["code"]), (409, "sin_resultados_retenidos"))
        self.assertEqual(self.player.get("/api/certificacion").json["retenidas"], [])
        self.assertIn(self.user["id"], self.ranked())
        self.assertEqual(saved["en_revision"], True)


class PostgresAnswerTests(PostgresMixin, AnswerTests):
    pass


class GradeMessageTests(SynchronousTestCase):
    """
    Each verdict of L{Grade.message}, the player's text for how an answer did.
    """

    def test_messages(self) -> None:
        def message(passed: bool, human: bool, precision: float, certified: float | None) -> str:
            return Grade(50.0, precision, human, passed).message(80.0, certified)

        self.assertEqual(message(True, True, 1.0, None), "¡Prueba superada!")
        self.assertIn("certificada es ahora 90 ppm", message(True, True, 1.0, 90.0))
        self.assertIn("demasiado rápida", message(False, False, 1.0, None))
        self.assertIn(f"{round(PRECISION_MINIMA * 100)} %", message(False, True, 0.5, None))
        self.assertEqual(
            message(False, True, 1.0, None),
            "Demasiado lento: has escrito a 50 ppm y necesitabas 80 ppm.",
        )
