"""
Replays in a real browser (Debian's Chromium through Playwright, as C{tests/test_browser.py}):
a game typed on /juego, then replayed from the profile's link at 4x, while a
MutationObserver stamps every change of the replay's track. The words appear in the
game's order, and each word and each keystroke shows at its stored time (over 4), never
before it and within a bound after it; then the same replay anonymously (a ranked result
is public), paused and resumed, with the player's name as text.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import statistics
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from juego.game import draw_words
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, System, requireBrowser

NOMBRE = '<b id="inyectado">Rita</b> & "co"'
PASSWORD = "contraseña-de-prueba"
#: Words typed in the game that is replayed.
WORDS = 4
SPEED = 4
#: A change may come this much (ms, real time) before its time: clock rounding only.
EARLY_MS = 1
#: ... and at most this much after it (a loaded machine delays timers; the player catches
#: up at once, since every step is due at its time from the start), with the median change
#: much closer.
LATE_MS = 1000
MEDIAN_LATE_MS = 100

#: Stamps every change of the first track with performance.now() (run in the page); the
#: start is stamped as the click reaches the document (capture), just before the page's own
#: listener starts the replay, so no change can seem early for the stamp's sake.
RECORDER = """() => {
  const pista = document.querySelector('#pistas .pista');
  const leer = (clase) => pista.querySelector('.' + clase).textContent;
  window.__cambios = [];
  window.__inicio = null;
  document.addEventListener('click', (evento) => {
    if (evento.target.id === 'rep-reproducir' && window.__inicio === null) {
      window.__inicio = performance.now();
    }
  }, { capture: true });
  new MutationObserver(() => {
    window.__cambios.push({
      t: performance.now(),
      numero: Number(leer('pista-numero')),
      palabra: leer('pista-palabra'),
      total: Number(leer('pista-pulsaciones')),
    });
  }).observe(pista, { subtree: true, childList: true, characterData: true });
}"""


class ReplayBrowserTests(SynchronousTestCase):
    def setUp(self) -> None:
        requireBrowser()
        self.system = System(self)
        self.system.waitUntilUp()

    def test_replayMatchesTheStoredGame(self) -> None:
        try:
            self.drive()
        except Exception as e:
            raise AssertionError(f"{e}\n--- twistd log ---\n{self.system.logTail()}") from e

    def test_accessible(self) -> None:
        """
        axe-core finds nothing on a replay (WCAG 2.x A and AA and best practices, as
        C{tests/test_accessibility.py} audits every page): light and dark, desktop and
        phone, before it plays and once it has played, with two tracks side by side.
        """
        from playwright.sync_api import expect, sync_playwright

        from tests.test_accessibility import AXE_RUN, SIZES, THEMES, describe, requireAxe

        axe = requireAxe()
        expect.set_options(timeout=30_000)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                first, _ = self.quickGame(
                    browser.new_context(base_url=self.system.base).new_page(), "Ana"
                )
                second, _ = self.quickGame(
                    browser.new_context(base_url=self.system.base).new_page(), "Berta"
                )
                page = browser.new_context(
                    base_url=self.system.base, reduced_motion="reduce"
                ).new_page()
                violations = {}
                for theme in THEMES:
                    page.emulate_media(color_scheme=theme, reduced_motion="reduce")  # type: ignore[arg-type]
                    for size, (width, height) in SIZES.items():
                        page.set_viewport_size({"width": width, "height": height})
                        page.goto(f"/repeticion/{first}?con={second}")
                        root = page.locator("#repeticion")
                        expect(root).to_have_attribute("data-estado", "lista")
                        page.evaluate(axe)
                        for moment in ("lista", "terminada"):
                            if moment == "terminada":
                                page.select_option("#rep-velocidad", str(SPEED))
                                page.click("#rep-reproducir")
                                expect(root).to_have_attribute("data-estado", "terminada")
                            found = page.evaluate(AXE_RUN)
                            if found:
                                violations[f"{moment} ({theme}, {size})"] = found
                self.assertEqual(violations, {}, describe(violations))
            finally:
                browser.close()

    def stored(self, partidaID: str) -> tuple[list[str], list[dict[str, Any]]]:
        """
        The partida's words and its stored events, read from the database itself.
        """
        with sqlite3.connect(self.system.directory / "juego.db") as db:
            seed, idioma, eventos = db.execute(
                "SELECT seed, idioma, eventos FROM partidas WHERE id = ?", (partidaID,)
            ).fetchone()
        return draw_words(seed, idioma), json.loads(eventos)

    def drive(self) -> None:
        from playwright.sync_api import expect, sync_playwright

        expect.set_options(timeout=30_000)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                problems: list[str] = []
                context = browser.new_context(base_url=self.system.base)
                page = context.new_page()
                self.watch(page, problems)
                self.play(page)
                # The profile's history links to the game's replay.
                page.goto("/perfil")
                page.click("#tabla-partidas >> xpath=ancestor::details/summary")
                link = page.locator("#tabla-partidas tbody tr a.enlace-repeticion").first
                expect(link).to_have_text("Ver repetición")
                link.click()
                page.wait_for_url(re.compile(r"/repeticion/[A-Za-z0-9_-]{35,36}$"))
                partidaID = page.url.rsplit("/", 1)[1]
                words, events = self.stored(partidaID)
                self.assertEqual(len(events), WORDS)
                self.checkTimings(page, words, events)

                # Anonymously: a ranked result's replay is public; the name is text.
                # On a phone's width (no sideways scrolling).
                anonymous = browser.new_context(
                    base_url=self.system.base, viewport={"width": 390, "height": 844}
                )
                other = anonymous.new_page()
                self.watch(other, problems)
                other.goto(f"/repeticion/{partidaID}")
                expect(other.locator("#repeticion")).to_have_attribute("data-estado", "lista")
                self.assertLessEqual(other.evaluate("document.documentElement.scrollWidth"), 390)
                self.assertEqual(other.text_content("#rep-jugador"), NOMBRE)
                self.assertEqual(other.text_content("#pistas .pista-jugador"), NOMBRE)
                self.assertEqual(other.locator("#inyectado").count(), 0)
                self.assertEqual(other.text_content("#pistas .pista-palabra"), words[0])
                self.pauseAndResume(other, sum(len(e["teclas"]) for e in events))
                self.sideBySide(other, partidaID, events)
                missing = other.goto("/repeticion/00000000-0000-0000-0000-000000000000")
                assert missing is not None
                self.assertEqual(missing.status, 404)
                self.assertEqual(problems, [])
            finally:
                browser.close()

    def watch(self, page: Any, problems: list[str]) -> None:
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on(
            "console",
            lambda message: (
                problems.append(f"console: {message.text}")
                if "Content Security Policy" in message.text
                else None
            ),
        )

    def play(self, page: Any) -> None:
        """
        Sign up and type C{WORDS} words as a person does, then stop: a ranked result.
        """
        from playwright.sync_api import expect

        page.goto("/registro")
        page.fill("#nombre", NOMBRE)
        page.fill("#email", "rita@example.com")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/juego")
        word = page.locator("#palabra-actual")
        page.click("#comenzar")
        expect(word).to_have_text(re.compile(r"\S"))
        rng = random.Random(7)
        for _ in range(WORDS):
            shown = word.text_content()
            for letter in shown:
                page.keyboard.type(letter)
                page.wait_for_timeout(rng.lognormvariate(5.0, 0.45))  # pacing, not waiting
            expect(word).not_to_have_text(shown)
        page.click("#terminar")
        expect(page.locator("#juego")).to_have_attribute("data-resultado", "publicado")

    def checkTimings(self, page: Any, words: list[str], events: list[dict[str, Any]]) -> None:
        """
        Replay at 4x and compare every stamped change with the stored events.
        """
        from playwright.sync_api import expect

        root = page.locator("#repeticion")
        expect(root).to_have_attribute("data-estado", "lista")
        page.select_option("#rep-velocidad", str(SPEED))
        page.evaluate(RECORDER)
        page.click("#rep-reproducir")
        expect(root).to_have_attribute("data-estado", "terminada")
        start = page.evaluate("window.__inicio")
        changes = page.evaluate("window.__cambios")
        self.assertIsNotNone(start)

        # The words, in the game's order (word 0 is on screen before the start).
        shown = [words[0]]
        for change in changes:
            if change["palabra"] != shown[-1]:
                shown.append(change["palabra"])
        self.assertEqual(shown, words[:WORDS])

        # When each word appears and each keystroke lands, against the stored times.
        expected: list[tuple[str, float, Any]] = []
        t = 0
        total = 0
        for i, event in enumerate(events):
            if i:
                expected.append(("palabra", t / SPEED, lambda c, n=i + 1: c["numero"] >= n))
            for tecla in event["teclas"]:
                total += 1
                expected.append(("tecla", (t + tecla) / SPEED, lambda c, n=total: c["total"] >= n))
            t = event["t"]
        lateness = []
        for kind, due, reached in expected:
            seen = next((c["t"] - start for c in changes if reached(c)), None)
            self.assertIsNotNone(seen, f"{kind} due at {due} ms never shown")
            assert seen is not None
            self.assertGreaterEqual(seen, due - EARLY_MS, f"{kind} shown early: {seen} < {due}")
            self.assertLessEqual(seen, due + LATE_MS, f"{kind} shown late: {seen} > {due}")
            lateness.append(seen - due)
        self.assertLessEqual(statistics.median(lateness), MEDIAN_LATE_MS, lateness)
        self.assertEqual(changes[-1]["total"], total)
        self.assertEqual(page.text_content("#pistas .pista-escrito"), words[WORDS - 1])
        progress = page.locator("#rep-progreso")
        self.assertEqual(progress.input_value(), str(events[-1]["t"]))

    def pauseAndResume(self, page: Any, keystrokes: int) -> None:
        from playwright.sync_api import expect

        root = page.locator("#repeticion")
        button = page.locator("#rep-reproducir")
        page.select_option("#rep-velocidad", "0.5")
        button.click()
        expect(root).to_have_attribute("data-estado", "reproduciendo")
        expect(button).to_have_text("Pausa")
        # The space bar pauses too (outside the controls).
        page.locator("#titulo-repeticion").click()
        page.keyboard.press(" ")
        expect(root).to_have_attribute("data-estado", "pausada")
        expect(button).to_have_text("Reproducir")
        page.select_option("#rep-velocidad", str(SPEED))
        button.click()
        expect(root).to_have_attribute("data-estado", "terminada")
        expect(button).to_have_text("Repetir")
        self.assertEqual(page.text_content("#pistas .pista-pulsaciones"), str(keystrokes))

    def quickGame(self, page: Any, nombre: str = "Berta") -> tuple[str, list[dict[str, Any]]]:
        """
        Sign up as C{nombre} and save a two-word game through the API, typed briskly
        enough (about 60 ms a key) to be over within the 2 s the server allows beyond real
        time.
        """
        request = page.context.request
        signed = request.post(
            "/api/registro",
            data={"nombre": nombre, "email": f"{nombre.lower()}@example.com", "password": PASSWORD},
        )
        self.assertEqual(signed.status, 201, signed.text())
        partida = request.post("/api/partidas", data={}).json()["partida"]
        rng = random.Random(3)
        events: list[dict[str, Any]] = []
        t = 0
        for word in partida["palabras"][:2]:
            teclas = [150 + 60 * k + rng.randint(0, 20) for k in range(len(word))]
            t += teclas[-1] + 5
            events.append({"t": t, "ok": True, "errores": 0, "teclas": teclas})
        saved = request.post(
            "/api/guardar_puntaje", data={"partida_id": partida["id"], "eventos": events}
        )
        self.assertEqual(saved.status, 200, saved.text())
        self.assertNotIn("en_revision", saved.json())
        return partida["id"], events

    def sideBySide(self, page: Any, partidaID: str, events: list[dict[str, Any]]) -> None:
        """
        ?con= adds other games beside the page's (a race's racers): each track plays on
        the shared controls to its own end; one that may not be seen is left out.
        """
        from playwright.sync_api import expect

        otherID, otherEvents = self.quickGame(page)
        missing = "00000000-0000-0000-0000-000000000000"
        page.goto(f"/repeticion/{partidaID}?con={otherID}&con={missing}")
        root = page.locator("#repeticion")
        expect(root).to_have_attribute("data-estado", "lista")
        tracks = page.locator("#pistas .pista")
        expect(tracks).to_have_count(2)
        self.assertEqual(tracks.nth(0).locator(".pista-jugador").text_content(), NOMBRE)
        self.assertEqual(tracks.nth(1).locator(".pista-jugador").text_content(), "Berta")
        expect(page.locator("#rep-estado")).to_contain_text("no existe o no es pública")
        longest = max(events[-1]["t"], otherEvents[-1]["t"])
        self.assertEqual(page.locator("#rep-progreso").get_attribute("max"), str(longest))
        page.select_option("#rep-velocidad", str(SPEED))
        page.click("#rep-reproducir")
        expect(root).to_have_attribute("data-estado", "terminada")
        for n, played in enumerate([events, otherEvents]):
            track = tracks.nth(n)
            keystrokes = sum(len(e["teclas"]) for e in played)
            self.assertEqual(track.locator(".pista-pulsaciones").text_content(), str(keystrokes))
            self.assertEqual(track.locator(".pista-aciertos").text_content(), str(len(played)))
