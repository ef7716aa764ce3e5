"""
Races in real browsers: C{twistd -n juego} (rooms owned by juego-dist, relayed by
juego-web) and two or four Playwright contexts (separate players) racing to the end on
Debian's Chromium. Skipped like L{tests.test_browser} when the browser is missing.

The racers type at the same time (Playwright's async API, one task a racer), each at a
human pace of its own: a racer's speed never depends on how many others the test drives,
nor on how loaded the machine is (driven one after another, four racers typed a letter
each per four round trips, and on a loaded machine fell behind the game's time limits).
"""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from juego.race.rooms import RACE_WORDS
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, System, requireBrowser

PASSWORD = "contraseña-de-prueba"


class Racer:
    def __init__(self, page: Any, name: str, seed: int) -> None:
        self.page = page
        self.name = name
        self.rng = random.Random(seed)
        self.frames: list[str] = []
        self.sockets = 0
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))

    async def word(self) -> str:
        return await self.page.locator("#palabra-actual").text_content() or ""

    async def gap(self) -> None:
        """
        The pause between two keystrokes (irregular, as people type: about 180 ms, so
        about 60 words a minute): the typing's cadence, not a wait for anything.
        """
        await asyncio.sleep(self.rng.lognormvariate(5.2, 0.45) / 1000)


