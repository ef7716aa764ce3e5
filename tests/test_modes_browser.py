"""
The game's modes in a real browser (Debian's Chromium through Playwright, the whole
system as C{twistd -n juego}, as in L{tests.test_browser}): a guest plays, signs up and
finds the score on the profile and the board; two players get the same daily words, and
a second daily partida is refused (409 C{ya_jugado}).
"""

from __future__ import annotations

import random
import re
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, System, requireBrowser

PASSWORD = "contraseña-de-prueba"


class ModesBrowserTests(SynchronousTestCase):
    def setUp(self) -> None:
        requireBrowser()
        self.system = System(self)
        self.system.waitUntilUp()

    def run_(self, drive: Any) -> None:
        from playwright.sync_api import expect, sync_playwright

        expect.set_options(timeout=30_000)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                drive(browser)
            except Exception as e:
                raise AssertionError(f"{e}\n--- twistd log ---\n{self.system.logTail()}") from e
            finally:
                browser.close()

    def newPage(self, browser: Any) -> tuple[Any, list[str]]:
        context = browser.new_context(base_url=self.system.base)
        page = context.new_page()
        page.set_default_timeout(30_000)
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        return page, problems

    def signUp(self, page: Any, nombre: str, email: str) -> None:
        page.fill("#nombre", nombre)
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        # (not "**/juego": /registro?next=/juego matches that already)
        page.wait_for_url(re.compile(r"^[^?]*/juego$"))

    def typeWords(self, page: Any, n: int) -> int:
        """
        Type the C{n} words shown as a person does (irregular gaps between keys); the
        points they are worth.
        """
        from playwright.sync_api import expect

        word = page.locator("#palabra-actual")
        expect(word).to_have_text(re.compile(r"\S"))
        rng = random.Random(n)
        points = 0
        for i in range(n):
            shown = word.text_content()
            for letter in shown:
                page.keyboard.type(letter)
                page.wait_for_timeout(rng.lognormvariate(5.0, 0.45))  # pacing, not waiting
            points += len(shown) * (1 + i // 10)
            expect(word).not_to_have_text(shown)
        return points

    def test_guestPlaysThenSignsUp(self) -> None:
        self.run_(self.guestPlaysThenSignsUp)

    def guestPlaysThenSignsUp(self, browser: Any) -> None:
        from playwright.sync_api import expect

        page, problems = self.newPage(browser)
        # "¡Jugar!" leads a visitor straight to the game, no login.
        page.goto("/")
        page.click("#jugar-ahora")
        page.wait_for_url("**/juego")
        expect(page.locator("#aviso-invitado")).to_be_visible()
        page.click("#comenzar")
        expected = self.typeWords(page, 6)
        page.click("#terminar")
        page.wait_for_selector("#resultado", state="visible")
        expect(page.locator("#resultado-puntaje")).to_have_text(str(expected))
        invitation = page.locator("#resultado-invitado")
        expect(invitation).to_be_visible()
        expect(invitation).to_contain_text("Regístrate o inicia sesión para guardar tu resultado")
        # Sign up from the link: the result is saved to the new account.
        invitation.get_by_role("link", name="crear una cuenta").click()
        page.wait_for_url("**/registro?next=/juego")
        self.signUp(page, "Eva", "eva@example.com")
        expect(page.locator("#aviso-invitado")).to_have_count(0)
        page.goto("/perfil")
        expect(page.locator("[data-stat=puntaje_maximo]")).to_have_text(str(expected))
        expect(page.locator("#tabla-partidas tbody tr")).to_have_count(1)
        page.goto("/ranking")
        row = page.locator("#tabla-ranking tbody tr")
        row.first.wait_for()
        self.assertIn("Eva", row.first.text_content())
        self.assertIn(str(expected), row.first.text_content())
        self.assertEqual(problems, [])

    def test_dailyChallenge(self) -> None:
        self.run_(self.dailyChallenge)

    def dailyChallenge(self, browser: Any) -> None:
        from playwright.sync_api import expect

        words = []
        for nombre in ["Ana", "Bea"]:
            page, problems = self.newPage(browser)
            page.goto("/registro")
            self.signUp(page, nombre, f"{nombre.lower()}@example.com")
            page.check("input[name=modo][value=diario]")
            # The countdown to the next challenge (UTC midnight).
            expect(page.locator("#desafio-cuenta-atras")).to_have_text(
                re.compile(r"^\d\d:[0-5]\d:[0-5]\d$")
            )
            with page.expect_response("**/api/partidas") as issued:
                page.click("#comenzar")
            partida = issued.value.json()["partida"]
            self.assertEqual(partida["modo"], "diario")
            words.append(partida["palabras"])
            expect(page.locator("#palabra-actual")).to_have_text(partida["palabras"][0])
            points = self.typeWords(page, 2)
            expect(page.locator("#puntaje")).to_have_text(str(points))
            page.keyboard.press("Escape")
            page.wait_for_selector("#resultado", state="visible")
            # Played: the result says it was the daily challenge, and offers no playing
            # it again (a playtest found "Pulsa Intro para jugar otra vez", which the
            # server then refused) but the other modes; the record beside it is not
            # the daily's own, so it is not shown as if it were.
            expect(page.locator("#resultado-diario")).to_be_visible()
            expect(page.locator("#resultado-diario")).to_contain_text("desafío diario")
            expect(page.locator("#jugar-otra-vez")).to_be_hidden()
            expect(page.locator("#elegir-modo")).to_be_visible()
            expect(page.locator("#pista-intro")).to_have_text("Pulsa Intro para elegir otro modo.")
            expect(page.locator("#resultado-detalles")).not_to_contain_text("récord")
            posts: list[str] = []

            def onRequest(request: Any, posts: list[str] = posts) -> None:
                if request.method == "POST" and request.url.endswith("/api/partidas"):
                    posts.append(request.url)

            page.on("request", onRequest)
            # Enter leads to the start panel, asks for no partida, and the scoreboard
            # no longer shows the game just played.
            page.keyboard.press("Enter")
            expect(page.locator("#controles-inicio")).to_be_visible()
            expect(page.locator("#resultado")).to_be_hidden()
            for hook, text in [
                ("#puntaje", "0"),
                ("#nivel", "1"),
                ("#vidas", "3"),
                ("#numero-palabra", "0"),
                ("#ppm-vivo", "—"),
                ("#precision-viva", "—"),
            ]:
                expect(page.locator(hook)).to_have_text(text)
            expect(page.locator("#juego-error")).to_be_empty()
            self.assertEqual(posts, [])
            # The start panel says it was played; the browser's second daily POST is 409.
            expect(page.locator("#desafio-jugado")).to_be_visible()
            expect(page.locator("#comenzar")).to_be_disabled()
            again = page.request.post("/api/partidas", data={"modo": "diario"})
            self.assertEqual((again.status, again.json()["code"]), (409, "ya_jugado"))
            # After a reload too.
            page.reload()
            page.check("input[name=modo][value=diario]")
            expect(page.locator("#desafio-jugado")).to_be_visible()
            expect(page.locator("#comenzar")).to_be_disabled()
            # Practice is still open: no lives shown.
            page.check("input[name=modo][value=practica]")
            expect(page.locator("#comenzar")).to_be_enabled()
            page.click("#comenzar")
            expect(page.locator("#vidas")).to_have_text("∞")
            page.keyboard.press("Escape")
            page.wait_for_selector("#resultado", state="visible")
            # Any other game is played again from its result.
            expect(page.locator("#resultado-diario")).to_be_hidden()
            expect(page.locator("#jugar-otra-vez")).to_be_visible()
            expect(page.locator("#pista-intro")).to_have_text("Pulsa Intro para jugar otra vez.")
            self.assertEqual(problems, [])
        self.assertEqual(len(words[0]), 200)
        self.assertEqual(words[0], words[1])
