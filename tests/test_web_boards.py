"""
The boards through the HTTP API: C{GET /api/ranking?periodo&idioma&modo&limit} and
C{GET /api/ranking/yo}, their parameters checked, on the application's clock (every reply
is validated against the OpenAPI document by the test client).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from juego.store.boards import DIARIO
from juego.store.partidas import EN_REVISION
from tests.test_boards import addResult
from tests.websupport import T0, WebTestCase

#: T0 is Sunday 1 November 2026, 12:00 UTC: the last day of ISO week 44.
TODAY = T0.replace(hour=0)


class BoardsAPITests(WebTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.ids = itertools.count(1)

    def result(self, userID: int, puntaje: int, cerrada: datetime, **kw: Any) -> str:
        partidaID = f"00000000-0000-4000-8000-{next(self.ids):012d}"
        addResult(self, self.store, partidaID, userID, puntaje, cerrada, **kw)
        return partidaID

    def board(self, query: str = "", client: Any = None) -> list[tuple[str, int]]:
        reply = (client or self.client()).get(f"/api/ranking{query}")
        self.assertEqual(reply.status, 200, reply.body)
        return [(row["nombre"], row["puntaje_maximo"]) for row in reply.json["ranking"]]

    def test_rowsKeepTheirShape(self) -> None:
        """
        Rows are C{{posicion, user_id, nombre, puntaje_maximo}} as before, with the partida
        of the result when it is known.
        """
        client, ana = self.signUp("Ana")
        partida, played = self.play(client, 5)
        for query in ("", "?periodo=dia", "?periodo=semana&idioma=es"):
            [row] = client.get(f"/api/ranking{query}").json["ranking"]
            self.assertEqual(
                row,
                {
                    "posicion": 1,
                    "user_id": ana["id"],
                    "nombre": "Ana",
                    "puntaje_maximo": played.json["puntaje"],
                    "partida_id": partida["id"],
                },
                query,
            )

    def test_periodsFollowTheClock(self) -> None:
        """
        The boards move with the clock, computed from the data: tomorrow (Monday, a new
        ISO week) today's and this week's boards are empty, the all-time one is not.
        """
        _, ana = self.signUp("Ana")
        _, bea = self.signUp("Bea")
        self.result(ana["id"], 300, TODAY - timedelta(seconds=1))  # Saturday
        self.result(bea["id"], 200, T0)
        self.assertEqual(self.board("?periodo=dia"), [("Bea", 200)])
        self.assertEqual(self.board("?periodo=semana"), [("Ana", 300), ("Bea", 200)])
        self.clock.advance(timedelta(hours=12).total_seconds())  # Monday 00:00
        self.assertEqual(self.board("?periodo=dia"), [])
        self.assertEqual(self.board("?periodo=semana"), [])
        self.assertEqual(self.board("?periodo=siempre"), [("Ana", 300), ("Bea", 200)])
        self.assertEqual(self.board(), [("Ana", 300), ("Bea", 200)])

    def test_languageModeAndLimit(self) -> None:
        _, ana = self.signUp("Ana")
        _, bea = self.signUp("Bea")
        _, cid = self.signUp("Cid")
        self.result(ana["id"], 300, T0, idioma="en")
        self.result(bea["id"], 200, T0, modo=DIARIO)
        self.result(cid["id"], 100, T0, modo=DIARIO, idioma="en")
        self.assertEqual(self.board("?idioma=es"), [("Bea", 200)])
        self.assertEqual(self.board("?idioma=en"), [("Ana", 300), ("Cid", 100)])
        self.assertEqual(self.board("?modo=diario"), [("Bea", 200), ("Cid", 100)])
        self.assertEqual(self.board("?modo=diario&periodo=dia&idioma=en"), [("Cid", 100)])
        self.assertEqual(self.board("?periodo=semana&limit=2"), [("Ana", 300), ("Bea", 200)])
        self.assertEqual(len(self.board("?idioma=en&limit=1000")), 2)

    def test_heldResultsNeverShow(self) -> None:
        _, ana = self.signUp("Ana")
        self.result(ana["id"], 900, T0, estado=EN_REVISION)
        for query in ("", "?periodo=dia", "?periodo=semana", "?idioma=es", "?modo=diario"):
            self.assertEqual(self.board(query), [], query)

    def test_badParameters(self) -> None:
        """
        Any other value is a 400 that says which parameter and what it takes.
        """
        client = self.client()
        cases = {
            "periodo=mes": "«periodo» debe ser dia, semana o siempre.",
            "periodo=": "«periodo» debe ser dia, semana o siempre.",
            "idioma=": "«idioma» debe ser uno de: es, en.",
            "idioma=es&idioma=en": "«idioma» solo puede aparecer una vez.",
            "modo=diario&modo=diario": "«modo» solo puede aparecer una vez.",
            "idioma=fr": "«idioma» debe ser uno de: es, en.",
            "modo=practica": "«modo» solo puede ser diario",
            "modo=diario&periodo=semana": "solo tiene tablero del día",
            "modo=diario&periodo=siempre": "solo tiene tablero del día",
            "limit=0": "«limit» debe ser al menos 1.",
            "limit=x": "«limit» debe ser un número entero.",
        }
        for path in ("/api/ranking", "/api/ranking/yo"):
            signedIn, _ = self.signUp(f"J{len(path)}")
            for query, message in cases.items():
                reply = signedIn.get(f"{path}?{query}")
                self.assertEqual(
                    (reply.status, reply.json["code"]), (400, "invalid_request"), query
                )
                self.assertIn(message, reply.json["error"], query)
        self.assertEqual(client.get("/api/ranking?periodo=%C3%B1").status, 400)

    def test_mine(self) -> None:
        """
        C{/api/ranking/yo}: the player's position and two rows either side, on the
        board the parameters name; C{posicion} null and no rows without a result there;
        401 without a session.
        """
        self.assertEqual(self.client().get("/api/ranking/yo").status, 401)
        players = [self.signUp(f"J{i}") for i in range(6)]
        for i, (_, user) in enumerate(players):
            self.result(user["id"], 600 - 100 * i, T0 - timedelta(days=2 * i))
        client, me = players[3]
        reply = client.get("/api/ranking/yo")
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.json["posicion"], 4)
        self.assertEqual(
            [(r["posicion"], r["nombre"]) for r in reply.json["ranking"]],
            [(2, "J1"), (3, "J2"), (4, "J3"), (5, "J4"), (6, "J5")],
        )
        mine = [r for r in reply.json["ranking"] if r["user_id"] == me["id"]]
        self.assertEqual(mine[0]["puntaje_maximo"], 300)
        # This week (Monday 26 October to T0): J0..J3 played in it.
        reply = client.get("/api/ranking/yo?periodo=semana")
        self.assertEqual(reply.json["posicion"], 4)
        self.assertEqual([r["nombre"] for r in reply.json["ranking"]], ["J1", "J2", "J3"])
        # Today: only J0 played.
        reply = client.get("/api/ranking/yo?periodo=dia")
        self.assertEqual((reply.json["posicion"], reply.json["ranking"]), (None, []))
        first, _ = players[0]
        reply = first.get("/api/ranking/yo?periodo=dia&idioma=es")
        self.assertEqual(reply.json["posicion"], 1)
        self.assertEqual([r["nombre"] for r in reply.json["ranking"]], ["J0"])
        newcomer, _ = self.signUp("Nuevo")
        reply = newcomer.get("/api/ranking/yo")
        self.assertEqual(reply.json, {"success": True, "posicion": None, "ranking": []})
