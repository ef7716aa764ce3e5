"""
The HTML pages, static files and the security headers on every response.
"""

from __future__ import annotations

from juego.web.security import CONTENT_SECURITY_POLICY
from tests.websupport import WebTestCase

# /juego is public: guests play (juego.web.modes).
PUBLIC = ["/", "/login", "/registro", "/ranking", "/como-funciona", "/juego"]
MEMBERS = ["/perfil", "/notificaciones"]
MARKUP = '<img src=x onerror="alert(1)">'


class PageTests(WebTestCase):
    def assertPage(self, reply, status=200):
        self.assertEqual(reply.status, status, reply.body[:300])
        self.assertEqual(reply.header("content-type"), "text/html; charset=utf-8")
        self.assertIn(b'<html lang="es">', reply.body)
        return reply.body.decode("utf-8")

    def test_publicPagesLoggedOut(self):
        client = self.client()
        for path in PUBLIC:
            html = self.assertPage(client.get(path))
            self.assertIn('href="/login"', html, path)
            self.assertNotIn("data-user-id", html)

    def test_formHooks(self):
        client = self.client()
        registro = self.assertPage(client.get("/registro"))
        for hook in ['id="nombre"', 'id="email"', 'id="password"', 'type="submit"']:
            self.assertIn(hook, registro)
        login = self.assertPage(client.get("/login"))
        self.assertNotIn('id="nombre"', login)

    def test_membersPagesRedirectWhenLoggedOut(self):
        client = self.client()
        for path in MEMBERS + ["/admin"]:
            reply = client.get(path)
            self.assertEqual(reply.status, 302, path)
            self.assertEqual(reply.header("location"), f"/login?next={path}")

    def test_guestGamePage(self):
        """
        A visitor without an account plays: /juego is served, with the mode choice and
        the invitation to sign up or log in to keep the result.
        """
        html = self.assertPage(self.client().get("/juego"))
        self.assertIn("Regístrate o inicia sesión para guardar tu resultado", html)
        self.assertIn('href="/registro?next=/juego"', html)
        for modo in ["normal", "diario", "practica"]:
            self.assertIn(f'value="{modo}"', html)
        self.assertIn('id="desafio-cuenta-atras"', html)

    def test_membersPages(self):
        client, user = self.signUp("Ana")
        for path in PUBLIC + MEMBERS:
            html = self.assertPage(client.get(path))
            self.assertIn(f'data-user-id="{user["id"]}"', html, path)
        juego = client.get("/juego").body.decode()
        for hook in [
            "comenzar",
            "palabra-actual",
            "entrada",
            "vidas",
            "puntaje",
            "nivel",
            "terminar",
            "resultado",
            "jugar-otra-vez",
        ]:
            self.assertIn(f'id="{hook}"', juego)
        self.assertIn('id="tabla-ranking"', client.get("/ranking").body.decode())

    def test_adminPage(self):
        client, user = self.signUp("Ana")
        html = self.assertPage(client.get("/admin"), 403)
        self.assertIn("403", html)
        self.makeAdmin(user["id"])
        html = self.assertPage(client.get("/admin"))
        self.assertIn('id="tabla-usuarios"', html)

    def test_comoFuncionaShowsRules(self):
        html = self.assertPage(self.client().get("/como-funciona"))
        self.assertIn('<strong id="regla-vidas">3</strong>', html)
        self.assertIn("450", html)

    def test_comoFuncionaExplainsModes(self):
        html = self.assertPage(self.client().get("/como-funciona"))
        for text in [
            'id="modos"',
            "Desafío diario",
            "Las mismas 200 palabras",
            "un intento al día por idioma",
            "Práctica",
            "Sin vidas",
            "Jugar sin cuenta",
            "desde el mismo navegador",
        ]:
            self.assertIn(text, html)

    def test_notFound(self):
        client = self.client()
        for path in ["/no-existe", "/juego/x", "/juego/"]:
            html = self.assertPage(client.get(path), 404)
            self.assertIn("Página no encontrada", html)
        reply = client.get("/static")
        self.assertEqual(
            (reply.status, reply.header("location")), (308, "http://juego.test/static/")
        )

    def test_methodNotAllowed(self):
        reply = self.client().post("/juego", {})
        self.assertPage(reply, 405)

    def test_markupShownAsText(self):
        client, user = self.signUp(MARKUP, "x@example.com")
        for path in PUBLIC + MEMBERS:
            html = client.get(path).body.decode()
            self.assertNotIn(MARKUP, html, path)
            self.assertIn("&lt;img src=x onerror=&#34;alert(1)&#34;&gt;", html, path)
        self.makeAdmin(user["id"])
        self.assertNotIn(MARKUP, client.get("/admin").body.decode())

    def test_pageErrorIs500Page(self):
        client = self.client()

        def broken(*a, **kw):
            raise RuntimeError("plantilla rota")

        self.app.pages.renderer.environment.get_template = broken
        reply = client.get("/")
        self.assertEqual(reply.status, 500)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)