class RaceBrowserTests(SynchronousTestCase):
    def setUp(self) -> None:
        requireBrowser()
        self.system = System(self)
        self.system.waitUntilUp()

    def run_with_log(self, work: Any) -> None:
        try:
            asyncio.run(work())
        except Exception as e:
            raise AssertionError(f"{e}\n--- twistd log ---\n{self.system.logTail()}") from e

    async def racers(self, browser: Any, n: int) -> list[Racer]:
        racers = []
        for i in range(n):
            context = await browser.new_context(base_url=self.system.base)
            page = await context.new_page()
            page.set_default_timeout(30_000)
            name = f"Corredor {i} <i>"
            racer = Racer(page, name, seed=n * 10 + i)

            def onSocket(socket: Any, racer: Racer = racer) -> None:
                if socket.url.endswith("/api/carrera/ws"):
                    racer.sockets += 1
                    socket.on("framereceived", lambda payload: racer.frames.append(str(payload)))

            page.on("websocket", onSocket)
            await page.goto("/registro")
            await page.fill("#nombre", name)
            await page.fill("#email", f"corredor{i}@example.com")
            await page.fill("#password", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url("**/juego")
            racers.append(racer)
        return racers

    async def typeAll(
        self, racers: list[Racer], drop: Racer | None = None, reload: Racer | None = None
    ) -> None:
        """
        Every racer types the race's words at once, letter by letter, the first one
        watching the others' bars move.
        """
        first = racers[0]
        seen = await asyncio.gather(
            *(
                self.typeRace(r, drop=r is drop, reload=r is reload, watch=r is first)
                for r in racers
            )
        )
        self.assertTrue(seen[0], "the first racer never saw another racer's bar move")

    async def typeRace(self, racer: Racer, drop: bool, reload: bool, watch: bool) -> bool:
        """
        One racer types every word the page shows until its game ends (the page empties
        the word once the result is being saved). Answers whether, when C{watch}, it saw
        another racer's bar between the start and the finish.
        """
        from playwright.async_api import expect

        page = racer.page
        sawOthersMove = False
        await expect(page.locator("#palabra-actual")).to_have_text(re.compile(r"\S"))
        done = 0
        while word := await racer.word():
            number = await page.locator("#numero-palabra").text_content()
            for letter in word:
                await page.keyboard.type(letter)
                await racer.gap()
            # The next word (or the end): the page moved on.
            await page.wait_for_function(
                """([numero, palabra]) =>
                    document.getElementById('numero-palabra').textContent !== numero
                    || document.getElementById('palabra-actual').textContent !== palabra""",
                arg=[number, word],
            )
            done += 1
            if await page.input_value("#entrada"):
                # The word's time ran out before its last letter (a life lost, as for a
                # person): the letters typed since belong to no word.
                await page.fill("#entrada", "")
            if watch and not sawOthersMove:
                values = await page.eval_on_selector_all(
                    ".corredor:not(.corredor-propio)", "rows => rows.map(r => +r.dataset.progreso)"
                )
                sawOthersMove = any(0 < v < 100 for v in values)
            if drop and done == RACE_WORDS // 2:
                await self.dropConnection(racer)
            if reload and done == 3:
                # Reloaded mid-race: back in the room with its partida, from the first
                # word again (the time lost is its own).
                reload = False
                await page.reload()
                await expect(page.locator("#palabra-actual")).to_have_text(re.compile(r"\S"))
        self.assertGreaterEqual(done, RACE_WORDS)
        return sawOthersMove

    async def dropConnection(self, racer: Racer) -> None:
        """
        The racer's connection drops for a moment: offline, then back.
        """
        from playwright.async_api import expect

        context = racer.page.context
        before = racer.sockets
        await context.set_offline(True)
        await expect(racer.page.locator("#carrera")).to_have_attribute(
            "data-conexion", "reconectando"
        )
        await context.set_offline(False)
        await expect(racer.page.locator("#carrera")).to_have_attribute("data-conexion", "abierta")
        # A new socket (the page retries every 500 ms: more than one while offline is
        # slow to lift), and the race went on.
        self.assertGreater(racer.sockets, before)

    async def finish(self, racers: list[Racer]) -> list[str]:
        from playwright.async_api import expect

        for racer in racers:
            await expect(racer.page.locator("#resultado-carrera")).to_be_visible(timeout=30_000)
            await expect(racer.page.locator("#orden-carrera li")).to_have_count(len(racers))
        orders = [
            [await li.text_content() for li in await r.page.locator("#orden-carrera li").all()]
            for r in racers
        ]
        for order in orders[1:]:
            self.assertEqual(order, orders[0])
        names = [(line or "").split(" — ")[0] for line in orders[0]]
        self.assertEqual(sorted(names), sorted(r.name for r in racers))
        for line in orders[0]:
            self.assertRegex(line, r"\d+ puntos?")
            # Figures in Spanish, as in the rest of the game: a decimal comma (a
            # playtest found "12.3 s").
            self.assertNotRegex(line, r"\d\.\d")
        # Each result is stored as the race's: in the racers' races, and the winner on
        # this week's board of race wins.
        for racer in racers:
            await expect(racer.page.locator("#mis-carreras li")).to_have_count(1)
        await expect(racers[0].page.locator("#ganadores-carrera")).to_contain_text(names[0])
        for racer in racers:
            self.assertEqual(racer.problems, [])
            self.assertEqual(await racer.page.locator("i").count(), 0)  # names shown as text
            # The verified result is saved like any partida: in the player's history.
            await racer.page.goto("/perfil")
            await expect(racer.page.locator("#tabla-partidas tbody tr")).to_have_count(1)
        return names

    async def race(self, n: int, private: bool, drop: bool = False, reload: bool = False) -> None:
        from playwright.async_api import async_playwright, expect

        expect.set_options(timeout=30_000)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                racers = await self.racers(browser, n)
                for racer in racers:
                    await racer.page.goto("/carrera")
                if private:
                    host = racers[0].page
                    await host.click("#crear-sala")
                    link = host.locator("#sala-enlace")
                    await expect(link).to_have_text(re.compile(r"/carrera/"))
                    # Alone in the room: one player, in the singular (a playtest
                    # found "1 jugadores").
                    await expect(host.locator("#sala-estado")).to_have_text(
                        re.compile(r"· 1 jugador$")
                    )
                    url = await link.text_content()
                    for racer in racers[1:]:
                        await racer.page.goto(url)
                    await expect(host.locator(".corredor")).to_have_count(n)
                    await expect(host.locator("#sala-estado")).to_have_text(
                        re.compile(rf"· {n} jugadores$")
                    )
                    # Before the start the racers wait: none is shown racing yet.
                    await expect(host.locator(".corredor-estado")).to_have_text(["Esperando"] * n)
                    await host.click("#empezar-carrera")
                else:
                    for racer in racers:
                        await racer.page.click("#buscar-carrera")
                for racer in racers:
                    await expect(racer.page.locator(".corredor")).to_have_count(n)
                await self.typeAll(
                    racers,
                    drop=racers[1] if drop else None,
                    reload=racers[1] if reload else None,
                )
                await self.finish(racers)
            finally:
                await browser.close()

    def test_twoRacersQuickMatchWithAReload(self) -> None:
        self.run_with_log(lambda: self.race(2, private=False, reload=True))

    def test_fourRacersPrivateRoomWithADroppedConnection(self) -> None:
        self.run_with_log(lambda: self.race(4, private=True, drop=True))
