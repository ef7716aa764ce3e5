"""
The boards' tabs in a real browser (L{tests.test_browser.System}: C{twistd -n juego} and
Debian's Chromium through Playwright): each tab and the language filter show the right
rows, the signed-in player's row is highlighted, the tabs work from the keyboard, and a
player outside the top rows finds their position and neighbours below them.

The results are written into the running system's database (as the store would), on the
real clock: today's, yesterday's and last week's.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from juego.store.boards import DIARIO
from tests.support import synchronousStore
from tests.test_boards import addResult
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD, System, requireBrowser


class BoardsBrowserTests(SynchronousTestCase):
    def setUp(self) -> None:
        requireBrowser()
        self.system = System(self)
        self.system.waitUntilUp()
        self.ids = itertools.count(1)

    def test_tabs(self) -> None:
        try:
            self.drive()
        except Exception as e:
            raise AssertionError(f"{e}\n--- twistd log ---\n{self.system.logTail()}") from e

    def seed(self) -> None:
        """
        A store on the running system's database, and now.
        """
        self.store = synchronousStore(self, f"sqlite:///{self.system.directory / 'juego.db'}")
        self.now = datetime.now(UTC)

    def player(self, nombre: str) -> int:
        created = self.store.users.create(
            nombre, f"{nombre.lower()}@example.org", "x", now=self.now
        )
        return int(self.successResultOf(created).id)

    def result(self, userID: int, puntaje: int, when: datetime, **kw: Any) -> str:
        partidaID = f"00000000-0000-4000-8000-{next(self.ids):012d}"
        addResult(self, self.store, partidaID, userID, puntaje, when, **kw)
        return partidaID

    def names(self, page: Any) -> Any:
        return page.locator("#tabla-ranking tbody").first.locator(".celda-nombre")

    def drive(self) -> None:
        from playwright.sync_api import expect, sync_playwright

        expect.set_options(timeout=20_000)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                context = browser.new_context(base_url=self.system.base)
                page = context.new_page()
                page.set_default_timeout(20_000)
                problems: list[str] = []
                page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
                page.goto("/registro")
                page.fill("#nombre", "Ana")
                page.fill("#email", "ana@example.com")
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url("**/juego")
                self.checkTabs(page)
                self.assertEqual(problems, [])
            finally:
                browser.close()

    def checkTabs(self, page: Any) -> None:
        from playwright.sync_api import expect

        self.seed()
        now = self.now
        today = datetime.combine(now.date(), datetime.min.time(), UTC)
        found = self.successResultOf(self.store.users.byEmail("ana@example.com"))
        assert found is not None
        ana = found[0].id
        bea, cid, dora, eva = (self.player(n) for n in ("Bea", "Cid", "Dora", "Eva"))
        beas = self.result(bea, 500, now)
        self.result(cid, 900, now - timedelta(days=8))
        self.result(dora, 300, now, modo=DIARIO)
        self.result(ana, 200, now, idioma="en")
        self.result(eva, 400, today - timedelta(hours=1))  # yesterday
        mondayToday = now.weekday() == 0
        week = ["Bea"] + ([] if mondayToday else ["Eva"]) + ["Dora", "Ana"]

        page.goto("/ranking")
        tabs = {n: page.locator(f"#pestana-{n}") for n in ("dia", "semana", "siempre", "diario")}
        names = self.names(page)
        # All time by default.
        expect(tabs["siempre"]).to_have_attribute("aria-selected", "true")
        expect(names).to_have_text(["Cid", "Bea", "Eva", "Dora", "Ana"])
        expect(page.locator("#mi-posicion")).to_contain_text("Tu posición: 5.º")
        tabs["dia"].click()
        expect(names).to_have_text(["Bea", "Dora", "Ana"])
        expect(tabs["dia"]).to_have_attribute("aria-selected", "true")
        expect(tabs["siempre"]).to_have_attribute("aria-selected", "false")
        self.assertEqual(page.get_attribute("#panel-ranking", "aria-labelledby"), "pestana-dia")
        # The player's own row is highlighted; scores link to the replay.
        mine = page.locator("#tabla-ranking tr.yo")
        expect(mine).to_have_count(1)
        expect(mine).to_contain_text("Ana")
        self.assertEqual(mine.get_attribute("aria-current"), "true")
        expect(page.locator("#mi-posicion")).to_contain_text("Tu posición: 3.º")
        link = page.locator(f'#tabla-ranking a[href="/repeticion/{beas}"]')
        expect(link).to_have_text("500")
        # The language filter.
        page.select_option("#filtro-idioma", "en")
        expect(names).to_have_text(["Ana"])
        expect(page.locator("#mi-posicion")).to_contain_text("Tu posición: 1.º en inglés")
        page.select_option("#filtro-idioma", "es")
        expect(names).to_have_text(["Bea", "Dora"])
        expect(page.locator("#mi-posicion")).to_contain_text("Aún no tienes posición")
        page.select_option("#filtro-idioma", "")
        # The keyboard: arrows move between the tabs and select them; only the selected
        # tab is in the Tab order.
        tabs["dia"].focus()
        page.keyboard.press("ArrowRight")
        expect(tabs["semana"]).to_be_focused()
        expect(tabs["semana"]).to_have_attribute("aria-selected", "true")
        expect(names).to_have_text(week)
        self.assertEqual(
            [tabs[n].get_attribute("tabindex") for n in ("dia", "semana", "siempre", "diario")],
            ["-1", "0", "-1", "-1"],
        )
        page.keyboard.press("End")
        expect(tabs["diario"]).to_be_focused()
        expect(names).to_have_text(["Dora"])
        page.keyboard.press("ArrowRight")  # wraps around
        expect(tabs["dia"]).to_be_focused()
        page.keyboard.press("ArrowLeft")
        expect(tabs["diario"]).to_have_attribute("aria-selected", "true")
        expect(names).to_have_text(["Dora"])
        expect(page.locator("#ranking-propio")).to_be_hidden()

        # Outside the top 100 of the daily board: the position, and the neighbours below.
        for i in range(100):
            self.result(self.player(f"Rival{i:03d}"), 1000 + i, now, modo=DIARIO)
        self.result(ana, 5, now, modo=DIARIO)
        page.click("#actualizar-ranking")
        expect(names).to_have_count(100)
        own = page.locator("#ranking-propio")
        expect(own).to_be_visible()
        expect(own.locator(".celda-nombre")).to_have_text(["Dora", "Ana"])
        expect(own.locator("tr.yo")).to_contain_text("102")
        expect(page.locator("#mi-posicion")).to_contain_text("Tu posición: 102.º")

        # The board is in the address: a reload keeps it.
        page.reload()
        expect(tabs["diario"]).to_have_attribute("aria-selected", "true")
        page.goto("/ranking?tablero=dia&idioma=en")
        expect(tabs["dia"]).to_have_attribute("aria-selected", "true")
        expect(names).to_have_text(["Ana"])
