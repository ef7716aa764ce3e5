"""
Accounts through the HTTP API: sign-up, login, logout, yo, sessions, throttling, CSRF and
content-type checks, and the profile.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from juego.store import schema as s
from juego.web.sessions import COOKIE, tokenHash
from tests.support import PostgresMixin
from tests.websupport import PASSWORD, WebTestCase


def cookieHeader(reply) -> str:
    [header] = [
        h for h in reply.headers.getRawHeaders("set-cookie") if h.startswith(COOKIE.decode())
    ]
    return header


class RegistroTests(WebTestCase):
    def test_signsUpAndIn(self):
        client = self.client()
        reply = client.post(
            "/api/registro",
            {"nombre": "  <b>Ana</b> & co ", "email": " Ana@Example.COM ", "password": PASSWORD},
        )
        self.assertEqual(reply.status, 201)
        user = reply.json["user"]
        self.assertEqual(set(user), {"id", "nombre", "email", "es_admin", "fecha_registro"})
        self.assertEqual(user["nombre"], "<b>Ana</b> & co")
        self.assertEqual(user["email"], "ana@example.com")
        self.assertIs(user["es_admin"], False)
        self.assertEqual(user["fecha_registro"], "2026-11-01T12:00:00+00:00")
        yo = client.get("/api/yo")
        self.assertEqual((yo.status, yo.json["user"]), (200, user))

    def test_cookieAttributes(self):
        client = self.client()
        reply = client.post(
            "/api/registro", {"nombre": "Ana", "email": "ana@example.com", "password": PASSWORD}
        )
        header = cookieHeader(reply).lower()
        self.assertIn("httponly", header)
        self.assertIn("samesite=lax", header)
        self.assertIn("path=/", header)
        self.assertIn(f"max-age={30 * 24 * 3600}", header)
        self.assertNotIn("secure", header)
        token = cookieHeader(reply).split(";")[0].split("=", 1)[1]
        self.assertEqual(len(token), 43)
        with self.store.engine.connect() as conn:
            [row] = conn.execute(select(s.sessions)).all()
        self.assertEqual(row.token_hash, tokenHash(token.encode()))
        self.assertEqual(row.expira - row.creada, timedelta(days=30))

    def test_secureCookieUnderHTTPS(self):
        client = self.client()
        reply = client.treq.post(
            "https://juego.test/api/registro",
            json={"nombre": "Ana", "email": "ana@example.com", "password": PASSWORD},
        )
        response = client._settle(reply)
        self.assertEqual(response.code, 201)
        headers = response.headers.getRawHeaders("set-cookie")
        # The session's and the device's cookies.
        self.assertEqual(len(headers), 2)
        for header in headers:
            self.assertIn("secure", header.lower())

    def test_emailInUse(self):
        self.signUp("Ana", "ana@example.com")
        reply = self.client().post(
            "/api/registro", {"nombre": "Otra", "email": "ANA@example.com", "password": PASSWORD}
        )
        self.assertEqual(reply.status, 409)
        self.assertEqual(reply.json["code"], "email_en_uso")
        self.assertIs(reply.json["success"], False)

    def test_invalidFields(self):
        client = self.client()
        cases = [
            {"nombre": "", "email": "a@example.com", "password": PASSWORD},
            {"nombre": "x" * 41, "email": "a@example.com", "password": PASSWORD},
            {"nombre": "a\nb", "email": "a@example.com", "password": PASSWORD},
            {"nombre": 7, "email": "a@example.com", "password": PASSWORD},
            {"nombre": "Ana", "email": "no-es-un-correo", "password": PASSWORD},
            {"nombre": "Ana", "email": "a@example.com", "password": "corta"},
            {"nombre": "Ana", "email": "a@example.com"},
        ]
        for body in cases:
            reply = client.post("/api/registro", body)
            self.assertEqual(reply.status, 400, body)
            self.assertEqual(reply.json["code"], "invalid_request")
            self.assertTrue(reply.json["error"])
        self.assertEqual(client.get("/api/yo").status, 401)

    def test_fortyCharactersOfMarkup(self):
        nombre = "<script>alert(1)</script>" + "é" * 15
        self.assertEqual(len(nombre), 40)
        _, user = self.signUp(nombre, "x@example.com")
        self.assertEqual(user["nombre"], nombre)

    def test_adminCannotBeClaimed(self):
        client = self.client()
        reply = client.post(
            "/api/registro",
            {
                "nombre": "Eve",
                "email": "eve@example.com",
                "password": PASSWORD,
                "es_admin": True,
                "codigo_admin": "admin123",
            },
        )
        self.assertEqual(reply.status, 201)
        self.assertIs(reply.json["user"]["es_admin"], False)


class LoginTests(WebTestCase):
    def setUp(self):
        super().setUp()
        self.signUp("Ana", "ana@example.com")

    def login(self, client=None, email="ana@example.com", password=PASSWORD, **kw):
        client = client or self.client()
        return client, client.post("/api/login", {"email": email, "password": password}, **kw)

    def test_login(self):
        client, reply = self.login(email="  ANA@example.com")
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.json["user"]["email"], "ana@example.com")
        self.assertIn("httponly", cookieHeader(reply).lower())
        self.assertEqual(client.get("/api/yo").status, 200)

    def test_badPasswordAndUnknownEmail(self):
        for email, password in [("ana@example.com", "incorrecta"), ("nadie@example.com", PASSWORD)]:
            client, reply = self.login(email=email, password=password)
            self.assertEqual(reply.status, 401)
            self.assertEqual(reply.json["code"], "credenciales_invalidas")
            self.assertEqual(client.get("/api/yo").status, 401)

    def test_missingFields(self):
        reply = self.client().post("/api/login", {"email": "ana@example.com"})
        self.assertEqual((reply.status, reply.json["code"]), (400, "invalid_request"))

    def test_throttledPerAccount(self):
        for _ in range(5):
            _, reply = self.login(password="incorrecta")
            self.assertEqual(reply.status, 401)
        _, reply = self.login()
        self.assertEqual(reply.status, 429)
        self.assertEqual(reply.json["code"], "demasiados_intentos")
        self.assertEqual(reply.header("retry-after"), str(15 * 60))
        self.clock.advance(10 * 60)
        _, reply = self.login()
        self.assertEqual((reply.status, reply.header("retry-after")), (429, str(5 * 60)))
        self.clock.advance(5 * 60 + 1)
        _, reply = self.login()
        self.assertEqual(reply.status, 200)

    def test_successClearsAccountFailures(self):
        for _ in range(4):
            self.login(password="incorrecta")
        self.assertEqual(self.login()[1].status, 200)
        for _ in range(4):
            self.assertEqual(self.login(password="incorrecta")[1].status, 401)
        self.assertEqual(self.login()[1].status, 200)

    def test_throttledPerAddress(self):
        for i in range(20):
            _, reply = self.login(email=f"nadie{i}@example.com")
            self.assertEqual(reply.status, 401)
        _, reply = self.login()
        self.assertEqual(reply.status, 429)
        self.assertEqual(reply.header("retry-after"), str(15 * 60))

    def sessions(self):
        with self.store.engine.connect() as conn:
            return len(conn.execute(select(s.sessions)).all())

    def test_logout(self):
        client, _ = self.login()
        before = self.sessions()
        reply = client.post("/api/logout")
        self.assertEqual(reply.status, 200)
        self.assertIs(reply.json["success"], True)
        self.assertIn("max-age=0", cookieHeader(reply).lower())
        self.assertEqual(client.get("/api/yo").status, 401)
        self.assertEqual(self.sessions(), before - 1)

    def test_logoutNeedsSession(self):
        reply = self.client().post("/api/logout")
        self.assertEqual((reply.status, reply.json["code"]), (401, "no_autenticado"))

    def test_loginReplacesSession(self):
        client, _ = self.login()
        before = self.sessions()
        self.login(client)
        self.assertEqual(self.sessions(), before)
        self.assertEqual(client.get("/api/yo").status, 200)


class SessionTests(WebTestCase):
    def test_slidingExpiry(self):
        client, _ = self.signUp()
        self.clock.advance(29 * 24 * 3600)
        reply = client.get("/api/yo")
        self.assertEqual(reply.status, 200)
        self.assertIn("max-age=2592000", cookieHeader(reply).lower())
        self.clock.advance(29 * 24 * 3600)
        self.assertEqual(client.get("/api/yo").status, 200)

    def test_noRefreshWithinADay(self):
        client, _ = self.signUp()
        self.clock.advance(3600)
        reply = client.get("/api/yo")
        self.assertIsNone(reply.headers.getRawHeaders("set-cookie"))

    def test_expires(self):
        client, _ = self.signUp()
        self.clock.advance(30 * 24 * 3600 + 1)
        self.assertEqual(client.get("/api/yo").status, 401)

    def test_forgedCookie(self):
        reply = self.client().get("/api/yo", headers={"Cookie": "juego_sesion=" + "A" * 43})
        self.assertEqual(reply.status, 401)
        reply = self.client().get("/api/yo", headers={"Cookie": "juego_sesion=../../x"})
        self.assertEqual(reply.status, 401)

    def test_sessionsNeededEverywhereButPublic(self):
        client = self.client()
        for method, path in [
            ("GET", "/api/yo"),
            ("GET", "/api/perfil"),
            ("POST", "/api/perfil"),
            ("POST", "/api/partidas"),
            ("POST", "/api/guardar_puntaje"),
            ("GET", "/api/stats/usuario"),
            ("GET", "/api/notificaciones"),
            ("POST", "/api/notificaciones/leer"),
            ("POST", "/api/logout"),
            ("GET", "/api/admin/usuarios"),
            ("POST", "/api/admin/reiniciar_puntuacion/1"),
            ("POST", "/api/admin/eliminar_usuario/1"),
        ]:
            reply = client.request(method, path)
            self.assertEqual(reply.status, 401, path)
            self.assertEqual(
                reply.json,
                {"success": False, "error": "Necesitas iniciar sesión.", "code": "no_autenticado"},
            )
        for path in ["/api/ranking", "/api/stats/global"]:
            self.assertEqual(client.get(path).status, 200, path)


class RequestCheckTests(WebTestCase):
    def test_jsonContentTypeRequired(self):
        client, _ = self.signUp()
        for headers in [
            {"Content-Type": "text/plain"},
            {"Content-Type": "application/x-www-form-urlencoded"},
            {},
        ]:
            reply = client.post("/api/partidas", data=b"{}", headers=headers)
            self.assertEqual(reply.status, 415, headers)
            self.assertEqual(reply.json["code"], "tipo_no_soportado")
        reply = client.post(
            "/api/partidas", data=b"{}", headers={"Content-Type": "application/json; charset=utf-8"}
        )
        self.assertEqual(reply.status, 201)

    def test_formLoginRefused(self):
        self.signUp()
        reply = self.client().post(
            "/api/login",
            data=b"email=ana%40example.com&password=x",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        self.assertEqual(reply.status, 415)

    def test_foreignOriginRefused(self):
        client, _ = self.signUp()
        for origin in [
            "http://evil.example",
            "null",
            "http://juego.test.evil.example",
            "https://juego.test:8443",
        ]:
            reply = client.post("/api/partidas", {}, headers={"Origin": origin})
            self.assertEqual(reply.status, 403, origin)
            self.assertEqual(reply.json["code"], "csrf")

    def test_ownOriginAccepted(self):
        client, _ = self.signUp()
        for origin in ["http://juego.test", "http://juego.test:80", "HTTP://JUEGO.TEST"]:
            reply = client.post("/api/partidas", {}, headers={"Origin": origin})
            self.assertEqual(reply.status, 201, origin)

    def test_getIsNotChecked(self):
        reply = self.client().get("/api/ranking", headers={"Origin": "http://evil.example"})
        self.assertEqual(reply.status, 200)

    def test_badJSON(self):
        client, _ = self.signUp()
        for data in [b"{", b"[1, 2]", b"\xff\xfe"]:
            reply = client.post(
                "/api/partidas", data=data, headers={"Content-Type": "application/json"}
            )
            self.assertEqual((reply.status, reply.json["code"]), (400, "invalid_request"), data)

    def test_bodyTooLarge(self):
        client, _ = self.signUp()
        reply = client.post("/api/partidas", {"relleno": "x" * 70000})
        self.assertEqual((reply.status, reply.json["code"]), (413, "demasiado_grande"))

    def test_unknownPathAndMethod(self):
        client = self.client()
        reply = client.get("/api/no-existe")
        self.assertEqual(
            reply.json,
            {
                "success": False,
                "error": "No se ha encontrado lo que buscabas.",
                "code": "no_encontrado",
            },
        )
        self.assertEqual(reply.status, 404)
        reply = client.get("/api/registro")
        self.assertEqual((reply.status, reply.json["code"]), (405, "metodo_no_permitido"))
        self.assertIn("POST", reply.header("allow"))


class PerfilTests(WebTestCase):
    def test_profile(self):
        client, user = self.signUp("Ana")
        self.play(client, 3)
        self.clock.advance(60)
        self.play(client, 6)
        reply = client.get("/api/perfil")
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.json["user"], user)
        self.assertEqual(reply.json["bio"], "")
        games = reply.json["partidas"]
        self.assertEqual(len(games), 2)
        self.assertEqual(set(games[0]), {"id", "fecha", "puntaje", "wpm", "precision", "idioma"})
        self.assertGreater(games[0]["fecha"], games[1]["fecha"])
        self.assertGreater(games[0]["puntaje"], games[1]["puntaje"])

    def test_lastTwenty(self):
        client, _ = self.signUp("Ana")
        for _ in range(22):
            self.play(client, 1)
            self.clock.advance(3)  # within the new partidas' rate limit
        self.assertEqual(len(client.get("/api/perfil").json["partidas"]), 20)

    def test_edit(self):
        client, user = self.signUp("Ana")
        reply = client.post("/api/perfil", {"nombre": " <i>Ana</i> ", "bio": "Hola\nmundo"})
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.json["user"]["nombre"], "<i>Ana</i>")
        self.assertEqual(reply.json["bio"], "Hola\nmundo")
        self.assertEqual(client.get("/api/yo").json["user"]["nombre"], "<i>Ana</i>")
        reply = client.post("/api/perfil", {"bio": "solo bio"})
        self.assertEqual(
            (reply.json["user"]["nombre"], reply.json["bio"]), ("<i>Ana</i>", "solo bio")
        )

    def test_editInvalid(self):
        client, _ = self.signUp("Ana")
        for body in [{"nombre": ""}, {"nombre": "x" * 41}, {"bio": "x" * 501}, {"bio": 3}]:
            reply = client.post("/api/perfil", body)
            self.assertEqual((reply.status, reply.json["code"]), (400, "invalid_request"), body)
        self.assertEqual(client.get("/api/perfil").json["user"]["nombre"], "Ana")


class PostgresLoginTests(PostgresMixin, LoginTests):
    pass


class PostgresSessionTests(PostgresMixin, SessionTests):
    pass
