"""
Ranking, stats, notifications and the admin endpoints through the HTTP API.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from twisted.internet.defer import fail
from twisted.trial.unittest import SynchronousTestCase

from juego.store import schema as s
from juego.web.admin import RESET_MESSAGE
from juego.web.throttle import PER_DEVICE
from tests.websupport import PASSWORD, WebTestCase


class RankingTests(WebTestCase):
    def save(self, userID, puntaje, seconds):
        from juego.store.scores import SaveRequest
        from tests.websupport import T0

        when = T0 + timedelta(seconds=seconds)
        self.successResultOf(self.store.scores.saveBatch([SaveRequest(userID, puntaje)], now=when))

    def test_rankingBestFirstTiesByWhoReachedFirst(self):
        _, ana = self.signUp("Ana")
        _, bea = self.signUp("<b>Bea</b>")
        _, cid = self.signUp("Cid")
        self.signUp("Sin partidas", "nadie@example.com")
        self.save(cid["id"], 50, 1)
        self.save(ana["id"], 50, 2)
        self.save(bea["id"], 80, 3)
        self.save(cid["id"], 10, 4)
        reply = self.client().get("/api/ranking")
        self.assertEqual(reply.status, 200)
        self.assertEqual(
            reply.json["ranking"],
            [
                {"posicion": 1, "user_id": bea["id"], "nombre": "<b>Bea</b>", "puntaje_maximo": 80},
                {"posicion": 2, "user_id": cid["id"], "nombre": "Cid", "puntaje_maximo": 50},
                {"posicion": 3, "user_id": ana["id"], "nombre": "Ana", "puntaje_maximo": 50},
            ],
        )

    def test_playedGamesRank(self):
        client, user = self.signUp("Ana")
        _, played = self.play(client, 5)
        [entry] = self.client().get("/api/ranking").json["ranking"]
        self.assertEqual(
            (entry["user_id"], entry["puntaje_maximo"]), (user["id"], played.json["puntaje"])
        )

    def test_limit(self):
        for i in range(3):
            client, _ = self.signUp(f"J{i}")
            self.play(client, 1)
        client = self.client()
        self.assertEqual(len(client.get("/api/ranking?limit=2").json["ranking"]), 2)
        self.assertEqual(len(client.get("/api/ranking?limit=1000").json["ranking"]), 3)
        for bad in ["0", "-1", "abc", "1.5"]:
            reply = client.get(f"/api/ranking?limit={bad}")
            self.assertEqual((reply.status, reply.json["code"]), (400, "invalid_request"), bad)

    def test_limitCappedAt100(self):
        calls = []
        original = self.store.stats.ranking

        def spy(limit, offset=0):
            calls.append(limit)
            return original(limit, offset)

        self.store.stats.ranking = spy
        self.client().get("/api/ranking?limit=500")
        self.client().get("/api/ranking")
        self.assertEqual(calls, [100, 10])


class StatsTests(WebTestCase):
    def test_userStats(self):
        client, user = self.signUp()
        _, played = self.play(client, 4)
        reply = client.get("/api/stats/usuario")
        self.assertEqual(reply.status, 200)
        stats = reply.json["stats"]
        self.assertEqual(stats["user_id"], user["id"])
        self.assertEqual(stats["puntaje_maximo"], played.json["puntaje"])
        self.assertEqual(stats["partidas_jugadas"], 1)
        self.assertEqual(stats["posicion_ranking"], 1)

    def test_globalStatsPublic(self):
        client, _ = self.signUp()
        self.play(client, 4)
        reply = self.client().get("/api/stats/global")
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.json["stats"]["total_usuarios"], 1)
        self.assertEqual(reply.json["stats"]["partidas_totales"], 1)

    def test_distDown(self):
        client, _ = self.signUp()
        self.dist.down = True
        for path in ["/api/stats/usuario", "/api/stats/global", "/api/notificaciones"]:
            reply = client.get(path)
            self.assertEqual(reply.status, 503, path)
            self.assertEqual(reply.json["code"], "servicio_no_disponible")
            self.assertIn("no está disponible", reply.json["error"])
            self.assertEqual(reply.header("Retry-After"), "5", path)
        reply = client.post("/api/notificaciones/leer", {})
        self.assertEqual(reply.status, 503)

    def test_distFailureReply(self):
        client, _ = self.signUp()

        def refuse(*a, **kw):
            from twisted.internet.defer import succeed

            return succeed({"success": False, "code": "internal", "error": "ups"})

        self.dist.get_global_stats = refuse
        self.assertEqual(client.get("/api/stats/global").status, 503)

    def test_distBug(self):
        client, _ = self.signUp()

        def broken(*a, **kw):
            raise RuntimeError("bug")

        self.dist.get_global_stats = broken
        self.assertEqual(client.get("/api/stats/global").status, 503)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class UpstreamCancelTests(SynchronousTestCase):
    def test_visitorGoneIsNoFailure(self):
        """
        Found in play: a visitor leaving a page while /api/notificaciones was waiting on
        juego-dist logged a critical "juego-dist call failed". The cancelled call now
        ends quietly (nothing logged as an error).
        """
        from twisted.internet.defer import CancelledError, Deferred

        from juego.web.upstream import callDist

        pending: Deferred[dict[str, object]] = Deferred()
        d = Deferred.fromCoroutine(callDist(lambda: pending))
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(self.flushLoggedErrors(), [])


class NotificationTests(WebTestCase):
    def setUp(self):
        super().setUp()
        self.player, self.user = self.signUp("Ana")
        for message in ["uno", "dos", "tres"]:
            self.dist.add_notification(self.user["id"], message, "info")
        self.dist.add_notification(self.user["id"] + 100, "ajena", "info")

    def test_list(self):
        reply = self.player.get("/api/notificaciones")
        self.assertEqual(reply.status, 200)
        notifications = reply.json["notifications"]
        self.assertEqual([n["message"] for n in notifications], ["tres", "dos", "uno"])
        self.assertEqual(
            set(notifications[0]), {"id", "user_id", "message", "type", "timestamp", "leida"}
        )
        self.assertEqual(
            len(self.player.get("/api/notificaciones?limit=2").json["notifications"]), 2
        )

    def test_markRead(self):
        [tres, dos, uno] = self.player.get("/api/notificaciones").json["notifications"]
        reply = self.player.post("/api/notificaciones/leer", {"ids": [uno["id"]]})
        self.assertEqual((reply.status, reply.json), (200, {"success": True}))
        unread = self.player.get("/api/notificaciones?no_leidas=1").json["notifications"]
        self.assertEqual([n["message"] for n in unread], ["tres", "dos"])
        self.player.post("/api/notificaciones/leer", {})
        self.assertEqual(
            self.player.get("/api/notificaciones?no_leidas=1").json["notifications"], []
        )
        self.assertEqual(self.dist.messages(self.user["id"] + 100), ["ajena"])
        self.assertFalse(self.dist.notifications[-1].leida)

    def test_markReadInvalid(self):
        for ids in ["1", [1, "2"], [True], {"a": 1}]:
            reply = self.player.post("/api/notificaciones/leer", {"ids": ids})
            self.assertEqual((reply.status, reply.json["code"]), (400, "invalid_request"), ids)


class AdminTests(WebTestCase):
    def setUp(self):
        super().setUp()
        self.admin, self.adminUser = self.signUp("Admin", "admin@example.com")
        self.makeAdmin(self.adminUser["id"])
        self.player, self.user = self.signUp("<b>Ana</b>", "ana@example.com")
        _, self.played = self.play(self.player, 6)

    def count(self, table, userID):
        with self.store.engine.connect() as conn:
            return conn.execute(
                select(func.count()).select_from(table).where(table.c.user_id == userID)
            ).scalar_one()

    def test_nonAdminForbidden(self):
        for method, path in [
            ("GET", "/api/admin/usuarios"),
            ("POST", f"/api/admin/reiniciar_puntuacion/{self.adminUser['id']}"),
            ("POST", f"/api/admin/eliminar_usuario/{self.adminUser['id']}"),
        ]:
            reply = self.player.request(
                method, path, {"password": PASSWORD} if method == "POST" else None
            )
            self.assertEqual((reply.status, reply.json["code"]), (403, "prohibido"), path)
        self.assertIsNotNone(self.successResultOf(self.store.users.get(self.adminUser["id"])))

    def test_users(self):
        reply = self.admin.get("/api/admin/usuarios")
        self.assertEqual(reply.status, 200)
        usuarios = reply.json["usuarios"]
        self.assertEqual([u["id"] for u in usuarios], [self.adminUser["id"], self.user["id"]])
        self.assertEqual(
            set(usuarios[1]),
            {
                "id",
                "nombre",
                "email",
                "es_admin",
                "fecha_registro",
                "puntaje_maximo",
                "partidas_jugadas",
            },
        )
        self.assertEqual(usuarios[1]["nombre"], "<b>Ana</b>")
        self.assertEqual(usuarios[1]["puntaje_maximo"], self.played.json["puntaje"])
        self.assertEqual(usuarios[1]["partidas_jugadas"], 1)
        self.assertIs(usuarios[0]["es_admin"], True)

    def test_reset(self):
        reply = self.admin.post(f"/api/admin/reiniciar_puntuacion/{self.user['id']}")
        self.assertEqual(reply.status, 200)
        self.assertIs(reply.json["success"], True)
        self.assertIn("<b>Ana</b>", reply.json["message"])
        stats = self.successResultOf(self.store.stats.userStats(self.user["id"]))
        self.assertEqual((stats.puntaje_maximo, stats.partidas_jugadas), (0, 0))
        self.assertEqual(self.client().get("/api/ranking").json["ranking"], [])
        self.assertEqual(self.player.get("/api/perfil").json["partidas"], [])
        self.assertEqual(self.count(s.scores, self.user["id"]), 0)
        self.assertEqual(self.player.get("/api/yo").status, 200)
        self.successResultOf(self.app.drainer.drain())
        self.assertIn(RESET_MESSAGE, self.dist.messages(self.user["id"]))

    def test_resetUnknown(self):
        reply = self.admin.post("/api/admin/reiniciar_puntuacion/999")
        self.assertEqual((reply.status, reply.json["code"]), (404, "no_encontrado"))
        reply = self.admin.post("/api/admin/reiniciar_puntuacion/abc")
        self.assertEqual(reply.status, 404)

    def test_delete(self):
        reply = self.admin.post(
            f"/api/admin/eliminar_usuario/{self.user['id']}", {"password": PASSWORD}
        )
        self.assertEqual(reply.status, 200, reply.body)
        self.assertIs(reply.json["success"], True)
        self.assertIsNone(self.successResultOf(self.store.users.get(self.user["id"])))
        for table in (s.scores, s.sessions, s.partidas, s.notifications, s.user_aggregates):
            self.assertEqual(self.count(table, self.user["id"]), 0, table.name)
        self.assertEqual(self.player.get("/api/yo").status, 401)
        self.assertEqual(self.client().get("/api/ranking").json["ranking"], [])
        stats = self.successResultOf(self.store.stats.globalStats())
        self.assertEqual((stats.total_usuarios, stats.partidas_totales), (1, 0))

    def test_deleteNeedsOwnPassword(self):
        path = f"/api/admin/eliminar_usuario/{self.user['id']}"
        reply = self.admin.post(path, {"password": "incorrecta"})
        self.assertEqual((reply.status, reply.json["code"]), (401, "credenciales_invalidas"))
        reply = self.admin.post(path, {})
        self.assertEqual((reply.status, reply.json["code"]), (400, "invalid_request"))
        self.assertIsNotNone(self.successResultOf(self.store.users.get(self.user["id"])))
        # The admin is still signed in.
        self.assertEqual(self.admin.get("/api/yo").status, 200)

    def test_deletePasswordThrottled(self):
        # The admin's browser has a device cookie: its own failures lock it.
        path = f"/api/admin/eliminar_usuario/{self.user['id']}"
        for _ in range(PER_DEVICE):
            self.assertEqual(self.admin.post(path, {"password": "incorrecta"}).status, 401)
        reply = self.admin.post(path, {"password": PASSWORD})
        self.assertEqual((reply.status, reply.json["code"]), (429, "demasiados_intentos"))
        self.assertIsNotNone(self.successResultOf(self.store.users.get(self.user["id"])))

    def test_cannotDeleteSelf(self):
        reply = self.admin.post(
            f"/api/admin/eliminar_usuario/{self.adminUser['id']}", {"password": PASSWORD}
        )
        self.assertEqual((reply.status, reply.json["code"]), (403, "prohibido"))
        self.assertIsNotNone(self.successResultOf(self.store.users.get(self.adminUser["id"])))

    def test_deleteUnknown(self):
        reply = self.admin.post("/api/admin/eliminar_usuario/999", {"password": PASSWORD})
        self.assertEqual((reply.status, reply.json["code"]), (404, "no_encontrado"))


def lostConnection() -> OperationalError:
    """
    What SQLAlchemy raises when the database server is gone.
    """
    return OperationalError(
        "SELECT 1", {}, Exception("connection failed: server closed the connection\nunexpectedly")
    )


class DatabaseUnavailableTests(WebTestCase):
    """
    The database out of reach is a 503 C{servicio_no_disponible} with C{Retry-After},
    for the API and the pages alike; a bug is still a 500.
    """

    def test_apiRead(self):
        self.patch(self.store.stats, "ranking", lambda limit: fail(lostConnection()))
        reply = self.client().get("/api/ranking")
        self.assertEqual((reply.status, reply.json["code"]), (503, "servicio_no_disponible"))
        self.assertEqual(reply.json["success"], False)
        self.assertIn("base de datos", reply.json["error"])
        self.assertEqual(reply.header("Retry-After"), "5")
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_apiWrite(self):
        client, _ = self.signUp()
        # A daily challenge's partida is written when issued (its one attempt).
        self.patch(self.store.modes, "issueDaily", lambda partida, dia: fail(lostConnection()))
        reply = client.post("/api/partidas", {"modo": "diario"})
        self.assertEqual((reply.status, reply.json["code"]), (503, "servicio_no_disponible"))
        self.assertEqual(reply.header("Retry-After"), "5")

    def test_poolTimeout(self):
        self.patch(
            self.store.stats, "ranking", lambda limit: fail(PoolTimeout("QueuePool limit reached"))
        )
        self.assertEqual(self.client().get("/api/ranking").status, 503)

    def test_otherDatabaseErrorIsABug(self):
        error = IntegrityError("INSERT", {}, Exception("duplicate key"))
        self.patch(self.store.stats, "ranking", lambda limit: fail(error))
        reply = self.client().get("/api/ranking")
        self.assertEqual((reply.status, reply.json["code"]), (500, "internal"))
        self.assertIsNone(reply.header("Retry-After"))
        self.assertEqual(len(self.flushLoggedErrors(IntegrityError)), 1)

    def test_page(self):
        self.patch(self.app.pages.auth, "currentUser", lambda request: fail(lostConnection()))
        reply = self.client().get("/")
        self.assertEqual(reply.status, 503)
        self.assertEqual(reply.header("Retry-After"), "5")
        self.assertIn("no puede consultar sus datos", reply.body.decode("utf-8"))
        self.assertEqual(self.flushLoggedErrors(), [])
