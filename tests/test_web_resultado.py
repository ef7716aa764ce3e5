"""
The shareable result page, C{/resultado/<partida_id>}: a ranked result for anybody, with
its OpenGraph description; a held or voided one for its own player only; 404 otherwise.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from sqlalchemy import update

from juego.store import schema as s
from juego.store.partidas import Verified
from tests.websupport import T0, WebTestCase

MARKUP = '<img src=x onerror="alert(1)">'


class Meta(HTMLParser):
    """
    The page's C{<meta property=...>} tags, as a browser (or a link preview) reads them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.properties: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "meta" and values.get("property"):
            self.properties[str(values["property"])] = values.get("content") or ""


def metaOf(html: str) -> dict[str, str]:
    parser = Meta()
    parser.feed(html)
    return parser.properties


class SharedResultTests(WebTestCase):
    def playedGame(self, nombre: str = "Ana", n: int = 5) -> tuple[Any, dict[str, Any], Any]:
        client, user = self.signUp(nombre, f"{len(nombre)}-{n}@example.com")
        partida, reply = self.play(client, n)
        self.assertEqual(reply.status, 200, reply.body)
        return client, partida, reply.json

    def test_publicResultForAnybody(self) -> None:
        """
        A visitor sees a ranked result: the player, the score, speed, precision, language
        and date, and the OpenGraph tags that make a link preview of it.
        """
        _, partida, result = self.playedGame()
        reply = self.client().get(f"/resultado/{partida['id']}")
        self.assertEqual(reply.status, 200, reply.body[:300])
        html = reply.body.decode("utf-8")
        self.assertIn('<span id="resultado-nombre">Ana</span>', html)
        self.assertIn(f'<strong id="compartido-puntaje">{result["puntaje"]}</strong>', html)
        wpm = f"{result['wpm']:.1f}".rstrip("0").rstrip(".").replace(".", ",")
        self.assertIn(f'<dd id="compartido-wpm">{wpm}</dd>', html)
        self.assertIn('<dd id="compartido-idioma">Español</dd>', html)
        self.assertIn(">1 de noviembre de 2026</time>", html)
        meta = metaOf(html)
        self.assertEqual(meta["og:type"], "website")
        self.assertEqual(meta["og:url"], f"http://juego.test/resultado/{partida['id']}")
        self.assertEqual(meta["og:title"], f"Ana: {result['puntaje']} puntos en Escritura rápida")
        self.assertIn(f"{wpm} palabras por minuto", meta["og:description"])
        self.assertIn("1 de noviembre de 2026", meta["og:description"])
        self.assertNotIn('name="robots"', html)
        self.assertEqual(reply.header("cache-control"), "no-store")

    def test_nameEscaped(self) -> None:
        """
        A name with markup is text in the page and in its meta tags, never an element.
        """
        _, partida, _ = self.playedGame(MARKUP)
        html = self.client().get(f"/resultado/{partida['id']}").body.decode("utf-8")
        self.assertNotIn(MARKUP, html)
        self.assertNotIn("<img", html)
        self.assertIn("&lt;img src=x onerror=&#34;alert(1)&#34;&gt;", html)
        self.assertTrue(metaOf(html)["og:title"].startswith(MARKUP + ":"))

    def assertNotFound(self, client: Any, path: str) -> None:
        reply = client.get(path)
        self.assertEqual(reply.status, 404, path)
        html = reply.body.decode("utf-8")
        self.assertIn("Página no encontrada", html)
        self.assertNotIn("og:title", html)

    def test_unknown(self) -> None:
        client = self.client()
        for path in [
            "/resultado/no-existe",
            "/resultado/" + "a" * 65,
            "/resultado/00000000-0000-0000-0000-000000000000",
        ]:
            self.assertNotFound(client, path)

    def test_notClosed(self) -> None:
        """
        An open partida (not played yet), a discarded one and an invalid one show nothing,
        not even to their player.
        """
        client, _ = self.signUp("Ana")
        opened = self.newPartida(client)
        discarded = self.newPartida(client)
        invalid = self.newPartida(client)
        self.successResultOf(self.store.partidas.closeDiscarded(self.issued(discarded["id"]), T0))
        self.successResultOf(
            self.store.partidas.closeInvalid(self.issued(invalid["id"]), T0, "regla")
        )
        for partida in [opened, discarded, invalid]:
            self.assertNotFound(client, f"/resultado/{partida['id']}")
            self.assertNotFound(self.client(), f"/resultado/{partida['id']}")

    def test_heldShownToItsPlayerOnly(self) -> None:
        """
        A held result is not public: 404 for a visitor and for another player; its own
        player sees it, marked as under review and not for search engines.
        """
        client, _ = self.signUp("Ana")
        partida = self.newPartida(client)
        verified = Verified(puntaje=120, wpm=150.0, precision=0.99, duracion_ms=9000)
        self.successResultOf(
            self.store.partidas.closeHeld(
                self.issued(partida["id"]), T0, verified, "revision", "regla"
            )
        )
        path = f"/resultado/{partida['id']}"
        self.assertNotFound(self.client(), path)
        other, _ = self.signUp("Bea")
        self.assertNotFound(other, path)
        reply = client.get(path)
        self.assertEqual(reply.status, 200)
        html = reply.body.decode("utf-8")
        self.assertIn("está en revisión", html)
        self.assertIn('<meta name="robots" content="noindex">', html)
        self.assertIn('<strong id="compartido-puntaje">120</strong>', html)

    def test_voidedShownToItsPlayerOnly(self) -> None:
        client, partida, _ = self.playedGame()
        with self.store.engine.begin() as conn:
            conn.execute(
                update(s.partidas).where(s.partidas.c.id == partida["id"]).values(estado="anulada")
            )
        path = f"/resultado/{partida['id']}"
        self.assertNotFound(self.client(), path)
        html = client.get(path).body.decode("utf-8")
        self.assertIn("anuló este resultado", html)

    def test_singularPoint(self) -> None:
        """
        One point is "1 punto", not "1 puntos".
        """
        client, _ = self.signUp("Ana")
        partida = self.newPartida(client)
        verified = Verified(puntaje=1, wpm=0.4, precision=1.0, duracion_ms=9000)
        self.successResultOf(
            self.store.partidas.closeHeld(
                self.issued(partida["id"]), T0, verified, "revision", None
            )
        )
        with self.store.engine.begin() as conn:
            conn.execute(
                update(s.partidas).where(s.partidas.c.id == partida["id"]).values(estado="aprobada")
            )
        html = self.client().get(f"/resultado/{partida['id']}").body.decode("utf-8")
        self.assertEqual(metaOf(html)["og:title"], "Ana: 1 punto en Escritura rápida")
        self.assertIsNone(re.search(r"\b1 puntos\b", html))