class StaticTests(WebTestCase):
    def test_served(self):
        client = self.client()
        for path, kind in [
            ("/static/app.css", "text/css"),
            ("/static/js/juego.js", "javascript"),
            ("/static/js/common.js", "javascript"),
        ]:
            reply = client.get(path)
            self.assertEqual(reply.status, 200, path)
            self.assertIn(kind, reply.header("content-type"))
            self.assertGreater(len(reply.body), 100)

    def test_noListingsNoEscape(self):
        client = self.client()
        for path in [
            "/static/",
            "/static/js/",
            "/static/../app.py",
            "/static/%2e%2e/app.py",
            "/static/no.js",
        ]:
            reply = client.get(path)
            self.assertIn(reply.status, (301, 302, 404), path)
            self.assertNotIn(b"import", reply.body, path)

    def test_fromPackageNotCwd(self):
        import os

        from juego.web import static

        elsewhere = self.mktemp()
        os.makedirs(elsewhere)
        self.addCleanup(os.chdir, os.getcwd())
        os.chdir(elsewhere)
        from contextlib import ExitStack

        with ExitStack() as stack:
            directory = static.staticDirectory(stack)
            self.assertTrue((directory / "app.css").is_file())
            self.assertTrue(directory.is_absolute())


class SecurityHeaderTests(WebTestCase):
    def assertSecure(self, reply):
        csp = reply.header("content-security-policy")
        self.assertEqual(csp, CONTENT_SECURITY_POLICY)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertIn("script-src 'self'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertEqual(reply.header("x-content-type-options"), "nosniff")
        self.assertEqual(reply.header("referrer-policy"), "same-origin")
        self.assertEqual(reply.header("x-frame-options"), "DENY")

    def test_everyResponse(self):
        client, _ = self.signUp()
        for method, path in [
            ("GET", "/"),
            ("GET", "/no-existe"),
            ("GET", "/perfil"),
            ("GET", "/static/app.css"),
            ("GET", "/static/no-existe.css"),
            ("GET", "/api/ranking"),
            ("GET", "/api/no-existe"),
            ("POST", "/api/partidas"),
        ]:
            self.assertSecure(client.request(method, path))
        self.assertSecure(self.client().get("/admin"))
        self.assertSecure(
            client.post("/api/partidas", data=b"x", headers={"Content-Type": "text/plain"})
        )

    def test_apiNotCached(self):
        client, _ = self.signUp()
        self.assertEqual(client.get("/api/yo").header("cache-control"), "no-store")
        self.assertEqual(client.get("/perfil").header("cache-control"), "no-store")

    def test_noInlineScriptInPages(self):
        import re

        client, user = self.signUp()
        self.makeAdmin(user["id"])
        for path in PUBLIC + MEMBERS + ["/admin"]:
            html = client.get(path).body.decode()
            for tag in re.findall(r"<script[^>]*>", html):
                self.assertIn("src=", tag, path)
            self.assertNotRegex(html, r"\son[a-z]+=", path)
            self.assertNotIn("style=", html, path)
