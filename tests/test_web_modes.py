"""
The game's modes through the HTTP API (L{juego.web.modes}): guests and the claim of their
results, the daily challenge, and practice games.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from juego.game import draw_words, limite_ms
from juego.outbox import SAVE_SCORE
from juego.store import schema as s
from juego.web.modes import GUEST_COOKIE, dailySeed
from tests.keystrokes import regularEvents
from tests.websupport import PASSWORD, Client, Reply, WebTestCase, playedEvents, score


def missedAndTyped(words: list[str], missed: int, typed: int) -> list[dict[str, Any]]:
    """
    The first C{missed} words missed (each at its deadline), then C{typed} typed as a
    person types them.
    """
    human = playedEvents(words, missed + typed)
    events, t, previous = [], 0, 0
    for i, event in enumerate(human):
        d = event["t"] - previous
        previous = event["t"]
        if i < missed:
            t += limite_ms(i, words[i])
            events.append({"t": t, "ok": False, "errores": 1, "teclas": [10]})
        else:
            t += d
            events.append({**event, "t": t})
    return events


class ModesTestCase(WebTestCase):
    def newGame(self, client: Client, **body: Any) -> Reply:
        return client.post("/api/partidas", body)

    def finish(self, client: Client, partida: dict[str, Any], events: list[Any]) -> Reply:
        self.clock.advance((events[-1]["t"] if events else 0) / 1000 + 1)
        return client.post("/api/guardar_puntaje", {"partida_id": partida["id"], "eventos": events})

    def playGame(self, client: Client, n: int = 6, **body: Any) -> tuple[dict[str, Any], Reply]:
        reply = self.newGame(client, **body)
        self.assertEqual(reply.status, 201, reply.body)
        partida = reply.json["partida"]
        return partida, self.finish(client, partida, playedEvents(partida["palabras"], n))

    def partidaRow(self, partidaID: str) -> Any:
        with self.store.engine.connect() as conn:
            return conn.execute(select(s.partidas).where(s.partidas.c.id == partidaID)).first()

    def ranking(self) -> list[tuple[str, int]]:
        rows = self.client().get("/api/ranking").json["ranking"]
        return [(r["nombre"], r["puntaje_maximo"]) for r in rows]

    def login(self, client: Client, email: str) -> Reply:
        reply = client.post("/api/login", {"email": email, "password": PASSWORD})
        self.assertEqual(reply.status, 200, reply.body)
        return reply


class GuestTests(ModesTestCase):
    def test_guestPlays(self):
        """
        Without an account a browser gets a partida and a guest cookie (HttpOnly), and its
        verified result at once, C{invitado}: in no board, no score sent.
        """
        guest = self.client()
        reply = self.newGame(guest)
        self.assertEqual(reply.status, 201, reply.body)
        cookie = reply.header("set-cookie")
        self.assertTrue(cookie.startswith(GUEST_COOKIE.decode() + "="), cookie)
        self.assertIn("HttpOnly", cookie)
        partida = reply.json["partida"]
        self.assertEqual(
            (partida["modo"], partida["vidas"], len(partida["palabras"])), ("normal", 3, 200)
        )
        saved = self.finish(guest, partida, playedEvents(partida["palabras"], 6))
        self.assertEqual(saved.status, 200, saved.body)
        self.assertIs(saved.json["invitado"], True)
        self.assertEqual(saved.json["puntaje"], score(partida["palabras"], 6))
        self.assertIn("Regístrate o inicia sesión para guardar tu resultado", saved.json["message"])
        self.assertEqual(self.scores.calls, [])
        self.assertEqual(self.ranking(), [])
        self.assertIsNone(self.partidaRow(partida["id"]))
        # Answered once: the partida is closed.
        again = self.finish(guest, partida, playedEvents(partida["palabras"], 6))
        self.assertEqual((again.status, again.json["code"]), (409, "partida_cerrada"))

    def test_oneCookiePerBrowser(self):
        guest = self.client()
        self.newGame(guest)
        self.assertIsNone(self.newGame(guest).header("set-cookie"))

    def test_noCookieNoSession(self):
        reply = self.client().post("/api/guardar_puntaje", {"partida_id": "x", "eventos": []})
        self.assertEqual((reply.status, reply.json["code"]), (401, "no_autenticado"))

    def test_claimOnSignUp(self):
        """
        The guest signs up from the same browser: the result is saved to the new account,
        handed to juego-tcp like any ranked result, and on the board and the profile.
        """
        guest = self.client()
        partida, saved = self.playGame(guest, 8)
        reply = guest.post(
            "/api/registro", {"nombre": "Eva", "email": "eva@example.com", "password": PASSWORD}
        )
        self.assertEqual(reply.status, 201, reply.body)
        self.assertEqual(reply.json["reclamadas"], [partida["id"]])
        userID = reply.json["user"]["id"]
        self.assertEqual(self.scores.calls, [(userID, saved.json["puntaje"], partida["id"])])
        self.assertEqual(self.ranking(), [("Eva", saved.json["puntaje"])])
        games = guest.get("/api/perfil").json["partidas"]
        self.assertEqual([g["puntaje"] for g in games], [saved.json["puntaje"]])
        row = self.partidaRow(partida["id"])
        self.assertEqual((row.user_id, row.estado, row.modo), (userID, "publica", "normal"))
        self.assertEqual(self.successResultOf(self.store.partidas.pending()), [])
        # The record notification follows, as for any ranked result.
        self.assertEqual(len(self.dist.messages(userID)), 1)

    def test_claimOnLogin(self):
        _, user = self.signUp("Ana")
        guest = self.client()
        partida, saved = self.playGame(guest, 5)
        reply = self.login(guest, "ana@example.com")
        self.assertEqual(reply.json["reclamadas"], [partida["id"]])
        self.assertEqual(self.scores.calls, [(user["id"], saved.json["puntaje"], partida["id"])])

    def test_claimIsIdempotent(self):
        """
        Claimed twice (a second login, or the store asked again), a result is saved once.
        """
        _, user = self.signUp("Ana")
        guest = self.client()
        partida, _ = self.playGame(guest, 5)
        self.assertIn("reclamadas", self.login(guest, "ana@example.com").json)
        guest.post("/api/logout")
        self.assertNotIn("reclamadas", self.login(guest, "ana@example.com").json)
        now = self.clock.seconds()
        from datetime import UTC, datetime

        when = datetime.fromtimestamp(now, UTC)
        with self.store.engine.connect() as conn:
            invitado = conn.execute(select(s.partidas_invitado.c.invitado)).scalar_one()
        again = self.successResultOf(
            self.store.guests.claim(
                invitado,
                user["id"],
                when - timedelta(hours=1),
                when,
                SAVE_SCORE,
                lambda *a: {},
                when,
            )
        )
        self.assertEqual(again, [])
        self.assertEqual(len(self.scores.calls), 1)
        with self.store.engine.connect() as conn:
            copies = conn.execute(
                select(s.partidas.c.id).where(s.partidas.c.id == partida["id"])
            ).all()
        self.assertEqual(len(copies), 1)

    def test_anotherBrowserCannotClaim(self):
        """
        Attack: another browser (its own guest cookie, or a made-up one) signs up: the
        first guest's result stays unclaimed; nor can it answer the guest's partida.
        """
        victim = self.client()
        partida, _ = self.playGame(victim, 5)
        thief = self.client()
        self.newGame(thief)  # its own guest cookie
        reply = thief.post(
            "/api/registro", {"nombre": "Ladrón", "email": "l@example.com", "password": PASSWORD}
        )
        self.assertNotIn("reclamadas", reply.json)
        forged = self.client()
        forged.post(
            "/api/registro",
            {"nombre": "Otro", "email": "o@example.com", "password": PASSWORD},
            headers={"Cookie": GUEST_COOKIE.decode() + "=" + "A" * 43},
        )
        self.assertEqual(self.scores.calls, [])
        # The victim still claims it afterwards.
        reply = victim.post(
            "/api/registro", {"nombre": "Eva", "email": "eva@example.com", "password": PASSWORD}
        )
        self.assertEqual(reply.json["reclamadas"], [partida["id"]])

    def test_anotherGuestCannotAnswer(self):
        victim = self.client()
        partida = self.newGame(victim).json["partida"]
        thief = self.client()
        self.newGame(thief)
        reply = self.finish(thief, partida, playedEvents(partida["palabras"], 3))
        self.assertEqual((reply.status, reply.json["code"]), (403, "prohibido"))
        # Nor can an account answer a guest's partida (not one of its partidas).
        player, _ = self.signUp("Ana")
        reply = self.finish(player, partida, playedEvents(partida["palabras"], 3))
        self.assertEqual(reply.status, 404)

    def test_finishedAfterLogin(self):
        """
        A game started as a guest and finished once the browser has logged in (another
        tab): verified as the guest's and saved to the account at once.
        """
        _, user = self.signUp("Ana")
        browser = self.client()
        partida = self.newGame(browser).json["partida"]
        self.assertNotIn("reclamadas", self.login(browser, "ana@example.com").json)
        reply = self.finish(browser, partida, playedEvents(partida["palabras"], 5))
        self.assertEqual(reply.status, 200, reply.body)
        self.assertNotIn("invitado", reply.json)
        self.assertEqual(reply.json["message"], "Resultado guardado en tu cuenta.")
        self.assertEqual(self.scores.calls, [(user["id"], reply.json["puntaje"], partida["id"])])
        # Another account's partida is still not found from this browser.
        other, _ = self.signUp("Bea")
        theirs = self.newGame(other).json["partida"]
        reply = self.finish(browser, theirs, playedEvents(theirs["palabras"], 3))
        self.assertEqual(reply.status, 403)

    def test_claimLapsesWithThePartida(self):
        guest = self.client()
        self.playGame(guest, 5)
        self.clock.advance(3601)
        reply = guest.post(
            "/api/registro", {"nombre": "Eva", "email": "eva@example.com", "password": PASSWORD}
        )
        self.assertNotIn("reclamadas", reply.json)
        self.assertEqual(self.scores.calls, [])

    def test_guestExpiredAndMalformed(self):
        guest = self.client()
        partida = self.newGame(guest).json["partida"]
        bad = guest.post("/api/guardar_puntaje", {"partida_id": partida["id"], "eventos": "x"})
        self.assertEqual((bad.status, bad.json["code"]), (400, "invalid_request"))
        missing = guest.post("/api/guardar_puntaje", {"partida_id": "no-existe", "eventos": []})
        self.assertEqual(missing.status, 404)
        noID = guest.post("/api/guardar_puntaje", {"eventos": []})
        self.assertEqual(noID.status, 400)
        self.clock.advance(3601)
        late = self.finish(guest, partida, playedEvents(partida["palabras"], 3))
        self.assertEqual((late.status, late.json["code"]), (410, "partida_caducada"))

    def test_guestRuleBroken(self):
        """
        A guest's result breaking a rule is refused (422) and closes the partida.
        """
        guest = self.client()
        partida = self.newGame(guest).json["partida"]
        events = playedEvents(partida["palabras"], 3)
        events[1]["t"] = events[0]["t"] + 1  # faster than any hand
        reply = self.finish(guest, partida, events)
        self.assertEqual((reply.status, reply.json["code"]), (422, "resultado_invalido"))
        again = self.finish(guest, partida, playedEvents(partida["palabras"], 3))
        self.assertEqual(again.status, 409)

    def test_guestMachineRefused(self):
        """
        A guest's result beyond any human speed is refused like an account's.
        """
        guest = self.client()
        partida = self.newGame(guest).json["partida"]
        words = partida["palabras"]
        events, t = [], 0
        for word in words[:40]:
            d = 30 * len(word)  # the least a hand may take: 400 wpm
            t += d
            events.append({"t": t, "ok": True, "errores": 0, "teclas": [d]})
        reply = self.finish(guest, partida, events)
        self.assertEqual(reply.status, 422, reply.body)

    def test_guestHeldResultClaimedHeld(self):
        """
        A guest's result held for review (a script's regular keystrokes) is claimed held:
        the account's partida is en_revision, no score is sent until an admin approves it.
        """
        guest = self.client()
        partida = self.newGame(guest).json["partida"]
        reply = self.finish(guest, partida, regularEvents(partida["palabras"], 150, n=20))
        self.assertEqual(reply.status, 200, reply.body)
        self.assertIs(reply.json["en_revision"], True)
        reply = guest.post(
            "/api/registro", {"nombre": "Eva", "email": "eva@example.com", "password": PASSWORD}
        )
        self.assertEqual(reply.json["reclamadas"], [partida["id"]])
        row = self.partidaRow(partida["id"])
        self.assertEqual((row.estado, row.motivo), ("en_revision", "revision"))
        self.assertEqual(self.scores.calls, [])
        self.assertEqual(self.ranking(), [])
        admin, adminUser = self.signUp("Root")
        self.makeAdmin(adminUser["id"])
        approved = self.successResultOf(self.app.games.approve(partida["id"]))
        self.assertEqual(approved.value, "done")
        self.assertEqual(len(self.scores.calls), 1)

    def test_guestNothingPlayed(self):
        guest = self.client()
        partida = self.newGame(guest).json["partida"]
        reply = self.finish(guest, partida, [])
        self.assertEqual(reply.status, 200)
        self.assertIs(reply.json["descartada"], True)
        reply = guest.post(
            "/api/registro", {"nombre": "Eva", "email": "eva@example.com", "password": PASSWORD}
        )
        self.assertNotIn("reclamadas", reply.json)

    def test_claimWhileScoresDown(self):
        """
        juego-tcp is down at the claim: the login goes on, the score waits in the outbox.
        """
        guest = self.client()
        partida, saved = self.playGame(guest, 5)
        self.scores.down = True
        reply = guest.post(
            "/api/registro", {"nombre": "Eva", "email": "eva@example.com", "password": PASSWORD}
        )
        self.assertEqual(reply.status, 201)
        pending = self.successResultOf(self.store.partidas.pending())
        self.assertEqual([p.payload["partida_id"] for p in pending], [partida["id"]])

    def test_claimFailureNeverFailsLogin(self):
        guest = self.client()
        self.playGame(guest, 5)

        def broken(*a, **kw):
            raise RuntimeError("boom")

        self.patch(self.store.guests, "claim", broken)
        reply = guest.post(
            "/api/registro", {"nombre": "Eva", "email": "eva@example.com", "password": PASSWORD}
        )
        self.assertEqual(reply.status, 201)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_guestDailyNeedsAccount(self):
        reply = self.newGame(self.client(), modo="diario")
        self.assertEqual((reply.status, reply.json["code"]), (401, "no_autenticado"))

    def test_guestPractice(self):
        guest = self.client()
        partida, reply = self.playGame(guest, 4, modo="practica")
        self.assertEqual(reply.status, 200, reply.body)
        self.assertIs(reply.json["practica"], True)
        self.assertIs(reply.json["invitado"], True)
        reply = guest.post(
            "/api/registro", {"nombre": "Eva", "email": "eva@example.com", "password": PASSWORD}
        )
        self.assertNotIn("reclamadas", reply.json)
        self.assertEqual(self.scores.calls, [])

    def test_housekeepingForgetsOldGuests(self):
        guest = self.client()
        self.playGame(guest, 3)
        from juego.web.housekeeping import Housekeeping

        self.clock.advance(2 * 86400)
        self.successResultOf(Housekeeping(self.store, self.clock).run())
        with self.store.engine.connect() as conn:
            self.assertEqual(conn.execute(select(s.partidas_invitado)).all(), [])


class WithoutGuestsTests(ModesTestCase):
    def setUp(self):
        super().setUp()
        self.app.api.guests = None

    def test_accountNeeded(self):
        """
        An application built without guest play asks for a session as before.
        """
        guest = self.client()
        reply = self.newGame(guest)
        self.assertEqual((reply.status, reply.json["code"]), (401, "no_autenticado"))
        self.assertEqual(guest.get("/api/desafio").status, 404)
        player, _ = self.signUp("Ana")
        reply = player.post("/api/guardar_puntaje", {"partida_id": "x", "eventos": []})
        self.assertEqual(reply.status, 404)
        self.assertEqual(self.login(self.client(), "ana@example.com").json["user"]["nombre"], "Ana")


class DailyTests(ModesTestCase):
    def test_sameWordsForEveryone(self):
        """
        Two players get the same 200 words for the day and language; another language or
        another day has others.
        """
        ana, _ = self.signUp("Ana")
        bea, _ = self.signUp("Bea")
        first = self.newGame(ana, modo="diario").json["partida"]
        second = self.newGame(bea, modo="diario").json["partida"]
        self.assertEqual(first["modo"], "diario")
        self.assertEqual(len(first["palabras"]), 200)
        self.assertEqual(first["palabras"], second["palabras"])
        self.assertNotEqual(first["id"], second["id"])
        english = self.newGame(ana, modo="diario", idioma="en").json["partida"]
        self.assertNotEqual(english["palabras"], first["palabras"])
        self.clock.advance(86400)
        tomorrow = self.newGame(ana, modo="diario").json["partida"]
        self.assertNotEqual(tomorrow["palabras"], first["palabras"])

    def test_oneAttemptPerDay(self):
        """
        A second daily POST the same UTC day and language is 409 ya_jugado, played or not;
        the next UTC day it is open again.
        """
        ana, user = self.signUp("Ana")
        self.assertEqual(self.newGame(ana, modo="diario").status, 201)
        again = self.newGame(ana, modo="diario")
        self.assertEqual((again.status, again.json["code"]), (409, "ya_jugado"))
        status = ana.get("/api/desafio").json
        self.assertEqual(status["jugado"], ["es"])
        self.assertEqual(status["dia"], "2026-11-01")
        self.assertEqual(status["siguiente"], "2026-11-02T00:00:00Z")
        # Normal games go on.
        self.assertEqual(self.newGame(ana).status, 201)
        self.clock.advance(12 * 3600)  # T0 is noon: now the next UTC day
        self.assertEqual(ana.get("/api/desafio").json["jugado"], [])
        self.assertEqual(self.newGame(ana, modo="diario").status, 201)

    def test_dailyIsRanked(self):
        ana, user = self.signUp("Ana")
        partida, reply = self.playGame(ana, 7, modo="diario")
        self.assertEqual(reply.status, 200, reply.body)
        self.assertEqual(self.scores.calls, [(user["id"], reply.json["puntaje"], partida["id"])])
        self.assertEqual(self.partidaRow(partida["id"]).modo, "diario")
        self.assertEqual(self.ranking(), [("Ana", reply.json["puntaje"])])

    def test_guestStatus(self):
        status = self.client().get("/api/desafio").json
        self.assertEqual(status["jugado"], [])

    def test_seed(self):
        self.assertEqual(dailySeed("2026-11-30", "es"), dailySeed("2026-11-30", "es"))
        self.assertNotEqual(dailySeed("2026-11-30", "es"), dailySeed("2026-12-01", "es"))
        self.assertLess(dailySeed("2026-11-30", "en"), 2**63)
        self.assertRaises(ValueError, dailySeed, "mañana", "es")

    def test_seedKeyedBySecret(self):
        """
        Under the service secret nobody can compute a day's words from the day alone;
        every node with the same secret draws the same.
        """
        self.assertNotEqual(dailySeed("2026-11-30", "es", b"k1"), dailySeed("2026-11-30", "es"))
        self.assertNotEqual(
            dailySeed("2026-11-30", "es", b"k1"), dailySeed("2026-11-30", "es", b"k2")
        )
        self.assertEqual(dailySeed("2026-11-30", "es", b"k1"), dailySeed("2026-11-30", "es", b"k1"))
        app = self.buildApplication(dailyKey=b"secreto")
        self.addCleanup(app.close)
        keyed = Client(self, app.resource(), self.pump)
        keyed.post(
            "/api/registro", {"nombre": "Bea", "email": "bea@example.com", "password": PASSWORD}
        )
        ana, _ = self.signUp("Ana")
        plain = self.newGame(ana, modo="diario").json["partida"]["palabras"]
        secret = self.newGame(keyed, modo="diario").json["partida"]["palabras"]
        self.assertNotEqual(plain, secret)
        self.assertEqual(secret, draw_words(dailySeed("2026-11-01", "es", b"secreto"), "es"))

    def test_badModo(self):
        ana, _ = self.signUp("Ana")
        for modo in ["ranked", 1, ""]:
            reply = self.newGame(ana, modo=modo)
            self.assertEqual((reply.status, reply.json["code"]), (400, "invalid_request"))
        reply = self.newGame(self.client(), modo="x")
        self.assertEqual(reply.status, 400)


class PracticeTests(ModesTestCase):
    def test_noLives(self):
        """
        Practice: four missed words do not end the game; verified and shown, never ranked,
        no score, no stat, not among the player's games.
        """
        ana, user = self.signUp("Ana")
        partida = self.newGame(ana, modo="practica").json["partida"]
        self.assertEqual((partida["modo"], partida["vidas"]), ("practica", None))
        words = partida["palabras"]
        events = missedAndTyped(words, 4, 6)
        reply = self.finish(ana, partida, events)
        self.assertEqual(reply.status, 200, reply.body)
        self.assertIs(reply.json["practica"], True)
        self.assertEqual(
            reply.json["puntaje"], sum(len(words[i]) * (1 + i // 10) for i in range(4, 10))
        )
        self.assertEqual(self.scores.calls, [])
        self.assertEqual(self.ranking(), [])
        self.assertEqual(ana.get("/api/perfil").json["partidas"], [])
        stats = self.successResultOf(self.store.stats.userStats(user["id"]))
        self.assertEqual(stats.partidas_jugadas, 0)
        row = self.partidaRow(partida["id"])
        self.assertEqual((row.estado, row.modo), ("practica", "practica"))
        again = self.finish(ana, partida, events)
        self.assertEqual(again.status, 409)

    def test_livesCountInNormalGames(self):
        """
        Attack: the same events in a normal game are refused, its fourth miss comes after
        the last life.
        """
        ana, _ = self.signUp("Ana")
        partida = self.newGame(ana).json["partida"]
        reply = self.finish(ana, partida, missedAndTyped(partida["palabras"], 4, 6))
        self.assertEqual((reply.status, reply.json["code"]), (422, "resultado_invalido"))


class GuestRateLimitTests(ModesTestCase):
    rateLimits = 1.0

    def test_guestsLimitedByAddress(self):
        """
        Attack: a script asking for partidas without an account, a new browser (no
        cookie) every time, is held to the per-address rate like a player.
        """
        statuses = [self.newGame(self.client()).status for _ in range(30)]
        self.assertLessEqual(statuses.count(201), 10)
        self.assertEqual(statuses.count(201) + statuses.count(429), 30, set(statuses))
        self.assertGreater(statuses.count(429), 0)
