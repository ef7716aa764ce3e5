"""
Races in real browsers: C{twistd -n juego} (rooms owned by juego-dist, relayed by
juego-web) and two or four Playwright contexts (separate players) racing to the end on
Debian's Chromium. Skipped like L{tests.test_browser} when the browser is missing.
"""

from __future__ import annotations

import random
import re
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from juego.race.rooms import RACE_WORDS
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, System, requireBrowser

PASSWORD = "contraseña-de-prueba"


class Racer:
    def __init__(self, page: Any, name: str) -> None:
        self.page = page
        self.name = name
        self.typed = 0
        self.frames: list[str] = []
        self.sockets = 0
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))

    def word(self) -> str:
        return self.page.locator("#palabra-actual").text_content() or ""


class RaceBrowserTests(SynchronousTestCase):
    def setUp(self) -> None:
        requireBrowser()
        self.system = System(self)
        self.system.waitUntilUp()

    def run_with_log(self, work: Any) -> None:
        try:
            work()
        except Exception as e:
            raise AssertionError(f"{e}\n--- twistd log ---\n{self.system.logTail()}") from e

    def racers(self, browser: Any, n: int) -> list[Racer]:
        racers = []
        for i in range(n):
            context = browser.new_context(base_url=self.system.base)
            page = context.new_page()
            page.set_default_timeout(30_000)
            name = f"Corredor {i} <i>"
            racer = Racer(page, name)

            def onSocket(socket: Any, racer: Racer = racer) -> None:
                if socket.url.endswith("/api/carrera/ws"):
                    racer.sockets += 1
                    socket.on("framereceived", lambda payload: racer.frames.append(str(payload)))

            page.on("websocket", onSocket)
            page.goto("/registro")
            page.fill("#nombre", name)
            page.fill("#email", f"corredor{i}@example.com")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/juego")
            racers.append(racer)
        return racers

    def typeAll(
        self, racers: list[Racer], drop: Racer | None = None, reload: Racer | None = None
    ) -> None:
        """
        Every racer types the race's words, a letter each in turn (as people type:
        irregular gaps), watching the others' bars move.
        """
        from playwright.sync_api import expect

        rng = random.Random(len(racers))
        for racer in racers:
            expect(racer.page.locator("#palabra-actual")).to_have_text(re.compile(r"\S"))
        pending = {id(r): "" for r in racers}
        sawOthersMove = False
        while any(r.typed < RACE_WORDS for r in racers):
            for racer in racers:
                if racer.typed >= RACE_WORDS:
                    continue
                if not pending[id(racer)]:
                    pending[id(racer)] = racer.word()
                    racer.done = ""  # type: ignore[attr-defined]
                word = pending[id(racer)]
                letter = word[len(racer.done)]  # type: ignore[attr-defined]
                racer.page.keyboard.type(letter)
                racer.done += letter  # type: ignore[attr-defined]
                racer.page.wait_for_timeout(rng.lognormvariate(4.0, 0.45))
                if racer.done == word:  # type: ignore[attr-defined]
                    racer.typed += 1
                    pending[id(racer)] = ""
                    if racer.typed < RACE_WORDS:
                        expect(racer.page.locator("#palabra-actual")).not_to_have_text(word)
                    if drop is racer and racer.typed == RACE_WORDS // 2:
                        self.dropConnection(racer)
                    if reload is racer and racer.typed == 3:
                        # Reloaded mid-race: back in the room with its partida, from
                        # the first word again (the time lost is its own).
                        reload = None
                        racer.page.reload()
                        expect(racer.page.locator("#palabra-actual")).to_have_text(
                            re.compile(r"\S")
                        )
                        racer.typed = 0
            if not sawOthersMove:
                first = racers[0].page
                others = first.locator(".corredor:not(.corredor-propio)")
                values = [int(others.nth(i).get_attribute("data-progreso") or 0)
                          for i in range(others.count())]  # fmt: skip
                sawOthersMove = any(0 < v < 100 for v in values)
        self.assertTrue(sawOthersMove, "the first racer never saw another racer's bar move")

    def dropConnection(self, racer: Racer) -> None:
        """
        The racer's connection drops for a moment: offline, then back.
        """
        from playwright.sync_api import expect

        context = racer.page.context
        before = racer.sockets
        context.set_offline(True)
        expect(racer.page.locator("#carrera")).to_have_attribute("data-conexion", "reconectando")
        context.set_offline(False)
        expect(racer.page.locator("#carrera")).to_have_attribute("data-conexion", "abierta")
        self.assertEqual(racer.sockets, before + 1)  # a new socket, the race went on

    def finish(self, racers: list[Racer]) -> list[str]:
        from playwright.sync_api import expect

        for racer in racers:
            expect(racer.page.locator("#resultado-carrera")).to_be_visible(timeout=30_000)
            expect(racer.page.locator("#orden-carrera li")).to_have_count(len(racers))
        orders = [
            [li.text_content() for li in r.page.locator("#orden-carrera li").all()] for r in racers
        ]
        for order in orders[1:]:
            self.assertEqual(order, orders[0])
        names = [line.split(" — ")[0] for line in orders[0]]
        self.assertEqual(sorted(names), sorted(r.name for r in racers))
        for line in orders[0]:
            self.assertRegex(line, r"\d+ puntos")
        # Each result is stored as the race's: in the racers' races, and the winner on
        # this week's board of race wins.
        for racer in racers:
            expect(racer.page.locator("#mis-carreras li")).to_have_count(1)
        expect(racers[0].page.locator("#ganadores-carrera")).to_contain_text(names[0])
        for racer in racers:
            self.assertEqual(racer.problems, [])
            self.assertEqual(racer.page.locator("i").count(), 0)  # names shown as text
            # The verified result is saved like any partida: in the player's history.
            racer.page.goto("/perfil")
            expect(racer.page.locator("#tabla-partidas tbody tr")).to_have_count(1)
        return names

    def race(self, n: int, private: bool, drop: bool = False, reload: bool = False) -> None:
        from playwright.sync_api import expect, sync_playwright

        expect.set_options(timeout=30_000)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                racers = self.racers(browser, n)
                for racer in racers:
                    racer.page.goto("/carrera")
                if private:
                    host = racers[0].page
                    host.click("#crear-sala")
                    link = host.locator("#sala-enlace")
                    expect(link).to_have_text(re.compile(r"/carrera/"))
                    url = link.text_content()
                    for racer in racers[1:]:
                        racer.page.goto(url)
                    expect(host.locator(".corredor")).to_have_count(n)
                    host.click("#empezar-carrera")
                else:
                    for racer in racers:
                        racer.page.click("#buscar-carrera")
                for racer in racers:
                    expect(racer.page.locator(".corredor")).to_have_count(n)
                self.typeAll(
                    racers,
                    drop=racers[1] if drop else None,
                    reload=racers[1] if reload else None,
                )
                self.finish(racers)
            finally:
                browser.close()

    def test_twoRacersQuickMatchWithAReload(self) -> None:
        self.run_with_log(lambda: self.race(2, private=False, reload=True))

    def test_fourRacersPrivateRoomWithADroppedConnection(self) -> None:
        self.run_with_log(lambda: self.race(4, private=True, drop=True))
