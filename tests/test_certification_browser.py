"""
The certification test in a real browser on a phone-sized screen (390 px): a fast game is
held and /juego offers the test (at once, and again on a later visit), the image loads
(starting the server's clock), the player types what it shows, and the verdict and the
released result appear. The whole system
runs as C{twistd -n juego} (L{tests.test_browser.System}).
"""

from __future__ import annotations

import math
import random
import re
import sqlite3
import time
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD, System, requireBrowser

PHONE = {"width": 390, "height": 844}
#: Words typed in the fast game: enough letters for the speed rules to apply.
WORDS = 14


class CertificationBrowserTests(SynchronousTestCase):
    def setUp(self) -> None:
        requireBrowser()
        self.system = System(self)
        self.system.waitUntilUp()

    def test_certifyOnAPhone(self) -> None:
        try:
            self.drive()
        except Exception as e:
            raise AssertionError(f"{e}\n--- twistd log ---\n{self.system.logTail()}") from e

    def secret(self) -> str:
        """
        The open test's text, as the player reads it from the image.
        """
        with sqlite3.connect(self.system.directory / "juego.db") as db:
            (texto,) = db.execute(
                "SELECT texto FROM certificaciones WHERE respondida IS NULL"
            ).fetchone()
        return str(texto)

    def playFast(self, page: Any) -> int:
        """
        Play a game at about 150-180 wpm, each key after a jittered pause (a person's rhythm,
        not a metronome's), then stop. The points the words are worth.
        """
        from playwright.sync_api import expect

        rng = random.Random(5)
        word = page.locator("#palabra-actual")
        page.click("#comenzar")
        expect(word).to_have_text(re.compile(r"\S"))
        points = 0
        for i in range(WORDS):
            shown = word.text_content() or ""
            for letter in shown:
                time.sleep(rng.lognormvariate(math.log(0.048), 0.45))
                page.keyboard.type(letter)
            points += len(shown) * (1 + i // 10)
            expect(word).not_to_have_text(shown)
        page.click("#terminar")
        return points

    def drive(self) -> None:
        from playwright.sync_api import expect, sync_playwright

        expect.set_options(timeout=30_000)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                context = browser.new_context(base_url=self.system.base, viewport=PHONE)
                page = context.new_page()
                page.set_default_timeout(30_000)
                problems: list[str] = []
                page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
                page.on(
                    "console",
                    lambda message: (
                        problems.append(f"console: {message.text}")
                        if "Content Security Policy" in message.text
                        else None
                    ),
                )
                page.goto("/registro")
                page.fill("#nombre", "Ana")
                page.fill("#email", "ana@example.com")
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url("**/juego")
                self.assertTrue(page.is_hidden("#certificacion"))

                # A fast game: held, and the game page offers the test at once.
                points = self.playFast(page)
                panel = page.locator("#certificacion")
                expect(panel).to_be_visible()
                expect(panel).to_be_focused()
                explanation = page.locator("#certificacion-explicacion")
                expect(explanation).to_contain_text("Tu resultado de")
                expect(explanation).to_contain_text("pendiente")

                # Coming back later, the pending result is still offered.
                page.goto("/juego")
                expect(panel).to_be_visible()
                expect(explanation).to_contain_text("pendiente")
                page.click("#hacer-prueba")
                image = page.locator("#prueba-imagen")
                texto = page.locator("#prueba-texto")
                # The image is shown (its natural size loaded) and the textarea, labelled,
                # takes the focus.
                expect(texto).to_be_focused()
                self.assertEqual(page.locator("label[for=prueba-texto]").count(), 1)
                box = image.bounding_box()
                assert box is not None
                self.assertLessEqual(box["x"] + box["width"], PHONE["width"])
                self.assertGreater(box["height"], 80)
                # Nothing overflows the phone's width.
                for selector in ["#certificacion", "#prueba", "#enviar-prueba"]:
                    b = page.locator(selector).bounding_box()
                    assert b is not None
                    self.assertLessEqual(b["x"] + b["width"], PHONE["width"] + 1, selector)

                text = self.secret()
                self.assertNotIn(text, page.content())
                # About 170 wpm at most: human, and above the target (75 % of ~150).
                page.keyboard.type(text, delay=70)
                page.keyboard.press("Enter")
                verdict = page.locator("#prueba-veredicto")
                expect(verdict).to_contain_text("¡Prueba superada!")
                expect(verdict).to_contain_text("Se ha publicado 1 resultado")
                expect(verdict).to_be_focused()
                self.assertEqual(problems, [])

                # The released result is on the board.
                page.goto("/ranking")
                row = page.locator("#tabla-ranking tbody tr")
                row.first.wait_for()
                self.assertIn(str(points), row.first.text_content() or "")
            finally:
                browser.close()
