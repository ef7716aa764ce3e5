"""
The player's remembered preferences: the site's theme (claro, oscuro, sistema) and the
game's language, per account (GET /api/yo, POST /api/perfil) and put back in the pages.
"""

from __future__ import annotations

import re

from tests.websupport import PASSWORD, WebTestCase


class PreferencesAPITests(WebTestCase):
    def test_defaults(self):
        client, _ = self.signUp()
        reply = client.get("/api/yo")
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.json["preferencias"], {"tema": "sistema", "idioma": None})

    def test_changeAndReadBack(self):
        client, _ = self.signUp()
        reply = client.post("/api/perfil", {"tema": "oscuro"})
        self.assertEqual(reply.status, 200, reply.body)
        self.assertEqual(reply.json["preferencias"], {"tema": "oscuro", "idioma": None})
        reply = client.post("/api/perfil", {"idioma": "en", "tema": None})
        self.assertEqual(reply.json["preferencias"], {"tema": "oscuro", "idioma": "en"})
        # Changing the name keeps them; they are the account's, not the session's.
        client.post("/api/perfil", {"nombre": "Ana María"})
        other = self.client()
        login = other.post("/api/login", {"email": "ana@example.com", "password": PASSWORD})
        self.assertEqual(login.status, 200, login.body)
        self.assertEqual(
            other.get("/api/yo").json["preferencias"], {"tema": "oscuro", "idioma": "en"}
        )
        self.assertEqual(other.get("/api/yo").json["user"]["nombre"], "Ana María")

    def test_onePlayersOnly(self):
        ana, _ = self.signUp("Ana")
        bea, _ = self.signUp("Bea")
        ana.post("/api/perfil", {"tema": "claro", "idioma": "en"})
        self.assertEqual(
            bea.get("/api/yo").json["preferencias"], {"tema": "sistema", "idioma": None}
        )

    def test_badValues(self):
        client, _ = self.signUp()
        for body, campo in [
            ({"tema": "azul"}, "tema"),
            ({"tema": 1}, "tema"),
            ({"tema": ["oscuro"]}, "tema"),
            ({"tema": ""}, "tema"),
            ({"idioma": "fr"}, "idioma"),
            ({"idioma": "ES"}, "idioma"),
            ({"idioma": True}, "idioma"),
        ]:
            reply = client.post("/api/perfil", body)
            self.assertEqual((reply.status, reply.json["code"]), (400, "invalid_request"), body)
            self.assertEqual(reply.json.get("campo"), campo, body)
        self.assertEqual(
            client.get("/api/yo").json["preferencias"], {"tema": "sistema", "idioma": None}
        )

    def test_signedOut(self):
        client = self.client()
        self.assertEqual(client.get("/api/yo").status, 401)
        self.assertEqual(client.post("/api/perfil", {"tema": "oscuro"}).status, 401)

    def test_pagesCarryThem(self):
        """
        A signed-in player's pages carry the account's theme in <head>, for tema.js to
        apply before the first paint, and the language on <body>; a guest's carry neither
        (the browser's own choice applies, by tema.js).
        """
        guest = self.client().get("/ranking").body.decode()
        self.assertNotIn("tema-cuenta", guest)
        self.assertNotIn("data-idioma", guest)
        self.assertRegex(guest, r'<script src="/static/js/tema\.[0-9a-f]{12}\.js"></script>')
        self.assertIn('id="selector-tema"', guest)
        client, _ = self.signUp()
        html = client.get("/perfil").body.decode()
        self.assertIn('<meta name="tema-cuenta" content="sistema">', html)
        self.assertNotIn("data-idioma", html)
        client.post("/api/perfil", {"tema": "claro", "idioma": "en"})
        for path in ["/", "/juego", "/perfil", "/no-existe"]:
            html = client.get(path).body.decode()
            self.assertIn('<meta name="tema-cuenta" content="claro">', html, path)
            self.assertRegex(html, r'<body [^>]*data-idioma="en"', path)


class StylesheetTests(WebTestCase):
    def test_darkThemeListedTwiceAlike(self):
        """
        The dark colours are listed twice in app.css (for the device's dark mode and for
        the player's choice): the two lists are the same.
        """
        css = self.app.static.assets.find("app.css")[0].bodies[b""].decode()
        system = re.search(
            r'@media \(prefers-color-scheme: dark\) \{\s*:root:not\(\[data-tema="claro"\]\) \{([^}]*)\}',
            css,
        )
        chosen = re.search(r':root\[data-tema="oscuro"\] \{([^}]*)\}', css)
        assert system is not None and chosen is not None

        def colours(block: str) -> list[str]:
            return sorted(
                line.strip() for line in block.splitlines() if line.strip().startswith("--")
            )

        self.assertGreater(len(colours(system[1])), 10)
        self.assertEqual(colours(system[1]), colours(chosen[1]))
